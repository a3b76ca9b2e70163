import { describe, expect, it } from 'vitest';
import { weightedMean } from './mean';
import { applyServerUpdate, createServerOptimizer, parseServerOptimizer } from './server-optimizers';

const f32 = (...values: number[]): Float32Array => Float32Array.from(values);

describe('weightedMean', () => {
  it('returns the delta itself when every client sent the same one', () => {
    const delta = f32(0.5, -1.25, 3e-4, 0);
    const mean = weightedMean([
      { delta, weight: 10 },
      { delta: delta.slice(), weight: 3 },
      { delta: delta.slice(), weight: 250 },
    ]);
    expect(Array.from(mean)).toEqual(Array.from(delta));
  });

  it('weights by example count (and is uniform with equal weights)', () => {
    // (1·30 + 4·10) / 40 = 1.75 ; (2·30 + 0·10) / 40 = 1.5
    expect(
      Array.from(
        weightedMean([
          { delta: f32(1, 2), weight: 30 },
          { delta: f32(4, 0), weight: 10 },
        ]),
      ),
    ).toEqual([1.75, 1.5]);
    expect(
      Array.from(
        weightedMean([
          { delta: f32(1, 2), weight: 1 },
          { delta: f32(4, 0), weight: 1 },
        ]),
      ),
    ).toEqual([2.5, 1]);
  });

  it('rejects empty input, mismatched lengths, bad weights and non-finite values', () => {
    expect(() => weightedMean([])).toThrow(/at least one update/);
    expect(() =>
      weightedMean([
        { delta: f32(1), weight: 1 },
        { delta: f32(1, 2), weight: 1 },
      ]),
    ).toThrow(/length 2, expected 1/);
    expect(() => weightedMean([{ delta: f32(1), weight: 0 }])).toThrow(/weight 0/);
    expect(() => weightedMean([{ delta: f32(Number.NaN), weight: 1 }])).toThrow(/not finite/);
  });
});

