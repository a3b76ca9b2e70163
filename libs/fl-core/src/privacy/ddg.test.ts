import { describe, expect, it } from 'vitest';
import { addModInto } from '../encode/fixed-point';
import {
  conditionalRandomizedRounding,
  ddgChooseScale,
  ddgDecodeSum,
  ddgEncodeUpdate,
  ddgMinModulusBits,
  ddgParams,
  ddgWrapLogProbabilityBound,
  hadamardDimension,
  inverseRandomizedHadamard,
  MAX_ROUNDING_ATTEMPTS,
  randomizedHadamard,
  roundedL2NormBound,
} from './ddg';
import { keystreamRandomBytes } from './test-random';

const seedA = new Uint8Array(32).fill(1);
const seedB = new Uint8Array(32).fill(2);

/** A reproducible Gaussian-ish update from the keystream (tests only). */
function testUpdate(length: number, seed: number, norm: number): Float32Array {
  const bytes = keystreamRandomBytes(seed)(new Uint8Array(4 * length));
  const words = new Uint32Array(bytes.buffer);
  const update = Float32Array.from(words, (w) => w / 2 ** 32 - 0.5);
  const current = Math.hypot(...update);
  return update.map((x) => (x * norm) / current);
}

describe('exact edges, closed forms and messages', () => {
  const seed = new Uint8Array(32).fill(7);

  it('names the function and the field in every refusal', () => {
    expect(() => hadamardDimension(0)).toThrow('hadamardDimension: n must be an integer >= 1, got 0');
    expect(() => roundedL2NormBound(0, 4, 0.5)).toThrow('roundedL2NormBound: norm must be a finite number > 0, got 0');
    expect(() => roundedL2NormBound(1, 0, 0.5)).toThrow('roundedL2NormBound: dimension must be an integer >= 1, got 0');
    expect(() => roundedL2NormBound(1, 4, -0.1)).toThrow('roundedL2NormBound: beta must be in [0, 1), got -0.1');
    expect(() => roundedL2NormBound(1, 4, Number.NaN)).toThrow('roundedL2NormBound: beta must be in [0, 1), got NaN');
    expect(() => roundedL2NormBound(1, 4, '0.5' as unknown as number)).toThrow('roundedL2NormBound: beta must be in [0, 1), got 0.5');
    expect(() => randomizedHadamard(new Float64Array(0), seed)).toThrow(
      'randomizedHadamard: values must be a Float64Array whose length is a power of two, got length 0',
    );
    expect(() => randomizedHadamard(new Float32Array(8) as unknown as Float64Array, seed)).toThrow('randomizedHadamard: values must be a Float64Array');
    expect(() => inverseRandomizedHadamard(new Float64Array(3), seed)).toThrow('inverseRandomizedHadamard: values must be a Float64Array whose length');
    expect(() => conditionalRandomizedRounding([1] as unknown as Float64Array, 1)).toThrow(
      new TypeError('conditionalRandomizedRounding: values must be a Float64Array, got object'),
    );
    expect(() => conditionalRandomizedRounding(new Float64Array(1), 0)).toThrow('conditionalRandomizedRounding: normBound must be a finite number > 0, got 0');
    const params = ddgParams({ dimension: 4, clipNorm: 1, scale: 10, localNoiseStdDev: 1 });
    expect(() => ddgEncodeUpdate(new Float32Array(3), params, seed)).toThrow('ddgEncodeUpdate: update must be a Float32Array of length 4, got length 3');
    expect(() => ddgEncodeUpdate(new Float32Array(4), params, new Uint8Array(31))).toThrow(
      'ddgEncodeUpdate: rotationSeed must be a 32-byte Uint8Array, got 31 bytes',
    );
    expect(() => ddgEncodeUpdate(new Float32Array(4), params, 'seed' as unknown as Uint8Array)).toThrow(
      'ddgEncodeUpdate: rotationSeed must be a 32-byte Uint8Array, got string',
    );
    expect(() => ddgDecodeSum(new Uint32Array(3), params, seed)).toThrow('ddgDecodeSum: sum must be a Uint32Array of length 4, got length 3');
  });

  it('ddgParams accepts β anywhere in [0, 1) and (σ·scale)² at both ends of [1, 2^60]', () => {
    expect(ddgParams({ dimension: 4, clipNorm: 1, scale: 10, localNoiseStdDev: 1, beta: 0.5 }).beta).toBe(0.5);
    expect(ddgParams({ dimension: 4, clipNorm: 1, scale: 10, localNoiseStdDev: 1, beta: 0 }).roundedNormBound).toBe(12);
    expect(() => ddgParams({ dimension: 4, clipNorm: 1, scale: 10, localNoiseStdDev: 1, beta: -0.1 })).toThrow(/^ddgParams: .*beta/s);
    expect(ddgParams({ dimension: 4, clipNorm: 1, scale: 4, localNoiseStdDev: 0.25 }).noiseVariance).toBe(1);
    expect(ddgParams({ dimension: 4, clipNorm: 1, scale: 2 ** 30, localNoiseStdDev: 1 }).noiseVariance).toBe(2 ** 60);
    expect(() => ddgParams({ dimension: 4, clipNorm: 1, scale: 2 ** 31, localNoiseStdDev: 1 })).toThrow(
      `ddgParams: (localNoiseStdDev·scale)² must be in [1, 2^60], got ${2 ** 62}`,
    );
  });

  it('conditional rounding refuses a vector one ulp above the bound (its check is conservative) and retries exactly 1000 times', () => {
    // Integers round to themselves whatever the uniforms, so ‖[3, 4]‖ = 5 on every attempt.
    let calls = 0;
    const counting = (out: Uint8Array) => {
      calls++;
      return keystreamRandomBytes(31)(out);
    };
    const justBelow = 5 * (1 - 2 ** -52);
    expect(() => conditionalRandomizedRounding(Float64Array.of(3, 4), justBelow, counting)).toThrow(
      `conditionalRandomizedRounding: no rounding within L2 norm ${justBelow} after ${MAX_ROUNDING_ATTEMPTS} attempts; ` +
        'expected the input norm to be at most the norm the bound was computed for, got 5',
    );
    expect(calls).toBe(MAX_ROUNDING_ATTEMPTS);
    const inside = conditionalRandomizedRounding(Float64Array.of(3, 4), 5 * (1 + 2 ** -40), keystreamRandomBytes(32));
    expect(Array.from(inside.rounded)).toEqual([3, 4]);
    expect(inside.attempts).toBe(1);
  });

  it('decodes the word 2^(k−1) as −2^(k−1)', () => {
    const params = ddgParams({ dimension: 8, clipNorm: 1, scale: 10, localNoiseStdDev: 1, modulusBits: 12 });
    const one = new Uint32Array(8);
    one[3] = 1;
    const half = new Uint32Array(8);
    half[3] = 2 ** 11;
    const below = new Uint32Array(8);
    below[3] = 2 ** 11 - 1;
    const a = ddgDecodeSum(one, params, seed);
    const b = ddgDecodeSum(half, params, seed);
    const c = ddgDecodeSum(below, params, seed);
    a.forEach((v, i) => {
      expect(b[i]).toBeCloseTo(-(2 ** 11) * v, 3);
      expect(c[i]).toBeCloseTo((2 ** 11 - 1) * v, 3);
    });
    expect(Math.abs(a[0] as number)).toBeGreaterThan(0.01);
  });

  describe('ddgWrapLogProbabilityBound: log(2d) − (2^(k−1) − b)²/(2V), V = (S·scale)²/d + n/4 + n·σ²scale², b = n·min(1, β/(1 − β))', () => {
    // d = 1024 after padding, scale 50, σ·scale = 5 (variance 25), n = 4, k = 16.
    const input = { dimension: 1000, clipNorm: 2, scale: 50, localNoiseStdDev: 0.1, modulusBits: 16 };
    const expected = (sumNorm: number, bias: number) => {
      const variance = (sumNorm * 50) ** 2 / 1024 + 4 / 4 + 4 * 25;
      const margin = 2 ** 15 - bias;
      return Math.log(2 * 1024) - (margin * margin) / (2 * variance);
    };

    it('with the default S = n·C and β = 0.1 (b = 4/9), β = 0.9 (b = 4), or a given S', () => {
      const at = (beta: number, sumNorm?: number) =>
        ddgWrapLogProbabilityBound({ params: ddgParams({ ...input, beta }), clients: 4, ...(sumNorm === undefined ? {} : { sumNorm }) });
      expect(at(0.1) / expected(8, 4 / 9) - 1).toBeCloseTo(0, 12);
      expect(at(0.9) / expected(8, 4) - 1).toBeCloseTo(0, 12);
      expect(at(0.1, 3) / expected(3, 4 / 9) - 1).toBeCloseTo(0, 12);
    });

    it('is 0 (no bound) when the rounding bias alone fills half the range', () => {
      // k = 2: 2^(k−1) = 2 < b = 1000·1.
      const params = ddgParams({ ...input, modulusBits: 2, beta: 0.9, scale: 0.5, localNoiseStdDev: 2 });
      expect(ddgWrapLogProbabilityBound({ params, clients: 1000, sumNorm: 1e-6 })).toBe(0);
    });

    it('names the function and field', () => {
      const params = ddgParams(input);
      expect(() => ddgWrapLogProbabilityBound({ params, clients: 0 })).toThrow('ddgWrapLogProbabilityBound: clients must be an integer >= 1, got 0');
      expect(() => ddgWrapLogProbabilityBound({ params, clients: 2, sumNorm: -1 })).toThrow(
        'ddgWrapLogProbabilityBound: sumNorm must be a finite number > 0, got -1',
      );
    });
  });

  describe('ddgChooseScale: √((m²/(2 ln(2d/p)) − n/4) / (S²/d + nσ²)), m = 2^(k−1) − b', () => {
    const options = { dimension: 1000, clipNorm: 2, localNoiseStdDev: 0.01, clients: 10, modulusBits: 16, beta: 0.1, wrapProbability: 1e-9 };
    const expected = (sumNorm: number) => {
      const margin = 2 ** 15 - 10 / 9;
      const room = (margin * margin) / (2 * Math.log(2048 / 1e-9)) - 10 / 4;
      return Math.sqrt(room / ((sumNorm * sumNorm) / 1024 + 10 * 0.01 ** 2));
    };

    it('with the default S = n·C and with a given S', () => {
      expect(ddgChooseScale(options) / expected(20) - 1).toBeCloseTo(0, 12);
      expect(ddgChooseScale({ ...options, sumNorm: 5 }) / expected(5) - 1).toBeCloseTo(0, 12);
    });

    it('names the function and field', () => {
      expect(() => ddgChooseScale({ ...options, dimension: 0 })).toThrow('ddgChooseScale: dimension must be an integer >= 1, got 0');
      expect(() => ddgChooseScale({ ...options, clipNorm: 0 })).toThrow('ddgChooseScale: clipNorm must be a finite number > 0, got 0');
      expect(() => ddgChooseScale({ ...options, localNoiseStdDev: 0 })).toThrow('ddgChooseScale: localNoiseStdDev must be a finite number > 0, got 0');
      expect(() => ddgChooseScale({ ...options, clients: 0 })).toThrow('ddgChooseScale: clients must be an integer >= 1, got 0');
      expect(() => ddgChooseScale({ ...options, wrapProbability: 1 })).toThrow('ddgChooseScale: wrapProbability must be in (0, 1), got 1');
      expect(() => ddgChooseScale({ ...options, sumNorm: 0 })).toThrow('ddgChooseScale: sumNorm must be a finite number > 0, got 0');
      expect(() => ddgChooseScale({ ...options, clients: 40_000, modulusBits: 8 })).toThrow(
        'ddgChooseScale: 40000 clients cannot share Z_(2^8) at wrap probability 1e-9; raise modulusBits or lower clients',
      );
    });
  });

  describe('ddgMinModulusBits', () => {
    const base = { dimension: 4000, clipNorm: 1, localNoiseStdDev: 0.01 };

    it('returns 32 when only 32 bits suffice, and uses a given S', () => {
      const scale32 = ddgChooseScale({ ...base, clients: 20, modulusBits: 32, wrapProbability: 1e-9 });
      expect(ddgMinModulusBits({ params: { ...base, scale: 0.99 * scale32 }, clients: 20 })).toBe(32);
      // √20·C instead of 20·C: updates known to be near orthogonal need fewer bits.
      const aligned = ddgMinModulusBits({ params: { ...base, scale: 300 }, clients: 20 });
      const orthogonal = ddgMinModulusBits({ params: { ...base, scale: 300 }, clients: 20, sumNorm: Math.sqrt(20) });
      expect(orthogonal).toBeLessThan(aligned);
      expect(
        ddgWrapLogProbabilityBound({ params: ddgParams({ ...base, scale: 300, modulusBits: orthogonal }), clients: 20, sumNorm: Math.sqrt(20) }),
      ).toBeLessThanOrEqual(Math.log(1e-9));
    });

    it('names the function and says when even 32 bits wrap', () => {
      expect(() => ddgMinModulusBits({ params: { ...base, scale: 300 }, clients: 20, wrapProbability: 0 })).toThrow(
        'ddgMinModulusBits: wrapProbability must be in (0, 1), got 0',
      );
      const scale32 = ddgChooseScale({ ...base, clients: 20, modulusBits: 32, wrapProbability: 1e-9 });
      expect(() => ddgMinModulusBits({ params: { ...base, scale: 1.01 * scale32 }, clients: 20 })).toThrow(
        'ddgMinModulusBits: even 32 bits wrap with probability above 1e-9; lower the scale',
      );
    });
  });
});

