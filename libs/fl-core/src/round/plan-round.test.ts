import { describe, expect, it } from 'vitest';
import { parseTrainingPlan } from '../train/plan';
import { expectedCohortSizeOf, indicatorNoiseStdDevOf, planRound, planRoundPrivacy, planSecAgg, type PlanRoundInput } from './plan-round';

const seed = new Uint8Array(32).fill(7);

describe('expectedCohortSizeOf', () => {
  it('is q·N rounded, never below 1', () => {
    expect(expectedCohortSizeOf(0.05, 200)).toBe(10);
    // 6/7 of 7, computed in floating point as 5.999…: still 6.
    expect(expectedCohortSizeOf(6 / 7, 7)).toBe(6);
    expect(expectedCohortSizeOf(0.001, 100)).toBe(1);
    expect(() => expectedCohortSizeOf(0, 100)).toThrow(/samplingRate must be in \(0, 1\], got 0/);
    expect(() => expectedCohortSizeOf(0.5, 2.5)).toThrow(/population must be a positive integer, got 2.5/);
  });
});

describe('indicatorNoiseStdDevOf', () => {
  it('is m/20 for large cohorts and σ for small ones, so 2σ_b > σ always', () => {
    expect(indicatorNoiseStdDevOf(100, 1)).toBe(5);
    expect(indicatorNoiseStdDevOf(10, 1)).toBe(1);
    expect(indicatorNoiseStdDevOf(10, 0.2)).toBe(0.5);
  });
});

describe('planRoundPrivacy', () => {
  const base = { clipNorm: 2, noiseMultiplier: 1.5, expectedCohortSize: 20, minSurvivors: 5, adaptiveClipping: false } as const;

  it("'distributed' without adaptive clipping: σ unchanged, each client adds σC/√k_min", () => {
    const plan = planRoundPrivacy({ ...base, mode: 'distributed' });
    expect(plan.privacy).toEqual({ mode: 'distributed', clipNorm: 2, noiseMultiplier: 1.5, expectedCohortSize: 20, minSurvivors: 5 });
    // 1.5 · 2 / √5
    expect(plan.clientNoiseStdDev).toBeCloseTo(1.3416407864998738, 14);
    expect(plan.clientIndicatorNoiseStdDev).toBe(0);
  });

  it("'local': each client adds all of σC", () => {
    expect(planRoundPrivacy({ ...base, mode: 'local' }).clientNoiseStdDev).toBe(3);
  });

  it('adaptive clipping at m = 100, σ = 1: σ_b = 5 and σ_Δ = (1 − 1/100)^−1/2', () => {
    const plan = planRoundPrivacy({ mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: 100, minSurvivors: 100, adaptiveClipping: true });
    expect(plan.privacy.clipIndicatorNoiseStdDev).toBe(5);
    expect(plan.privacy.noiseMultiplier).toBeCloseTo(1.0050378152592121, 14);
    expect(plan.clientNoiseStdDev).toBeCloseTo(0.10050378152592121, 14);
    // 5 / √100
    expect(plan.clientIndicatorNoiseStdDev).toBeCloseTo(0.5, 14);
  });

  it('adaptive clipping at m = 10, σ = 1 (m/20 alone leaves no budget): σ_b = 1, σ_Δ = 2/√3', () => {
    const plan = planRoundPrivacy({ mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: 10, minSurvivors: 4, adaptiveClipping: true });
    expect(plan.privacy.clipIndicatorNoiseStdDev).toBe(1);
    expect(plan.privacy.noiseMultiplier).toBeCloseTo(1.1547005383792515, 14);
    expect(plan.clientIndicatorNoiseStdDev).toBeCloseTo(0.5, 14);
  });

  it("mode 'off' plans no noise, and σ_b = 0 when C adapts", () => {
    const plan = planRoundPrivacy({ ...base, mode: 'off', noiseMultiplier: 0, adaptiveClipping: true });
    expect(plan.privacy).toEqual({ mode: 'off', clipNorm: 2, noiseMultiplier: 0, expectedCohortSize: 20, minSurvivors: 5, clipIndicatorNoiseStdDev: 0 });
    expect(plan.clientNoiseStdDev).toBe(0);
    expect(plan.clientIndicatorNoiseStdDev).toBe(0);
  });

  it('refuses k_min above m and a noised mode without σ', () => {
    expect(() => planRoundPrivacy({ ...base, mode: 'distributed', minSurvivors: 21 })).toThrow(/minSurvivors must be <= expectedCohortSize \(20\), got 21/);
    expect(() => planRoundPrivacy({ ...base, mode: 'local', noiseMultiplier: 0 })).toThrow(/noiseMultiplier must be a positive finite number, got 0/);
  });
});

