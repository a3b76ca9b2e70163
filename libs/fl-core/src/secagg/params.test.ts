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
});
