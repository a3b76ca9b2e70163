import { describe, expect, it } from 'vitest';
import { createServerOptimizer } from '../aggregate/server-optimizers';
import { encodingParams } from '../encode/fixed-point';
import { createMetricsLayout, encodeWithMetrics } from '../encode/metrics';
import { PrivacyLedger, rdpEpsilon } from '../privacy/index';
import type { PrivacyPlan } from '../protocol/schemas';
import { parseTrainingPlan } from '../train/plan';
import { planRound } from './plan-round';
import {
  decodeRoundSum,
  ledgerEntryOf,
  MAX_PROJECTED_ROUNDS,
  projectPrivacyBudget,
  recordRelease,
  roundMetricsRecord,
  summarizeRound,
  type SummarizeRoundInput,
} from './summarize-round';

const distributed: PrivacyPlan = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1.2, expectedCohortSize: 10, minSurvivors: 10 };

/** Zero weights and plain FedAvg at learning rate 1: the next weights are the mean delta itself. */
function input(overrides: Partial<SummarizeRoundInput> = {}): SummarizeRoundInput {
  return {
    round: 3,
    privacy: distributed,
    samplingRate: 0.05,
    survivors: 4,
    updateSum: Float64Array.from([3, 6]),
    base: { weights: new Float32Array(2), optimizer: createServerOptimizer({ name: 'fedavg', learningRate: 1 }, 2) },
    ledger: new PrivacyLedger(),
    targetDelta: 1e-5,
    adaptive: null,
    ...overrides,
  };
}

describe('ledgerEntryOf', () => {
  it("records the survivors' noise, not the planned cohort's", () => {
    // 'distributed', k_min = m = 10, 4 reports: each added σC/√10, the sum holds σC·√(4/10).
    expect(ledgerEntryOf({ round: 3, privacy: distributed, samplingRate: 0.05, survivors: 4 })?.noiseMultiplier).toBeCloseTo(0.758946638440411, 14);
    // Calibrated to k_min = 4 instead: four reports carry exactly σ.
    expect(ledgerEntryOf({ round: 3, privacy: { ...distributed, minSurvivors: 4 }, samplingRate: 0.05, survivors: 4 })?.noiseMultiplier).toBeCloseTo(1.2, 14);
    // 'local': the released sum of 4 reports carries σC·√4.
    expect(ledgerEntryOf({ round: 3, privacy: { ...distributed, mode: 'local' }, samplingRate: 0.05, survivors: 4 })?.noiseMultiplier).toBeCloseTo(2.4, 14);
    expect(ledgerEntryOf({ round: 3, privacy: { ...distributed, mode: 'off', noiseMultiplier: 0 }, samplingRate: 0.05, survivors: 4 })).toBeNull();
  });

  it('composes σ_Δ with the indicator query back to σ (σ_Δ = 2/√3, σ_b = 1 → 1)', () => {
    const privacy = { ...distributed, noiseMultiplier: 2 / Math.sqrt(3), clipIndicatorNoiseStdDev: 1 };
    expect(ledgerEntryOf({ round: 1, privacy, samplingRate: 0.1, survivors: 10 })?.noiseMultiplier).toBeCloseTo(1, 12);
  });

  it("credits a sum released in groups with its weakest group's noise only", () => {
    // k_min = 4, σ = 1.2; groups of 4 and 6 reports (10 in all) were unmasked separately: a client of
    // the group of 4 was released with σ exactly, though the whole sum carries σ·√(10/4).
    const plan = { ...distributed, minSurvivors: 4 };
    const release = { round: 3, privacy: plan, samplingRate: 0.05, survivors: 10 };
    expect(ledgerEntryOf(release)?.noiseMultiplier).toBeCloseTo(1.2 * Math.sqrt(10 / 4), 14);
    expect(ledgerEntryOf({ ...release, weakestGroupReports: 4 })?.noiseMultiplier).toBeCloseTo(1.2, 14);
    expect(ledgerEntryOf({ ...release, weakestGroupReports: 6 })?.noiseMultiplier).toBeCloseTo(1.2 * Math.sqrt(6 / 4), 14);
    expect(() => ledgerEntryOf({ ...release, weakestGroupReports: 11 })).toThrow(/weakestGroupReports must be an integer in \[1, survivors = 10\]/);
    expect(() => ledgerEntryOf({ ...release, weakestGroupReports: 0 })).toThrow(/weakestGroupReports/);
    // summarizeRound records the same entry.
    expect(summarizeRound(input({ privacy: plan, survivors: 10, weakestGroupReports: 4 })).ledgerEntry?.noiseMultiplier).toBeCloseTo(1.2, 14);
  });

  it('recordRelease copies the ledger and leaves the one it was given as it was', () => {
    const before = new PrivacyLedger();
    const { ledger, entry } = recordRelease(before, { round: 3, privacy: distributed, samplingRate: 0.05, survivors: 10 });
    expect(before.entries).toHaveLength(0);
    expect(ledger.entries).toEqual([{ ...entry, steps: 1 }]);
  });
});

