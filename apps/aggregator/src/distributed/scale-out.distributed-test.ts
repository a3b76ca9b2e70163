import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModelPayload } from '@murmur/fl-core/model';
import { distributedStatusSchema, privacySummarySchema } from '@murmur/fl-core/protocol';
import { TEST_ADMIN_TOKEN, TEST_NOISE_MULTIPLIER, TEST_SPEC } from '../test-helpers';
import { checkInvariants } from './invariants';
import { hashOfBytes } from './replica';
import { startCluster, type Cluster } from './testing/cluster';
import { until } from './testing/fixtures';
import type { RecordStore } from './record-store';

/**
 * Issue 18's must-show: three aggregator processes (main.ts, the real entry point) on one
 * PostgreSQL and one Redis; clients connected to different processes train one model. Each
 * process splits its draw into SecAgg groups of at most GROUP_SIZE (each ≥ minReports 3) and runs
 * them at once, the lease holder adds the processes' sums and commits.
 */
const TASK = 'scale-out';
const PROCESSES = 3;
const CLIENTS_PER_PROCESS = 6;
/** Six drawn on a process make two groups of three; five or fewer, one group (two would fall below minReports). */
const GROUP_SIZE = 3;
/** Enrolled devices on each process that stay connected and never check in. */
const IDLE_PER_PROCESS = 6;

