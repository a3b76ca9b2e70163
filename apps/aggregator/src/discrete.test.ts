import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parameterCount } from '@murmur/fl-core/model';
import { PrivacyLedger, type PrivacyLedgerJson } from '@murmur/fl-core/privacy';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';

/**
 * End to end with the distributed discrete Gaussian (privacy.noise 'discrete'): real Socket.IO on
 * 127.0.0.1, real enrollment, six virtual clients that train, clip, rotate, round conditionally,
 * add integer noise and mask; the aggregator unmasks, decodes with ddgDecodeSum and commits, and
 * the ledger accounts each round with the discrete mechanism (n = survivors − c honest shares).
 */

const COLLUDERS = 1;
let aggregator: RunningAggregator;
let pool: VirtualClientPool;
const data = tempDataDir();

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(testConfig(data.dir, { privacy: { noise: 'discrete', colluders: COLLUDERS } }), { logger: testLogger() });
  pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
});
afterAll(async () => {
  await pool.close();
  await aggregator.close();
  data.remove();
});

describe('rounds with discrete distributed noise over Socket.IO', () => {
  it('commits rounds whose sums were noised in the integers, and the ledger records the discrete mechanism', async () => {
    const rounds = await eventually(
      () => (aggregator.store.rounds.filter((r) => r.status === 'committed').length >= 2 ? aggregator.store.rounds : undefined),
      120_000,
      '2 committed rounds',
    );
    const committed = rounds.filter((r) => r.status === 'committed');
    const padded = 2 ** Math.ceil(Math.log2(parameterCount(TEST_SPEC)));
    for (const report of committed) {
      expect(report.privacy).toMatchObject({ mode: 'distributed', noise: 'discrete', colluders: COLLUDERS });
      // The secure sum carries the rotated update (padded to a power of two), then the metrics.
      expect(report.secagg.vectorLength).toBeGreaterThan(padded);
      expect(report.secagg.vectorLength).toBeLessThan(padded + 16);
      expect(report.metrics?.eval.count ?? 0).toBeGreaterThan(0);
      expect(report.privacy.epsilon).toBeGreaterThan(0);
    }
    // The public record shows the assumption beside ε.
    const published = (await (await fetch(`${aggregator.url}/api/rounds/${committed[0]?.round}`)).json()) as {
      privacy: { colluders?: number; noise?: string };
    };
    expect(published.privacy).toMatchObject({ noise: 'discrete', colluders: COLLUDERS });
    const answer = (await (await fetch(`${aggregator.url}/api/privacy`)).json()) as { ledger: PrivacyLedgerJson };
    const entries = answer.ledger.entries.filter((e) => e.discrete !== undefined);
    expect(entries.length).toBeGreaterThanOrEqual(2);
    for (const entry of entries) {
      expect(entry.discrete?.dimension).toBe(padded);
      // Its reports (six, fewer when a loaded machine made one miss a deadline), c of them possibly
      // fake: only the others' shares are counted.
      const reports = aggregator.store.rounds.find((r) => r.round === entry.round)?.cohort.masked;
      expect(reports).toBeGreaterThan(COLLUDERS);
      expect(entry.discrete?.clients).toBe((reports ?? 0) - COLLUDERS);
    }
    // The persisted ledger re-validates and recomputes its RDP from the mechanisms.
    const restored = PrivacyLedger.fromJSON(answer.ledger);
    expect(restored.epsilon(1e-5).epsilon).toBeCloseTo(aggregator.store.ledger.epsilon(1e-5).epsilon, 12);
  });
});
