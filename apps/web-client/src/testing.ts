/** What end-to-end tests read from the web client's storage: the contribution log's record shape. */
export { contributionRecordSchema, type ContributionRecord } from './storage/schema';
