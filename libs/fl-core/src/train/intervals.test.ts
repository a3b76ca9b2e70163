import { describe, expect, it } from 'vitest';
import { meanInterval, pairedRatioInterval, wilsonInterval, Z_95 } from './intervals';

describe('wilsonInterval', () => {
  // Newcombe (1998), Stat. Med. 17:857–872, worked examples for method 3 (score interval), to 4
  // places; the 1e-15 references are the roots of the score test's quadratic
  // (1 + z²/n)π² − (2p̂ + z²/n)π + p̂² = 0, solved in Python (math, statistics.NormalDist).
  const cases: [number, number, [number, number], [number, number]][] = [
    [81, 263, [0.2553, 0.3662], [0.2552885198782742, 0.3662095769828002]],
    [15, 148, [0.0624, 0.1605], [0.06238639953073631, 0.16048724172330797]],
    [0, 20, [0, 0.1611], [0, 0.1611251580528193]],
    [1, 29, [0.0061, 0.1718], [0.006113214292762661, 0.17175521879320282]],
    [29, 29, [0.883, 1], [0.8830302015002593, 1]],
  ];
  it.each(cases)('%i of %i matches Newcombe 1998 and the quadratic roots', (successes, trials, published, exact) => {
    const { lower, upper } = wilsonInterval(successes, trials);
    expect(Math.abs(lower - published[0])).toBeLessThanOrEqual(5e-5);
    expect(Math.abs(upper - published[1])).toBeLessThanOrEqual(5e-5);
    expect(Math.abs(lower - exact[0])).toBeLessThan(1e-15);
    expect(Math.abs(upper - exact[1])).toBeLessThan(1e-15);
  });

  it('16 of 100: [0.10095, 0.24420] (quadratic roots in Python)', () => {
    const { lower, upper } = wilsonInterval(16, 100);
    expect(Math.abs(lower - 0.10095288488804782)).toBeLessThan(1e-15);
    expect(Math.abs(upper - 0.24420269389270238)).toBeLessThan(1e-15);
  });

  it('has no bounds without trials and refuses impossible counts', () => {
    expect(wilsonInterval(0, 0)).toEqual({ lower: Number.NaN, upper: Number.NaN });
    expect(() => wilsonInterval(5, 4)).toThrow(/wilsonInterval: expected integers 0 ≤ successes ≤ trials, got 5 of 4/);
    expect(() => wilsonInterval(1.5, 4)).toThrow(/got 1.5 of 4/);
  });
});

describe('meanInterval', () => {
  it('is x̄ ± z·s/√n (Python statistics.stdev)', () => {
    // [1, 2, 3, 4, 5]: Σx = 15, Σx² = 55.
    const a = meanInterval({ sum: 15, sumOfSquares: 55, count: 5 });
    expect(a.lower).toBeCloseTo(1.6140961756503225, 14);
    expect(a.upper).toBeCloseTo(4.385903824349677, 14);
    // [2.5, 0.1, 7.3, 4.4, 3.3, 1.9]: Σx = 19.5, Σx² = 93.41.
    const b = meanInterval({ sum: 19.5, sumOfSquares: 93.41, count: 6 });
    expect(b.lower).toBeCloseTo(1.2888930364073456, 13);
    expect(b.upper).toBeCloseTo(5.211106963592655, 13);
  });

  it('collapses to the mean for equal values and has no bounds below two values', () => {
    expect(meanInterval({ sum: 6, sumOfSquares: 12, count: 3 })).toEqual({ lower: 2, upper: 2 });
    // [0.1, 0.1, 0.1]: rounding leaves Σx² − (Σx)²/n a hair off zero; the width stays negligible.
    const tiny = meanInterval({ sum: 0.1 + 0.1 + 0.1, sumOfSquares: 0.01 + 0.01 + 0.01, count: 3 });
    expect(tiny.upper - tiny.lower).toBeLessThan(1e-7);
    expect(meanInterval({ sum: 2, sumOfSquares: 4, count: 1 })).toEqual({ lower: Number.NaN, upper: Number.NaN });
  });

  it('uses the 97.5% normal quantile', () => {
    expect(Z_95).toBe(1.9599639845400536); // Python: statistics.NormalDist().inv_cdf(0.975)
  });
});

describe('pairedRatioInterval', () => {
  /** 100 paired examples: 30 both hit, 20 only a, 10 only b, 40 neither. */
  const table = (): { a: number[]; b: number[] } => {
    const a: number[] = [];
    const b: number[] = [];
    const add = (x: number, y: number, times: number) => {
      for (let i = 0; i < times; i++) {
        a.push(x);
        b.push(y);
      }
    };
    add(1, 1, 30);
    add(1, 0, 20);
    add(0, 1, 10);
    add(0, 0, 40);
    return { a, b };
  };

  it('matches the matched-pairs relative-risk interval, Var ln R = (n10 + n01)/((n11 + n10)(n11 + n01))', () => {
    // Python: R = 50/40; sd = sqrt(30/(50·40)); R·exp(∓NormalDist().inv_cdf(0.975)·sd); (20 − 10)/sqrt(30).
    const { ratio, interval, mcnemarZ } = pairedRatioInterval(table());
    expect(ratio).toBe(1.25);
    expect(interval.lower).toBeCloseTo(0.9832400054784173, 12);
    expect(interval.upper).toBeCloseTo(1.5891338750397275, 12);
    expect(mcnemarZ).toBeCloseTo(1.8257418583505538, 12);
  });

  it('is narrower than unpaired noise when the two predictors mostly agree, and refuses bad input', () => {
    const { a } = table();
    expect(pairedRatioInterval({ a, b: a })).toEqual({ ratio: 1, interval: { lower: 1, upper: 1 }, mcnemarZ: 0 });
    expect(() => pairedRatioInterval({ a: [1, 0], b: [1] })).toThrow(/equal/);
    expect(() => pairedRatioInterval({ a: [2], b: [1] })).toThrow(/0 or 1/);
    expect(pairedRatioInterval({ a: [0, 0], b: [1, 0] }).interval.lower).toBeNaN();
  });
});
