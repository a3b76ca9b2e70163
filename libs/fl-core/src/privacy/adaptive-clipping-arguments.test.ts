import { describe, expect, it } from 'vitest';
import { addCentralIndicatorNoise, clipIndicator, createAdaptiveClipping, modelUpdateNoiseMultiplier, privatizeClipIndicator } from './adaptive-clipping';

/** Bytes that must never be asked for: the call under test is meant to add no noise. */
const noRandomness = (): never => {
  throw new Error('no randomness expected');
};

describe('adaptive clipping options and arguments', () => {
  it('keeps every option it is given instead of the default', () => {
    expect(createAdaptiveClipping({ initialClipNorm: 2.5, expectedCohortSize: 40, targetQuantile: 0.7, learningRate: 0.05, indicatorNoiseStdDev: 3 })).toEqual({
      clipNorm: 2.5,
      targetQuantile: 0.7,
      learningRate: 0.05,
      indicatorNoiseStdDev: 3,
    });
    // σ_b = 0 (no indicator noise) is a choice, not a missing value.
    expect(createAdaptiveClipping({ initialClipNorm: 1, expectedCohortSize: 40, indicatorNoiseStdDev: 0 }).indicatorNoiseStdDev).toBe(0);
  });

  it('names the argument it refuses', () => {
    expect(() => createAdaptiveClipping({ initialClipNorm: 1, expectedCohortSize: 0 })).toThrow(
      'createAdaptiveClipping: expectedCohortSize must be an integer >= 1, got 0',
    );
    expect(() => createAdaptiveClipping({ initialClipNorm: 1, expectedCohortSize: 10, indicatorNoiseStdDev: -1 })).toThrow(
      'createAdaptiveClipping: state.indicatorNoiseStdDev must be a finite number >= 0, got -1',
    );
    expect(() => clipIndicator(1, 0)).toThrow('clipIndicator: clipNorm must be a finite number > 0, got 0');
    expect(() => clipIndicator(-1, 1)).toThrow('clipIndicator: norm must be a finite number >= 0, got -1');
    expect(() => modelUpdateNoiseMultiplier({ noiseMultiplier: 0, indicatorNoiseStdDev: 5 })).toThrow(
      'modelUpdateNoiseMultiplier: noiseMultiplier must be a finite number > 0, got 0',
    );
    expect(() => modelUpdateNoiseMultiplier({ noiseMultiplier: 1, indicatorNoiseStdDev: Number.NaN })).toThrow(
      'modelUpdateNoiseMultiplier: indicatorNoiseStdDev must be a finite number > 0, got NaN',
    );
  });
});

describe('privatizeClipIndicator', () => {
  const options = { indicatorNoiseStdDev: 6, expectedCohortSize: 100 };

  it("gives each of the k_min − c honest reports 1/√(k_min − c) of σ_b in 'distributed' mode", () => {
    // k_min = 11, c = 2: nine honest shares of 6/3 = 2 sum to N(0, 36).
    expect(privatizeClipIndicator(1, { ...options, mode: 'distributed', minSurvivors: 11, colluders: 2 }).noiseStdDev).toBe(2);
    // Default k_min = m = 100 and c = 0: 6/10.
    expect(privatizeClipIndicator(1, { ...options, mode: 'distributed' }).noiseStdDev).toBeCloseTo(0.6, 15);
  });

  it("sends the bare centred indicator, drawing no randomness, in 'central' and 'off' modes", () => {
    for (const mode of ['central', 'off'] as const) {
      expect(privatizeClipIndicator(1, { ...options, mode }, noRandomness)).toEqual({ value: 0.5, noiseStdDev: 0 });
      expect(privatizeClipIndicator(0, { ...options, mode }, noRandomness)).toEqual({ value: -0.5, noiseStdDev: 0 });
    }
  });

  it('refuses an unknown mode, a negative σ_b and k_min above m, naming itself', () => {
    expect(() => privatizeClipIndicator(1, { ...options, mode: 'loud' as 'off' })).toThrow(/^privatizeClipIndicator: mode must be one of/);
    expect(() => privatizeClipIndicator(1, { ...options, mode: 'local', indicatorNoiseStdDev: -1 })).toThrow(
      'privatizeClipIndicator: indicatorNoiseStdDev must be a finite number >= 0, got -1',
    );
    expect(() => privatizeClipIndicator(1, { ...options, mode: 'distributed', minSurvivors: 101 })).toThrow(/^privatizeClipIndicator: minSurvivors/);
  });
});

describe('addCentralIndicatorNoise', () => {
  it('adds nothing when σ_b = 0 and refuses a non-finite sum or a negative σ_b', () => {
    expect(addCentralIndicatorNoise(-3.5, 0, noRandomness)).toBe(-3.5);
    expect(() => addCentralIndicatorNoise(Number.NaN, 1)).toThrow('addCentralIndicatorNoise: centeredIndicatorSum must be finite, got NaN');
    expect(() => addCentralIndicatorNoise(Number.POSITIVE_INFINITY, 1)).toThrow(/centeredIndicatorSum must be finite, got Infinity/);
    expect(() => addCentralIndicatorNoise(1, -2)).toThrow('addCentralIndicatorNoise: indicatorNoiseStdDev must be a finite number >= 0, got -2');
  });
});
