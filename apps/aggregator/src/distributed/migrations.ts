import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { DistributedError } from './errors';

/**
 * The record's schema as numbered migrations, applied in order, each once, each in its own
 * transaction under one advisory lock (several aggregator processes may start at once: the first
 * applies, the others wait and then find it done). A migration is never edited after it ships:
 * its text's SHA-256 is stored with it, and a differing text fails start-up with
 * MIGRATION_MISMATCH instead of leaving two processes with two ideas of the schema. `{schema}`
 * stands for the configured schema name (the checksum is over the text before substitution).
 *
 * The constraints carry part of the invariants (docs/scale-out.md): one record per (task, round),
 * one model version per round, one ledger entry per round and only for a recorded round, an abort
 * only for an aborted record, a head that names an existing version.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'record store: tasks, leases, model versions, head, rounds, ledger, aborts, revocations',
    sql: `
CREATE TABLE IF NOT EXISTS {schema}.tasks (
  task_id     text PRIMARY KEY CHECK (task_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  population  text NOT NULL CHECK (population ~ '^[A-Za-z0-9._-]{1,64}$'),
  spec        jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per task once anyone acquired it. epoch is the fencing token: +1 for each new holder,
-- never reset (release keeps it). holder is NULL after a release.
CREATE TABLE IF NOT EXISTS {schema}.task_leases (
  task_id     text PRIMARY KEY REFERENCES {schema}.tasks (task_id),
  holder      text NULL CHECK (holder IS NULL OR length(holder) BETWEEN 1 AND 200),
  epoch       bigint NOT NULL CHECK (epoch >= 1),
  expires_at  timestamptz NOT NULL,
  acquired_at timestamptz NOT NULL,
  renewed_at  timestamptz NOT NULL
);

-- Version 0 is the task's initial model; version v > 0 was made by exactly one committed round.
-- The weights are either here (bytes) or elsewhere (pointer, e.g. an object store key); optimizer
-- holds the server optimizer's moments after this version (FedAvgM, FedAdam, FedYogi), if any.
CREATE TABLE IF NOT EXISTS {schema}.model_versions (
  task_id     text NOT NULL REFERENCES {schema}.tasks (task_id),
  version     integer NOT NULL CHECK (version >= 0),
  hash        text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  parent_hash text NULL CHECK (parent_hash ~ '^[0-9a-f]{64}$'),
  round       integer NULL CHECK (round >= 1),
  bytes       bytea NULL,
  pointer     text NULL CHECK (length(pointer) BETWEEN 1 AND 1000),
  optimizer   bytea NULL,
  meta        jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, version),
  CHECK (bytes IS NOT NULL OR pointer IS NOT NULL),
  CHECK ((version = 0) = (parent_hash IS NULL)),
  CHECK ((version = 0) = (round IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_per_round ON {schema}.model_versions (task_id, round) WHERE round IS NOT NULL;

-- The commit point. epoch: the lease epoch of the last write (never above the lease's).
CREATE TABLE IF NOT EXISTS {schema}.task_head (
  task_id       text PRIMARY KEY REFERENCES {schema}.tasks (task_id),
  epoch         bigint NOT NULL CHECK (epoch >= 0),
  model_version integer NOT NULL,
  model_hash    text NOT NULL,
  next_round    integer NOT NULL CHECK (next_round >= 1),
  state         jsonb NOT NULL DEFAULT '{}',
  updated_at    timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (task_id, model_version) REFERENCES {schema}.model_versions (task_id, version)
);

-- Every finished round, committed or aborted: the full record (fl-core's roundReportSchema) plus
-- the fields queries filter on.
CREATE TABLE IF NOT EXISTS {schema}.round_records (
  task_id            text NOT NULL REFERENCES {schema}.tasks (task_id),
  round              integer NOT NULL CHECK (round >= 1),
  status             text NOT NULL CHECK (status IN ('committed', 'aborted')),
  epoch              bigint NOT NULL CHECK (epoch >= 1),
  model_version_from integer NOT NULL,
  model_version_to   integer NOT NULL,
  started_at         timestamptz NULL,
  ended_at           timestamptz NULL,
  abort_code         text NULL,
  record             jsonb NOT NULL,
  recorded_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, round),
  CHECK ((status = 'committed' AND model_version_to = model_version_from + 1 AND abort_code IS NULL)
      OR (status = 'aborted' AND model_version_to = model_version_from AND abort_code IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS round_records_by_status ON {schema}.round_records (task_id, status, round);
CREATE INDEX IF NOT EXISTS round_records_by_end ON {schema}.round_records (ended_at);

-- The privacy ledger, keyed by population (the people whose ε it is; several tasks may train on
-- one population). One entry per committed round, written in the commit; an aborted round whose
-- sum was unmasked has one too (a released sum is spent whatever follows).
CREATE TABLE IF NOT EXISTS {schema}.privacy_ledger (
  population       text NOT NULL,
  task_id          text NOT NULL,
  round            integer NOT NULL,
  sampling_rate    double precision NOT NULL CHECK (sampling_rate > 0 AND sampling_rate <= 1),
  noise_multiplier double precision NOT NULL CHECK (noise_multiplier >= 0 AND noise_multiplier < 'Infinity'),
  steps            integer NOT NULL DEFAULT 1 CHECK (steps >= 1),
  recorded_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (population, task_id, round),
  UNIQUE (task_id, round),
  FOREIGN KEY (task_id, round) REFERENCES {schema}.round_records (task_id, round)
);

-- Why each aborted round aborted (the record carries the same reason; this is the log to scan).
CREATE TABLE IF NOT EXISTS {schema}.aborts (
  task_id     text NOT NULL,
  round       integer NOT NULL,
  epoch       bigint NOT NULL,
  holder      text NOT NULL,
  code        text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
  message     text NOT NULL CHECK (length(message) <= 2000),
  aborted_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, round),
  FOREIGN KEY (task_id, round) REFERENCES {schema}.round_records (task_id, round)
);

-- Revoked client signing keys or enrollment ids, per population; fanned out to every process,
-- which catches up from the last seq it saw.
CREATE TABLE IF NOT EXISTS {schema}.revocations (
  seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  population  text NOT NULL,
  subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
  reason      text NOT NULL CHECK (length(reason) <= 2000),
  revoked_by  text NOT NULL,
  revoked_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (population, subject)
);
CREATE INDEX IF NOT EXISTS revocations_by_seq ON {schema}.revocations (population, seq);
`,
  },
  {
    version: 2,
    name: "privacy ledger: a discrete round's mechanism (Δ₂, σ_Z, honest shares, padded d) beside its q",
    sql: `
ALTER TABLE {schema}.privacy_ledger ADD COLUMN IF NOT EXISTS discrete jsonb
  CHECK (discrete IS NULL OR jsonb_typeof(discrete) = 'object');
`,
  },
];

/** Any fixed 64-bit number: the advisory lock that serializes migrations across processes. */
const MIGRATION_LOCK = 0x6d75726d7572; // "murmur"

