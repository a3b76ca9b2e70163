/** What end-to-end tests read from the web client: the stored record shapes and the dashboard's number format. */
export { contributionRecordSchema, type ContributionRecord } from './storage/schema';
export { formatNumber } from './dashboard/format';
