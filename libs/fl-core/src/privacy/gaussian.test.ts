import { chacha20 } from '@noble/ciphers/chacha.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RandomBytes } from '../random/index';
import { addGaussianNoise, gaussianNoise } from './gaussian';
import { normalCdf } from './special';

/**
 * A reproducible byte source for tests only: the ChaCha20 keystream under a key derived from the
 * seed, a fresh nonce per call. Production noise always uses secureRandomBytes.
 */
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

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gaussianNoise statistics', () => {
  // n = 2^21 draws. Every bound below is 6 standard errors of the statistic for a truly N(0, 1)
  // sample, so a correct sampler fails each check with probability about 2e−9; the seed is fixed,
  // so in practice the outcome is deterministic.
  const n = 2 ** 21;
  const sample = gaussianNoise(n, 1, seededRandomBytes(1));

  it('has mean 0 and variance 1 within 6 standard errors', () => {
    let sum = 0;
    let sumSquares = 0;
    for (const x of sample) {
      sum += x;
      sumSquares += x * x;
    }
    // SE(mean) = 1/√n; SE(mean of Z²) = √(Var Z²/n) = √(2/n).
    expect(Math.abs(sum / n)).toBeLessThan(6 / Math.sqrt(n));
    expect(Math.abs(sumSquares / n - 1)).toBeLessThan(6 * Math.sqrt(2 / n));
  });

  it('has third and fourth moments 0 and 3 within 6 standard errors', () => {
    let third = 0;
    let fourth = 0;
    for (const x of sample) {
      third += x * x * x;
      fourth += x * x * x * x;
    }
    // Var Z³ = E Z⁶ = 15; Var Z⁴ = E Z⁸ − (E Z⁴)² = 105 − 9 = 96.
    expect(Math.abs(third / n)).toBeLessThan(6 * Math.sqrt(15 / n));
    expect(Math.abs(fourth / n - 3)).toBeLessThan(6 * Math.sqrt(96 / n));
  });

  it('puts the normal mass within 1, 2 and 3 standard deviations', () => {
    for (const k of [1, 2, 3]) {
      let inside = 0;
      for (const x of sample) if (Math.abs(x) < k) inside++;
      const p = normalCdf(k) - normalCdf(-k); // 0.6827, 0.9545, 0.9973
      // A binomial proportion: SE = √(p(1 − p)/n).
      expect(Math.abs(inside / n - p)).toBeLessThan(6 * Math.sqrt((p * (1 - p)) / n));
    }
  });

  it('passes a Kolmogorov–Smirnov test against Φ', () => {
    const sorted = Float64Array.from(sample).sort();
    let d = 0;
    sorted.forEach((x, i) => {
      const cdf = normalCdf(x);
      d = Math.max(d, Math.abs(cdf - i / n), Math.abs((i + 1) / n - cdf));
    });
    // Kolmogorov: P(√n·D > t) ≈ 2e^(−2t²); t = 3.25 gives 1.4e−9, matching the 6-sigma checks.
    expect(Math.sqrt(n) * d).toBeLessThan(3.25);
  });

  it('never exceeds the ~11.95σ bound implied by the 2^−52 grid', () => {
    let max = 0;
    for (const x of sample) max = Math.max(max, Math.abs(x));
    expect(max).toBeLessThan(Math.sqrt(2 * 103 * Math.LN2));
    expect(max).toBeGreaterThan(4); // 2M draws do reach past 4σ (expected count ≈ 133)
  });
});

