import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';

let aggregator: RunningAggregator;
let pool: VirtualClientPool;
const data = tempDataDir();
const config = testConfig(data.dir, { privacy: { clipNorm: 10, adaptiveClipping: { targetQuantile: 0.5, learningRate: 0.2 } } });

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(config, { logger: testLogger() });
  pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
});
afterAll(async () => {
  await pool.close();
  await aggregator.close();
  data.remove();
});

describe('adaptive clipping (Andrew et al. 2021) over real rounds', () => {
  it('moves C toward the median update norm from the securely summed indicators, accounts both queries, and persists C', async () => {
    const rounds = await eventually(
      () => {
        const committed = aggregator.store.rounds.filter((r) => r.status === 'committed');
        return committed.length >= 3 ? committed : undefined;
      },
      60_000,
      '3 committed rounds',
    );
    const clipNorms = rounds.map((r) => r.privacy.clipNorm);
    // C = 10 is far above every update's norm: all report "unclipped", so C shrinks each round.
    expect(clipNorms[0]).toBe(10);
    for (let i = 1; i < rounds.length; i++) {
      expect(rounds[i]?.privacy.clipNorm).toBe(rounds[i - 1]?.privacy.nextClipNorm);
      expect(clipNorms[i]).toBeLessThan(clipNorms[i - 1] as number);
    }
    // The update's σ_Δ exceeds the round's σ = 0.02: the indicator query took part of the budget.
    expect(rounds[0]?.privacy.noiseMultiplier).toBeGreaterThan(0.02);
    await pool.close();
    await aggregator.close();
    const expected = aggregator.store.clipNorm;
    // Shutting down may abort a round in flight; C is the one the last committed round chose.
    expect(expected).toBe(aggregator.store.rounds.filter((r) => r.status === 'committed').at(-1)?.privacy.nextClipNorm);
    aggregator = await startWithEnrollment(config, { logger: testLogger() });
    expect(aggregator.coordinator.plan.clipNorm).toBe(expected);
  });
});
