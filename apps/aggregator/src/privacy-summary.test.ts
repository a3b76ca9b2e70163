import { afterEach, describe, expect, it } from 'vitest';
import { privacySummarySchema } from '@murmur/fl-core/protocol';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import type { AggregatorConfigInput } from './config';
import { tempDataDir, testConfig, testLogger } from './test-helpers';

/**
 * GET /api/privacy states what ε assumes beside ε itself: the colluder count c its noise tolerates
 * (ε holds while no round has more than c fake or colluding reports) and how the noise is drawn.
 * No clients are needed: the answer is the configuration and the (empty) ledger.
 */

const running: { aggregator: RunningAggregator; remove(): void }[] = [];
afterEach(async () => {
  for (const { aggregator, remove } of running.splice(0)) {
    await aggregator.close();
    remove();
  }
});

async function privacyOf(privacy: AggregatorConfigInput['privacy']) {
  const data = tempDataDir();
  const aggregator = await startWithEnrollment(testConfig(data.dir, { privacy }), { logger: testLogger() });
  running.push({ aggregator, remove: data.remove });
  const response = await fetch(`${aggregator.url}/api/privacy`);
  expect(response.status).toBe(200);
  return privacySummarySchema.parse(await response.json());
}

describe('GET /api/privacy: the colluder assumption and the kind of noise', () => {
  it('names c and discrete noise as configured', async () => {
    expect(await privacyOf({ mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, noise: 'discrete', colluders: 2 })).toMatchObject({
      mode: 'distributed',
      colluders: 2,
      noise: 'discrete',
    });
  });

  it('defaults to c = 0 and continuous noise; local noise is continuous too', async () => {
    const distributed = await privacyOf({ mode: 'distributed', clipNorm: 1, noiseMultiplier: 1 });
    expect(distributed).toMatchObject({ colluders: 0, noise: 'continuous' });
    // One process, one task: no population spend beside the task's ε (the distributed mode's, scale-out test).
    expect(distributed).not.toHaveProperty('populationSpent');
    expect(await privacyOf({ mode: 'local', clipNorm: 1, noiseMultiplier: 1, colluders: 1 })).toMatchObject({
      mode: 'local',
      colluders: 1,
      noise: 'continuous',
    });
  });

  it("has no noise kind in mode 'off'", async () => {
    expect(await privacyOf({ mode: 'off' })).toMatchObject({ mode: 'off', epsilon: null, noise: null });
  });
});
