export { tokenize, splitSentences } from './tokenize';
export {
  createVocabulary,
  SPECIAL_TOKENS,
  PAD_ID,
  UNK_ID,
  BOS_ID,
  EOS_ID,
  MIN_VOCABULARY_SIZE,
  MAX_VOCABULARY_SIZE,
  DEFAULT_VOCABULARY_SIZE,
  type Vocabulary,
  type VocabularyOptions,
} from './vocabulary';
export {
  textToExamples,
  textToSentences,
  concatExamples,
  everyPositionWindows,
  sliceExamples,
  shuffleExamples,
  selectExamples,
  sampleExamples,
  MIN_CONTEXT_LENGTH,
  MAX_CONTEXT_LENGTH,
  type ExampleSet,
} from './examples';
