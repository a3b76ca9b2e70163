import type { Logger } from 'pino';
import { serverOptimizerSchema, type ServerOptimizerState } from '@murmur/fl-core/aggregate';
import { modelHash, type ModelSpec } from '@murmur/fl-core/model';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { releaseStateSchema } from '@murmur/fl-core/round';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { z } from 'zod';
import { DataStore, optimizerBytes, parseOptimizer, type InitialState } from '../store';
import { DistributedError } from './errors';
import { populationLedger, storedLedgerFields } from './population-ledger';
import type { LedgerEntry, ModelBlob, RecordStore, StoredModelVersion, StoredRound } from './record-store';

/**
 * Each aggregator process keeps its file store (store.ts) as a replica of the task's record in
 * PostgreSQL: everything that serves clients and the dashboard (model downloads, round history,
 * ε, release state) reads the local store as in the single-process mode, and only the record is
 * authoritative. The task coordinator commits to PostgreSQL first; every process, the
 * coordinator's included, then applies the committed rounds in order (`sync`), reading them back
 * from the record, so a process that was down or slow catches up the same way.
 *
 * What a version carries in the record: the weights as float32 little-endian bytes, hashed by
 * fl-core's modelHash over the task's spec; the server optimizer's moments as bytes; in `meta`
 * the optimizer's configuration and step count, the clip norm after the round and the release
 * state the gate decided at its commit.
 */
const versionMetaSchema = z
  .object({
    optimizer: z.object({ config: serverOptimizerSchema, round: z.number().int().min(0) }).strict(),
    clipNorm: z.number().positive().optional(),
    release: releaseStateSchema.optional(),
  })
  .strict();
export type VersionMeta = z.output<typeof versionMetaSchema>;

/** The record's blob of a version: weights as bytes, the moments, and what the replica needs to resume from it. */
export function modelBlobOf(spec: ModelSpec, weights: Float32Array, optimizer: ServerOptimizerState, extra: Omit<VersionMeta, 'optimizer'> = {}): ModelBlob {
  const meta: VersionMeta = { optimizer: { config: optimizer.config, round: optimizer.round }, ...extra };
  return {
    hash: modelHash(spec, weights),
    bytes: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength).slice(),
    optimizer: optimizerBytes(optimizer),
    meta,
  };
}

/** The weights of a stored version's bytes (a copy, aligned). */
export function weightsOf(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`model bytes: ${bytes.byteLength} is not a whole number of float32 words`);
  return new Float32Array(bytes.slice().buffer);
}

/** The hash a stored version's bytes must have (checkInvariants' hashOf). */
export function hashOfBytes(spec: ModelSpec): (bytes: Uint8Array) => string {
  return (bytes) => modelHash(spec, weightsOf(bytes));
}

/** Everything a population has spent across its tasks: every recorded entry, renumbered (population-ledger.ts). */
export interface PopulationSpent {
  ledger: PrivacyLedger;
  tasks: number;
}

export interface ReplicaDeps {
  records: RecordStore;
  taskId: string;
  store: DataStore;
  logger: Logger;
  /** Called with each round applied, oldest first (the dashboard's round stream). */
  onApplied?: (report: RoundReport) => void;
}

/** The local store kept up with the record; syncs are serialized, so concurrent callers never apply a round twice. */
export class Replica {
  readonly #deps: ReplicaDeps;
  #running: Promise<number> = Promise.resolve(0);
  #populationSpent: PopulationSpent | null = null;

  constructor(deps: ReplicaDeps) {
    this.#deps = deps;
  }

  get store(): DataStore {
    return this.#deps.store;
  }

  /** The population's recorded spend across its tasks as of the last sync (null before the first). */
  get populationSpent(): PopulationSpent | null {
    return this.#populationSpent;
  }

  /** The record's entry for `round` (committed or aborted), or null while the round is open or not yet run. */
  findRound(round: number): Promise<StoredRound | null> {
    return this.#deps.records.findRound(this.#deps.taskId, round);
  }