describe('three aggregator processes, one task', () => {
  let cluster: Cluster;
  let records: RecordStore;
  const aggregators = () => cluster.members.map((m) => m.process);

  beforeAll(async () => {
    cluster = await startCluster({
      prefix: 'scaleout',
      taskId: TASK,
      processes: PROCESSES,
      clientsPerProcess: CLIENTS_PER_PROCESS,
      idlePerProcess: IDLE_PER_PROCESS,
      env: { MURMUR_LEASE_TTL_MS: '3000', MURMUR_GROUP_SIZE: String(GROUP_SIZE) },
    });
    records = cluster.records;
  }, 240_000);

  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  it('commits rounds that add two groups from every process: one model, served the same by all three', async () => {
    // Early rounds may open before every process's clients checked in: wait for one that added two groups from each.
    const commitLog = await until(
      'a round committed from two groups on every process',
      () =>
        aggregators()
          .flatMap((a) => a.logs())
          .find((line) => line.msg === 'task coordinator: round committed' && line.groups === 2 * PROCESSES),
      180_000,
    ).catch((error: unknown) => {
      throw new Error(
        `${String(error)}\n${aggregators()
          .map((a) => `--- ${a.processId}\n${a.output().slice(-6000)}`)
          .join('\n')}`,
      );
    });
    const committed = await records.findRound(TASK, Number(commitLog.round));
    expect(committed?.status).toBe('committed');
    const record = committed?.record;
    if (!record) return;
    // More reports than any one process holds: the sum came from several processes' groups.
    expect(record.cohort.masked).toBeGreaterThan(CLIENTS_PER_PROCESS);
    // q over the clients in the draw (target 18 of 18), not over every socket: the idle devices,
    // connected but never checked in, would make it 18 / 36 and halve every cohort.
    expect(record.privacy.samplingRate).toBe(1);
    // Members on every process were told the same committed version for that round.
    const toldOn = () => new Set(cluster.ends.filter((e) => e.end.round === record.round && e.end.status === 'committed').map((e) => e.process));
    await until('round ends on all processes', () => (toldOn().size === PROCESSES ? true : undefined), 30_000);
    const told = cluster.ends.filter((e) => e.end.round === record.round && e.end.status === 'committed');
    expect(new Set(told.map((e) => e.end.modelVersion))).toEqual(new Set([record.modelVersion.to]));
    // The lease holder's task events reach the dashboard viewers of every process (Redis adapter),
    // each once: the committed event names the holder and the version.
    const holder = String(
      aggregators()
        .flatMap((a) => a.logs().map((line) => ({ line, processId: a.processId })))
        .find(({ line }) => line.msg === 'task coordinator: round committed' && line.round === record.round)?.processId,
    );
    const committedEvent = {
      round: record.round,
      stage: 'committed',
      coordinator: holder,
      modelVersion: record.modelVersion.to,
      // Every process's groups were added; the round may have waited on fewer (a pool still filling at the open).
      answered: PROCESSES,
      taskId: TASK,
    };
    await until(
      'the committed task event on every process',
      () => (cluster.members.every((m) => m.tasks.some((t) => t.round === record.round && t.stage === 'committed')) ? true : undefined),
      30_000,
    );
    for (const member of cluster.members) {
      expect(member.tasks.filter((t) => t.round === record.round && t.stage === 'committed')).toEqual([expect.objectContaining(committedEvent)]);
    }
    // One process coordinated that round: exactly one commit line for it.
    expect(
      aggregators()
        .flatMap((a) => a.logs())
        .filter((line) => line.msg === 'task coordinator: round committed' && line.round === record.round),
    ).toHaveLength(1);
    // The ledger credits the weakest group, not the whole sum: σ·√(k_g/k_min) for the smallest group k_g.
    const ledger = (await records.ledger('test')).find((entry) => entry.taskId === TASK && entry.round === record.round);
    // k_min = min(minReports 3, m), and m ≥ 3 here (q·N with N the eligible clients, at least one process's 6).
    // Six groups from 18 clients: every group held three, so the weakest is 3 (a whole process's 6 would be 6).
    const weakest = ((ledger?.noiseMultiplier ?? 0) / TEST_NOISE_MULTIPLIER) ** 2 * 3;
    expect(Math.round(weakest)).toBe(GROUP_SIZE);
    // Every process's replica serves the committed version, with the record's hash.
    const version = record.modelVersion.to;
    const stored = await records.modelVersion(TASK, version);
    for (const aggregator of aggregators()) {
      const payload = await until(
        `${aggregator.processId} serves v${version}`,
        async () => {
          const response = await fetch(`${aggregator.url}/api/model/${version}`);
          return response.ok ? new Uint8Array(await response.arrayBuffer()) : undefined;
        },
        30_000,
      );
      expect(decodeModelPayload(payload).hash).toBe(stored?.hash);
    }
    const invariants = await checkInvariants(records.pool, cluster.schema, TASK, { hashOf: hashOfBytes(TEST_SPEC) });
    expect(invariants.violations).toEqual([]);
    // Every process says what the population spent (one task here), from the record as of its last
    // sync: at least the entries through the round it already serves, at most all there are.
    const through = (await records.ledger('test')).filter((entry) => entry.round <= record.round).length;
    for (const aggregator of aggregators()) {
      const spent = privacySummarySchema.parse(await (await fetch(`${aggregator.url}/api/privacy`)).json()).populationSpent;
      expect(spent?.tasks).toBe(1);
      expect(spent?.rounds).toBeGreaterThanOrEqual(through);
      expect(spent?.rounds).toBeLessThanOrEqual((await records.ledger('test')).length);
      expect(spent?.epsilon).toBeGreaterThan(0);
    }
  }, 240_000);

  it("reports every process's health in /api/status, and a revocation on one process cuts the device off on another", async () => {
    const statuses = await until(
      'every process sees all three in its status',
      async () => {
        const all = await Promise.all(
          aggregators().map(async (a) =>
            distributedStatusSchema.parse(((await (await fetch(`${a.url}/api/status`)).json()) as { distributed: unknown }).distributed),
          ),
        );
        return all.every((status) => status.processes.length === PROCESSES && status.coordinator !== null) ? all : undefined;
      },
      30_000,
    );
    statuses.forEach((status, i) => {
      expect(status).toMatchObject({ taskId: TASK, processId: `agg${i}`, record: 'up', coordination: 'up' });
      expect(status.processes.map((p) => p.processId)).toEqual(['agg0', 'agg1', 'agg2']);
      expect(status.epoch).toBeGreaterThanOrEqual(1);
    });
    // One coordinator, the same for everyone.
    expect(new Set(statuses.map((status) => status.coordinator)).size).toBe(1);

    // An operator on process 0 revokes a device connected to process 2.
    const victim = cluster.pools[2]?.clients[0];
    const bystander = cluster.pools[2]?.clients[1];
    if (!victim || !bystander) throw new Error('cluster: no clients on process 2');
    expect(victim.socket.connected).toBe(true);
    const revoked = await fetch(`${aggregators()[0]?.url}/api/admin/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: victim.identity.clientId }),
    });
    expect(revoked.status).toBe(200);
    const refused = new Promise<string>((resolve) =>
      victim.socket.on('connect_error', (error: Error & { data?: { code?: string } }) => resolve(error.data?.code ?? error.message)),
    );
    await until('the device on process 2 is cut off', () => (victim.socket.connected ? undefined : true), 10_000);
    // Its reconnections are refused by process 2 too, and the record keeps the revocation.
    victim.socket.connect();
    expect(await refused).toBe('REVOKED_IDENTITY');
    expect((await records.revocations('test')).map((r) => r.subject)).toContain(victim.identity.clientId);
    expect(bystander.socket.connected).toBe(true);
  }, 60_000);

  // Last: it closes every training client.
  it('idle devices alone open no round: nothing is drawn, nothing charged to the ledger', async () => {
    for (const pool of cluster.pools) await pool.close();
    // The round in flight ends without its members (one more may open on a count taken before they
    // left); then none opens while the processes hold only devices that never check in.
    const quietMs = 4_000;
    let last = { round: (await records.head(TASK)).nextRound, at: Date.now() };
    await until(
      `${quietMs} ms without a round`,
      async () => {
        const head = await records.head(TASK);
        if (head.nextRound !== last.round || head.state.open !== undefined) {
          last = { round: head.nextRound, at: Date.now() };
          return undefined;
        }
        return Date.now() - last.at >= quietMs ? true : undefined;
      },
      // A round in flight may wait out its stage deadlines (35 s) plus the coordinator's slack.
      90_000,
    );
    const entries = (await records.ledger('test')).length;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    expect((await records.head(TASK)).nextRound).toBe(last.round);
    expect(await records.ledger('test')).toHaveLength(entries);
    // They are still there: six sockets per process, none in a pool.
    const statuses = await Promise.all(
      aggregators().map(async (a) =>
        distributedStatusSchema.parse(((await (await fetch(`${a.url}/api/status`)).json()) as { distributed: unknown }).distributed),
      ),
    );
    for (const process of statuses[0]?.processes ?? []) expect(process).toMatchObject({ connected: IDLE_PER_PROCESS, eligible: 0 });
  }, 120_000);
});