describe('server optimizers (Reddi et al. 2021, Algorithm 2)', () => {
  const weights = f32(1, -2);
  const delta = f32(0.1, -0.4);

  it('FedAvg adds η·Δ', () => {
    const state = createServerOptimizer({ name: 'fedavg', learningRate: 0.5 }, 2);
    const { weights: next } = applyServerUpdate(state, weights, delta);
    expect(next[0]).toBeCloseTo(1.05, 6);
    expect(next[1]).toBeCloseTo(-2.2, 6);
  });

  it('FedAvgM accumulates momentum: m₁ = Δ, m₂ = 0.9Δ + Δ', () => {
    let state = createServerOptimizer({ name: 'fedavgm', learningRate: 1, momentum: 0.9 }, 2);
    let w = weights;
    ({ weights: w, state } = applyServerUpdate(state, w, delta));
    ({ weights: w, state } = applyServerUpdate(state, w, delta));
    // x = 1 + 0.1 + 0.19 = 1.29 ; −2 − 0.4 − 0.76 = −3.16
    expect(w[0]).toBeCloseTo(1.29, 5);
    expect(w[1]).toBeCloseTo(-3.16, 5);
    expect(state.round).toBe(2);
  });

  it('FedAdam matches two hand-computed steps', () => {
    let state = createServerOptimizer({ name: 'fedadam', learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 }, 1);
    let w = f32(1);
    // Step 1, Δ = 0.1: m = 0.01; v = 0.99·1e-6 + 0.01·0.01 = 1.0099e-4; √v = 0.010049378;
    // x = 1 + 0.01·0.01 / (0.010049378 + 0.001) = 1 + 0.0090502... = 1.00905026
    ({ weights: w, state } = applyServerUpdate(state, w, f32(0.1)));
    expect(w[0]).toBeCloseTo(1.00905026, 6);
    // Step 2, Δ = −0.2: m = 0.009 − 0.02 = −0.011; v = 0.99·1.0099e-4 + 0.01·0.04 = 4.999801e-4;
    // √v = 0.022360235; x = 1.00905026 − 0.00011 / 0.023360235 = 1.00905026 − 0.00470885 = 1.00434141
    ({ weights: w, state } = applyServerUpdate(state, w, f32(-0.2)));
    expect(w[0]).toBeCloseTo(1.00434141, 6);
    expect(state.m?.[0]).toBeCloseTo(-0.011, 7);
  });

  it('FedYogi matches two hand-computed steps (additive second moment)', () => {
    let state = createServerOptimizer({ name: 'fedyogi', learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 }, 1);
    let w = f32(1);
    // Step 1, Δ = 0.1: v₀ = 1e-6 < Δ² = 0.01 so sign = −1: v = 1e-6 + 0.01·0.01 = 1.01e-4;
    // √v = 0.010049876; x = 1 + 1e-4 / 0.011049876 = 1.00904987
    ({ weights: w, state } = applyServerUpdate(state, w, f32(0.1)));
    expect(w[0]).toBeCloseTo(1.00904987, 6);
    expect(state.v?.[0]).toBeCloseTo(1.01e-4, 9);
    // Step 2, Δ = 0.001: Δ² = 1e-6 < v so sign = +1: v = 1.01e-4 − 0.01·1e-6 = 1.0099e-4;
    // m = 0.009 + 0.0001 = 0.0091; x = 1.00904987 + 0.000091 / 0.011049378 = 1.01728570
    ({ weights: w, state } = applyServerUpdate(state, w, f32(0.001)));
    expect(state.v?.[0]).toBeCloseTo(1.0099e-4, 9);
    expect(w[0]).toBeCloseTo(1.0172857, 5);
  });

  it('FedYogi leaves v unchanged when Δ² equals v (sign(v − Δ²) = 0)', () => {
    // τ = 0.5: v₀ = τ² = 0.25 = Δ² for Δ = 0.5, so v stays 0.25; m = 0.1·0.5 = 0.05;
    // x = 1 + 0.01·0.05 / (√0.25 + 0.5) = 1.0005.
    const state = createServerOptimizer({ name: 'fedyogi', learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.5 }, 1);
    const { weights: next, state: after } = applyServerUpdate(state, f32(1), f32(0.5));
    expect(after.v?.[0]).toBe(0.25);
    expect(next[0]).toBeCloseTo(1.0005, 6);
  });

  it('defaults FedAdam and FedYogi to τ = 1e-3 (with η = 0.01, β₁ = 0.9, β₂ = 0.99)', () => {
    for (const name of ['fedadam', 'fedyogi'] as const) {
      expect(parseServerOptimizer({ name })).toEqual({ name, learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
      expect(createServerOptimizer({ name }, 3).v?.[0]).toBeCloseTo(1e-6, 12); // v₀ = τ²
    }
  });

  it('with the default τ, a tiny delta coordinate (1e-6) moves the weight by ~5e-7, not by ~η', () => {
    // τ bounds the adaptivity: with τ = 1e-3 a 1e-6 pseudo-gradient moves x by about η·Δ/(2τ)·0.1;
    // with τ = 1e-8 the same coordinate would be normalised to a step of ≈ 0.009 (about η).
    // FedAdam, Δ = 1e-6, from x = 0, m₀ = 0, v₀ = τ² = 1e-6:
    //   m = 0.1·1e-6 = 1e-7;  v = 0.99·1e-6 + 0.01·1e-12 = 9.9000001e-7;  √v = 9.9498744e-4
    //   x = 0.01·1e-7 / (9.9498744e-4 + 1e-3) = 1e-9 / 1.99498744e-3 = 5.0125630e-7
    //   (τ = 1e-8 instead: v = 1.0099e-14, √v = 1.00494e-7, x = 1e-9 / 1.10494e-7 = 9.0503e-3)
    // FedYogi, same Δ: v₀ = 1e-6 > Δ² so sign = +1: v = 1e-6 − 1e-14, √v = 9.99999995e-4;
    //   x = 1e-9 / 1.999999995e-3 = 5.0000000e-7   (τ = 1e-8 instead: 9.0499e-3)
    const cases = [
      { name: 'fedadam', expected: 5.012563e-7 },
      { name: 'fedyogi', expected: 5.0e-7 },
    ] as const;
    for (const { name, expected } of cases) {
      const { weights: next } = applyServerUpdate(createServerOptimizer({ name }, 1), f32(0), f32(1e-6));
      expect(Math.abs((next[0] as number) - expected) / expected).toBeLessThan(1e-5);
    }
  });

  it('leaves its inputs untouched and rejects bad configs and shapes', () => {
    const state = createServerOptimizer({ name: 'fedadam' }, 2);
    const before = state.m?.slice();
    applyServerUpdate(state, weights, delta);
    expect(Array.from(state.m ?? [])).toEqual(Array.from(before ?? []));
    expect(Array.from(weights)).toEqual([1, -2]);
    expect(() => applyServerUpdate(state, weights, f32(1))).toThrow(/length 1/);
    expect(() => createServerOptimizer({ name: 'fedadam', beta1: 1 }, 2)).toThrow(/invalid server optimizer/);
    expect(() => createServerOptimizer({ name: 'fedavg' }, 0)).toThrow(/positive integer/);
  });

  it('counts rounds and carries only the moments each rule needs', () => {
    // FedAvg keeps no moments: its state (checkpointed every round) is the config and the round.
    expect(createServerOptimizer({ name: 'fedavg' }, 2)).toEqual({ config: { name: 'fedavg', learningRate: 1 }, round: 0 });
    const fedavg = applyServerUpdate(createServerOptimizer({ name: 'fedavg' }, 2), weights, delta).state;
    expect(fedavg).toEqual({ config: { name: 'fedavg', learningRate: 1 }, round: 1 });
    const fedavgm = createServerOptimizer({ name: 'fedavgm' }, 2);
    expect(fedavgm.config).toEqual({ name: 'fedavgm', learningRate: 1, momentum: 0.9 });
    expect(Array.from(fedavgm.m ?? [])).toEqual([0, 0]);
    expect(fedavgm.v).toBeUndefined();
    for (const name of ['fedadam', 'fedyogi'] as const) {
      let state = createServerOptimizer({ name }, 2);
      for (let round = 1; round <= 3; round++) {
        state = applyServerUpdate(state, weights, delta).state;
        expect(state.round).toBe(round);
      }
    }
  });

  it('rejects a non-integer or negative dimension and a state whose moments are missing or the wrong size', () => {
    expect(() => createServerOptimizer({ name: 'fedavg' }, 1.5)).toThrow(/positive integer, got 1.5/);
    expect(() => createServerOptimizer({ name: 'fedavg' }, -2)).toThrow(/positive integer, got -2/);
    expect(createServerOptimizer({ name: 'fedavg' }, 1).round).toBe(0);
    const config = parseServerOptimizer({ name: 'fedadam' });
    const two = new Float32Array(2);
    expect(() => applyServerUpdate({ config, round: 0, v: two }, weights, delta)).toThrow(/state: m has length 0, expected 2/);
    expect(() => applyServerUpdate({ config, round: 0, m: two }, weights, delta)).toThrow(/state: v has length 0, expected 2/);
    expect(() => applyServerUpdate({ config, round: 0, m: new Float32Array(3), v: two }, weights, delta)).toThrow(/m has length 3, expected 2/);
    expect(() => applyServerUpdate({ config, round: 0, m: two, v: new Float32Array(1) }, weights, delta)).toThrow(/v has length 1, expected 2/);
    const momentum = parseServerOptimizer({ name: 'fedavgm' });
    expect(() => applyServerUpdate({ config: momentum, round: 0 }, weights, delta)).toThrow(/m has length 0, expected 2/);
    expect(() => applyServerUpdate({ config: momentum, round: 0, m: new Float32Array(1) }, weights, delta)).toThrow(/m has length 1, expected 2/);
    expect(() => applyServerUpdate(createServerOptimizer({ name: 'fedavg' }, 2), weights, f32(1))).toThrow(/mean delta has length 1, weights have 2/);
  });

  it('accepts the edges of each hyperparameter range and rejects just past them', () => {
    expect(parseServerOptimizer({ name: 'fedavg', learningRate: 100 }).learningRate).toBe(100);
    expect(() => parseServerOptimizer({ name: 'fedavg', learningRate: 100.5 })).toThrow(/invalid server optimizer/);
    expect(() => parseServerOptimizer({ name: 'fedavg', learningRate: 0 })).toThrow(/invalid server optimizer/);
    expect(parseServerOptimizer({ name: 'fedavgm', momentum: 0 })).toMatchObject({ momentum: 0, learningRate: 1 });
    expect(() => parseServerOptimizer({ name: 'fedavgm', momentum: 1 })).toThrow(/invalid server optimizer/);
    expect(() => parseServerOptimizer({ name: 'fedavgm', momentum: -0.1 })).toThrow(/invalid server optimizer/);
    expect(parseServerOptimizer({ name: 'fedyogi', beta1: 0, beta2: 0, tau: 1 })).toMatchObject({ beta1: 0, beta2: 0, tau: 1 });
    expect(() => parseServerOptimizer({ name: 'fedyogi', tau: 1.5 })).toThrow(/invalid server optimizer/);
    expect(() => parseServerOptimizer({ name: 'fedadam', beta2: 1 })).toThrow(/invalid server optimizer/);
    expect(() => parseServerOptimizer({ name: 'fedadam', beta1: -0.5 })).toThrow(/invalid server optimizer/);
  });
});
