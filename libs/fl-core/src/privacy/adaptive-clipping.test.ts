import { chacha20 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import { createSeededRandom, type RandomBytes } from '../random/index';
import {
  addCentralIndicatorNoise,
  clipIndicator,
  createAdaptiveClipping,
  modelUpdateNoiseMultiplier,
  privatizeClipIndicator,
  updateClipNorm,
  type AdaptiveClippingState,
} from './adaptive-clipping';
import { roundNoiseMultiplier } from './modes';

/** Reproducible bytes for tests only (ChaCha20 keystream, fresh nonce per call). */
function seededRandomBytes(seed: number): RandomBytes {
  const key = new Uint8Array(32);
  new DataView(key.buffer).setUint32(0, seed);
  let call = 0;
  return (out) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(0, call++);
    out.fill(0);
    chacha20(key, nonce, out, out);
    return out;
  };
}

/**
 * Runs the paper's loop in 'central' mode on synthetic clients whose update norms are log-normal
 * with median e^μ and log-scale s, and returns log C after every round.
 */
function simulate(state: AdaptiveClippingState, rounds: number, m: number, mu: number, s: number, seed: number): number[] {
  const experiment = createSeededRandom(seed);
  const noiseBytes = seededRandomBytes(seed);
  const trajectory: number[] = [];
  let current = state;
  for (let round = 0; round < rounds; round++) {
    let centeredSum = 0;
    for (let client = 0; client < m; client++) {
      const norm = Math.exp(mu + s * experiment.nextNormal());
      centeredSum += clipIndicator(norm, current.clipNorm) - 0.5;
    }
    const noisedCenteredSum = addCentralIndicatorNoise(centeredSum, current.indicatorNoiseStdDev, noiseBytes);
    current = updateClipNorm(current, { noisedCenteredSum, expectedCohortSize: m }).state;
    trajectory.push(Math.log(current.clipNorm));
  }
  return trajectory;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

describe('adaptive clipping converges to the target quantile', () => {
  // m = 100 clients a round, σ_b = m/20 = 5 (the paper's choice), η = 0.2. Near the fixed point the
  // noisy fraction b̃ has standard deviation √(γ(1−γ)/m + (σ_b/m)²) ≈ 0.07, so log C takes steps of
  // ≈ 0.014 and is pulled back at rate η·(density of log-norm at the quantile) ≈ 0.08 per round:
  // a stationary spread of ≈ 3.5% around the quantile. The averages below over the last rounds
  // must land within 5% (in log terms) of the true quantile, individual rounds within 20%.
  const m = 100;
  const mu = Math.log(2); // median update norm 2
  const s = 1;

  it('γ = 0.5 tracks the median, from 20× below', () => {
    const state = createAdaptiveClipping({ initialClipNorm: 0.1, expectedCohortSize: m });
    const trajectory = simulate(state, 400, m, mu, s, 11);
    const settled = trajectory.slice(200);
    expect(Math.abs(mean(settled) - mu)).toBeLessThan(0.05);
    for (const logC of settled) expect(Math.abs(logC - mu)).toBeLessThan(Math.log(1.2));
  });

  it('γ = 0.5 tracks the median, from 20× above', () => {
    const state = createAdaptiveClipping({ initialClipNorm: 40, expectedCohortSize: m });
    const settled = simulate(state, 400, m, mu, s, 12).slice(200);
    expect(Math.abs(mean(settled) - mu)).toBeLessThan(0.05);
  });

  it('γ = 0.9 tracks the 90th percentile', () => {
    const state = createAdaptiveClipping({ initialClipNorm: 0.1, expectedCohortSize: m, targetQuantile: 0.9 });
    const settled = simulate(state, 600, m, mu, s, 13).slice(300);
    const quantile90 = mu + 1.2815515655446004 * s; // Φ^−1(0.9)
    expect(Math.abs(mean(settled) - quantile90)).toBeLessThan(0.05);
  });
});

describe('updateClipNorm', () => {
  const state = createAdaptiveClipping({ initialClipNorm: 1, expectedCohortSize: 10 });

  it('shrinks C when more updates than γ fit under it, grows it when fewer do', () => {
    // All 10 unclipped: Σ(b − 1/2) = 5, b̃ = 1, C·exp(−0.2·(1 − 0.5)).
    const allFit = updateClipNorm(state, { noisedCenteredSum: 5, expectedCohortSize: 10 });
    expect(allFit.unclippedFraction).toBe(1);
    expect(allFit.state.clipNorm).toBeCloseTo(Math.exp(-0.1), 15);
    const noneFit = updateClipNorm(state, { noisedCenteredSum: -5, expectedCohortSize: 10 });
    expect(noneFit.unclippedFraction).toBe(0);
    expect(noneFit.state.clipNorm).toBeCloseTo(Math.exp(0.1), 15);
    expect(updateClipNorm(state, { noisedCenteredSum: 0, expectedCohortSize: 10 }).state.clipNorm).toBe(1);
  });

  it('is pure and its state survives JSON', () => {
    const before = structuredClone(state);
    const next = updateClipNorm(state, { noisedCenteredSum: 1.3, expectedCohortSize: 10 }).state;
    expect(state).toEqual(before);
    expect(JSON.parse(JSON.stringify(next))).toEqual(next);
    expect(updateClipNorm(JSON.parse(JSON.stringify(next)), { noisedCenteredSum: 0, expectedCohortSize: 10 }).state).toEqual(next);
  });

  it('checks the state it is given and its input', () => {
    expect(() => updateClipNorm({ ...state, targetQuantile: 1 }, { noisedCenteredSum: 0, expectedCohortSize: 10 })).toThrow(
      'updateClipNorm: state.targetQuantile must be in (0, 1), got 1',
    );
    expect(() => updateClipNorm(state, { noisedCenteredSum: Number.NaN, expectedCohortSize: 10 })).toThrow(
      'updateClipNorm: noisedCenteredSum must be finite, got NaN',
    );
    expect(() => updateClipNorm(state, { noisedCenteredSum: 0, expectedCohortSize: 0 })).toThrow(
      'updateClipNorm: expectedCohortSize must be an integer >= 1, got 0',
    );
  });
});

describe('createAdaptiveClipping', () => {
  it("uses the paper's defaults γ = 0.5, η = 0.2, σ_b = m/20", () => {
    expect(createAdaptiveClipping({ initialClipNorm: 0.3, expectedCohortSize: 200 })).toEqual({
      clipNorm: 0.3,
      targetQuantile: 0.5,
      learningRate: 0.2,
      indicatorNoiseStdDev: 10,
    });
  });

  it('rejects bad options', () => {
    expect(() => createAdaptiveClipping({ initialClipNorm: 0, expectedCohortSize: 10 })).toThrow(
      'createAdaptiveClipping: state.clipNorm must be a finite number > 0, got 0',
    );
    expect(() => createAdaptiveClipping({ initialClipNorm: 1, expectedCohortSize: 10, learningRate: -1 })).toThrow(
      'state.learningRate must be a finite number > 0, got -1',
    );
    expect(() => createAdaptiveClipping({ initialClipNorm: 1, expectedCohortSize: 10, targetQuantile: 0 })).toThrow(
      'state.targetQuantile must be in (0, 1), got 0',
    );
  });
});

describe('the clipping indicator', () => {
  it('is 1 for an unclipped update (norm ≤ C) and 0 for a clipped one', () => {
    expect(clipIndicator(0.5, 1)).toBe(1);
    expect(clipIndicator(1, 1)).toBe(1);
    expect(clipIndicator(1.0000001, 1)).toBe(0);
    expect(() => clipIndicator(Number.NaN, 1)).toThrow('clipIndicator: norm must be a finite number >= 0, got NaN');
  });

  it("is centred and carries the client's share of σ_b for the mode", () => {
    const draws = 20_000;
    const options = { indicatorNoiseStdDev: 5, expectedCohortSize: 100, minSurvivors: 64 };
    for (const [mode, share] of [
      ['local', 5],
      ['distributed', 5 / 8],
    ] as const) {
      const bytes = seededRandomBytes(mode === 'local' ? 21 : 22);
      let sumSquares = 0;
      for (let i = 0; i < draws; i++) {
        const { value, noiseStdDev } = privatizeClipIndicator(1, { ...options, mode }, bytes);
        expect(noiseStdDev).toBeCloseTo(share, 15);
        sumSquares += (value - 0.5) ** 2;
      }
      // Relative standard error of a sample standard deviation ≈ 1/√(2n); 6 of them.
      expect(Math.abs(Math.sqrt(sumSquares / draws) / share - 1)).toBeLessThan(6 / Math.sqrt(2 * draws));
    }
    expect(privatizeClipIndicator(0, { ...options, mode: 'central' })).toEqual({ value: -0.5, noiseStdDev: 0 });
    expect(() => privatizeClipIndicator(2 as 1, { ...options, mode: 'central' })).toThrow('privatizeClipIndicator: indicator must be 0 or 1, got 2');
  });

  it('gets N(0, σ_b²) from the aggregator in central mode', () => {
    const bytes = seededRandomBytes(23);
    const draws = 20_000;
    let sumSquares = 0;
    for (let i = 0; i < draws; i++) sumSquares += (addCentralIndicatorNoise(3, 5, bytes) - 3) ** 2;
    expect(Math.abs(Math.sqrt(sumSquares / draws) / 5 - 1)).toBeLessThan(6 / Math.sqrt(2 * draws));
  });
});

describe('splitting the noise budget', () => {
  it('σ_Δ = (σ^−2 − (2σ_b)^−2)^−1/2, and the two queries compose back to σ', () => {
    // m = 100, σ_b = 5, σ = 1: σ_Δ = (1 − 1/100)^−1/2.
    const sigmaDelta = modelUpdateNoiseMultiplier({ noiseMultiplier: 1, indicatorNoiseStdDev: 5 });
    expect(sigmaDelta).toBeCloseTo(1 / Math.sqrt(0.99), 15);
    for (const [sigma, sigmaB] of [
      [0.8, 0.5],
      [1.1, 5],
      [3, 100],
    ] as const) {
      const updateSigma = modelUpdateNoiseMultiplier({ noiseMultiplier: sigma, indicatorNoiseStdDev: sigmaB });
      expect(updateSigma).toBeGreaterThan(sigma);
      const recorded = roundNoiseMultiplier({
        mode: 'central',
        noiseMultiplier: updateSigma,
        indicatorNoiseStdDev: sigmaB,
        expectedCohortSize: 100,
        survivors: 100,
      });
      expect(recorded).toBeCloseTo(sigma, 12);
    }
  });

  it('refuses an indicator noise that would use up the whole budget', () => {
    expect(() => modelUpdateNoiseMultiplier({ noiseMultiplier: 2, indicatorNoiseStdDev: 1 })).toThrow(
      'modelUpdateNoiseMultiplier: indicatorNoiseStdDev must be > noiseMultiplier/2 = 1 so the indicator query leaves privacy budget for the update, got 1',
    );
  });
});