describe('summarizeRound', () => {
  it('divides by the planned m with noise on, by the reports with it off', () => {
    const noised = summarizeRound(input());
    // [3, 6] / m = 10, though 4 reported
    expect(Array.from(noised.meanDelta)).toEqual([Math.fround(0.3), Math.fround(0.6)]);
    expect(noised.outcome.ok && Array.from(noised.outcome.weights)).toEqual([Math.fround(0.3), Math.fround(0.6)]);
    const plain = summarizeRound(input({ privacy: { ...distributed, mode: 'off', noiseMultiplier: 0 } }));
    expect(Array.from(plain.meanDelta)).toEqual([0.75, 1.5]);
    expect(plain.ledgerEntry).toBeNull();
    expect(plain.spent).toBeNull();
    expect(plain.privacy.recordedNoiseMultiplier).toBeNull();
  });

  it('records the entry, reports ε as the accountant computes it for that σ, and fills the record', () => {
    const summary = summarizeRound(input());
    const sigma = 1.2 * Math.sqrt(4 / 10);
    expect(summary.ledger.entries).toEqual([{ round: 3, samplingRate: 0.05, noiseMultiplier: summary.ledgerEntry?.noiseMultiplier, steps: 1 }]);
    expect(summary.ledgerEntry?.noiseMultiplier).toBeCloseTo(sigma, 14);
    const expected = rdpEpsilon({ samplingRate: 0.05, noiseMultiplier: sigma, steps: 1, delta: 1e-5 });
    expect(summary.spent?.epsilon).toBeCloseTo(expected.epsilon, 9);
    expect(summary.privacy).toEqual({
      mode: 'distributed',
      clipNorm: 1,
      noiseMultiplier: 1.2,
      recordedNoiseMultiplier: summary.ledgerEntry?.noiseMultiplier,
      samplingRate: 0.05,
      epsilon: summary.spent?.epsilon,
      delta: 1e-5,
    });
  });

  it('moves C by the noised indicator fraction over m: b̃ = 1/2 + 2/10, C = exp(−0.2·(0.7 − 0.5))', () => {
    const summary = summarizeRound(
      input({ adaptive: { targetQuantile: 0.5, learningRate: 0.2 }, unclippedSum: 2, privacy: { ...distributed, clipIndicatorNoiseStdDev: 1 } }),
    );
    expect(summary.outcome.ok && summary.outcome.nextClipNorm).toBeCloseTo(Math.exp(-0.04), 14);
    expect(summary.privacy.nextClipNorm).toBeCloseTo(Math.exp(-0.04), 14);
  });

  it('a diverged step keeps its ledger entry: the sum was released all the same', () => {
    const base = input().base;
    base.weights[1] = Number.NaN;
    const summary = summarizeRound(input({ base, adaptive: { targetQuantile: 0.5, learningRate: 0.2 }, unclippedSum: 2 }));
    expect(summary.outcome).toEqual({ ok: false, error: { code: 'DIVERGED', message: 'round 3: the server step produced non-finite weights' } });
    expect(summary.ledger.entries).toHaveLength(1);
    expect(summary.privacy.recordedNoiseMultiplier).toBeCloseTo(0.758946638440411, 14);
    expect(summary.privacy.nextClipNorm).toBeUndefined();
  });
});