export function migrationChecksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

export function quoteSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) throw new RangeError(`schema name: expected [a-z_][a-z0-9_]{0,40}, got ${JSON.stringify(schema)}`);
  return `"${schema}"`;
}

/** Applies what is missing; returns the versions applied now (empty when the schema was current). */
export async function migrate(pool: Pool, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const s = quoteSchema(schema);
  const applied: number[] = [];
  const client = await pool.connect();
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    for (const migration of migrations) {
      const checksum = migrationChecksum(migration);
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query<{ checksum: string }>(`SELECT checksum FROM ${s}.schema_migrations WHERE version = $1`, [migration.version]);
        const existing = rows[0];
        if (existing) {
          if (existing.checksum !== checksum) {
            throw new DistributedError(
              'MIGRATION_MISMATCH',
              `migrate ${schema}`,
              `migration ${migration.version} was applied with checksum ${existing.checksum.slice(0, 12)}…, this build has ${checksum.slice(0, 12)}…`,
            );
          }
          await client.query('COMMIT');
          continue;
        }
        await client.query(migration.sql.replaceAll('{schema}', s));
        await client.query(`INSERT INTO ${s}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [migration.version, migration.name, checksum]);
        await client.query('COMMIT');
        applied.push(migration.version);
      } catch (error) {
        await client.query('ROLLBACK').catch(ignore);
        throw error;
      }
    }
  } finally {
    client.release();
    client.off('error', ignore);
  }
  return applied;
}