describe('randomized Hadamard rotation', () => {
  it('is undone by its inverse and preserves the L2 norm', () => {
    const x = Float64Array.from({ length: 1024 }, (_, i) => Math.sin(i) * (i % 7));
    const y = randomizedHadamard(x.slice(), seedA);
    expect(Math.hypot(...y)).toBeCloseTo(Math.hypot(...x), 9);
    const back = inverseRandomizedHadamard(y.slice(), seedA);
    back.forEach((v, i) => expect(v).toBeCloseTo(x[i] as number, 10));
    // A different seed is a different rotation, and does not invert this one.
    expect(Array.from(randomizedHadamard(x.slice(), seedB))).not.toEqual(Array.from(y));
    expect(Math.max(...inverseRandomizedHadamard(y.slice(), seedB).map((v, i) => Math.abs(v - (x[i] as number))))).toBeGreaterThan(0.1);
  });

  it('flattens a spike: e₁·√d becomes ±1 in every coordinate', () => {
    const d = 4096;
    const spike = new Float64Array(d);
    spike[17] = Math.sqrt(d);
    const y = randomizedHadamard(spike, seedA);
    y.forEach((v) => expect(Math.abs(v)).toBeCloseTo(1, 12));
    // Both signs appear in about equal numbers (the signs are H's row times a random sign).
    const positive = y.filter((v) => v > 0).length;
    expect(Math.abs(positive - d / 2)).toBeLessThan(6 * Math.sqrt(d / 4));
  });

  it('pads to a power of two and rejects other lengths and seeds', () => {
    expect([1, 2, 3, 1000, 1024, 1_300_000].map(hadamardDimension)).toEqual([1, 2, 4, 1024, 1024, 2 ** 21]);
    expect(() => randomizedHadamard(new Float64Array(1000), seedA)).toThrow(/length is a power of two, got length 1000/);
    expect(() => randomizedHadamard(new Float64Array(8), new Uint8Array(16))).toThrow(/seed must be a 32-byte Uint8Array, got 16 bytes/);
  });
});