describe('gaussianNoise', () => {
  it('maps mirrored random draws to exactly negated values, both coordinates of a polar pair', () => {
    // The uniform grid 2d − 3 + 2^−52 is symmetric about 0, so d and 3 − d − 2^−52 give u and −u:
    // a one-ulp asymmetry in either coordinate would bias the noise's mean.
    const ulp = 2 ** -52;
    const draws = [1.25, 1.75, 1.75 - ulp, 1.25 - ulp, 1.375, 1.125, 1.625 - ulp, 1.875 - ulp];
    const mirrored: RandomBytes = (bytes) => {
      const doubles = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
      doubles.fill(1.5);
      doubles.set(draws);
      return bytes;
    };
    const out = gaussianNoise(8, 1, mirrored);
    expect(out.every(Number.isFinite)).toBe(true);
    for (const [a, b] of [
      [0, 2],
      [1, 3],
      [4, 6],
      [5, 7],
    ] as const) {
      expect(out[b]).toBe(-(out[a] as number));
      expect(out[a]).not.toBe(0);
    }
  });

  it('scales by stdDev', () => {
    const n = 2 ** 18;
    const stdDev = 3.5;
    const noise = gaussianNoise(n, stdDev, seededRandomBytes(2));
    let sumSquares = 0;
    for (const x of noise) sumSquares += x * x;
    expect(Math.abs(Math.sqrt(sumSquares / n) / stdDev - 1)).toBeLessThan(6 * Math.sqrt(1 / (2 * n)));
  });

  it('is reproducible with an injected source and differs across seeds', () => {
    const a = gaussianNoise(1001, 1, seededRandomBytes(7));
    const b = gaussianNoise(1001, 1, seededRandomBytes(7));
    const c = gaussianNoise(1001, 1, seededRandomBytes(8));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).toHaveLength(1001);
  });

  it('draws its bytes from crypto.getRandomValues by default, never Math.random', () => {
    const getRandomValues = vi.spyOn(crypto, 'getRandomValues');
    vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random must not be used for noise');
    });
    const noise = gaussianNoise(10_000, 1);
    expect(getRandomValues).toHaveBeenCalled();
    expect(noise.every((x) => Number.isFinite(x))).toBe(true);
  });

  it('draws random bytes in 64 KiB blocks for long vectors', () => {
    const sizes: number[] = [];
    const source = seededRandomBytes(3);
    gaussianNoise(200_000, 1, (out) => {
      sizes.push(out.length);
      return source(out);
    });
    expect(new Set(sizes)).toEqual(new Set([65_536]));
    // ≈ 10.2 bytes per value: 16 bytes per attempt, π/4 accepted, 2 values per acceptance.
    expect(sizes.length).toBeLessThan(Math.ceil((200_000 * 11) / 65_536) + 1);
  });

  it('asks for few bytes when few values are wanted', () => {
    const sizes: number[] = [];
    const source = seededRandomBytes(4);
    gaussianNoise(1, 1, (out) => {
      sizes.push(out.length);
      return source(out);
    });
    expect(Math.max(...sizes)).toBeLessThanOrEqual(128);
  });

  it('returns zeros without drawing when stdDev or length is 0', () => {
    const source = vi.fn<RandomBytes>((out) => out);
    expect(gaussianNoise(5, 0, source)).toEqual(new Float64Array(5));
    expect(gaussianNoise(0, 1, source)).toEqual(new Float64Array(0));
    expect(source).not.toHaveBeenCalled();
  });

  it('rejects bad arguments with the name, the expectation and the value', () => {
    expect(() => gaussianNoise(10, -1)).toThrow('gaussianNoise: stdDev must be a finite number >= 0, got -1');
    expect(() => gaussianNoise(10, Number.NaN)).toThrow('stdDev must be a finite number >= 0, got NaN');
    expect(() => gaussianNoise(10, Infinity)).toThrow('got Infinity');
    expect(() => gaussianNoise(2.5, 1)).toThrow('gaussianNoise: length must be an integer >= 0, got 2.5');
    expect(() => gaussianNoise(-1, 1)).toThrow('length must be an integer >= 0, got -1');
  });
});

describe('addGaussianNoise', () => {
  it('adds noise in place to a Float32Array and returns it', () => {
    const n = 2 ** 18;
    const target = new Float32Array(n).fill(5);
    const returned = addGaussianNoise(target, 0.25, seededRandomBytes(5));
    expect(returned).toBe(target);
    let sum = 0;
    let sumSquares = 0;
    for (const x of target) {
      sum += x - 5;
      sumSquares += (x - 5) ** 2;
    }
    expect(Math.abs(sum / n)).toBeLessThan((6 * 0.25) / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(sumSquares / n) / 0.25 - 1)).toBeLessThan(6 * Math.sqrt(1 / (2 * n)));
  });

  it('matches gaussianNoise for the same bytes on a Float64Array', () => {
    const target = new Float64Array(20_001).fill(1);
    addGaussianNoise(target, 2, seededRandomBytes(6));
    const noise = gaussianNoise(20_001, 2, seededRandomBytes(6));
    expect(target.every((x, i) => Math.abs(x - 1 - (noise[i] as number)) < 1e-12)).toBe(true);
  });

  it('leaves the target alone when stdDev is 0', () => {
    const target = Float32Array.of(1, 2, 3);
    addGaussianNoise(target, 0);
    expect(target).toEqual(Float32Array.of(1, 2, 3));
  });

  it('draws no randomness and changes nothing, not even the sign of a zero, when stdDev is 0', () => {
    const source = vi.fn<RandomBytes>(() => {
      throw new Error('no randomness may be drawn');
    });
    const target = Float64Array.of(-0, 1.5, -2);
    expect(addGaussianNoise(target, 0, source)).toBe(target);
    expect(Object.is(target[0], -0)).toBe(true);
    expect(Array.from(target)).toEqual([-0, 1.5, -2]);
    expect(addGaussianNoise(new Float32Array(0), 1, source)).toHaveLength(0);
    expect(source).not.toHaveBeenCalled();
  });

  it('rejects a target that is not a float array', () => {
    expect(() => addGaussianNoise([1, 2] as unknown as Float32Array, 1)).toThrow('addGaussianNoise: target must be a Float32Array or Float64Array');
    expect(() => addGaussianNoise(new Float32Array(2), -0.5)).toThrow('addGaussianNoise: stdDev must be a finite number >= 0, got -0.5');
  });
});
