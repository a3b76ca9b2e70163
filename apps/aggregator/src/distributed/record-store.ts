import type pg from 'pg';
import { z } from 'zod';
import { discreteLedgerMechanismSchema } from '@murmur/fl-core/privacy';
import { roundReportSchema, type RoundReport } from '@murmur/fl-core/protocol';
import type { DistributedConfig } from './config';
import { DistributedError, describe } from './errors';
import { fenceError, LeaseStore, type Fence } from './lease';
import { migrate, quoteSchema } from './migrations';
import { createPool, query, withTransaction } from './pg';

/**
 * The durable record of the distributed mode in PostgreSQL (schema: migrations.ts). Durable state
 * changes only at a round's end (Bonawitz et al. 2019 §4.2: "persistent state … only at the end
 * of a round"), and each such change is one transaction fenced by the lease epoch:
 *
 *   commitRound: lease row (FOR SHARE) has this holder + epoch, unexpired  → else STALE_EPOCH / LEASE_NOT_HELD / LEASE_EXPIRED
 *                head is at `round` with the expected parent version + hash → else STALE_ROUND / PARENT_MISMATCH
 *                INSERT model version, round record, ledger entry
 *                UPDATE head (guarded again by round, parent and epoch)     → COMMIT, or nothing at all
 *   abortRound:  the same fence, then the aborted record, the abort log row, the ledger entry when
 *                a sum was unmasked, and the head's next round; the model stays.
 *
 * The lease row lock (FOR SHARE) makes a takeover wait for an in-flight commit and a commit wait
 * for an in-flight takeover: whichever is second sees the other's result.
 */
const HASH = /^[0-9a-f]{64}$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface TaskHead {
  taskId: string;
  population: string;
  /** Lease epoch of the last durable write (0: only created). */
  epoch: number;
  modelVersion: number;
  modelHash: string;
  nextRound: number;
  /** Coordinator state written with each commit (release state, clip norm …); opaque here. */
  state: Record<string, unknown>;
  updatedAt: Date;
}

/** The weights of a version: inline bytes, or a pointer to where they live (an object store key). */
export interface ModelBlob {
  hash: string;
  bytes?: Uint8Array;
  pointer?: string;
  /** The server optimizer's moments after this version (absent for plain FedAvg). */
  optimizer?: Uint8Array;
  /** E.g. the server optimizer's step count, the clip norm after this version. */
  meta?: Record<string, unknown>;
}

/** One ledger entry as fl-core's PrivacyLedger records it (the weakest group's σ; a discrete round's mechanism for its weakest group). */
export const ledgerEntrySchema = z
  .object({
    samplingRate: z.number().gt(0).lte(1),
    noiseMultiplier: z.number().min(0).refine(Number.isFinite, 'expected a finite number'),
    steps: z.number().int().min(1).default(1),
    discrete: discreteLedgerMechanismSchema.optional(),
  })
  .strict();
export type LedgerEntryInput = z.input<typeof ledgerEntrySchema>;
export interface LedgerEntry extends z.output<typeof ledgerEntrySchema> {
  population: string;
  taskId: string;
  round: number;
  recordedAt: Date;
}

/** A charge an open round of another task holds against the population's budget. */
export interface ReservedEntry extends z.output<typeof ledgerEntrySchema> {
  taskId: string;
  round: number;
}

/** What a population has spent when a round asks to open: its recorded entries and the open rounds' charges. */
export interface PopulationSpend {
  population: string;
  committed: LedgerEntry[];
  reserved: ReservedEntry[];
}

/** The budget's answer to a round that asks to open: whether it may, and what it reserves while it runs. */
export interface OpeningBudget {
  allowed: boolean;
  charge: LedgerEntryInput | null;
}