describe('roundedL2NormBound', () => {
  it('matches the paper’s formula (values from the Python reference in ddg-accountant.test.ts)', () => {
    // min{ c + √d, √(c² + d/4 + √(2 ln(1/β))(c + √d/2)) }
    expect(roundedL2NormBound(1000, 65536, Math.exp(-0.5))).toBeCloseTo(1008.7179982532283, 9);
    expect(roundedL2NormBound(10, 1024, Math.exp(-0.5))).toBeCloseTo(19.544820285692065, 12);
    expect(roundedL2NormBound(10, 1024, 0)).toBe(42);
    // Smaller β (stricter conditioning is rarer failure) gives a larger bound.
    expect(roundedL2NormBound(10, 1024, 1e-9)).toBeGreaterThan(roundedL2NormBound(10, 1024, 0.5));
    expect(() => roundedL2NormBound(10, 1024, 1)).toThrow(/beta must be in \[0, 1\), got 1/);
  });
});

describe('conditionalRandomizedRounding', () => {
  it('never returns a vector above the bound, retrying as often as needed', () => {
    // All coordinates 1/2: unconditional rounding gives ‖z‖² ~ Bin(1024, 1/2), above 512 half the
    // time. With the bound √512 about half the attempts are rejected; none may get through.
    const x = new Float64Array(1024).fill(0.5);
    const random = keystreamRandomBytes(21);
    let retried = 0;
    for (let trial = 0; trial < 300; trial++) {
      const { rounded, attempts } = conditionalRandomizedRounding(x, Math.sqrt(512), random);
      const squares = rounded.reduce((acc, z) => acc + z * z, 0);
      expect(squares).toBeLessThanOrEqual(512);
      expect(rounded.every((z) => z === 0 || z === 1)).toBe(true);
      if (attempts > 1) retried++;
    }
    expect(retried).toBeGreaterThan(100);
  });

  it('is close to unbiased at the paper’s bound and β', () => {
    // E[z | accepted] − x is at most β/(1 − β)·P-weighted; at Δ₂ for β = e^−½ rejections are rare
    // and the per-coordinate mean of 4,000 roundings must be within 6 standard errors (1/(2√N)).
    const d = 256;
    const x = Float64Array.from({ length: d }, (_, i) => ((i * 37) % 101) / 10 - 5);
    const bound = roundedL2NormBound(Math.hypot(...x), d, Math.exp(-0.5));
    const random = keystreamRandomBytes(22);
    const trials = 4_000;
    const mean = new Float64Array(d);
    for (let t = 0; t < trials; t++) {
      conditionalRandomizedRounding(x, bound, random).rounded.forEach((z, i) => (mean[i] = (mean[i] as number) + z / trials));
    }
    mean.forEach((m, i) => expect(Math.abs(m - (x[i] as number))).toBeLessThan(6 / (2 * Math.sqrt(trials))));
  });

  it('gives up with an error when the bound cannot be met', () => {
    // Coordinates 1.5 round to 1 or 2, so ‖z‖ ≥ 2 in four dimensions.
    expect(() => conditionalRandomizedRounding(new Float64Array(4).fill(1.5), 1.9, keystreamRandomBytes(23))).toThrow(
      new RegExp(`after ${MAX_ROUNDING_ATTEMPTS} attempts`),
    );
  });
});

