import type pg from 'pg';
import { DistributedError, describe } from './errors';
import { quoteSchema } from './migrations';
import { query } from './pg';

/**
 * One coordinator per task: a lease row in PostgreSQL with an epoch that is the fencing token
 * (Kleppmann, "How to do distributed locking", 2016; Bonawitz et al. 2019 §4.2: one Master
 * Aggregator per task). Every new holder gets epoch + 1; every durable write of the coordinator
 * (RecordStore.commitRound / abortRound) checks, in its own transaction, that the lease row still
 * carries its epoch and holder and has not expired. A holder paused past its lease (GC, SIGSTOP,
 * a VM migration) therefore cannot commit after waking, whatever it believes: the database
 * refuses it. All times are the database's clock (clock_timestamp()); the holder measures its own
 * margin with its local monotonic clock (LeaseKeeper), so no two clocks are ever compared.
 */
export interface LeaseGrant {
  taskId: string;
  holder: string;
  /** The fencing token: pass it with every durable write. */
  epoch: number;
  /** When the database considers the lease gone unless renewed. */
  expiresAt: Date;
}

/** A (holder, epoch) pair as the record store checks it. */
export type Fence = Pick<LeaseGrant, 'holder' | 'epoch'>;

interface LeaseRow {
  holder: string | null;
  epoch: string;
  expires_at: Date;
  live: boolean;
}

export class LeaseStore {
  readonly #pool: pg.Pool;
  readonly #s: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#s = quoteSchema(schema);
  }

  /**
   * Takes the lease when it is free (never held, released, or expired): one statement, so two
   * processes racing for it serialize on the row and exactly one wins. Throws LEASE_BUSY while
   * another holder's lease runs, UNKNOWN_TASK for a task that was never created. `holder` must be
   * unique per process incarnation (a restarted process is a new holder: its memory is gone).
   */
  async acquire(taskId: string, holder: string, ttlMs: number): Promise<LeaseGrant> {
    const where = `lease.acquire(${taskId})`;
    assertTtl(where, ttlMs);
    let result: pg.QueryResult<{ epoch: string; expires_at: Date }>;
    try {
      result = await query(
        this.#pool,
        where,
        `INSERT INTO ${this.#s}.task_leases AS l (task_id, holder, epoch, expires_at, acquired_at, renewed_at)
         VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond', clock_timestamp(), clock_timestamp())
         ON CONFLICT (task_id) DO UPDATE
           SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at,
               acquired_at = EXCLUDED.acquired_at, renewed_at = EXCLUDED.renewed_at
           WHERE l.holder IS NULL OR l.expires_at <= clock_timestamp()
         RETURNING epoch, expires_at`,
        [taskId, holder, ttlMs],
      );
    } catch (error) {
      if ((error as { code?: string }).code === '23503') throw new DistributedError('UNKNOWN_TASK', where, `no task ${JSON.stringify(taskId)}`);
      throw error;
    }
    const row = result.rows[0];
    if (row) return { taskId, holder, epoch: Number(row.epoch), expiresAt: row.expires_at };
    const current = await this.current(taskId);
    throw new DistributedError(
      'LEASE_BUSY',
      where,
      current
        ? `held by ${current.holder} at epoch ${current.epoch} until ${current.expiresAt.toISOString()}`
        : 'the lease changed hands during the attempt; retry',
    );
  }

  /**
   * Extends a lease that is still this holder's, at this epoch, and not expired. An expired lease
   * is not revived even when nobody took it: the holder must acquire again (a new epoch), because
   * it cannot know what it missed while it was not the holder.
   */
  async renew(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant> {
    const where = `lease.renew(${grant.taskId}, epoch ${grant.epoch})`;
    assertTtl(where, ttlMs);
    const { rows } = await query<{ expires_at: Date }>(
      this.#pool,
      where,
      `UPDATE ${this.#s}.task_leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond', renewed_at = clock_timestamp()
       WHERE task_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()
       RETURNING expires_at`,
      [grant.taskId, grant.holder, grant.epoch, ttlMs],
    );
    const row = rows[0];
    if (row) return { ...grant, expiresAt: row.expires_at };
    throw await this.#whyNot(where, grant);
  }

  /** Gives the lease up (the epoch stays: the next holder gets epoch + 1). False when it was no longer ours. */
  async release(grant: Fence & { taskId: string }): Promise<boolean> {
    const { rowCount } = await query(
      this.#pool,
      `lease.release(${grant.taskId}, epoch ${grant.epoch})`,
      `UPDATE ${this.#s}.task_leases SET holder = NULL, expires_at = clock_timestamp()
       WHERE task_id = $1 AND holder = $2 AND epoch = $3`,
      [grant.taskId, grant.holder, grant.epoch],
    );
    return rowCount === 1;
  }

  /** The live lease, or null when none is held (never acquired, released or expired). */
  async current(taskId: string): Promise<LeaseGrant | null> {
    const row = await this.#row(taskId, `lease.current(${taskId})`);
    if (!row || !row.live || row.holder === null) return null;
    return { taskId, holder: row.holder, epoch: Number(row.epoch), expiresAt: row.expires_at };
  }

  /** The epoch of the task's latest holder (0 when never held), live or not. */
  async epoch(taskId: string): Promise<number> {
    const row = await this.#row(taskId, `lease.epoch(${taskId})`);
    return row ? Number(row.epoch) : 0;
  }

  async #row(taskId: string, where: string): Promise<LeaseRow | null> {
    const { rows } = await query<LeaseRow>(
      this.#pool,
      where,
      `SELECT holder, epoch, expires_at, expires_at > clock_timestamp() AS live FROM ${this.#s}.task_leases WHERE task_id = $1`,
      [taskId],
    );
    return rows[0] ?? null;
  }

  async #whyNot(where: string, grant: LeaseGrant): Promise<DistributedError> {
    const row = await this.#row(grant.taskId, where);
    return fenceError(where, grant, row ? { holder: row.holder, epoch: Number(row.epoch), live: row.live } : null);
  }
}