export interface RoundCommit {
  taskId: string;
  fence: Fence;
  /** Must be the head's next round. */
  round: number;
  /** Must be the head's model version and hash; the new version is parent.version + 1. */
  parent: { version: number; hash: string };
  model: ModelBlob;
  /** fl-core's round record: status 'committed', this round, modelVersion parent → parent + 1. */
  record: RoundReport;
  ledger: LedgerEntryInput;
  /** Replaces the head's state when given. */
  state?: Record<string, unknown>;
}

export interface RoundAbort {
  taskId: string;
  fence: Fence;
  round: number;
  /** fl-core's round record: status 'aborted' with its reason in `abort`, modelVersion unchanged. */
  record: RoundReport;
  /** Present when a sum was unmasked before the abort: the release is spent whatever follows. */
  ledger?: LedgerEntryInput;
  state?: Record<string, unknown>;
}

export interface StoredRound {
  taskId: string;
  round: number;
  status: 'committed' | 'aborted';
  epoch: number;
  record: RoundReport;
}

export interface StoredModelVersion {
  version: number;
  hash: string;
  parentHash: string | null;
  round: number | null;
  bytes: Uint8Array | null;
  pointer: string | null;
  optimizer: Uint8Array | null;
  meta: Record<string, unknown>;
  createdAt: Date;
}

export interface Revocation {
  /** Increases with every revocation: a process catching up asks for those after the last it saw. */
  seq: number;
  population: string;
  subject: string;
  reason: string;
  revokedBy: string;
  revokedAt: Date;
}

interface HeadRow {
  task_id: string;
  population: string;
  epoch: string;
  model_version: number;
  model_hash: string;
  next_round: number;
  state: Record<string, unknown>;
  updated_at: Date;
}