describe('ddgParams', () => {
  it('derives the padded dimension, noise variance and Δ₂', () => {
    const params = ddgParams({ dimension: 1000, clipNorm: 1, scale: 10, localNoiseStdDev: 0.1 });
    expect(params).toMatchObject({ paddedDimension: 1024, modulusBits: 32, beta: Math.exp(-0.5) });
    expect(params.noiseVariance).toBeCloseTo(1, 12);
    expect(params.roundedNormBound).toBeCloseTo(19.544820285692065, 12);
    expect(Object.isFrozen(params)).toBe(true);
  });

  it('refuses noise below one integer unit and β outside [0, 1)', () => {
    expect(() => ddgParams({ dimension: 10, clipNorm: 1, scale: 10, localNoiseStdDev: 0.05 })).toThrow(/must be in \[1, 2\^60\], got 0.25/);
    expect(() => ddgParams({ dimension: 10, clipNorm: 1, scale: 1000, localNoiseStdDev: 1, modulusBits: 33 })).toThrow(/modulusBits/);
    expect(() => ddgParams({ dimension: 10, clipNorm: 1, scale: 10, localNoiseStdDev: 1, beta: 1 })).toThrow(/beta/);
  });
});

describe('ddgEncodeUpdate / ddgDecodeSum', () => {
  it('recovers the sum of the clipped updates, with the error the noise and rounding predict', () => {
    const n = 8;
    const params = ddgParams({ dimension: 3000, clipNorm: 1, scale: 2000, localNoiseStdDev: 0.002, modulusBits: 24 });
    const updates = Array.from({ length: n }, (_, i) => testUpdate(3000, 100 + i, i === 0 ? 5 : 0.8));
    const sum = new Uint32Array(params.paddedDimension);
    let clippedSeen = 0;
    updates.forEach((update, i) => {
      const encoded = ddgEncodeUpdate(update, params, seedA, keystreamRandomBytes(200 + i));
      expect(encoded.words.length).toBe(4096);
      if (encoded.wasClipped) clippedSeen++;
      addModInto(sum, encoded.words, params.modulusBits);
    });
    expect(clippedSeen).toBe(1);
    const decoded = ddgDecodeSum(sum, params, seedA);
    expect(decoded.length).toBe(3000);
    // Error per coordinate: n discrete Gaussians (variance n·σ²) plus n roundings (variance ≤ n/4
    // integer units), rotated back (orthogonal, so the per-coordinate variance is the average).
    const expectedSum = new Float64Array(3000);
    updates.forEach((u, i) => {
      const scale = i === 0 ? 1 / 5 : 1;
      u.forEach((v, j) => (expectedSum[j] = (expectedSum[j] as number) + v * scale));
    });
    let squares = 0;
    let total = 0;
    decoded.forEach((v, j) => {
      const e = v - (expectedSum[j] as number);
      squares += e * e;
      total += e;
    });
    const variance = squares / 3000;
    const noiseVariance = n * 0.002 ** 2;
    const roundingVariance = n / 4 / 2000 ** 2;
    expect(variance).toBeGreaterThan(0.85 * noiseVariance);
    expect(variance).toBeLessThan(1.15 * (noiseVariance + roundingVariance));
    expect(Math.abs(total / 3000)).toBeLessThan(6 * Math.sqrt((noiseVariance + roundingVariance) / 3000));
  });

  it('decodes to garbage under the wrong rotation seed', () => {
    const params = ddgParams({ dimension: 500, clipNorm: 1, scale: 1000, localNoiseStdDev: 0.001, modulusBits: 20 });
    const update = testUpdate(500, 5, 1);
    const { words } = ddgEncodeUpdate(update, params, seedA, keystreamRandomBytes(6));
    const right = ddgDecodeSum(words, params, seedA);
    const wrong = ddgDecodeSum(words, params, seedB);
    const error = (v: Float32Array) => Math.hypot(...v.map((x, i) => x - (update[i] as number)));
    expect(error(right)).toBeLessThan(0.1);
    expect(error(wrong)).toBeGreaterThan(1);
  });

  it('rejects inputs of the wrong shape', () => {
    const params = ddgParams({ dimension: 500, clipNorm: 1, scale: 1000, localNoiseStdDev: 0.001, modulusBits: 20 });
    expect(() => ddgEncodeUpdate(new Float32Array(499), params, seedA)).toThrow(/length 500, got length 499/);
    expect(() => ddgEncodeUpdate(new Float32Array(500), params, new Uint8Array(31))).toThrow(/rotationSeed must be a 32-byte/);
    expect(() => ddgDecodeSum(new Uint32Array(500), params, seedA)).toThrow(/length 512, got length 500/);
    expect(() => ddgDecodeSum(new Uint32Array(512).fill(2 ** 20), params, seedA)).toThrow(/expected < 2\^20/);
  });
});

