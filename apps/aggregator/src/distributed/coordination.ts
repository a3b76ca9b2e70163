import { Redis } from 'ioredis';
import { z } from 'zod';
import { livePlanSchema, type ProtocolErrorCode } from '@murmur/fl-core/protocol';
import type { DistributedConfig } from './config';
import { DistributedError, describe } from './errors';

/**
 * Ephemeral coordination between aggregator processes in Redis (Bonawitz et al. 2019 §4: the
 * actors keep round state in memory; only the commit is durable). Nothing here must survive a
 * Redis restart: a lost pool count is re-reported within its TTL, a lost control message is
 * superseded by the next one, and lost group sums abort the round (which the coordinator records
 * in PostgreSQL). Never per-client data: a group sum is one vector per group of 100–1,000
 * clients, so a round stores groups × d, not clients × d.
 *
 * Keys carry the task in a hash tag (`murmur:{task}:…`) so that a task's keys share one Redis
 * Cluster slot and a MULTI over them stays valid if the deployment ever shards.
 *
 * Failure: the connection does not queue commands while down (enableOfflineQueue: false) and a
 * command times out after redisCommandTimeoutMs, so every call either succeeds or throws
 * COORDINATION_UNAVAILABLE promptly; ioredis keeps reconnecting in the background, and calls work
 * again once Redis is back.
 */
export const CONTROL_KINDS = ['open-round', 'round-end', 'abort-round', 'close-phase', 'retry-window'] as const;

const hash = z.string().regex(/^[0-9a-f]{64}$/);

/** Why a task coordinator ends a round without a model: the protocol codes its members are told. */
export const TASK_ABORT_CODES = [
  'BELOW_THRESHOLD',
  'REJECTED_SUM',
  'DIVERGED',
  'INTERNAL',
  'SHUTTING_DOWN',
  'COORDINATION_UNAVAILABLE',
  'ABORTED',
] as const satisfies readonly ProtocolErrorCode[];

/** A message on a task's control stream, from the task's coordinator (its lease epoch included, so readers can drop a deposed one's). */
export const controlMessageSchema = z.discriminatedUnion('kind', [
  /**
   * The round-level decisions every process plans its own groups from (distributed/group-link.ts):
   * the same q, m, sum bound, base model and live plan everywhere, so the groups' sums add up.
   */
  z
    .object({
      kind: z.literal('open-round'),
      epoch: z.number().int().min(1),
      round: z.number().int().min(1),
      roundId: z.string().regex(/^[A-Za-z0-9-]{1,48}$/),
      /** The Poisson rate every process samples its own pool with (the union is the sample the accountant assumes). */
      samplingRate: z.number().gt(0).lte(1),
      /** N: the population q is drawn over; m = q·N is every group's mean denominator. */
      population: z.number().int().min(1),
      /** The most reports the groups' sums may hold together: every group encodes for it so the total never wraps. */
      maxClients: z.number().int().min(1),
      base: z.object({ version: z.number().int().min(0), hash }).strict(),
      live: livePlanSchema,
      planRevision: z.number().int().min(0),
      /** How long the groups have, from the open, to put their sums. */
      deadlineMs: z.number().int().min(0),
      /**
       * Discrete noise (privacy.noise 'discrete'): the round's rotation, the same for every group so
       * their sums add in one rotated space and the coordinator undoes it once (hex, 32 bytes).
       */
      rotationSeed: hash.optional(),
    })
    .strict(),
  /** The round is committed in PostgreSQL: processes bring their replica up to it and tell their members. */
  z
    .object({
      kind: z.literal('round-end'),
      epoch: z.number().int().min(1),
      round: z.number().int().min(1),
      roundId: z.string().regex(/^[A-Za-z0-9-]{1,48}$/),
      modelVersion: z.number().int().min(0),
    })
    .strict(),
  z
    .object({
      kind: z.literal('abort-round'),
      epoch: z.number().int().min(1),
      round: z.number().int().min(1),
      reason: z.object({ code: z.enum(TASK_ABORT_CODES), message: z.string().max(2000) }).strict(),
    })
    .strict(),
  z.object({ kind: z.literal('close-phase'), epoch: z.number().int().min(1), round: z.number().int().min(1), phase: z.string().min(1).max(32) }).strict(),
  /**
   * Pace steering (§2.3): once a process holds poolTarget waiting clients, new check-ins are told to
   * come back at a uniform time in [fromMs, toMs] (RoundCoordinator#checkIn).
   */
  z
    .object({
      kind: z.literal('retry-window'),
      epoch: z.number().int().min(1),
      poolTarget: z.number().int().min(1),
      fromMs: z.number().int().min(0),
      toMs: z.number().int().min(0),
    })
    .strict()
    .refine((window) => window.fromMs <= window.toMs, { message: 'fromMs must be ≤ toMs' }),
]);
export type ControlMessage = z.output<typeof controlMessageSchema>;
export type ControlEntry = { id: string; message: ControlMessage } | { id: string; error: DistributedError };

