/**
 * The distributed mode's foundation (docs/scale-out.md): the durable record in PostgreSQL with a
 * fenced per-task lease, and ephemeral coordination in Redis. The coordinator is wired onto it
 * separately; the embedded default (`npm start`, the file store) does not load any of this.
 */
export { distributedConfigFromEnv, distributedConfigSchema, leaseRenewMs, type DistributedConfig, type DistributedConfigInput } from './config';
export { Coordination, CONTROL_KINDS, controlMessageSchema, type ControlEntry, type ControlMessage, type GroupSum, type PoolCounts } from './coordination';
export { attachFanout, FANOUT_KEYS, REVOKE_EVENT, type Fanout, type FanoutHealth, type FanoutOptions } from './fanout';
export { DISTRIBUTED_ERROR_CODES, DistributedError, isDistributedError, type DistributedErrorCode } from './errors';
export { checkInvariants, type InvariantReport } from './invariants';
export { LeaseKeeper, LeaseStore, type Fence, type LeaseGrant, type LeaseKeeperOptions } from './lease';
export { MIGRATIONS, migrate, type Migration } from './migrations';
export { createPool, withTransaction } from './pg';
export {
  RecordStore,
  ledgerEntrySchema,
  type LedgerEntry,
  type LedgerEntryInput,
  type ModelBlob,
  type Revocation,
  type RoundAbort,
  type RoundCommit,
  type StoredModelVersion,
  type StoredRound,
  type TaskHead,
} from './record-store';
export { ProcessRing, ROUTING_BUCKETS, routingBucketOf } from './routing';
