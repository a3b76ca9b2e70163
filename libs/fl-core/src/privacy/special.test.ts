import { describe, expect, it } from 'vitest';
import { erfc, log1mExp, logAddExp, logErfc, logExpm1, logNormalCdf, normalCdf } from './special';

function relativeError(actual: number, expected: number): number {
  return expected === 0 ? Math.abs(actual) : Math.abs(actual / expected - 1);
}

describe('logErfc', () => {
  // log(erfc(x)) from mpmath 1.3 at 50 significant digits: mpmath.log(mpmath.erfc(x)).
  const vectors: [number, number][] = [
    [-30, 0.69314718055994531],
    [-5, 0.69314718055917658],
    [-1.4, 0.66900054277655788],
    [-0.3, 0.28414589714140825],
    [0, 0],
    [0.3, -0.39843005144008527],
    [1, -1.8496055099332482],
    [1.49, -3.3494933196824849],
    [1.5, -3.3844920895515527],
    [2, -5.3649412646166376],
    [3.7, -15.604367894999848],
    [5, -27.200889545537434],
    [10, -102.87988902484489],
    [26, -679.83119976319423],
    [27, -732.86888650789741],
    [100, -10005.177585122664],
    [1e4, -100000009.78270532],
    [1e8, -10000000000000019.0],
  ];

  it.each(vectors)('logErfc(%d) matches mpmath to 1e-14', (x, expected) => {
    expect(relativeError(logErfc(x), expected)).toBeLessThan(1e-14);
  });

  it('stays finite where Math.log(erfc(x)) underflows', () => {
    expect(Math.log(erfc(28))).toBe(-Infinity);
    expect(logErfc(28)).toBeCloseTo(-787.90520619455771, 10); // mpmath
  });

  it('agrees with erfc where erfc is representable', () => {
    for (let x = -6; x <= 25; x += 0.37) {
      expect(relativeError(Math.exp(logErfc(x)), erfc(x))).toBeLessThan(1e-13);
    }
  });
});

describe('erfc and the normal CDF', () => {
  // erfc(x) from mpmath 1.3 at 40 significant digits, on both sides of the series/continued-fraction
  // switch at 1.5 and of zero.
  const erfcVectors: [number, number][] = [
    [-1.5, 1.9661051464753107271],
    [0, 1],
    [0.5, 0.47950012218695346232],
    [1.4999999999999998, 0.033894853524689299341],
    [1.5, 0.033894853524689272933],
    [3, 0.000022090496998585441373],
    [6, 2.1519736712498913117e-17],
  ];

  it.each(erfcVectors)('erfc(%d) matches mpmath to 1e-14', (x, expected) => {
    expect(relativeError(erfc(x), expected)).toBeLessThan(1e-14);
  });

  it('satisfies erfc(−x) = 2 − erfc(x) and Φ(x) + Φ(−x) = 1', () => {
    for (let x = 0; x < 8; x += 0.25) {
      expect(erfc(-x)).toBeCloseTo(2 - erfc(x), 15);
      expect(normalCdf(x) + normalCdf(-x)).toBeCloseTo(1, 15);
    }
  });

  it('matches textbook values of Φ', () => {
    // Φ(1) − Φ(−1), Φ(2) − Φ(−2), Φ(3) − Φ(−3): the 68–95–99.7 rule to 16 digits.
    expect(normalCdf(1) - normalCdf(-1)).toBeCloseTo(0.6826894921370859, 15);
    expect(normalCdf(2) - normalCdf(-2)).toBeCloseTo(0.9544997361036416, 15);
    expect(normalCdf(3) - normalCdf(-3)).toBeCloseTo(0.9973002039367398, 15);
    expect(normalCdf(-40)).toBe(0); // underflows as a plain value...
    expect(logNormalCdf(-40)).toBeCloseTo(-804.60844201375379, 10); // ...but not in log space (mpmath)
  });
});

describe('log-space helpers', () => {
  it('logAddExp adds in log space without overflow', () => {
    expect(logAddExp(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 15);
    expect(logAddExp(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logAddExp(-Infinity, 4)).toBe(4);
    expect(logAddExp(4, -Infinity)).toBe(4);
    expect(logAddExp(-Infinity, -Infinity)).toBe(-Infinity);
    // Either argument may be the larger: e^1000 overflows, log(e^1000 + e^0) = 1000 does not.
    expect(logAddExp(1000, 0)).toBe(1000);
    expect(logAddExp(0, 1000)).toBe(1000);
    expect(logAddExp(Math.log(3), Math.log(2))).toBeCloseTo(Math.log(5), 15);
    expect(logAddExp(Infinity, 0)).toBe(Infinity);
    expect(logAddExp(0, Infinity)).toBe(Infinity);
  });

  it('log1mExp is accurate on both sides of −ln 2', () => {
    expect(relativeError(log1mExp(-1e-20), Math.log(1e-20))).toBeLessThan(1e-15);
    expect(relativeError(log1mExp(-50), -Math.exp(-50))).toBeLessThan(1e-15);
    expect(log1mExp(0)).toBe(-Infinity);
    expect(() => log1mExp(0.5)).toThrow('log1mExp expects x <= 0, got 0.5');
  });

  it('logExpm1 is accurate for tiny and huge x', () => {
    expect(relativeError(logExpm1(1e-20), Math.log(1e-20))).toBeLessThan(1e-15);
    expect(logExpm1(1000)).toBe(1000);
    expect(() => logExpm1(0)).toThrow('logExpm1 expects x > 0, got 0');
  });
});
