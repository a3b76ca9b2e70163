export { useNodeBackend, NODE_BACKENDS, type NodeBackendName, type NodeBackendOptions } from './backend';
export {
  loadCorpus,
  loadStateOfTheUnion,
  loadSpamAssassin,
  loadPrivacyPopulation,
  PASSAGE_SENTENCES,
  SPAM_ASSASSIN_GROUPS,
  type CorpusName,
  type SpamAssassinGroup,
  type SpamAssassinOptions,
} from './corpora';
