export type { Document, Client } from './types';
export { partitionClients, DEFAULT_DIRICHLET_ALPHA, type PartitionOptions, type PartitionUnit } from './partition';
export { splitHeldOut, type HeldOutOptions } from './split';