/** The error for a fence that does not match the lease row (shared with the record store's commit). */
export function fenceError(where: string, fence: Fence, row: { holder: string | null; epoch: number; live: boolean } | null): DistributedError {
  if (!row) return new DistributedError('LEASE_NOT_HELD', where, `nobody ever held this task's lease; expected holder ${fence.holder} at epoch ${fence.epoch}`);
  if (row.epoch !== fence.epoch) {
    return new DistributedError('STALE_EPOCH', where, `expected epoch ${fence.epoch}, the lease is at epoch ${row.epoch} (holder ${row.holder ?? 'none'})`);
  }
  if (row.holder !== fence.holder) {
    return new DistributedError('LEASE_NOT_HELD', where, `expected holder ${fence.holder} at epoch ${fence.epoch}, got ${row.holder ?? 'none (released)'}`);
  }
  return new DistributedError('LEASE_EXPIRED', where, `the lease at epoch ${fence.epoch} expired; acquire it again`);
}

function assertTtl(where: string, ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 3_600_000) throw new RangeError(`${where}: ttlMs must be an integer in [1, 3600000], got ${ttlMs}`);
}

export interface LeaseKeeperOptions {
  taskId: string;
  holder: string;
  ttlMs: number;
  renewMs: number;
  /** Called once per acquisition, with the new epoch. */
  onAcquired?: (grant: LeaseGrant) => void;
  /** Called when a renewal is refused or the local margin ran out; the keeper then tries to acquire again. */
  onLost?: (error: DistributedError | Error) => void;
  /** Monotonic milliseconds (tests inject a clock). @default performance.now */
  now?: () => number;
}

/**
 * Holds a task's lease for a process: acquires when free, renews every renewMs, and reports
 * loss. `fence()` answers the holder's local belief — the lease is taken as ours until the renew
 * request's start time + ttl — which is only an optimization: the database re-checks the epoch at
 * every commit, so a stale belief can waste a round's work but never commit it.
 */
export class LeaseKeeper {
  readonly #store: LeaseStore;
  readonly #options: LeaseKeeperOptions;
  readonly #now: () => number;
  #grant: LeaseGrant | null = null;
  #validUntil = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #lastError: Error | null = null;

  constructor(store: LeaseStore, options: LeaseKeeperOptions) {
    if (!(options.renewMs > 0 && options.renewMs < options.ttlMs)) {
      throw new RangeError(`LeaseKeeper: renewMs must be in (0, ttlMs = ${options.ttlMs}), got ${options.renewMs}`);
    }
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Starts trying (acquire, then renew) in the background. */
  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** The current grant while the local margin lasts, else null. */
  fence(): LeaseGrant | null {
    return this.#grant && this.#now() < this.#validUntil ? this.#grant : null;
  }

  get lastError(): Error | null {
    return this.#lastError;
  }

  /** Stops renewing and releases the lease if held. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const grant = this.#grant;
    this.#grant = null;
    if (grant) await this.#store.release(grant).catch(() => false);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref?.();
  }

  async #tick(): Promise<void> {
    const { taskId, holder, ttlMs, renewMs } = this.#options;
    const started = this.#now();
    try {
      if (this.#grant && started < this.#validUntil) {
        this.#grant = await this.#store.renew(this.#grant, ttlMs);
      } else {
        if (this.#grant) this.#lose(new DistributedError('LEASE_EXPIRED', `lease(${taskId})`, `no renewal within ${ttlMs} ms (paused or partitioned)`));
        this.#grant = await this.#store.acquire(taskId, holder, ttlMs);
        this.#options.onAcquired?.(this.#grant);
      }
      this.#validUntil = started + ttlMs;
      this.#lastError = null;
    } catch (error) {
      this.#lastError = error instanceof Error ? error : new Error(describe(error));
      // Refused renewal: the lease is gone. Unavailable store: keep the grant until its local
      // margin runs out (the database would refuse a commit past the expiry anyway).
      if (this.#grant && error instanceof DistributedError && error.code !== 'STORE_UNAVAILABLE') this.#lose(error);
    }
    if (this.#stopped && this.#grant) {
      await this.#store.release(this.#grant).catch(() => false);
      this.#grant = null;
      return;
    }
    this.#schedule(renewMs);
  }

  #lose(error: Error): void {
    this.#grant = null;
    this.#validUntil = 0;
    this.#options.onLost?.(error);
  }
}