describe('modular wrap bound and parameter choice', () => {
  const base = { dimension: 4000, clipNorm: 1, localNoiseStdDev: 0.01 };
  const clients = 20;

  it('ddgChooseScale puts the wrap bound exactly at the target, and the bound is monotone', () => {
    for (const modulusBits of [12, 16, 20]) {
      const scale = ddgChooseScale({ ...base, clients, modulusBits, wrapProbability: 1e-6 });
      const at = (s: number, bits = modulusBits) => ddgWrapLogProbabilityBound({ params: ddgParams({ ...base, scale: s, modulusBits: bits }), clients });
      expect(at(scale)).toBeCloseTo(Math.log(1e-6), 6);
      expect(at(scale * 1.01)).toBeGreaterThan(Math.log(1e-6));
      expect(at(scale, modulusBits + 1)).toBeLessThan(at(scale));
    }
    expect(() => ddgChooseScale({ ...base, clients: 4000, modulusBits: 8 })).toThrow(/cannot share Z_\(2\^8\)/);
  });

  it('ddgMinModulusBits returns the fewest bits that meet the target', () => {
    const params = { ...base, scale: 300 };
    const bits = ddgMinModulusBits({ params, clients, wrapProbability: 1e-9 });
    const bound = (k: number) => ddgWrapLogProbabilityBound({ params: ddgParams({ ...params, modulusBits: k }), clients });
    expect(bound(bits)).toBeLessThanOrEqual(Math.log(1e-9));
    expect(bound(bits - 1)).toBeGreaterThan(Math.log(1e-9));
  });

  it('at the chosen scale the decoded sum does not wrap; at 8× that scale it does', () => {
    // Clients send the same update (aligned, the worst case the default sumNorm = n·c covers).
    const modulusBits = 12;
    const update = testUpdate(base.dimension, 9, 1);
    const run = (scale: number) => {
      const params = ddgParams({ ...base, scale, modulusBits });
      const sum = new Uint32Array(params.paddedDimension);
      for (let i = 0; i < clients; i++) addModInto(sum, ddgEncodeUpdate(update, params, seedA, keystreamRandomBytes(300 + i)).words, modulusBits);
      const decoded = ddgDecodeSum(sum, params, seedA);
      return Math.max(...decoded.map((v, j) => Math.abs(v - clients * (update[j] as number))));
    };
    const scale = ddgChooseScale({ ...base, clients, modulusBits, wrapProbability: 1e-6 });
    // Without wrapping the error is noise + rounding: a few standard deviations of √n·(σ + 1/scale).
    expect(run(scale)).toBeLessThan(8 * Math.sqrt(clients) * (base.localNoiseStdDev + 1 / scale));
    expect(run(8 * scale)).toBeGreaterThan(1);
  });
});