  /** Applies every round the record has and the store lacks; resolves with how many it applied. */
  sync(): Promise<number> {
    const run = this.#running.then(
      () => this.#apply(),
      () => this.#apply(),
    );
    this.#running = run.catch(() => 0);
    return run;
  }

  async #apply(): Promise<number> {
    const { records, taskId, store, logger } = this.#deps;
    const head = await records.head(taskId);
    // One read of the population's ledger serves every round applied here and the population's
    // spend; read after the head, so it holds the entries of every round below head.nextRound
    // (each commit writes its entry and moves the head in one transaction).
    const entries = await records.ledger(head.population);
    let applied = 0;
    while (store.nextRound < head.nextRound) {
      const round = store.nextRound;
      const where = `replica(${taskId}, round ${round})`;
      const stored = await records.findRound(taskId, round);
      if (!stored) throw new DistributedError('COORDINATION_CORRUPT', where, `the head is at round ${head.nextRound} but round ${round} has no record`);
      const report = stored.record;
      const ledger = this.#ledgerThrough(entries, round);
      if (report.status === 'committed') {
        const version = await records.modelVersion(taskId, report.modelVersion.to);
        if (!version?.bytes) throw new DistributedError('COORDINATION_CORRUPT', where, `version ${report.modelVersion.to} has no bytes in the record`);
        const { weights, optimizer, meta } = decodeVersion(where, version, store.weights.length);
        store.commit({
          report,
          ledger,
          model: { weights, optimizer, ...(meta.clipNorm !== undefined ? { clipNorm: meta.clipNorm } : {}) },
          ...(meta.release ? { release: meta.release } : {}),
        });
        if (store.modelHash !== version.hash) {
          throw new DistributedError(
            'COORDINATION_CORRUPT',
            where,
            `v${version.version} applied with hash ${store.modelHash.slice(0, 12)}…, the record says ${version.hash.slice(0, 12)}…`,
          );
        }
      } else {
        store.commit({ report, ledger });
      }
      applied++;
      this.#deps.onApplied?.(report);
    }
    if (applied > 0) logger.info({ taskId, applied, modelVersion: store.modelVersion, nextRound: store.nextRound }, 'replica: applied rounds from the record');
    // Other tasks of the population record rounds without this one applying any: refreshed every sync.
    this.#populationSpent = {
      ledger: populationLedger({ population: head.population, committed: entries, reserved: [] }),
      tasks: new Set(entries.map((entry) => entry.taskId)).size,
    };
    return applied;
  }

  /** The task's entries of the population's `entries` up to and including `round`, as fl-core's ledger replays them. */
  #ledgerThrough(entries: readonly LedgerEntry[], round: number): PrivacyLedger {
    const { taskId, store } = this.#deps;
    const own = entries.filter((entry) => entry.taskId === taskId && entry.round <= round);
    const ledger = new PrivacyLedger();
    for (const entry of own.sort((a, b) => a.round - b.round)) ledger.record({ round: entry.round, ...storedLedgerFields(entry) });
    // The store's own entries come from the record too: a replica never has entries the record lacks.
    if (ledger.entries.length < store.ledger.entries.length) {
      throw new DistributedError(
        'COORDINATION_CORRUPT',
        `replica(${taskId})`,
        `the record has ${ledger.entries.length} ledger entries through round ${round}, the replica ${store.ledger.entries.length}`,
      );
    }
    return ledger;
  }
}

function decodeVersion(
  where: string,
  version: StoredModelVersion,
  dimension: number,
): { weights: Float32Array; optimizer: ServerOptimizerState; meta: VersionMeta } {
  const meta = versionMetaSchema.safeParse(version.meta);
  if (!meta.success) throw new DistributedError('COORDINATION_CORRUPT', where, `v${version.version}: meta is not a replica's: ${meta.error.message}`);
  const weights = weightsOf(version.bytes ?? new Uint8Array());
  if (weights.length !== dimension)
    throw new DistributedError('COORDINATION_CORRUPT', where, `v${version.version}: ${weights.length} weights, the model has ${dimension}`);
  const optimizer = parseOptimizer(meta.data.optimizer, version.optimizer ?? new Uint8Array(), dimension);
  return { weights, optimizer, meta: meta.data };
}

/**
 * Opens a process's replica: the task's version 0 comes from the record (created from `initial`
 * by whichever process gets there first), so every process starts from the same weights; a data
 * directory made for another task or another initial model is refused rather than mixed in.
 */
export async function openReplica(input: {
  records: RecordStore;
  taskId: string;
  population: string;
  dataDir: string;
  initial: () => InitialState;
  keepModels: number;
  logger: Logger;
  onApplied?: (report: RoundReport) => void;
}): Promise<Replica> {
  const { records, taskId, logger } = input;
  let v0 = await records.modelVersion(taskId, 0).catch((error: unknown) => {
    if (error instanceof DistributedError && error.code === 'UNKNOWN_TASK') return null;
    throw error;
  });
  let initial: InitialState | null = null;
  if (!v0) {
    initial = input.initial();
    const blob = modelBlobOf(initial.spec, initial.weights, initial.optimizer);
    await records.createTask({ taskId, population: input.population, spec: { ...initial.spec }, initial: blob });
    v0 = await records.modelVersion(taskId, 0);
    if (!v0?.bytes) throw new DistributedError('UNKNOWN_TASK', `openReplica(${taskId})`, 'version 0 missing right after creating the task');
  }
  const stored = v0;
  const store = DataStore.open(
    input.dataDir,
    () => {
      const local = initial ?? input.initial();
      const dimension = local.weights.length;
      const meta = versionMetaSchema.parse(stored.meta);
      return {
        spec: local.spec,
        weights: weightsOf(stored.bytes ?? new Uint8Array()),
        optimizer: parseOptimizer(meta.optimizer, stored.optimizer ?? new Uint8Array(), dimension),
      };
    },
    logger,
    input.keepModels,
  );
  const ownV0 = store.model(0);
  if (ownV0 && ownV0.hash !== stored.hash) {
    throw new DistributedError(
      'INVALID_COMMIT',
      `openReplica(${taskId})`,
      `the data directory ${input.dataDir} starts from another model (v0 ${ownV0.hash.slice(0, 12)}…) than task ${taskId} (v0 ${stored.hash.slice(0, 12)}…): give this process a fresh data directory`,
    );
  }
  const replica = new Replica({ records, taskId, store, logger, ...(input.onApplied ? { onApplied: input.onApplied } : {}) });
  await replica.sync();
  return replica;
}
