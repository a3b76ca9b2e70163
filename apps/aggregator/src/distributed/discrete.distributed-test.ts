import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModelPayload, parameterCount } from '@murmur/fl-core/model';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { TEST_SPEC } from '../test-helpers';
import { checkInvariants } from './invariants';
import { hashOfBytes } from './replica';
import { startCluster, type Cluster } from './testing/cluster';
import { until } from './testing/fixtures';

/**
 * The distributed discrete Gaussian across processes: the task coordinator draws one rotation for
 * the round and sends it in open-round, every process's group rotates, discretizes and noises with
 * it, so the groups' sums add in one rotated space and the coordinator undoes the rotation once;
 * the ledger records the discrete mechanism of the weakest group.
 */
const TASK = 'discrete';
const PROCESSES = 3;
const CLIENTS_PER_PROCESS = 4;

describe('three aggregator processes with discrete noise', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      prefix: 'discrete',
      taskId: TASK,
      processes: PROCESSES,
      clientsPerProcess: CLIENTS_PER_PROCESS,
      env: { MURMUR_LEASE_TTL_MS: '3000', MURMUR_NOISE: 'discrete' },
    });
  }, 240_000);

  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  it("commits rounds that add every process's discretely noised group, and records the weakest group's discrete mechanism", async () => {
    const processes = () => cluster.members.map((m) => m.process);
    const commitLog = await until(
      'a round committed from a group on every process',
      () =>
        processes()
          .flatMap((p) => p.logs())
          .find((line) => line.msg === 'task coordinator: round committed' && line.groups === PROCESSES),
      180_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${cluster.dump()}`);
    });
    const round = Number(commitLog.round);
    const record = (await cluster.records.findRound(TASK, round))?.record;
    expect(record?.status).toBe('committed');
    if (!record) return;
    const padded = 2 ** Math.ceil(Math.log2(parameterCount(TEST_SPEC)));
    expect(record.privacy).toMatchObject({ mode: 'distributed', noise: 'discrete' });
    // The rotated update (padded to a power of two), then the metrics, which decoded: every group's evaluation counted.
    expect(record.secagg.vectorLength).toBeGreaterThan(padded);
    expect(record.metrics?.eval.count ?? 0).toBeGreaterThan(0);
    expect(record.cohort.masked).toBeGreaterThan(CLIENTS_PER_PROCESS);

    const entry = (await cluster.records.ledger('test')).find((e) => e.taskId === TASK && e.round === round);
    expect(entry?.discrete?.dimension).toBe(padded);
    // The weakest of the three groups: at least minReports 3, at most an even share of the reports.
    expect(entry?.discrete?.clients).toBeGreaterThanOrEqual(3);
    expect(entry?.discrete?.clients).toBeLessThanOrEqual(Math.floor(record.cohort.masked / PROCESSES));
    // The replayed ledger accounts it with the discrete mechanism, not as a Gaussian of its σ.
    const ledger = new PrivacyLedger();
    if (entry)
      ledger.record({
        round,
        samplingRate: entry.samplingRate,
        noiseMultiplier: entry.noiseMultiplier,
        ...(entry.discrete ? { discrete: entry.discrete } : {}),
      });
    const asGaussian = new PrivacyLedger();
    if (entry) asGaussian.record({ round, samplingRate: entry.samplingRate, noiseMultiplier: entry.noiseMultiplier });
    expect(ledger.epsilon(1e-5).epsilon).not.toBeCloseTo(asGaussian.epsilon(1e-5).epsilon, 6);

    // Every process serves the committed version with the record's hash; the record's invariants hold.
    const stored = await cluster.records.modelVersion(TASK, record.modelVersion.to);
    for (const process of processes()) {
      const payload = await until(
        `${process.processId} serves v${record.modelVersion.to}`,
        async () => {
          const response = await fetch(`${process.url}/api/model/${record.modelVersion.to}`);
          return response.ok ? new Uint8Array(await response.arrayBuffer()) : undefined;
        },
        30_000,
      );
      expect(decodeModelPayload(payload).hash).toBe(stored?.hash);
    }
    const invariants = await checkInvariants(cluster.records.pool, cluster.schema, TASK, { hashOf: hashOfBytes(TEST_SPEC) });
    expect(invariants.violations).toEqual([]);
    expect(cluster.crashed()).toEqual([]);
  }, 240_000);
});
