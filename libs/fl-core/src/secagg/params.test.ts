import { describe, expect, it } from 'vitest';
import { binomialTailLog2, secAggPlusParameters } from './params';

describe('SecAgg+ parameter rule', () => {
  it('computes binomial tails as python3 does', () => {
    // python3: from math import comb, log2
    //   log2(sum(comb(n, i) * p**i * (1 - p)**(n - i) for i in range(m, n + 1)))
    expect(binomialTailLog2(10, 0.3, 5)).toBeCloseTo(-2.7343870857299133, 10);
    expect(binomialTailLog2(40, 0.1, 20)).toBeCloseTo(-32.31481000307953, 9);
    expect(binomialTailLog2(36, 0.1, 18)).toBeCloseTo(-29.293004173693888, 9);
    expect(binomialTailLog2(10, 0, 1)).toBe(-Infinity);
    expect(binomialTailLog2(10, 0.5, 0)).toBe(0);
  });

  it('meets the bounds it states and takes the smallest even degree that does', () => {
    for (const n of [500, 10_000]) {
      for (const dropoutRate of [0.05, 0.1]) {
        for (const corruptRate of [0, 0.05]) {
          const p = secAggPlusParameters({ clientCount: n, dropoutRate, corruptRate });
          expect(p.full).toBe(false);
          expect(p.degree % 2).toBe(0);
          expect(2 * p.threshold).toBeGreaterThan(p.degree + 1);
          expect(p.correctnessLog2).toBeLessThanOrEqual(-20);
          expect(p.sharePrivacyLog2).toBeLessThanOrEqual(-40);
          expect(p.connectivityLog2).toBeLessThanOrEqual(-40);
          const smaller = secAggPlusParameters({ clientCount: n, dropoutRate: dropoutRate / 2, corruptRate });
          expect(smaller.degree).toBeLessThanOrEqual(p.degree);
        }
      }
    }
    // Degree grows like log n.
    expect(secAggPlusParameters({ clientCount: 1_000_000, dropoutRate: 0.1 }).degree).toBe(52);
    expect(secAggPlusParameters({ clientCount: 500, dropoutRate: 0.1 })).toMatchObject({ degree: 36, threshold: 19 });
  });

  it('falls back to the full graph, or refuses a round no graph can run', () => {
    expect(secAggPlusParameters({ clientCount: 100, dropoutRate: 0.3 })).toMatchObject({ full: true, degree: 99, threshold: 51 });
    expect(() => secAggPlusParameters({ clientCount: 100, dropoutRate: 0.6 })).toThrow(/40 survive, below the threshold 51/);
    expect(() => secAggPlusParameters({ clientCount: 100, dropoutRate: 2 })).toThrow(/dropoutRate/);
  });

  it('computes the tails at their edges: the last term alone, p = 1, negative thresholds', () => {
    // P[Bin(10, 1/2) ≥ 10] = 2^−10 exactly; P[Bin(6, 0.3) ≥ 6] = 0.3^6.
    expect(binomialTailLog2(10, 0.5, 10)).toBeCloseTo(-10, 12);
    expect(binomialTailLog2(6, 0.3, 6)).toBeCloseTo(6 * Math.log2(0.3), 12);
    expect(binomialTailLog2(10, 0.5, 11)).toBe(-Infinity);
    // p = 1: every trial succeeds, so any count up to `trials` is certain.
    expect(binomialTailLog2(5, 1, 3)).toBe(0);
    expect(binomialTailLog2(5, 1, 5)).toBe(0);
    expect(binomialTailLog2(10, 0.3, -2)).toBe(0);
    // python3: log2(sum(comb(12, i) * 0.05**i * 0.95**(12 - i) for i in range(1, 13))) = log2(1 − 0.95^12)
    expect(binomialTailLog2(12, 0.05, 1)).toBeCloseTo(Math.log2(1 - 0.95 ** 12), 12);
    // Summed in log space around the largest term: 2000 trials span e^−1386 … e^−3, beyond a double's
    // exponent range, and the tail P[Bin(2000, 1/2) ≥ 1] = 1 − 2^−2000 must still come out as ≈ 0.
    expect(binomialTailLog2(2000, 0.5, 1)).toBeCloseTo(0, 9);
  });

  it('reports the bounds python3 computes for the chosen graph (exact rational arithmetic)', () => {
    // python3: the same search with Fraction-valued tails, log2 n + log2 P[Bin(k, δ) ≥ k − t + 1],
    // log2 n + log2 P[Bin(k, γ) ≥ 2t − h], log2 n + (k/2)·log2(δ + γ).
    const plain = secAggPlusParameters({ clientCount: 500, dropoutRate: 0.1 });
    expect(plain).toMatchObject({ degree: 36, threshold: 19, full: false, sharePrivacyLog2: -Infinity });
    expect(plain.correctnessLog2).toBeCloseTo(-20.327219889031802, 9);
    expect(plain.connectivityLog2).toBeCloseTo(-50.82892142331043, 9);
    const corrupt = secAggPlusParameters({ clientCount: 500, dropoutRate: 0.1, corruptRate: 0.05 });
    expect(corrupt).toMatchObject({ degree: 88, threshold: 59, full: false });
    expect(corrupt.correctnessLog2).toBeCloseTo(-21.199386071026233, 9);
    expect(corrupt.sharePrivacyLog2).toBeCloseTo(-43.57801180083693, 9);
    expect(corrupt.connectivityLog2).toBeCloseTo(-111.46070185865098, 9);
    const small = secAggPlusParameters({ clientCount: 1000, dropoutRate: 0.05, corruptRate: 0.1 });
    expect(small).toMatchObject({ degree: 74, threshold: 55 });
    expect(small.sharePrivacyLog2).toBeCloseTo(-41.63546019485144, 9);
    // Looser targets take a sparser graph; with nothing dropping or colluding, k = 2 meets every bound.
    const loose = secAggPlusParameters({ clientCount: 9, dropoutRate: 0.01, correctnessBits: 10, privacyBits: 10 });
    expect(loose).toMatchObject({ degree: 6, threshold: 4, full: false });
    expect(loose.correctnessLog2).toBeCloseTo(-12.472281965220674, 9);
    expect(loose.connectivityLog2).toBeCloseTo(-16.761643567881862, 9);
    // Colluders alone: the connectivity bound n·γ^(k/2) ≤ 2^−40 is the one that decides.
    const colluding = secAggPlusParameters({ clientCount: 50, dropoutRate: 0, corruptRate: 0.1 });
    expect(colluding).toMatchObject({ degree: 28, threshold: 25, full: false, correctnessLog2: -Infinity });
    expect(colluding.sharePrivacyLog2).toBeCloseTo(-44.95378477360935, 9);
    expect(colluding.connectivityLog2).toBeCloseTo(-40.86313713864835, 9);
    expect(secAggPlusParameters({ clientCount: 11, dropoutRate: 0 })).toEqual({
      degree: 2,
      threshold: 2,
      full: false,
      correctnessLog2: -Infinity,
      sharePrivacyLog2: -Infinity,
      connectivityLog2: -Infinity,
    });
  });

  it('sizes the full-graph fallback by t > (n + γn)/2 and n − ⌈δn⌉ ≥ t, the boundary included', () => {
    // t = ⌊(100 + 10)/2⌋ + 1 = 56 with γ = 0.1; 70 survive.
    expect(secAggPlusParameters({ clientCount: 100, dropoutRate: 0.3, corruptRate: 0.1 })).toEqual({
      degree: 99,
      threshold: 56,
      full: true,
      correctnessLog2: -Infinity,
      sharePrivacyLog2: -Infinity,
      connectivityLog2: -Infinity,
    });
    // n = 9 (odd): k = 8 = n − 1 would meet σ = η = 15 (python3: correctness −17.2) but is the
    // complete graph, so it is reported as the full graph with its deterministic bounds.
    expect(secAggPlusParameters({ clientCount: 9, dropoutRate: 0.01, correctnessBits: 15, privacyBits: 15 })).toEqual({
      degree: 8,
      threshold: 5,
      full: true,
      correctnessLog2: -Infinity,
      sharePrivacyLog2: -Infinity,
      connectivityLog2: -Infinity,
    });
    // 49 drop, exactly t = 51 survive: still runnable.
    expect(secAggPlusParameters({ clientCount: 100, dropoutRate: 0.49 })).toMatchObject({ degree: 99, threshold: 51, full: true });
    // δn = 55.5 rounds up: 56 drop, 44 survive.
    expect(() => secAggPlusParameters({ clientCount: 100, dropoutRate: 0.555 })).toThrow(
      /with 56 of 100 clients dropping, 44 survive, below the threshold 51 that privacy needs \(t > \(n \+ γn\)\/2\)/,
    );
  });
});
