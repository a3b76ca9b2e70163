import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { LivePlan, RoundReport } from '@murmur/fl-core/protocol';
import { parseTrainingPlan } from '@murmur/fl-core/train';
import type { Coordination } from '../coordination';
import { distributedConfigFromEnv, type DistributedConfig } from '../config';
import { DistributedError } from '../errors';
import type { Fence } from '../lease';
import { RecordStore, type TaskHead } from '../record-store';

/**
 * Fixtures for the distributed tests (`npm run test:distributed`), which run against the real
 * PostgreSQL and Redis that apps/aggregator/scripts/stores.sh starts and names in MURMUR_*.
 * A "model" here is d little-endian u32 words and its hash the SHA-256 of those bytes; a round
 * adds the group sums to it mod 2^32, as the decoded SecAgg sum would be added by the optimizer.
 */
export function storesConfig(overrides: Partial<DistributedConfig> = {}): DistributedConfig & { script: string } {
  const script = process.env.MURMUR_STORES_SCRIPT;
  if (!process.env.MURMUR_PG_URL || !process.env.MURMUR_REDIS_URL || !script) {
    throw new Error('the distributed tests need the stores: run them with `npm run test:distributed` (apps/aggregator/scripts/stores.sh run -- …)');
  }
  return { ...distributedConfigFromEnv(process.env), ...overrides, script };
}

/** A live plan for control messages of rounds that only the stores see. */
export const FIXTURE_LIVE_PLAN: LivePlan = {
  target: 10,
  overSelection: 1,
  minReports: 3,
  pauseMs: 1,
  checkinMs: 1000,
  training: parseTrainingPlan({}),
  clipNorm: 1,
  noiseMultiplier: 1,
};

/** An open-round message for round `round` of a task whose head is `head`. */
export function openRoundMessage(epoch: number, round: number, base: { version: number; hash: string }) {
  return {
    kind: 'open-round',
    epoch,
    round,
    roundId: `r${round}-fixture`,
    samplingRate: 0.01,
    population: 1000,
    maxClients: 100,
    base,
    live: FIXTURE_LIVE_PLAN,
    planRevision: 0,
    deadlineMs: 60_000,
  } as const;
}

/** Runs stores.sh (pg-restart, redis-stop, …) and waits for it. */
export function stores(...args: string[]): void {
  execFileSync(storesConfig().script, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60_000 });
}

