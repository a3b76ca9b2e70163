import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RoundEnd } from '@murmur/fl-core/protocol';
import { decodeModelPayload } from '@murmur/fl-core/model';
import { stateOfTheUnionClients } from '../demo-data';
import { enrollmentConfigSchema } from '../enrollment/config';
import { startEnrollmentServer, type RunningEnrollment } from '../enrollment/host';
import { TEST_NOISE_MULTIPLIER, TEST_PLAN_POLICY, TEST_SPEC, testConfigInput, testLogger } from '../test-helpers';
import { startVirtualClients, type VirtualClientPool } from '../virtual-clients';
import { checkInvariants } from './invariants';
import { hashOfBytes } from './replica';
import { spawnAggregator, type AggregatorProcess } from './testing/aggregators';
import { dropSchema, freshSchema, openStore, until } from './testing/fixtures';
import type { RecordStore } from './record-store';

/**
 * Issue 18's must-show: three aggregator processes (main.ts, the real entry point) on one
 * PostgreSQL and one Redis; clients connected to different processes train one model. Each
 * process runs SecAgg over its own group, the lease holder adds the group sums and commits.
 */
const TASK = 'scale-out';
const PROCESSES = 3;
const CLIENTS_PER_PROCESS = 4;

describe('three aggregator processes, one task', () => {
  const schema = freshSchema('scaleout');
  const dir = mkdtempSync(join(tmpdir(), 'murmur-scale-out-'));
  let records: RecordStore;
  let enrollment: RunningEnrollment;
  const aggregators: AggregatorProcess[] = [];
  const pools: VirtualClientPool[] = [];
  /** Every roundEnd each client saw, by process. */
  const ends: { process: number; client: number; end: RoundEnd }[] = [];

  beforeAll(async () => {
    await useNodeBackend('wasm');
    records = await openStore(schema);
    enrollment = await startEnrollmentServer(
      enrollmentConfigSchema.parse({ port: 0, dataDir: join(dir, 'enrollment'), proofOfWorkBits: 0, enrollPerMinute: 1000, logLevel: 'silent' }),
      testLogger(),
    );
    const env = { ...process.env, MURMUR_PG_SCHEMA: schema, MURMUR_LEASE_TTL_MS: '3000' };
    for (let i = 0; i < PROCESSES; i++) {
      const config = testConfigInput(join(dir, `agg${i}`), {
        logLevel: 'info',
        enrollmentIssuerFile: join(dir, 'enrollment', 'issuer.json'),
        distributed: { enabled: true, taskId: TASK, population: 'test', processId: `agg${i}` },
        round: { target: PROCESSES * CLIENTS_PER_PROCESS, minReports: 3 },
      });
      aggregators.push(await spawnAggregator({ dir: join(dir, `agg${i}`), processId: `agg${i}`, config, env }));
    }
    const data = stateOfTheUnionClients(TEST_SPEC, PROCESSES * CLIENTS_PER_PROCESS);
    for (const [i, aggregator] of aggregators.entries()) {
      pools.push(
        await startVirtualClients({
          url: aggregator.url,
          enrollmentUrl: enrollment.url,
          clients: data.slice(i * CLIENTS_PER_PROCESS, (i + 1) * CLIENTS_PER_PROCESS),
          planPolicy: TEST_PLAN_POLICY,
          onEvent: (client, event) => {
            if (event.type === 'roundEnd') ends.push({ process: i, client, end: event.result });
          },
        }),
      );
    }
  }, 240_000);

  afterAll(async () => {
    for (const pool of pools) await pool.close();
    for (const aggregator of aggregators) aggregator.child.kill('SIGTERM');
    await Promise.all(aggregators.map((a) => a.exited));
    await enrollment?.close();
    if (records) {
      await dropSchema(records);
      await records.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('commits rounds that add every process group: one model, served the same by all three', async () => {
    // Early rounds may open before every process's clients checked in: wait for one that added a group from each.
    const commitLog = await until(
      'a round committed from a group on every process',
      () => aggregators.flatMap((a) => a.logs()).find((line) => line.msg === 'task coordinator: round committed' && line.groups === PROCESSES),
      180_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${aggregators.map((a) => `--- ${a.processId}\n${a.output().slice(-6000)}`).join('\n')}`);
    });
    const committed = await records.findRound(TASK, Number(commitLog.round));
    expect(committed?.status).toBe('committed');
    const record = committed?.record;
    if (!record) return;
    // More reports than any one process holds: the sum came from several processes' groups.
    expect(record.cohort.masked).toBeGreaterThan(CLIENTS_PER_PROCESS);
    // Members on every process were told the same committed version for that round.
    const toldOn = () => new Set(ends.filter((e) => e.end.round === record.round && e.end.status === 'committed').map((e) => e.process));
    await until('round ends on all processes', () => (toldOn().size === PROCESSES ? true : undefined), 30_000);
    const told = ends.filter((e) => e.end.round === record.round && e.end.status === 'committed');
    expect(new Set(told.map((e) => e.end.modelVersion))).toEqual(new Set([record.modelVersion.to]));
    // One process coordinated that round: exactly one commit line for it.
    expect(aggregators.flatMap((a) => a.logs()).filter((line) => line.msg === 'task coordinator: round committed' && line.round === record.round)).toHaveLength(
      1,
    );
    // The ledger credits the weakest group, not the whole sum: σ·√(k_g/k_min) for the smallest group k_g.
    const ledger = (await records.ledger('test')).find((entry) => entry.taskId === TASK && entry.round === record.round);
    // k_min = min(minReports 3, m), and m ≥ 3 here (q·N with N the eligible clients, at least one process's 4).
    const weakest = ((ledger?.noiseMultiplier ?? 0) / TEST_NOISE_MULTIPLIER) ** 2 * 3;
    expect(Math.round(weakest)).toBeLessThanOrEqual(CLIENTS_PER_PROCESS);
    expect(Math.round(weakest)).toBeGreaterThanOrEqual(3);
    // Every process's replica serves the committed version, with the record's hash.
    const version = record.modelVersion.to;
    const stored = await records.modelVersion(TASK, version);
    for (const aggregator of aggregators) {
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
    const invariants = await checkInvariants(records.pool, schema, TASK, { hashOf: hashOfBytes(TEST_SPEC) });
    expect(invariants.violations).toEqual([]);
  }, 240_000);
});
