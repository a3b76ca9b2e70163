import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Coordination } from './coordination';
import { holdHeadRow } from './testing/suite';
import type { VirtualClientPool } from '../virtual-clients';
import { startCluster, waitLog, type Cluster, type ClusterMember } from './testing/cluster';
import { stores, storesConfig, until } from './testing/fixtures';

/**
 * Issue 18's failure tests (docs/scale-out.md, "Failure tests"): three aggregator processes
 * (main.ts) on one PostgreSQL and one Redis, four virtual clients on each, one task. The tests
 * share the processes and run in order; each one breaks something mid-round, then checks the
 * record's invariants (at most one record per round, one ledger entry per committed round, a
 * contiguous version chain with matching hashes, every abort with its reason), that no process
 * crashed, and that the clients of every process take part in a later committed round.
 *
 * Small timings keep the file short: leases of 2.5 s, pool counts that expire after 2 s (a killed
 * process's group is given up on then, not at the round's deadline), pauses of 200 ms.
 */
const TASK = 'chaos';
const PROCESSES = 3;
const CLIENTS_PER_PROCESS = 4;
const LEASE_TTL_MS = 2500;
const POOL_COUNT_TTL_MS = 2000;
const COMMITTED = 'task coordinator: round committed';
const ABORTED = 'task coordinator: round aborted; model kept';
/** How the record refuses a write under a lease that is no longer the writer's (lease.ts fenceError). */
const FENCE_CODES = ['STALE_EPOCH', 'LEASE_NOT_HELD', 'LEASE_EXPIRED'];