describe('decodeRoundSum and roundMetricsRecord', () => {
  const training = parseTrainingPlan({ maxExamples: 100 });
  const plan = {
    ...planRound({
      roundId: 'r1-abcd',
      mode: 'distributed',
      clipNorm: 1,
      noiseMultiplier: 0.5,
      adaptiveClipping: false,
      training,
      clientCount: 3,
      minReports: 3,
      samplingRate: 1,
      population: 3,
      modelLength: 4,
      secagg: { modulusBits: 32, secAggPlusFrom: 64, dropoutRate: 0.1, graphSeed: new Uint8Array(32), authenticated: false },
    }),
    training,
  };
  const layout = createMetricsLayout(plan.metrics, { maxClients: 3, modulusBits: 32 });
  const params = encodingParams(plan.encoding);
  const metrics = { examples: 10, trainLossSum: 20, evalCount: 4, evalLossSum: 8, evalTop1: 1, evalTop3: 2 };
  const sumOf = (vectors: Uint32Array[]) => vectors.reduce((sum, v) => sum.map((x, i) => (x + (v[i] as number)) >>> 0));

  it('decodes an honest sum and turns its totals into the record', () => {
    const encoded = [0.1, 0.2, 0.3].map((x) => encodeWithMetrics(new Float32Array(4).fill(x), metrics, params, layout));
    const decoded = decodeRoundSum(plan, sumOf(encoded), 3);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    decoded.value.values.forEach((v) => expect(v).toBeCloseTo(0.6, 3));
    const record = roundMetricsRecord(decoded.value.metrics);
    // Counts are exact (scale 1); loss sums carry stochastic rounding.
    expect(record).toMatchObject({ examples: 30, eval: { count: 12, top1: 0.25, top3: 0.5 } });
    expect(record.trainLoss).toBeCloseTo(2, 5);
    expect(record.eval.loss).toBeCloseTo(2, 5);
  });

  it('refuses a sum no honest cohort of that size produces', () => {
    const big = encodeWithMetrics(new Float32Array(4).fill(params.clipRange), metrics, params, layout);
    const decoded = decodeRoundSum(plan, sumOf([big, big, big]), 3);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error.code).toBe('REJECTED_SUM');
  });

  it('reports null ratios where nothing was counted', () => {
    expect(roundMetricsRecord({ examples: 0, trainLossSum: 0, evalCount: 0 })).toEqual({
      examples: 0,
      trainLoss: null,
      eval: { count: 0, loss: null, top1: null, top3: null },
    });
  });
});

describe('projectPrivacyBudget', () => {
  // σ = 1.2 at k_min = 3 of m = 10: the worst committed round (3 reports) carries σ exactly.
  const plan: PrivacyPlan = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1.2, expectedCohortSize: 10, minSurvivors: 3 };
  const release = { round: 5, privacy: plan, samplingRate: 0.01 };

  /** ε after `rounds` rounds of (q, σ) on top of `ledger`, by the ledger itself (steps), independent of the projection's arithmetic. */
  function epsilonAfter(ledger: PrivacyLedger, rounds: number): number {
    const copy = PrivacyLedger.fromJSON(ledger.toJSON());
    copy.record({ round: 5, samplingRate: 0.01, noiseMultiplier: 1.2, steps: rounds });
    return copy.epsilon(1e-5).epsilon;
  }

  it('charges the next round as if it committed with k_min reports, and counts the rounds left exactly', () => {
    const ledger = new PrivacyLedger();
    ledger.record({ round: 1, samplingRate: 0.02, noiseMultiplier: 0.9, steps: 4 });
    const budget = epsilonAfter(ledger, 300) + 1e-9;
    const projection = projectPrivacyBudget({ ledger, release, targetDelta: 1e-5, epsilonBudget: budget });
    expect(projection.spent).toBe(ledger.spent(1e-5)?.epsilon);
    expect(projection.next).toBeCloseTo(epsilonAfter(ledger, 1), 12);
    expect(projection.allowed).toBe(true);
    expect(projection.roundsLeft).toBe(300);
    // The entry a 3-report sum records is what was charged: more reports only add noise.
    expect(ledgerEntryOf({ ...release, survivors: 3 })?.noiseMultiplier).toBeCloseTo(1.2, 12);
    expect(projection.charge).toEqual({ round: 5, samplingRate: 0.01, noiseMultiplier: expect.closeTo(1.2, 12) });
    expect(ledger.entries).toHaveLength(1);
  });

  it('refuses the round that would pass the budget, and has no budget to enforce in mode off', () => {
    const ledger = new PrivacyLedger();
    const tight = projectPrivacyBudget({ ledger, release, targetDelta: 1e-5, epsilonBudget: epsilonAfter(ledger, 1) * 0.99 });
    expect(tight).toMatchObject({ spent: null, allowed: false, roundsLeft: 0, charge: { round: 5 } });
    const none = projectPrivacyBudget({ ledger, release, targetDelta: 1e-5, epsilonBudget: null });
    expect(none).toMatchObject({ allowed: true, roundsLeft: null, charge: { round: 5, samplingRate: 0.01 } });
    const generous = projectPrivacyBudget({ ledger, release, targetDelta: 1e-5, epsilonBudget: 1e5 });
    expect(generous.roundsLeft).toBe(MAX_PROJECTED_ROUNDS);
    const off = projectPrivacyBudget({ ledger, release: { ...release, privacy: { ...plan, mode: 'off' } }, targetDelta: 1e-5, epsilonBudget: 1 });
    expect(off).toMatchObject({ next: null, allowed: true, roundsLeft: null, charge: null });
  });
});
