import { describe, expect, it } from 'vitest';
import { createServerOptimizer } from '../aggregate/server-optimizers';
import { rdpEpsilon } from '../privacy/index';
import { PrivateAggregation } from './private-round';

const vector = (length: number, value: number) => new Float32Array(length).fill(value);
/** Zero weights and plain FedAvg at learning rate 1: the next weights are the mean delta itself. */
const base = (length: number) => ({ weights: new Float32Array(length), optimizer: createServerOptimizer({ name: 'fedavg', learningRate: 1 }, length) });

describe('PrivateAggregation', () => {
  it('clips each update and divides the sum by the expected cohort, not the number of reports', () => {
    const aggregation = new PrivateAggregation({ mode: 'central', noiseMultiplier: 1e-6, clip: { adaptive: false, clipNorm: 1 }, targetDelta: 1e-5 }, 4, 0.01);
    // Norms 2 (clipped to 1) and 0.5 (kept); 2 reports, expected cohort 4.
    const big = vector(4, 1);
    const small = vector(4, 0.25);
    const { weights, report } = aggregation.aggregate(1, [big, small], base(4));
    // (0.5 + 0.25) / 4 per coordinate
    weights.forEach((v) => expect(v).toBeCloseTo(0.1875, 5));
    expect(report).toMatchObject({ cohortSize: 2, clippedFraction: 0.5, clipNorm: 1, abort: null });
  });

  it('records every round in the ledger: ε equals the accountant composed over the rounds', () => {
    const aggregation = new PrivateAggregation(
      { mode: 'central', noiseMultiplier: 1.1, clip: { adaptive: false, clipNorm: 0.5 }, targetDelta: 1e-5 },
      20,
      0.02,
    );
    let epsilon = 0;
    for (let round = 1; round <= 5; round++) epsilon = aggregation.aggregate(round, [vector(8, 0.1)], base(8)).report.epsilon;
    expect(epsilon).toBeCloseTo(rdpEpsilon({ samplingRate: 0.02, noiseMultiplier: 1.1, steps: 5, delta: 1e-5 }).epsilon, 9);
    expect(aggregation.ledger.entries).toHaveLength(5);
  });

  it('records the noise of the reports that arrived, not of the expected cohort, when fewer clients report', () => {
    // m = 10 expected, 4 report. 'distributed': each client added σC/√10, so the sum carries
    // σC·√(4/10) = 1.2·0.6324555 = 0.7589466 (recording σ = 1.2 would understate ε).
    // 'local': the released sum carries σC·√4 = 2.4 (not σ·√10 = 3.7947).
    const reports = Array.from({ length: 4 }, () => vector(8, 0.01));
    const cases = [
      { mode: 'distributed', expected: 0.758946638440411 },
      { mode: 'local', expected: 2.4 },
    ] as const;
    for (const { mode, expected } of cases) {
      const aggregation = new PrivateAggregation({ mode, noiseMultiplier: 1.2, clip: { adaptive: false, clipNorm: 1 }, targetDelta: 1e-5 }, 10, 0.05);
      const { report } = aggregation.aggregate(1, reports, base(8));
      expect(report.cohortSize).toBe(4);
      expect(report.noiseMultiplier).toBeCloseTo(expected, 12);
      expect(aggregation.ledger.entries).toEqual([{ round: 1, samplingRate: 0.05, noiseMultiplier: report.noiseMultiplier, steps: 1 }]);
      expect(report.epsilon).toBeCloseTo(rdpEpsilon({ samplingRate: 0.05, noiseMultiplier: expected, steps: 1, delta: 1e-5 }).epsilon, 9);
    }
  });

  it('adaptive clipping raises C when every update is clipped, lowers it when none is', () => {
    const grow = new PrivateAggregation({ mode: 'central', noiseMultiplier: 1, clip: { adaptive: true, initialClipNorm: 1 }, targetDelta: 1e-5 }, 100, 0.1);
    const large = Array.from({ length: 100 }, () => vector(4, 5));
    grow.aggregate(1, large, base(4));
    // b̃ ≈ 0 (σ_b = max(100/20, 1) = 5 on a sum of −50 → sd 0.05 on b̃): C = exp(0.2·(0.5 ± 0.05·z)) ≈ 1.105.
    // Within 5 sd (z ∈ [−5, 5]): C ∈ [exp(0.05), exp(0.15)] = [1.051, 1.162].
    expect(grow.clipNorm).toBeGreaterThan(1.051);
    expect(grow.clipNorm).toBeLessThan(1.162);

    const shrink = new PrivateAggregation(
      { mode: 'distributed', noiseMultiplier: 1, clip: { adaptive: true, initialClipNorm: 1 }, targetDelta: 1e-5 },
      100,
      0.1,
    );
    shrink.aggregate(
      1,
      Array.from({ length: 100 }, () => vector(4, 0.01)),
      base(4),
    );
    // b̃ ≈ 1: C = exp(−0.2·(0.5 ± 0.05·z)) ≈ 0.905; within 5 sd C ≤ exp(−0.05) = 0.951.
    expect(shrink.clipNorm).toBeLessThan(0.952);
    // The update keeps slightly more noise than σ so the indicator query fits in the same budget.
    expect(shrink.updateNoiseMultiplier).toBeGreaterThan(1);
  });

  it('plans and runs a small adaptive cohort (m = 10, σ = 1): σ_b = max(m/20, σ) = 1, σ_Δ = 2/√3', () => {
    // With σ_b = m/20 = 0.5, 2σ_b = σ and no budget would be left for the update (it threw).
    const aggregation = new PrivateAggregation(
      { mode: 'distributed', noiseMultiplier: 1, clip: { adaptive: true, initialClipNorm: 1 }, targetDelta: 1e-5 },
      10,
      0.1,
    );
    expect(aggregation.plan.privacy.clipIndicatorNoiseStdDev).toBe(1);
    // (1 − (2·1)^−2)^−1/2 = (3/4)^−1/2 = 2/√3
    expect(aggregation.updateNoiseMultiplier).toBeCloseTo(2 / Math.sqrt(3), 12);
    const { report } = aggregation.aggregate(
      1,
      Array.from({ length: 10 }, () => vector(4, 0.1)),
      base(4),
    );
    // Ten reports, k_min = 10: σ_Δ and σ_b compose back to σ = 1 exactly.
    expect(report.noiseMultiplier).toBeCloseTo(1, 12);
    expect(report.abort).toBeNull();
  });

  it('keeps the previous model when the server step diverges, and still records the round', () => {
    const aggregation = new PrivateAggregation({ mode: 'distributed', noiseMultiplier: 1, clip: { adaptive: false, clipNorm: 1 }, targetDelta: 1e-5 }, 4, 0.1);
    const start = base(2);
    start.weights[0] = Number.POSITIVE_INFINITY;
    const { weights, report } = aggregation.aggregate(1, [vector(2, 0.1)], start);
    expect(weights).toBe(start.weights);
    expect(report.abort?.code).toBe('DIVERGED');
    // One report of k_min = 4: σ·√(1/4).
    expect(aggregation.ledger.entries).toEqual([{ round: 1, samplingRate: 0.1, noiseMultiplier: 0.5, steps: 1 }]);
  });
});