export class RecordStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly leases: LeaseStore;
  readonly #s: string;
  readonly #ownsPool: boolean;

  constructor(pool: pg.Pool, schema: string, ownsPool = false) {
    this.pool = pool;
    this.schema = schema;
    this.#s = quoteSchema(schema);
    this.leases = new LeaseStore(pool, schema);
    this.#ownsPool = ownsPool;
  }

  /** Connects, applies missing migrations, and returns the store (which owns its pool). */
  static async open(config: Pick<DistributedConfig, 'pgUrl' | 'pgSchema' | 'pgPoolSize'>, onPoolError?: (error: Error) => void): Promise<RecordStore> {
    const pool = createPool(config.pgUrl, config.pgPoolSize, onPoolError);
    try {
      await migrate(pool, config.pgSchema);
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (error instanceof DistributedError) throw error;
      throw new DistributedError('STORE_UNAVAILABLE', 'RecordStore.open', `cannot prepare schema ${config.pgSchema}: ${describe(error)}`, { cause: error });
    }
    return new RecordStore(pool, config.pgSchema, true);
  }

  async close(): Promise<void> {
    if (this.#ownsPool) await this.pool.end();
  }

  /**
   * Creates a task with its version 0, or returns the head of an existing one with the same
   * initial model (several processes may race to create it; the same call from all is safe).
   */
  async createTask(input: { taskId: string; population: string; spec?: Record<string, unknown>; initial: ModelBlob }): Promise<TaskHead> {
    const where = `createTask(${input.taskId})`;
    if (!NAME.test(input.taskId) || !NAME.test(input.population)) {
      throw new DistributedError(
        'INVALID_COMMIT',
        where,
        `taskId and population must match ${NAME.source}, got ${JSON.stringify([input.taskId, input.population])}`,
      );
    }
    assertBlob(where, input.initial);
    await withTransaction(this.pool, where, async (client) => {
      const created = await client.query(
        `INSERT INTO ${this.#s}.tasks (task_id, population, spec) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO NOTHING RETURNING task_id`,
        [input.taskId, input.population, JSON.stringify(input.spec ?? {})],
      );
      if (created.rowCount === 0) return;
      await client.query(
        `INSERT INTO ${this.#s}.model_versions (task_id, version, hash, parent_hash, round, bytes, pointer, optimizer, meta) VALUES ($1, 0, $2, NULL, NULL, $3, $4, $5, $6)`,
        [
          input.taskId,
          input.initial.hash,
          toBuffer(input.initial.bytes),
          input.initial.pointer ?? null,
          toBuffer(input.initial.optimizer),
          JSON.stringify(input.initial.meta ?? {}),
        ],
      );
      await client.query(`INSERT INTO ${this.#s}.task_head (task_id, epoch, model_version, model_hash, next_round) VALUES ($1, 0, 0, $2, 1)`, [
        input.taskId,
        input.initial.hash,
      ]);
    });
    const head = await this.head(input.taskId);
    const v0 = await this.modelVersion(input.taskId, 0);
    if (head.population !== input.population || v0?.hash !== input.initial.hash) {
      throw new DistributedError(
        'INVALID_COMMIT',
        where,
        `task exists with population ${head.population} and v0 ${v0?.hash.slice(0, 12)}…, asked for ${input.population} and ${input.initial.hash.slice(0, 12)}…`,
      );
    }
    return head;
  }

  async head(taskId: string): Promise<TaskHead> {
    const { rows } = await query<HeadRow>(this.pool, `head(${taskId})`, `${this.#headSelect()} WHERE h.task_id = $1`, [taskId]);
    const row = rows[0];
    if (!row) throw new DistributedError('UNKNOWN_TASK', `head(${taskId})`, `no task ${JSON.stringify(taskId)}`);
    return toHead(row);
  }

  /**
   * Commits a round: new model version, round record, ledger entry and head, in one transaction
   * that first checks the fence and the expected round and parent. Returns the new head; on any
   * refusal nothing was written.
   */
  async commitRound(input: RoundCommit): Promise<TaskHead> {
    const where = `commitRound(${input.taskId}, round ${input.round}, epoch ${input.fence.epoch})`;
    const record = validRecord(where, input.record, input.round, 'committed');
    if (!HASH.test(input.parent.hash)) throw invalid(where, `parent.hash must be 64 hex digits, got ${JSON.stringify(input.parent.hash)}`);
    assertBlob(where, input.model);
    const version = input.parent.version + 1;
    if (record.modelVersion.from !== input.parent.version || record.modelVersion.to !== version) {
      throw invalid(where, `record.modelVersion must be ${input.parent.version} → ${version}, got ${record.modelVersion.from} → ${record.modelVersion.to}`);
    }
    const ledger = validLedger(where, input.ledger);
    return withTransaction(this.pool, where, async (client) => {
      const head = await this.#fencedHead(client, where, input.taskId, input.fence, input.round);
      if (head.model_version !== input.parent.version || head.model_hash !== input.parent.hash) {
        throw new DistributedError(
          'PARENT_MISMATCH',
          where,
          `expected parent v${input.parent.version} ${input.parent.hash.slice(0, 12)}…, the head is v${head.model_version} ${head.model_hash.slice(0, 12)}…`,
        );
      }
      await this.#insertOrStale(where, () =>
        client.query(
          `INSERT INTO ${this.#s}.model_versions (task_id, version, hash, parent_hash, round, bytes, pointer, optimizer, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            input.taskId,
            version,
            input.model.hash,
            input.parent.hash,
            input.round,
            toBuffer(input.model.bytes),
            input.model.pointer ?? null,
            toBuffer(input.model.optimizer),
            JSON.stringify(input.model.meta ?? {}),
          ],
        ),
      );
      await this.#insertRecord(client, where, input.taskId, input.fence.epoch, record);
      await this.#insertLedger(client, where, head.population, input.taskId, input.round, ledger);
      return this.#advanceHead(client, where, input, version, input.model.hash);
    });
  }

  /** Records an aborted round (reason in record.abort) and moves the head to the next round; the model stays. */
  async abortRound(input: RoundAbort): Promise<TaskHead> {
    const where = `abortRound(${input.taskId}, round ${input.round}, epoch ${input.fence.epoch})`;
    const record = validRecord(where, input.record, input.round, 'aborted');
    const reason = record.abort;
    if (!reason) throw invalid(where, 'an aborted record needs its reason in record.abort');
    if (record.modelVersion.from !== record.modelVersion.to) {
      throw invalid(where, `an aborted round keeps the model, got modelVersion ${record.modelVersion.from} → ${record.modelVersion.to}`);
    }
    const ledger = input.ledger === undefined ? null : validLedger(where, input.ledger);
    return withTransaction(this.pool, where, async (client) => {
      const head = await this.#fencedHead(client, where, input.taskId, input.fence, input.round);
      if (head.model_version !== record.modelVersion.from) {
        throw new DistributedError('PARENT_MISMATCH', where, `record says model v${record.modelVersion.from}, the head is v${head.model_version}`);
      }
      await this.#insertRecord(client, where, input.taskId, input.fence.epoch, record);
      await client.query(`INSERT INTO ${this.#s}.aborts (task_id, round, epoch, holder, code, message) VALUES ($1, $2, $3, $4, $5, $6)`, [
        input.taskId,
        input.round,
        input.fence.epoch,
        input.fence.holder,
        reason.code,
        reason.message,
      ]);
      if (ledger) await this.#insertLedger(client, where, head.population, input.taskId, input.round, ledger);
      return this.#advanceHead(client, where, input, head.model_version, head.model_hash);
    });
  }

  /**
   * Notes in the head's state, fenced like a commit, that the holder is about to open `round`:
   * once groups may unmask their sums, a round must end in a record with its ledger entry, and a
   * successor that finds the note for the head's next round records it (INTERRUPTED) before
   * opening another (distributed/task-coordinator.ts). The round's commit or abort clears it.
   *
   * With `budget`, opening is also the population's ε check: under a lock on the population (a
   * transaction-scoped advisory lock, so tasks of one population open their rounds one at a time),
   * `budget` sees the population's ledger and the charges other tasks' open rounds reserved, and
   * the round opens only if it allows; its charge is kept in the head's state as `reserved` until
   * the round's record (with its real entry, never above the charge) replaces it. Without the lock,
   * two tasks could each pass the check against a ledger that counts neither. False: refused by
   * `budget`, nothing written.
   */
  async markRoundOpen(input: {
    taskId: string;
    fence: Fence;
    round: number;
    open: Record<string, unknown>;
    budget?: (spend: PopulationSpend) => OpeningBudget | Promise<OpeningBudget>;
  }): Promise<boolean> {
    const where = `markRoundOpen(${input.taskId}, round ${input.round}, epoch ${input.fence.epoch})`;
    return withTransaction(this.pool, where, async (client) => {
      const head = await this.#fencedHead(client, where, input.taskId, input.fence, input.round);
      const patch: Record<string, unknown> = { open: input.open };
      if (input.budget) {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${this.schema}/population/${head.population}`]);
        const decision = await input.budget(await this.#populationSpend(client, where, head.population, input.taskId));
        if (!decision.allowed) return false;
        if (decision.charge) patch['reserved'] = validLedger(where, decision.charge);
      }
      const { rowCount } = await client.query(
        `UPDATE ${this.#s}.task_head SET state = state || $3::jsonb, updated_at = clock_timestamp()
         WHERE task_id = $1 AND next_round = $2 AND epoch <= $4`,
        [input.taskId, input.round, JSON.stringify(patch), input.fence.epoch],
      );
      if (rowCount !== 1) throw new DistributedError('STALE_ROUND', where, 'the head moved while the round was being opened');
      return true;
    });
  }

  /** The population's recorded entries and the charges the other tasks' open rounds hold. */
  async #populationSpend(client: pg.PoolClient, where: string, population: string, taskId: string): Promise<PopulationSpend> {
    const committed = await this.#ledgerRows(client, where, population);
    const { rows } = await client.query<{ task_id: string; next_round: number; reserved: unknown }>(
      `SELECT h.task_id, h.next_round, h.state->'reserved' AS reserved FROM ${this.#s}.task_head h JOIN ${this.#s}.tasks t USING (task_id)
       WHERE t.population = $1 AND h.task_id <> $2 AND h.state ? 'reserved' ORDER BY h.task_id`,
      [population, taskId],
    );
    const reserved = rows.map((row) => {
      const entry = ledgerEntrySchema.safeParse(row.reserved);
      if (!entry.success) {
        throw new DistributedError(
          'COORDINATION_CORRUPT',
          where,
          `task ${row.task_id}'s reserved charge is not a ledger entry: ${z.prettifyError(entry.error)}`,
        );
      }
      return { taskId: row.task_id, round: row.next_round, ...entry.data };
    });
    return { population, committed, reserved };
  }

  /** The stored record of a round, or null: how a caller resolves COMMIT_OUTCOME_UNKNOWN. */
  async findRound(taskId: string, round: number): Promise<StoredRound | null> {
    const { rows } = await query<{ status: 'committed' | 'aborted'; epoch: string; record: RoundReport }>(
      this.pool,
      `findRound(${taskId}, ${round})`,
      `SELECT status, epoch, record FROM ${this.#s}.round_records WHERE task_id = $1 AND round = $2`,
      [taskId, round],
    );
    const row = rows[0];
    return row ? { taskId, round, status: row.status, epoch: Number(row.epoch), record: row.record } : null;
  }

  async modelVersion(taskId: string, version: number): Promise<StoredModelVersion | null> {
    const { rows } = await query<{
      version: number;
      hash: string;
      parent_hash: string | null;
      round: number | null;
      bytes: Buffer | null;
      pointer: string | null;
      optimizer: Buffer | null;
      meta: Record<string, unknown>;
      created_at: Date;
    }>(
      this.pool,
      `modelVersion(${taskId}, ${version})`,
      `SELECT version, hash, parent_hash, round, bytes, pointer, optimizer, meta, created_at FROM ${this.#s}.model_versions WHERE task_id = $1 AND version = $2`,
      [taskId, version],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      version: row.version,
      hash: row.hash,
      parentHash: row.parent_hash,
      round: row.round,
      bytes: row.bytes ? new Uint8Array(row.bytes) : null,
      pointer: row.pointer,
      optimizer: row.optimizer ? new Uint8Array(row.optimizer) : null,
      meta: row.meta,
      createdAt: row.created_at,
    };
  }

  /** A population's ledger across its tasks, in recording order (what fl-core's PrivacyLedger replays). */
  async ledger(population: string): Promise<LedgerEntry[]> {
    return this.#ledgerRows(this.pool, `ledger(${population})`, population);
  }

  async #ledgerRows(runner: pg.Pool | pg.PoolClient, where: string, population: string): Promise<LedgerEntry[]> {
    const select = `SELECT population, task_id, round, sampling_rate, noise_multiplier, steps, discrete, recorded_at FROM ${this.#s}.privacy_ledger
                    WHERE population = $1 ORDER BY recorded_at, task_id, round`;
    type Row = {
      population: string;
      task_id: string;
      round: number;
      sampling_rate: number;
      noise_multiplier: number;
      steps: number;
      discrete: unknown;
      recorded_at: Date;
    };
    const { rows } = 'release' in runner ? await runner.query<Row>(select, [population]) : await query<Row>(runner, where, select, [population]);
    return rows.map((row) => {
      const discrete = row.discrete === null ? null : discreteLedgerMechanismSchema.safeParse(row.discrete);
      if (discrete && !discrete.success) {
        throw new DistributedError(
          'COORDINATION_CORRUPT',
          where,
          `round ${row.round} of ${row.task_id}: its discrete mechanism is not one: ${z.prettifyError(discrete.error)}`,
        );
      }
      return {
        population: row.population,
        taskId: row.task_id,
        round: row.round,
        samplingRate: row.sampling_rate,
        noiseMultiplier: row.noise_multiplier,
        steps: row.steps,
        ...(discrete ? { discrete: discrete.data } : {}),
        recordedAt: row.recorded_at,
      };
    });
  }

  /** Revokes a subject (a client key or enrollment id) for a population; revoking twice keeps the first. True when new. */
  async revoke(input: { population: string; subject: string; reason: string; revokedBy: string }): Promise<boolean> {
    const { rowCount } = await query(
      this.pool,
      `revoke(${input.population})`,
      `INSERT INTO ${this.#s}.revocations (population, subject, reason, revoked_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [input.population, input.subject, input.reason, input.revokedBy],
    );
    return rowCount === 1;
  }

  /** Revocations of a population in the order made; `afterSeq` for those after the last one a process saw. */
  async revocations(population: string, afterSeq = 0): Promise<Revocation[]> {
    const { rows } = await query<{ seq: string; population: string; subject: string; reason: string; revoked_by: string; revoked_at: Date }>(
      this.pool,
      `revocations(${population})`,
      `SELECT seq, population, subject, reason, revoked_by, revoked_at FROM ${this.#s}.revocations
       WHERE population = $1 AND seq > $2 ORDER BY seq`,
      [population, afterSeq],
    );
    return rows.map((row) => ({
      seq: Number(row.seq),
      population: row.population,
      subject: row.subject,
      reason: row.reason,
      revokedBy: row.revoked_by,
      revokedAt: row.revoked_at,
    }));
  }

  #headSelect(): string {
    return `SELECT h.task_id, t.population, h.epoch, h.model_version, h.model_hash, h.next_round, h.state, h.updated_at
            FROM ${this.#s}.task_head h JOIN ${this.#s}.tasks t USING (task_id)`;
  }

  /** Checks the fence against the lease row (locked FOR SHARE until COMMIT) and the round against the head. */
  async #fencedHead(client: pg.PoolClient, where: string, taskId: string, fence: Fence, round: number): Promise<HeadRow> {
    const lease = await client.query<{ holder: string | null; epoch: string; live: boolean }>(
      `SELECT holder, epoch, expires_at > clock_timestamp() AS live FROM ${this.#s}.task_leases WHERE task_id = $1 FOR SHARE`,
      [taskId],
    );
    const row = lease.rows[0];
    const current = row ? { holder: row.holder, epoch: Number(row.epoch), live: row.live } : null;
    if (!current || current.epoch !== fence.epoch || current.holder !== fence.holder || !current.live) throw fenceError(where, fence, current);
    const { rows } = await client.query<HeadRow>(`${this.#headSelect()} WHERE h.task_id = $1`, [taskId]);
    const head = rows[0];
    if (!head) throw new DistributedError('UNKNOWN_TASK', where, `no task ${JSON.stringify(taskId)}`);
    if (head.next_round !== round) throw new DistributedError('STALE_ROUND', where, `expected the head's next round ${head.next_round}, got ${round}`);
    return head;
  }

  async #insertRecord(client: pg.PoolClient, where: string, taskId: string, epoch: number, record: RoundReport): Promise<void> {
    await this.#insertOrStale(where, () =>
      client.query(
        `INSERT INTO ${this.#s}.round_records (task_id, round, status, epoch, model_version_from, model_version_to, started_at, ended_at, abort_code, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          taskId,
          record.round,
          record.status,
          epoch,
          record.modelVersion.from,
          record.modelVersion.to,
          timestampOrNull(record.startedAt),
          timestampOrNull(record.endedAt),
          record.abort?.code ?? null,
          JSON.stringify(record),
        ],
      ),
    );
  }

  async #insertLedger(
    client: pg.PoolClient,
    where: string,
    population: string,
    taskId: string,
    round: number,
    entry: z.output<typeof ledgerEntrySchema>,
  ): Promise<void> {
    await this.#insertOrStale(where, () =>
      client.query(
        `INSERT INTO ${this.#s}.privacy_ledger (population, task_id, round, sampling_rate, noise_multiplier, steps, discrete) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [population, taskId, round, entry.samplingRate, entry.noiseMultiplier, entry.steps, entry.discrete ? JSON.stringify(entry.discrete) : null],
      ),
    );
  }

  /**
   * The last write: guarded again by round, parent and epoch, so a concurrent writer can never be
   * overwritten. The round's open note and reserved charge go with it (its ledger entry now counts).
   */
  async #advanceHead(client: pg.PoolClient, where: string, input: RoundCommit | RoundAbort, version: number, hash: string): Promise<TaskHead> {
    const parentVersion = 'parent' in input ? input.parent.version : version;
    const parentHash = 'parent' in input ? input.parent.hash : hash;
    const { rows } = await client.query<{ task_id: string }>(
      `UPDATE ${this.#s}.task_head SET epoch = $2, model_version = $3, model_hash = $4, next_round = $5 + 1,
              state = COALESCE($8::jsonb, state) - 'open' - 'reserved', updated_at = clock_timestamp()
       WHERE task_id = $1 AND next_round = $5 AND model_version = $6 AND model_hash = $7 AND epoch <= $2
       RETURNING task_id`,
      [input.taskId, input.fence.epoch, version, hash, input.round, parentVersion, parentHash, input.state === undefined ? null : JSON.stringify(input.state)],
    );
    if (rows.length !== 1) throw new DistributedError('STALE_ROUND', where, 'the head moved during the commit (a concurrent writer)');
    const head = await client.query<HeadRow>(`${this.#headSelect()} WHERE h.task_id = $1`, [input.taskId]);
    return toHead(head.rows[0] as HeadRow);
  }

  /** A unique violation here means another commit of the same round got there first. */
  async #insertOrStale(where: string, insert: () => Promise<unknown>): Promise<void> {
    try {
      await insert();
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw new DistributedError(
          'STALE_ROUND',
          where,
          `already recorded by a concurrent commit (${(error as { constraint?: string }).constraint ?? 'unique'})`,
        );
      }
      throw error;
    }
  }
}