export interface PoolCounts {
  /** Sockets the process holds for the task's population. */
  connected: number;
  /** Of those, checked in and eligible for the next round. */
  eligible: number;
  /** Members of this process's rounds in flight: back in the pool for the next draw once they end. */
  busy: number;
}

/** What a process puts for a round: the sum of its SecAgg groups' unmasked sums and each group's report count. */
export interface GroupSumInput {
  /** The process's id (one answer per process per round). */
  groupId: string;
  /** Reports (survivors) in each SecAgg group's sum; empty: nothing from this process this round. */
  groupReports: number[];
  /** The groups' unmasked sums added mod 2^k, as bytes (e.g. a Uint32Array of d words mod 2^32). */
  bytes: Uint8Array;
}

/** A process's answer as read back: `reports` is the total the coordinator checks against the plan. */
export interface GroupSum extends GroupSumInput {
  reports: number;
}

const GROUP_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** Group sum frame: magic, group count g (u32 LE), payload length (u32 LE), g report counts (u32 LE each), payload. */
const FRAME_MAGIC = 0x3253474d; // "MGS2" little-endian
const FRAME_HEADER = 12;
/** More groups than this in one process's answer is a corrupt frame (a process of 100k clients in groups of 100). */
const MAX_GROUPS_PER_FRAME = 4096;

export class Coordination {
  readonly processId: string;
  readonly #config: Pick<DistributedConfig, 'poolCountTtlMs' | 'controlStreamMaxLen' | 'groupSumTtlMs' | 'redisCommandTimeoutMs'>;
  readonly #redis: Redis;
  readonly #reader: Redis;
  #lastError: Error | null = null;

  constructor(
    config: Pick<DistributedConfig, 'redisUrl' | 'poolCountTtlMs' | 'controlStreamMaxLen' | 'groupSumTtlMs' | 'redisCommandTimeoutMs'>,
    processId: string,
  ) {
    if (!/^[A-Za-z0-9._:-]{1,100}$/.test(processId))
      throw new RangeError(`Coordination: processId must match [A-Za-z0-9._:-]{1,100}, got ${JSON.stringify(processId)}`);
    this.processId = processId;
    this.#config = config;
    const options = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(1000, config.redisCommandTimeoutMs),
      // Keep trying forever, at most once a second: the service resumes by itself when Redis returns.
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
    };
    this.#redis = new Redis(config.redisUrl, { ...options, commandTimeout: config.redisCommandTimeoutMs });
    // Blocking reads (XREAD BLOCK) get their own connection and no command timeout of their own.
    this.#reader = new Redis(config.redisUrl, options);
    for (const connection of [this.#redis, this.#reader]) {
      connection.on('error', (error: Error) => {
        this.#lastError = error;
      });
    }
  }

  /** Connects both connections; throws COORDINATION_UNAVAILABLE when Redis does not answer. */
  async connect(): Promise<void> {
    await this.#call('connect', async () => {
      await Promise.all([this.#redis.connect(), this.#reader.connect()]);
    });
  }

  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  get lastError(): Error | null {
    return this.#lastError;
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
    this.#reader.disconnect();
  }

  // Pool counts: one key per (task, process) with a TTL, plus the set of processes that reported.

  async reportPool(taskId: string, counts: PoolCounts): Promise<void> {
    const body = JSON.stringify({ ...counts, at: Date.now() });
    await this.#call(`reportPool(${taskId})`, () =>
      this.#redis
        .multi()
        .set(poolKey(taskId, this.processId), body, 'PX', this.#config.poolCountTtlMs)
        .sadd(poolSetKey(taskId), this.processId)
        .exec()
        .then(checkMulti),
    );
  }