describe('failures of a three-process task', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      prefix: 'chaos',
      taskId: TASK,
      processes: PROCESSES,
      clientsPerProcess: CLIENTS_PER_PROCESS,
      env: {
        MURMUR_LEASE_TTL_MS: String(LEASE_TTL_MS),
        MURMUR_POOL_COUNT_TTL_MS: String(POOL_COUNT_TTL_MS),
        MURMUR_REDIS_COMMAND_TIMEOUT_MS: '1000',
      },
      round: { pauseMs: 200, deadlines: { advertiseKeysMs: 10_000, shareKeysMs: 5_000, maskedInputMs: 5_000, unmaskingMs: 5_000 } },
    });
    // Every process's clients checked in and one round added all three groups: the baseline.
    await waitLog(cluster, COMMITTED, (line) => line.groups === PROCESSES, 180_000);
  }, 240_000);

  afterEach(async () => {
    // Whatever a failed test left behind: stores up, nobody stopped.
    for (const member of cluster?.members ?? []) member.process.child.kill('SIGCONT');
  });

  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  /** The process holding the task's lease now, and its epoch. */
  async function holder(): Promise<{ member: ClusterMember; epoch: number }> {
    return until('a lease holder', async () => {
      const lease = await cluster.records.leases.current(TASK);
      const member = cluster.members.find((m) => lease?.holder?.startsWith(`${m.processId}-`));
      return member && lease ? { member, epoch: lease.epoch } : undefined;
    });
  }

  /** The round in which one of `member`'s own groups (`<roundId>-<process>.<index>`) reaches `phase` (from its dashboard stream), waiting for the next one. */
  async function nextPhase(member: ClusterMember, phase: string, timeoutMs = 90_000): Promise<number> {
    const from = Date.now();
    const seen = await until(
      `${member.processId} in ${phase}`,
      () => member.phases.find((event) => event.at >= from && event.phase === phase && event.roundId.includes(`-${member.processId}.`)),
      timeoutMs,
      20,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${cluster.dump()}`);
    });
    return seen.round;
  }

  /** The invariants hold, nobody crashed, and a round after `after` commits with a group on every process (their clients rejoined). */
  async function expectRecovered(after: number): Promise<void> {
    const line = await waitLog(cluster, COMMITTED, (l) => Number(l.round) > after && l.groups === PROCESSES, 150_000);
    const round = Number(line.round);
    const told = new Set(cluster.ends.filter((e) => e.end.round === round && e.end.status === 'committed').map((e) => e.process));
    await until('every process tells its members', () => (told.size === PROCESSES ? true : undefined), 30_000).catch(() => undefined);
    expect(new Set(cluster.ends.filter((e) => e.end.round === round && e.end.status === 'committed').map((e) => e.process))).toEqual(new Set([0, 1, 2]));
    expect(cluster.crashed()).toEqual([]);
    expect(cluster.logs().filter((l) => Number(l.level) >= 60)).toEqual([]);
    expect(await cluster.violations()).toEqual([]);
  }

  async function ledgerEntries(round: number): Promise<number> {
    return (await cluster.records.ledger('test')).filter((entry) => entry.taskId === TASK && entry.round === round).length;
  }

  it('PostgreSQL restarted during a commit: no partial commit; the round is all there or recorded INTERRUPTED; the next one commits', async () => {
    const started = Date.now();
    const opened = await waitLog(cluster, 'task coordinator: round opened', () => true, 60_000, started);
    const round = Number(opened.round);
    // Hold the head row: the round's commit stops at its head update, with its inserts done.
    const hold = await holdHeadRow(cluster.records, TASK);
    try {
      await hold.blockedCommit();
      // Immediate: the backends exit at once. (Fast lets our lock go first, and the blocked commit
      // can then finish before its own backend is told to stop: a whole commit, which is allowed too.)
      stores('pg-restart', 'immediate');
    } finally {
      await hold.release();
    }
    const recorded = await until(`round ${round}'s record`, () => cluster.records.findRound(TASK, round).then((r) => r ?? undefined), 60_000);
    const { rows } = await cluster.records.pool.query<{ version: number; hash: string }>(
      `SELECT version, hash FROM "${cluster.schema}".model_versions WHERE task_id = $1 AND round = $2`,
      [TASK, round],
    );
    if (recorded.status === 'committed') {
      // All of it landed: the version the record names, with its hash (the invariants check the bytes).
      expect(rows.map((row) => row.version)).toEqual([recorded.record.modelVersion.to]);
    } else {
      // None of it landed: the successor run (any holder) found the open note and recorded the round.
      expect(recorded.record.abort?.code).toBe('INTERRUPTED');
      expect(rows).toEqual([]);
    }
    // Committed, or aborted after groups may have unmasked (σ at k_min): one ledger entry either way.
    expect(await ledgerEntries(round)).toBe(1);
    await expectRecovered(round);
  }, 240_000);

  it('Redis shut down mid-round: the round aborts (COORDINATION_UNAVAILABLE), nothing durable is lost, service resumes', async () => {
    const before = await cluster.records.head(TASK);
    const member = cluster.members[0] as ClusterMember;
    const round = await nextPhase(member, 'maskedInput');
    const stopped = Date.now();
    stores('redis-stop');
    let aborted: Record<string, unknown>;
    try {
      aborted = await waitLog(cluster, ABORTED, (line) => Number(line.round) === round, 60_000, stopped - 1000);
    } finally {
      stores('redis-start');
    }
    expect(aborted.code).toBe('COORDINATION_UNAVAILABLE');
    const recorded = await cluster.records.findRound(TASK, round);
    expect(recorded?.status).toBe('aborted');
    expect(recorded?.record.abort?.code).toBe('COORDINATION_UNAVAILABLE');
    // Nothing durable lost: the head kept its version chain (rounds before this one stay as they were).
    const after = await cluster.records.head(TASK);
    expect(after.modelVersion).toBeGreaterThanOrEqual(before.modelVersion);
    expect(await cluster.records.modelVersion(TASK, before.modelVersion).then((v) => v?.hash)).toBe(before.modelHash);
    await expectRecovered(round);
  }, 240_000);

  it('SIGKILL an aggregator mid-masked-input: its group is lost, the round commits from the other two', async () => {
    const { member: lead } = await holder();
    const victim = cluster.members.find((m) => m !== lead) as ClusterMember;
    const round = await nextPhase(victim, 'maskedInput');
    victim.expectedExit = true;
    victim.process.child.kill('SIGKILL');
    const killed = Date.now();
    const ended = await waitLog(cluster, COMMITTED, (line) => Number(line.round) === round, 60_000, killed - 1000);
    expect(ended.groups).toBe(PROCESSES - 1);
    // The holder gave up on the dead group once its pool count expired, not at the round's deadline.
    expect(Number(ended.time) - killed).toBeLessThan(POOL_COUNT_TTL_MS + 8_000);
    const recorded = await cluster.records.findRound(TASK, round);
    expect(recorded?.status).toBe('committed');
    expect(recorded?.record.cohort.masked).toBe((PROCESSES - 1) * CLIENTS_PER_PROCESS);
    // The dashboards say the round waited on three processes and added two of them.
    const told = await until('the committed task event', () => lead.tasks.find((t) => t.round === round && t.stage === 'committed'), 30_000);
    expect(told).toMatchObject({ processes: PROCESSES, answered: PROCESSES - 1 });
    await cluster.respawn(victim.index);
    await expectRecovered(round);
  }, 240_000);

  it('SIGSTOP the holder past its lease, then SIGCONT: its commit is refused by the fence, the round is recorded once', async () => {
    const { member: old, epoch } = await holder();
    const round = await nextPhase(old, 'maskedInput');
    const others = cluster.members.filter((m) => m !== old);
    // Freeze everyone, so that nobody moves the head meanwhile: only the lease's fence can refuse the old holder.
    for (const member of [old, ...others]) member.process.child.kill('SIGSTOP');
    const stopped = Date.now();
    try {
      await until('the lease expired', async () => ((await cluster.records.leases.current(TASK)) === null ? true : undefined), LEASE_TTL_MS * 4);
      old.process.child.kill('SIGCONT');
      // Its round ends as a refused write: the fenced commit (or abort) at the old epoch.
      const failed = await waitLog(
        cluster,
        'task coordinator: round failed; trying again',
        (line) => FENCE_CODES.includes(String((line.err as { code?: unknown } | undefined)?.code)),
        60_000,
        stopped,
      );
      expect((failed.err as { where?: string }).where).toMatch(new RegExp(`round ${round}, epoch ${epoch}\\)$`));
    } finally {
      for (const member of others) member.process.child.kill('SIGCONT');
    }
    const recorded = await until(`round ${round}'s record`, () => cluster.records.findRound(TASK, round).then((r) => r ?? undefined), 60_000);
    // Recorded by a later epoch (the old holder's re-acquired lease, or another process's).
    expect(recorded.epoch).toBeGreaterThan(epoch);
    // The old epoch announced no end for the round (the groups would tell members of a commit that never happened).
    const coordination = new Coordination(storesConfig(), 'chaos-test');
    try {
      await coordination.connect();
      const entries = await coordination.read(TASK, '0', { count: 10_000 });
      const stale = entries.filter(
        (e) => 'message' in e && e.message.epoch === epoch && (e.message.kind === 'round-end' || e.message.kind === 'abort-round') && e.message.round === round,
      );
      expect(stale).toEqual([]);
    } finally {
      await coordination.close();
    }
    await expectRecovered(round);
  }, 240_000);

  it('SIGKILL the lease holder: another process takes over, records the open round, and the next round commits', async () => {
    const { member: old, epoch } = await holder();
    const round = await nextPhase(old, 'maskedInput');
    old.expectedExit = true;
    old.process.child.kill('SIGKILL');
    const killed = Date.now();
    const acquired = await waitLog(cluster, 'task lease acquired: this process coordinates the task', (line) => Number(line.epoch) > epoch, 30_000, killed);
    expect(Number(acquired.epoch)).toBeGreaterThan(epoch);
    const recorded = await until(`round ${round}'s record`, () => cluster.records.findRound(TASK, round).then((r) => r ?? undefined), 60_000);
    expect(recorded.status).toBe('aborted');
    expect(recorded.record.abort?.code).toBe('INTERRUPTED');
    expect(await ledgerEntries(round)).toBe(1);
    // The next round commits without the dead process.
    await waitLog(cluster, COMMITTED, (line) => Number(line.round) > round, 90_000, killed);
    await cluster.respawn(old.index);
    await expectRecovered(round);
  }, 240_000);

  // Last: it takes the clients of two processes away for good.
  it('SIGKILL the only process with a group mid-masked-input: too few reports remain, the round aborts cleanly', async () => {
    const { member: lead } = await holder();
    const [victim, bystander] = cluster.members.filter((m) => m !== lead) as [ClusterMember, ClusterMember];
    const before = await cluster.records.head(TASK);
    // The holder's and a bystander's clients leave: only the victim's process can form a group.
    await (cluster.pools[lead.index] as VirtualClientPool).close();
    await (cluster.pools[bystander.index] as VirtualClientPool).close();
    const left = Date.now();
    const opened = await waitLog(cluster, 'task coordinator: round opened', (line) => line.processes === 1, 90_000, left);
    const round = Number(opened.round);
    await until(
      `${victim.processId}'s group of round ${round} in maskedInput`,
      () => victim.phases.find((event) => event.round === round && event.phase === 'maskedInput' && event.roundId.includes(`-${victim.processId}.`)),
      90_000,
      20,
    );
    victim.expectedExit = true;
    victim.process.child.kill('SIGKILL');
    const killed = Date.now();
    const aborted = await waitLog(cluster, ABORTED, (line) => Number(line.round) === round, 60_000, killed - 1000);
    expect(aborted.code).toBe('BELOW_THRESHOLD');
    // Given up once the dead process's pool count expired, not at the round's deadline.
    expect(Number(aborted.time) - killed).toBeLessThan(POOL_COUNT_TTL_MS + 8_000);
    const recorded = await cluster.records.findRound(TASK, round);
    expect(recorded?.status).toBe('aborted');
    expect(recorded?.record.abort?.code).toBe('BELOW_THRESHOLD');
    // The group may have unmasked before it died: the ledger still charges the round (σ at k_min).
    expect(await ledgerEntries(round)).toBe(1);
    // No version from that round; the versions before it intact.
    const { rows } = await cluster.records.pool.query(`SELECT version FROM "${cluster.schema}".model_versions WHERE task_id = $1 AND round = $2`, [
      TASK,
      round,
    ]);
    expect(rows).toEqual([]);
    expect(await cluster.records.modelVersion(TASK, before.modelVersion).then((v) => v?.hash)).toBe(before.modelHash);
    // The victim comes back, its clients reconnect, and their group alone commits a later round.
    await cluster.respawn(victim.index);
    const line = await waitLog(cluster, COMMITTED, (l) => Number(l.round) > round && l.groups === 1, 150_000, killed);
    await until(
      "the victim's clients told of the commit",
      () => (cluster.ends.some((e) => e.process === victim.index && e.end.round === Number(line.round) && e.end.status === 'committed') ? true : undefined),
      30_000,
    );
    expect(cluster.crashed()).toEqual([]);
    expect(cluster.logs().filter((l) => Number(l.level) >= 60)).toEqual([]);
    expect(await cluster.violations()).toEqual([]);
  }, 240_000);
});