/** A schema of its own per test file: tests never see each other's rows. */
export function freshSchema(prefix: string): string {
  return `t_${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchema(store: RecordStore): Promise<void> {
  await store.pool.query(`DROP SCHEMA IF EXISTS "${store.schema}" CASCADE`);
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export function initialModel(d: number): { hash: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(new Uint32Array(d).buffer);
  return { hash: sha256Hex(bytes), bytes };
}

/** parent + sum, word by word mod 2^32. */
export function addWords(parent: Uint8Array, sum: Uint8Array): Uint8Array {
  if (parent.byteLength !== sum.byteLength) throw new RangeError(`addWords: ${parent.byteLength} vs ${sum.byteLength} bytes`);
  const a = new Uint32Array(parent.slice().buffer);
  const b = new Uint32Array(sum.slice().buffer);
  const out = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = ((a[i] as number) + (b[i] as number)) >>> 0;
  return new Uint8Array(out.buffer);
}

/** A group's sum: d words derived from (round, group), so every run is reproducible. */
export function groupSumBytes(round: number, groupId: string, d: number): Uint8Array {
  const words = new Uint32Array(d);
  const seed = createHash('sha256').update(`${round}:${groupId}`).digest();
  for (let i = 0; i < d; i++) words[i] = seed.readUInt32LE((i % 8) * 4) ^ i;
  return new Uint8Array(words.buffer);
}

export function report(round: number, status: 'committed' | 'aborted', from: number, abort?: { code: string; message: string }): RoundReport {
  const now = new Date().toISOString();
  return {
    round,
    roundId: `r${round}`,
    status,
    startedAt: now,
    endedAt: now,
    modelVersion: { from, to: status === 'committed' ? from + 1 : from },
    abort: status === 'aborted' ? (abort ?? { code: 'TEST_ABORT', message: 'aborted by the test' }) : null,
    cohort: { eligible: 30, selected: 20, advertised: 20, shared: 20, masked: 19, unmasked: 19 },
    secagg: { graph: 'full', degree: 19, threshold: 12, modulusBits: 32, vectorLength: 16 },
    metrics: status === 'committed' ? { examples: 100, trainLoss: 4, eval: { count: 0, loss: null, top1: null, top3: null } } : null,
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, recordedNoiseMultiplier: 1, samplingRate: 0.01, epsilon: 1, delta: 1e-6 },
    bytes: { received: 0, sent: 0 },
    durationsMs: {},
    backends: {},
  };
}

export const LEDGER = { samplingRate: 0.01, noiseMultiplier: 1 };

/** What a commit needs, prepared from the head as the coordinator would (read the head, compute, then commit). */
export interface PreparedCommit {
  round: number;
  parent: { version: number; hash: string };
  bytes: Uint8Array;
}

export async function prepareCommit(store: RecordStore, taskId: string, sum: Uint8Array): Promise<PreparedCommit> {
  const head = await store.head(taskId);
  const parent = await store.modelVersion(taskId, head.modelVersion);
  if (!parent?.bytes) throw new Error(`prepareCommit: v${head.modelVersion} has no bytes`);
  return { round: head.nextRound, parent: { version: head.modelVersion, hash: head.modelHash }, bytes: addWords(parent.bytes, sum) };
}

export function commitPrepared(store: RecordStore, taskId: string, fence: Fence, prepared: PreparedCommit): Promise<TaskHead> {
  return store.commitRound({
    taskId,
    fence,
    round: prepared.round,
    parent: prepared.parent,
    // The optimizer's moments stand in as the first 8 bytes of the new weights.
    model: { hash: sha256Hex(prepared.bytes), bytes: prepared.bytes, optimizer: prepared.bytes.slice(0, 8), meta: { optimizerRound: prepared.round } },
    record: report(prepared.round, 'committed', prepared.parent.version),
    ledger: LEDGER,
  });
}

/** Reads the head, adds a deterministic sum, commits: one round's durable end. */
export async function commitNext(store: RecordStore, taskId: string, fence: Fence, d: number): Promise<TaskHead> {
  const head = await store.head(taskId);
  return commitPrepared(store, taskId, fence, await prepareCommit(store, taskId, groupSumBytes(head.nextRound, 'solo', d)));
}

/**
 * One round the way the distributed mode runs it, with the network left out: the coordinator
 * opens it on the control stream, each process stores its groups' sums in Redis, the coordinator
 * reads them, checks the report count, adds them and commits. A Redis failure anywhere aborts the
 * round durably (reason COORDINATION_UNAVAILABLE) and the model stays.
 */
export async function roundThroughRedis(input: {
  store: RecordStore;
  coordination: Coordination;
  taskId: string;
  fence: Fence;
  groups: string[];
  reportsPerGroup: number;
  d: number;
  /** Called after the first group's sum is stored (the tests stop Redis here). */
  midRound?: () => Promise<void> | void;
}): Promise<{ status: 'committed'; head: TaskHead } | { status: 'aborted'; head: TaskHead; error: DistributedError }> {
  const { store, coordination, taskId, fence, groups, d } = input;
  const head = await store.head(taskId);
  const round = head.nextRound;
  try {
    await coordination.publish(taskId, openRoundMessage(fence.epoch, round, { version: head.modelVersion, hash: head.modelHash }));
    for (const [index, groupId] of groups.entries()) {
      await coordination.putGroupSum(taskId, round, { groupId, groupReports: [input.reportsPerGroup], bytes: groupSumBytes(round, groupId, d) });
      if (index === 0) await input.midRound?.();
    }
    const sums = await coordination.groupSums(taskId, round);
    const reports = sums.reduce((n, s) => n + s.reports, 0);
    if (sums.length !== groups.length || reports !== groups.length * input.reportsPerGroup) {
      throw new DistributedError('COORDINATION_CORRUPT', `round ${round}`, `expected ${groups.length} groups, got ${sums.length} with ${reports} reports`);
    }
    let total: Uint8Array = new Uint8Array(d * 4);
    for (const sum of sums) total = addWords(total, sum.bytes);
    const committed = await commitPrepared(store, taskId, fence, await prepareCommit(store, taskId, total));
    await coordination.dropRound(taskId, round).catch(() => undefined);
    return { status: 'committed', head: committed };
  } catch (error) {
    if (!(error instanceof DistributedError) || (error.code !== 'COORDINATION_UNAVAILABLE' && error.code !== 'COORDINATION_CORRUPT')) throw error;
    const aborted = await store.abortRound({ taskId, fence, round, record: report(round, 'aborted', head.modelVersion, error.toJSON()) });
    return { status: 'aborted', head: aborted, error };
  }
}

export async function openStore(schema: string): Promise<RecordStore> {
  const config = storesConfig({ pgSchema: schema });
  return RecordStore.open(config);
}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