  /** Every process's live count and the totals; processes whose count expired drop out (and off the set). */
  async poolCounts(
    taskId: string,
  ): Promise<{ processes: (PoolCounts & { processId: string; at: number })[]; connected: number; eligible: number; busy: number }> {
    const where = `poolCounts(${taskId})`;
    return this.#call(where, async () => {
      const ids = await this.#redis.smembers(poolSetKey(taskId));
      if (ids.length === 0) return { processes: [], connected: 0, eligible: 0, busy: 0 };
      const values = await this.#redis.mget(ids.map((id) => poolKey(taskId, id)));
      const processes: (PoolCounts & { processId: string; at: number })[] = [];
      const gone: string[] = [];
      ids.forEach((processId, index) => {
        const value = values[index];
        if (value === null || value === undefined) return void gone.push(processId);
        const parsed = poolValueSchema.safeParse(safeJson(value));
        if (parsed.success) processes.push({ processId, ...parsed.data });
      });
      if (gone.length > 0) await this.#redis.srem(poolSetKey(taskId), ...gone);
      processes.sort((a, b) => a.processId.localeCompare(b.processId));
      return {
        processes,
        connected: processes.reduce((sum, p) => sum + p.connected, 0),
        eligible: processes.reduce((sum, p) => sum + p.eligible, 0),
        busy: processes.reduce((sum, p) => sum + p.busy, 0),
      };
    });
  }

  // The control stream: one per task, appended by the coordinator, read by every process.

  /** Appends a control message (validated first); returns its stream id. */
  async publish(taskId: string, message: ControlMessage): Promise<string> {
    const where = `publish(${taskId})`;
    const parsed = controlMessageSchema.safeParse(message);
    if (!parsed.success) throw new RangeError(`${where}: invalid control message: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
    const id = await this.#call(where, () =>
      this.#redis.xadd(streamKey(taskId), 'MAXLEN', '~', String(this.#config.controlStreamMaxLen), '*', 'm', JSON.stringify(parsed.data)),
    );
    if (id === null) throw new DistributedError('COORDINATION_UNAVAILABLE', where, 'XADD returned no id');
    return id;
  }

  /**
   * Messages after `afterId` ('0' for all kept, '$' for only new ones), oldest first; waits up to
   * blockMs for one when there is none (0: do not wait). A message that does not parse comes back
   * as an error entry, never silently dropped, and never blocks the ones after it.
   */
  async read(taskId: string, afterId: string, options: { blockMs?: number; count?: number } = {}): Promise<ControlEntry[]> {
    const where = `read(${taskId})`;
    const count = String(options.count ?? 100);
    const result = await this.#call(where, () =>
      options.blockMs
        ? this.#reader.xread('COUNT', count, 'BLOCK', String(options.blockMs), 'STREAMS', streamKey(taskId), afterId)
        : this.#redis.xread('COUNT', count, 'STREAMS', streamKey(taskId), afterId),
    );
    const entries = result?.[0]?.[1] ?? [];
    return entries.map(([id, fields]): ControlEntry => {
      const index = fields.indexOf('m');
      const raw = index >= 0 ? fields[index + 1] : undefined;
      const parsed = controlMessageSchema.safeParse(raw === undefined ? undefined : safeJson(raw));
      if (parsed.success) return { id, message: parsed.data };
      return { id, error: new DistributedError('COORDINATION_CORRUPT', where, `stream entry ${id} is not a control message`) };
    });
  }

  // Group sums: one hash per (task, round), one field per group, first write wins.

  /** Stores a group's sum for a round; false when that group already reported (the first one stands). */
  async putGroupSum(taskId: string, round: number, sum: GroupSumInput): Promise<boolean> {
    const where = `putGroupSum(${taskId}, round ${round}, ${sum.groupId})`;
    if (!GROUP_ID.test(sum.groupId)) throw new RangeError(`${where}: groupId must match ${GROUP_ID.source}`);
    if (sum.groupReports.length > MAX_GROUPS_PER_FRAME) throw new RangeError(`${where}: ${sum.groupReports.length} groups, at most ${MAX_GROUPS_PER_FRAME}`);
    for (const reports of sum.groupReports) {
      if (!Number.isInteger(reports) || reports < 1 || reports > 0xffffffff)
        throw new RangeError(`${where}: a group's reports must be a u32 ≥ 1, got ${reports}`);
    }
    const frame = encodeFrame(sum.groupReports, sum.bytes);
    const [set] = await this.#call(where, async () =>
      checkMulti(
        await this.#redis.multi().hsetnx(sumsKey(taskId, round), sum.groupId, frame).pexpire(sumsKey(taskId, round), this.#config.groupSumTtlMs).exec(),
      ),
    );
    return set === 1;
  }

  /** The round's group sums, by group id. */
  async groupSums(taskId: string, round: number): Promise<GroupSum[]> {
    const where = `groupSums(${taskId}, round ${round})`;
    const all = await this.#call(where, () => this.#redis.hgetallBuffer(sumsKey(taskId, round)));
    return Object.entries(all)
      .map(([groupId, frame]) => ({ groupId, ...decodeFrame(where, groupId, frame) }))
      .sort((a, b) => a.groupId.localeCompare(b.groupId));
  }

  /** Bytes of group sums the round holds in Redis (payloads and headers), for the bench's "groups × d" check. */
  async roundBytes(taskId: string, round: number): Promise<number> {
    const where = `roundBytes(${taskId}, round ${round})`;
    return this.#call(where, async () => {
      const fields = await this.#redis.hkeys(sumsKey(taskId, round));
      if (fields.length === 0) return 0;
      const pipeline = this.#redis.pipeline();
      for (const field of fields) pipeline.hstrlen(sumsKey(taskId, round), field);
      return checkMulti(await pipeline.exec()).reduce((sum: number, n) => sum + Number(n), 0);
    });
  }

  /** Drops a round's group sums (after its commit or abort). */
  async dropRound(taskId: string, round: number): Promise<void> {
    await this.#call(`dropRound(${taskId}, round ${round})`, () => this.#redis.del(sumsKey(taskId, round)));
  }

  async #call<T>(where: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof DistributedError) throw error;
      this.#lastError = error instanceof Error ? error : new Error(describe(error));
      throw new DistributedError('COORDINATION_UNAVAILABLE', where, `Redis: ${describe(error)}`, { cause: error });
    }
  }
}