function toHead(row: HeadRow): TaskHead {
  return {
    taskId: row.task_id,
    population: row.population,
    epoch: Number(row.epoch),
    modelVersion: row.model_version,
    modelHash: row.model_hash,
    nextRound: row.next_round,
    state: row.state,
    updatedAt: row.updated_at,
  };
}

function invalid(where: string, message: string): DistributedError {
  return new DistributedError('INVALID_COMMIT', where, message);
}

function validRecord(where: string, record: RoundReport, round: number, status: RoundReport['status']): RoundReport {
  const parsed = roundReportSchema.safeParse(record);
  if (!parsed.success) throw invalid(where, `the round record is invalid: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  if (parsed.data.round !== round) throw invalid(where, `record.round must be ${round}, got ${parsed.data.round}`);
  if (parsed.data.status !== status) throw invalid(where, `record.status must be '${status}', got '${parsed.data.status}'`);
  return parsed.data;
}

function validLedger(where: string, entry: LedgerEntryInput): z.output<typeof ledgerEntrySchema> {
  const parsed = ledgerEntrySchema.safeParse(entry);
  if (!parsed.success) throw invalid(where, `the ledger entry is invalid: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  return parsed.data;
}

function assertBlob(where: string, blob: ModelBlob): void {
  if (!HASH.test(blob.hash)) throw invalid(where, `model hash must be 64 hex digits, got ${JSON.stringify(blob.hash)}`);
  if (blob.bytes === undefined && (blob.pointer === undefined || blob.pointer.length === 0)) throw invalid(where, 'a model needs bytes or a pointer');
}

function toBuffer(bytes: Uint8Array | undefined): Buffer | null {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null;
}

function timestampOrNull(value: string): string | null {
  return Number.isFinite(Date.parse(value)) ? value : null;
}
