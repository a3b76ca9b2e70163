import type pg from 'pg';
import { quoteSchema } from './migrations';
import { withTransaction } from './pg';

/**
 * The record's invariants for one task (issue 18; docs/scale-out.md), checked by reading
 * everything back. The chaos tests call it after every fault; an operator can too. Some are also
 * constraints in the schema (which makes them hold by construction), the rest are checked here:
 *
 *  1. at most one commit per (task, round), and every round below the head's next round is
 *     recorded exactly once (committed or aborted: no gaps);
 *  2. exactly one ledger entry per committed round; none for a round without a record;
 *  3. versions 0..head form a contiguous chain: each parent hash is the previous version's hash,
 *     each version v > 0 was made by the committed round whose record says → v, the head's hash is
 *     its version's hash, and (with `hashOf`) the stored bytes hash to the stored hash;
 *  4. every aborted round has an abort log row with a reason, and every abort row an aborted record;
 *  5. the head's epoch never exceeds the lease's, and each record's epoch is ≤ the head's;
 *  6. each stored record agrees with its indexed columns (round, status, versions).
 */
export interface InvariantReport {
  ok: boolean;
  violations: string[];
  counts: { committed: number; aborted: number; versions: number; ledger: number; aborts: number };
}

export async function checkInvariants(
  pool: pg.Pool,
  schema: string,
  taskId: string,
  options: { hashOf?: (bytes: Uint8Array) => string } = {},
): Promise<InvariantReport> {
  const s = quoteSchema(schema);
  const violations: string[] = [];
  const where = `checkInvariants(${taskId})`;
  // One snapshot for every read: the cluster keeps committing while this runs, and reads from
  // separate snapshots would see a round's ledger entry but not its record (or the reverse).
  const snapshot = await withTransaction(pool, where, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const headRows = (
      await client.query<{ epoch: string; model_version: number; model_hash: string; next_round: number; lease_epoch: string | null }>(
        `SELECT h.epoch, h.model_version, h.model_hash, h.next_round, l.epoch AS lease_epoch
         FROM ${s}.task_head h LEFT JOIN ${s}.task_leases l USING (task_id) WHERE h.task_id = $1`,
        [taskId],
      )
    ).rows;
    const records = (
      await client.query<{
        round: number;
        status: string;
        epoch: string;
        model_version_from: number;
        model_version_to: number;
        record: Record<string, unknown>;
      }>(`SELECT round, status, epoch, model_version_from, model_version_to, record FROM ${s}.round_records WHERE task_id = $1 ORDER BY round`, [taskId])
    ).rows;
    const versions = (
      await client.query<{ version: number; hash: string; parent_hash: string | null; round: number | null; bytes: Buffer | null }>(
        `SELECT version, hash, parent_hash, round, ${options.hashOf ? 'bytes' : 'NULL::bytea AS bytes'} FROM ${s}.model_versions WHERE task_id = $1 ORDER BY version`,
        [taskId],
      )
    ).rows;
    const ledger = (await client.query<{ round: number }>(`SELECT round FROM ${s}.privacy_ledger WHERE task_id = $1 ORDER BY round`, [taskId])).rows;
    const aborts = (
      await client.query<{ round: number; code: string; message: string }>(`SELECT round, code, message FROM ${s}.aborts WHERE task_id = $1 ORDER BY round`, [
        taskId,
      ])
    ).rows;
    return { head: headRows[0], records, versions, ledger, aborts };
  });
  const { head, records, versions, ledger, aborts } = snapshot;
  if (!head) return { ok: false, violations: [`no head for task ${taskId}`], counts: { committed: 0, aborted: 0, versions: 0, ledger: 0, aborts: 0 } };

  // 1. one record per round, rounds 1..next_round-1 all present, none beyond.
  const byRound = new Map<number, (typeof records)[number][]>();
  for (const record of records) byRound.set(record.round, [...(byRound.get(record.round) ?? []), record]);
  for (const [round, list] of byRound) if (list.length > 1) violations.push(`round ${round}: ${list.length} records (at most one)`);
  for (let round = 1; round < head.next_round; round++)
    if (!byRound.has(round)) violations.push(`round ${round}: no record below the head's next round ${head.next_round}`);
  for (const record of records)
    if (record.round >= head.next_round) violations.push(`round ${record.round}: recorded at or beyond the head's next round ${head.next_round}`);
  const committed = records.filter((record) => record.status === 'committed');
  const aborted = records.filter((record) => record.status === 'aborted');

  // 2. ledger: exactly one per committed round, none without a record.
  const ledgerCount = new Map<number, number>();
  for (const entry of ledger) ledgerCount.set(entry.round, (ledgerCount.get(entry.round) ?? 0) + 1);
  for (const record of committed) {
    const n = ledgerCount.get(record.round) ?? 0;
    if (n !== 1) violations.push(`round ${record.round}: committed with ${n} ledger entries (exactly one)`);
  }
  for (const [round, n] of ledgerCount) {
    if (!byRound.has(round)) violations.push(`round ${round}: ${n} ledger entries without a round record`);
    else if (n > 1) violations.push(`round ${round}: ${n} ledger entries`);
  }

  // 3. the version chain.
  if (versions.length !== head.model_version + 1)
    violations.push(`versions: ${versions.length} stored, expected ${head.model_version + 1} (0..${head.model_version})`);
  versions.forEach((version, index) => {
    if (version.version !== index) violations.push(`versions: v${index} missing (found v${version.version} in its place)`);
    if (index === 0) {
      if (version.parent_hash !== null || version.round !== null) violations.push('v0: has a parent or a round');
    } else {
      const parent = versions[index - 1];
      if (parent && version.parent_hash !== parent.hash)
        violations.push(`v${version.version}: parent hash ${short(version.parent_hash)} ≠ v${parent.version}'s hash ${short(parent.hash)}`);
      const maker = committed.filter((record) => record.model_version_to === version.version);
      if (maker.length !== 1 || maker[0]?.round !== version.round) {
        violations.push(`v${version.version}: made by round ${version.round}, but ${maker.length} committed records say → v${version.version}`);
      }
    }
    if (options.hashOf && version.bytes) {
      const actual = options.hashOf(new Uint8Array(version.bytes));
      if (actual !== version.hash) violations.push(`v${version.version}: bytes hash to ${short(actual)}, stored hash ${short(version.hash)}`);
    }
    if (version.version > head.model_version) violations.push(`v${version.version}: beyond the head v${head.model_version}`);
  });
  const headVersion = versions.find((version) => version.version === head.model_version);
  if (!headVersion || headVersion.hash !== head.model_hash)
    violations.push(`head: v${head.model_version} ${short(head.model_hash)} is not a stored version with that hash`);
  if (committed.length !== head.model_version) violations.push(`head: v${head.model_version} after ${committed.length} committed rounds`);
  let expected = 0;
  for (const record of records) {
    if (record.model_version_from !== expected)
      violations.push(`round ${record.round}: starts from v${record.model_version_from}, the chain was at v${expected}`);
    expected = record.model_version_to;
  }

  // 4. aborts.
  const abortRounds = new Set(aborts.map((row) => row.round));
  for (const record of aborted) if (!abortRounds.has(record.round)) violations.push(`round ${record.round}: aborted without an abort log entry`);
  for (const row of aborts) {
    if (!aborted.some((record) => record.round === row.round)) violations.push(`abort log: round ${row.round} is not an aborted record`);
    if (!row.code) violations.push(`abort log: round ${row.round} has no reason code`);
  }

  // 5. epochs.
  const headEpoch = Number(head.epoch);
  if (head.lease_epoch !== null && headEpoch > Number(head.lease_epoch))
    violations.push(`head: written at epoch ${headEpoch}, the lease is at ${head.lease_epoch}`);
  for (const record of records)
    if (Number(record.epoch) > headEpoch) violations.push(`round ${record.round}: epoch ${record.epoch} above the head's ${headEpoch}`);

  // 6. records agree with their columns.
  for (const row of records) {
    const r = row.record as { round?: unknown; status?: unknown; modelVersion?: { from?: unknown; to?: unknown } };
    if (r.round !== row.round || r.status !== row.status || r.modelVersion?.from !== row.model_version_from || r.modelVersion?.to !== row.model_version_to) {
      violations.push(`round ${row.round}: the stored record disagrees with its columns`);
    }
  }

  return {
    ok: violations.length === 0,
    violations,
    counts: { committed: committed.length, aborted: aborted.length, versions: versions.length, ledger: ledger.length, aborts: aborts.length },
  };
}

function short(hash: string | null): string {
  return hash === null ? 'none' : `${hash.slice(0, 12)}…`;
}