const poolValueSchema = z
  .object({ connected: z.number().int().min(0), eligible: z.number().int().min(0), busy: z.number().int().min(0), at: z.number() })
  .strict();

const poolKey = (taskId: string, processId: string) => `murmur:{${taskId}}:pool:${processId}`;
const poolSetKey = (taskId: string) => `murmur:{${taskId}}:pools`;
const streamKey = (taskId: string) => `murmur:{${taskId}}:control`;
const sumsKey = (taskId: string, round: number) => `murmur:{${taskId}}:round:${round}:sums`;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A MULTI or pipeline answers [error, value] per command; any error fails the whole call. */
function checkMulti(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('transaction discarded');
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

function encodeFrame(groupReports: readonly number[], bytes: Uint8Array): Buffer {
  const counts = 4 * groupReports.length;
  const frame = Buffer.alloc(FRAME_HEADER + counts + bytes.byteLength);
  frame.writeUInt32LE(FRAME_MAGIC, 0);
  frame.writeUInt32LE(groupReports.length, 4);
  frame.writeUInt32LE(bytes.byteLength, 8);
  groupReports.forEach((reports, index) => frame.writeUInt32LE(reports, FRAME_HEADER + 4 * index));
  frame.set(bytes, FRAME_HEADER + counts);
  return frame;
}

function decodeFrame(where: string, groupId: string, frame: Buffer): Omit<GroupSum, 'groupId'> {
  const corrupt = () => new DistributedError('COORDINATION_CORRUPT', where, `group ${groupId}: not a group sum frame (${frame.length} bytes)`);
  if (frame.length < FRAME_HEADER || frame.readUInt32LE(0) !== FRAME_MAGIC) throw corrupt();
  const groups = frame.readUInt32LE(4);
  if (groups > MAX_GROUPS_PER_FRAME || frame.readUInt32LE(8) !== frame.length - FRAME_HEADER - 4 * groups) throw corrupt();
  const groupReports = Array.from({ length: groups }, (_, index) => frame.readUInt32LE(FRAME_HEADER + 4 * index));
  if (groupReports.some((reports) => reports === 0)) throw corrupt();
  const bytes = new Uint8Array(frame.length - FRAME_HEADER - 4 * groups);
  bytes.set(frame.subarray(FRAME_HEADER + 4 * groups));
  return { groupReports, reports: groupReports.reduce((total, reports) => total + reports, 0), bytes };
}