describe('planSecAgg', () => {
  const input = { roundId: 'r1-x', vectorLength: 50, modulusBits: 32, secAggPlusFrom: 64, dropoutRate: 0.1, graphSeed: seed, authenticated: false };

  it('full graph: t = max(minReports, ⌊n/2⌋ + 1), at most n', () => {
    expect(planSecAgg({ ...input, clientCount: 6, minReports: 4 })).toEqual({
      roundId: 'r1-x',
      clientCount: 6,
      threshold: 4,
      vectorLength: 50,
      modulusBits: 32,
      graph: { kind: 'full' },
    });
    expect(planSecAgg({ ...input, clientCount: 10, minReports: 3 }).threshold).toBe(6);
    expect(planSecAgg({ ...input, clientCount: 5, minReports: 5 }).threshold).toBe(5);
  });

  it('SecAgg+ from secAggPlusFrom clients: a Harary graph with the given seed, t below minReports allowed', () => {
    const config = planSecAgg({ ...input, clientCount: 200, minReports: 150, authenticated: true });
    expect(config.graph.kind).toBe('harary');
    if (config.graph.kind !== 'harary') return;
    expect(config.graph.seed).toBe(seed);
    expect(config.graph.degree).toBeLessThan(199);
    // t is per neighbourhood (k + 1 holders), far below minReports: the coordinator enforces minReports itself.
    expect(config.threshold).toBeLessThan(150);
    expect(config.threshold).toBeGreaterThan((config.graph.degree + 1) / 2);
    expect(config.authenticated).toBe(true);
  });
});

describe('planRound', () => {
  const training = parseTrainingPlan({ maxExamples: 100 });
  const input: PlanRoundInput = {
    roundId: 'r3-abcd',
    mode: 'distributed',
    clipNorm: 1,
    noiseMultiplier: 1,
    adaptiveClipping: true,
    training,
    clientCount: 12,
    minReports: 4,
    samplingRate: 0.05,
    population: 200,
    modelLength: 1000,
    secagg: { modulusBits: 32, secAggPlusFrom: 64, dropoutRate: 0.1, graphSeed: seed, authenticated: false },
  };

  it('derives m = q·N and k_min = min(minReports, m), and sizes encoding, metrics and SecAgg from them', () => {
    const plan = planRound(input);
    // m = 0.05 · 200 = 10; σ_b = max(10/20, 1) = 1; σ_Δ = 2/√3; k_min = 4.
    expect(plan.privacy).toEqual({
      mode: 'distributed',
      clipNorm: 1,
      noiseMultiplier: plan.privacy.noiseMultiplier,
      expectedCohortSize: 10,
      minSurvivors: 4,
      clipIndicatorNoiseStdDev: 1,
    });
    expect(plan.privacy.noiseMultiplier).toBeCloseTo(2 / Math.sqrt(3), 14);
    // clip range: C + 6 · σ_Δ·C/√4 = 1 + 6/√3
    expect(plan.encoding).toEqual({ clipRange: plan.encoding.clipRange, modulusBits: 32, maxClients: 12 });
    expect(plan.encoding.clipRange).toBeCloseTo(1 + 6 / Math.sqrt(3), 12);
    // unclipped: 1/2 + 6 · σ_b/√4 = 3.5
    expect(plan.metrics.unclipped).toEqual({ clipRange: 3.5 });
    expect(Object.keys(plan.metrics)).toHaveLength(7);
    expect(plan.secagg).toMatchObject({ roundId: 'r3-abcd', clientCount: 12, threshold: 7, vectorLength: 1007, graph: { kind: 'full' } });
  });

  it('without adaptive clipping there is no unclipped metric; k_min falls to m when the draw rate is capped', () => {
    const plan = planRound({ ...input, adaptiveClipping: false, samplingRate: 0.01 });
    expect(plan.metrics.unclipped).toBeUndefined();
    expect(plan.secagg.vectorLength).toBe(1006);
    // m = 0.01 · 200 = 2 < minReports 4: clients calibrate to 2, more noise than needed, never less.
    expect(plan.privacy).toMatchObject({ expectedCohortSize: 2, minSurvivors: 2, noiseMultiplier: 1 });
  });

  it('sizes the encoding for the whole sum when groups are added (sumClients), the SecAgg for the group', () => {
    const group = planRound({ ...input, clientCount: 12, sumClients: 40 });
    expect(group.encoding.maxClients).toBe(40);
    expect(group.secagg).toMatchObject({ clientCount: 12, threshold: 7 });
    // Everything else is the group's own plan: the same privacy and metrics as without the bound.
    const alone = planRound(input);
    expect(group.privacy).toEqual(alone.privacy);
    expect(group.encoding.clipRange).toBe(alone.encoding.clipRange);
    expect(() => planRound({ ...input, sumClients: 11 })).toThrow(/sumClients must be an integer >= clientCount \(12\)/);
    expect(() => planRound({ ...input, sumClients: 12.5 })).toThrow(/sumClients/);
  });
});
