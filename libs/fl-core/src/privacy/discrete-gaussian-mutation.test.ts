/**
 * Fast, deterministic checks of the discrete Gaussian sampler for mutation testing (docs/testing.md):
 * exact draws for a fixed stream of random words, so a wrong step fails at once instead of after a
 * statistical test of 10^5 draws. The expected values come from an independent Python reference of
 * Canonne, Kamath & Steinke's Algorithms 1–3 that consumes the words in the order this file's
 * comment documents (Bernoulli(exp(−n/d)) by uniform integers below d·K, rejection on 32-bit words
 * or on 53-bit values w₁ >>> 11 · 2^32 + w₂, the Gaussian acceptance split into m ≥ γ trials
 * [U < γ/(m·K)]) and decides every trial in exact rational arithmetic (Python's Fraction, refining
 * U by 32 bits at a time); the fast-path counts replay the float margin test in IEEE doubles.
 * The statistical suite (discrete-gaussian.test.ts) checks the distribution itself.
 */
import { describe, expect, it } from 'vitest';
import type { RandomBytes } from '../random/index';
import { addDiscreteGaussianNoiseMod, discreteGaussianNoise, discreteGaussianPmf, DiscreteGaussianSampler } from './discrete-gaussian';

/** xorshift32 (Marsaglia 2003, shifts 13, 17, 5), one word after another across calls. */
function xorshiftBytes(seed: number): RandomBytes {
  let x = seed >>> 0;
  return (out) => {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.byteLength / 4);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      words[i] = x;
    }
    return out;
  };
}

/** A source that yields the given words first, then the xorshift32 stream. */
function scriptedBytes(first: readonly number[], seed = 1): RandomBytes {
  const rest = xorshiftBytes(seed);
  let used = false;
  return (out) => {
    rest(out);
    if (!used) new Uint32Array(out.buffer, out.byteOffset, out.byteLength / 4).set(first);
    used = true;
    return out;
  };
}

const SEED = 0x9e3779b9;

// σ² = 2: γ = (|y| − 1)²/4 is exactly 1 at y = ±3 and 4 at y = ±5, where m = ⌈γ̃ + margin⌉ = γ + 1;
// at σ² = 2 + 3·2^−32, γ̃ = 1 − 7e−10 and 4 − 2.1e−9 are within the margin 2^−30·(1 + γ̃) below an integer, so m is still 2 and 5.
// σ² = 1.5 − 2^−52: the mantissa 1.0111…1 ends in 51 ones (its exact fraction must keep them all);
// σ² = 2^60 − 2^30: t = 2^30, so Bernoulli(exp(−U/t)) asks for uniforms below t·4 = 2^32 exactly.
// σ² = 2^−20 last: a wrong γ on the exact path makes it slow (millions of trials), not wrong at once.
const GOLDEN: [variance: number, fastExact: number, exactTrials: number, draws: number[]][] = [
  [
    0.3,
    0,
    206,
    [
      -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 1, 1, -1, 0, 0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
      0, 0, -1, 0, -1, -1, 0, 0, 0, 0,
    ],
  ],
  [
    1,
    0,
    233,
    [
      0, 1, 0, 0, 1, -1, 0, 3, 0, 0, 2, 0, 1, 1, 0, -2, -1, 1, -1, 0, 0, -1, -1, 2, -1, 1, 0, 2, 2, 0, 0, -1, 0, 0, 1, -1, 0, 1, 1, 0, -2, 0, 1, -1, 0, 2, 1,
      -1, 1, 0, -1, 0, 0, -2, 0, 0, -2, 0, 0, 1,
    ],
  ],
  [
    2,
    0,
    140,
    [
      0, 1, 0, 0, 1, 1, 0, -2, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, -1, 3, -2, -1, -1, 0, 0, -1, -1, 0, 1, -1, -1, 0, 1, -1, 0, 2, 0, -1, 2, -2, 0, -1, 0, -3, -1, 1,
      0, 3, 0, 0, 0, -3, 1, 1, 0, 1, 1, -1, 1, 1,
    ],
  ],
  [
    2 + 3 * 2 ** -32,
    0,
    140,
    [
      0, 1, 0, 0, 1, 1, 0, -2, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, -1, 3, -2, -1, -1, 0, 0, -1, -1, 0, 1, -1, -1, 0, 1, -1, 0, 2, 0, -1, 2, -2, 0, -1, 0, -3, -1, 1,
      0, 3, 0, 0, 0, -3, 1, 1, 0, 1, 1, -1, 1, 1,
    ],
  ],
  [
    2.5,
    0,
    158,
    [
      0, 1, 0, 0, 1, -1, 0, -2, 2, 0, 2, 2, 0, -3, 1, 1, -3, 1, 0, -1, 1, 0, -2, 1, -1, 3, -1, 0, -1, 0, -1, -1, 0, 1, -1, 0, 2, 0, -1, 2, -2, 0, -1, 0, -3, 3,
      3, 3, 0, -2, 1, 0, 3, 1, -1, 1, -1, 1, 2, 0,
    ],
  ],
  [
    40,
    0,
    122,
    [
      -4, -6, 2, -7, -4, -5, -10, 3, 8, -2, -4, 0, 4, -1, 1, -4, 6, 8, 7, 12, 13, 2, -6, 5, -4, -1, -5, 1, 0, 11, 2, -6, -9, -8, -9, -2, -9, 0, -1, -12, 5, 12,
      5, -4, 8, 13, 5, -4, 1, 2, 5, 0, -4, -1, 0, -6, 7, 2, -8, 3,
    ],
  ],
  [
    1234.5,
    0,
    127,
    [
      -29, 8, -24, 13, -17, -44, 11, 58, -31, -4, 36, -42, 19, 7, 36, -37, 4, -41, 55, 18, 55, -16, -47, 24, 12, 0, 72, -32, 20, -22, -1, -16, 12, -24, -49,
      -20, 63, -20, 17, 14, 78, 2, -2, -21, 14, 6, 9, -32, -23, 67, -45, 41, 63, 14, -45, 16, -13, -24, 76, -17,
    ],
  ],
  [
    1e8,
    0,
    108,
    [
      -2911, -3908, 6298, -11077, -12368, -24696, -2925, -12671, 5440, 7571, 3841, -14049, -11297, 1615, 2772, 26962, 9401, -1662, 355, -1820, 10500, -7255,
      -839, -4542, -9845, -323, -1236, 14192, -2937, 11071, -597, 7281, -3241, -5103, 4218, -4092, -10543, -5767, -7605, 2720, -12068, 2922, -5023, 23240,
      -9173, 3263, -8904, 444, 9795, 7598, -2747, 7004, -3106, -5978, -1508, -5991, 10776, 4113, 10337, -3153,
    ],
  ],
  [
    2 ** 40 / 3,
    0,
    90,
    [
      -39457, 197954, -815160, -316786, -1971065, -297524, -327188, -883139, -75368, 24942, -651330, -669422, 549414, -1163798, 900346, 504230, 586286, 4209,
      147854, 318635, 433429, -237089, -284957, -188202, -518061, -423926, 75882, -65716, 318100, 334531, 229104, 287709, -49468, -92202, 837830, 182236,
      602257, 55820, -79930, -1445690, 880807, 35253, -848767, 230229, 437584, 55090, -210554, 56615, 224280, 303618, 395776, -127496, -126725, 317336, 1083873,
      36538, -28148, 1230712, 326997, 320960,
    ],
  ],
  [
    2 ** 60,
    0,
    111,
    [
      -286017048, -273667725, 1552926847, -511654604, -701977792, 852577410, 2471427788, 288404069, -2386749673, 1130362998, -2256435820, 1059949278,
      -1875302521, -121498081, -814101481, -1534119822, 140643285, 1069801852, -392276042, 1167993396, 96860558, 348337573, -1088423835, 87170021, -1063879144,
      767221608, -862462486, -521143383, -793487552, -536856436, 1510336101, 344968220, -1144844900, 1247967101, -1368236446, -770844207, 640764646,
      -1695891818, -1011018884, 2220808145, 63927039, -730238081, -740083347, 1342094224, 176048383, -1750571826, -855492316, 391057908, 158243265, -1660793540,
      -15858386, -551247602, -914570810, -1601247581, -200933866, -830062327, -532269297, 2221504319, 676260043, -462375087,
    ],
  ],
  [
    1.5 - 2 ** -52,
    0,
    182,
    [
      0, 1, 0, 0, 1, 1, 0, -2, 1, 1, 0, 0, 1, 1, 0, -2, 1, -1, 3, 0, -2, 0, 0, -1, -1, 0, 1, -1, -1, 0, 1, -1, 0, 2, 0, -1, 2, 2, -1, -1, -2, 0, 2, 0, 0, 0, 1,
      1, 1, -1, -3, 0, 1, -1, -1, 0, -2, 0, 0, 0,
    ],
  ],
  [
    2 ** 60 - 2 ** 30,
    0,
    113,
    [
      -286017049, 1841662163, -273667726, 325027039, -735058749, -2496085801, 856250875, -419241709, -308560396, -1534120527, -97630768, -877502072, 1192557684,
      515309837, -950765958, 1093792241, 319932051, 406080889, -751004346, 82663250, -1447941655, 372713777, 1643844212, -1254055006, -1001493141, -40584894,
      1167993397, -1516424833, 493061224, 348337574, -1088423834, -87170022, -1362455765, 971793161, -767221609, 1594885207, -793487554, -475393325, -218355315,
      -1064106580, 1700876834, -1144844900, -1310666400, -499271524, -184281015, -302973801, 601286795, -324094838, -1268638366, -330585347, 575523105,
      -932866941, -407609143, 994721399, 157929160, -606157604, 346473988, 1894981371, 1586446481, 201390693,
    ],
  ],
  [
    2 ** -20,
    0,
    233,
    [
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0,
    ],
  ],
];

const DRAWS_AT_40 = GOLDEN.find(([variance]) => variance === 40)?.[3];

describe('DiscreteGaussianSampler on a fixed word stream', () => {
  it.each(GOLDEN)(
    'σ² = %s: the first 60 draws match the exact reference (%s fast-path deferrals, %s exact trials)',
    (variance, fastExact, exactTrials, draws) => {
      const fast = new DiscreteGaussianSampler(variance, xorshiftBytes(SEED));
      expect(Array.from(fast.fill(new Float64Array(60)))).toEqual(draws);
      expect(fast.exactComparisons).toBe(fastExact);
      const exact = new DiscreteGaussianSampler(variance, xorshiftBytes(SEED), { alwaysExact: true });
      expect(Array.from(exact.fill(new Float64Array(60)))).toEqual(draws);
      expect(exact.exactComparisons).toBe(exactTrials);
      expect(exact.variance).toBe(variance);
    },
  );

  it('discreteGaussianNoise gives the same draws as the sampler, and none for length 0', () => {
    expect(Array.from(discreteGaussianNoise(60, 40, xorshiftBytes(SEED)))).toEqual(DRAWS_AT_40);
    expect(discreteGaussianNoise(0, 40, xorshiftBytes(SEED))).toHaveLength(0);
    const ints = new DiscreteGaussianSampler(40, xorshiftBytes(SEED)).fill(new Int32Array(60));
    expect(Array.from(ints)).toEqual(DRAWS_AT_40);
  });
});

describe('addDiscreteGaussianNoiseMod on a fixed word stream', () => {
  it('adds the reference draws modulo 2^8, wrapping below 0 and above 255', () => {
    const words = Uint32Array.from([0, 1, 255, 254, 128, 127, 3, 200, 0, 1, 255, 254, 128, 127, 3, 200, 0, 1, 255, 254, 128, 127, 3, 200]);
    const result = addDiscreteGaussianNoiseMod(words, 40, 8, xorshiftBytes(12345));
    expect(result).toBe(words);
    expect(Array.from(words)).toEqual([17, 7, 255, 9, 124, 136, 255, 206, 254, 254, 252, 254, 127, 131, 11, 206, 254, 11, 248, 248, 134, 129, 252, 193]);
  });

  it('works modulo 2^32 at σ² = 2^60 and modulo 2', () => {
    const wide = Uint32Array.from([0, 2 ** 32 - 1, 2 ** 31, 5]);
    expect(Array.from(addDiscreteGaussianNoiseMod(wide, 2 ** 60, 32, xorshiftBytes(777)))).toEqual([1279607834, 4247511583, 3283239710, 4069100390]);
    const bits = Uint32Array.from([0, 1, 0, 1, 1, 0]);
    expect(Array.from(addDiscreteGaussianNoiseMod(bits, 1e8, 1, xorshiftBytes(4242)))).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it('refuses modulus bits outside [1, 32] or not an integer, and a variance outside [2^-20, 2^60]', () => {
    for (const bits of [0, 33, 1.5, Number.NaN]) {
      expect(() => addDiscreteGaussianNoiseMod(new Uint32Array(1), 1, bits)).toThrow(
        `addDiscreteGaussianNoiseMod: modulusBits must be an integer in [1, 32], got ${String(bits)}`,
      );
    }
    expect(() => addDiscreteGaussianNoiseMod(new Float64Array(1) as unknown as Uint32Array, 1, 8)).toThrow(
      'addDiscreteGaussianNoiseMod: words must be a Uint32Array, got object',
    );
    expect(addDiscreteGaussianNoiseMod(new Uint32Array(1), 2 ** -20, 1, xorshiftBytes(SEED))).toEqual(Uint32Array.of(0));
    expect(addDiscreteGaussianNoiseMod(new Uint32Array(1), 2 ** 60, 32, xorshiftBytes(SEED))).toHaveLength(1);
    for (const variance of [2 ** -20 * (1 - 2 ** -53), 2 ** 60 * (1 + 2 ** -52), Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(() => new DiscreteGaussianSampler(variance)).toThrow(
        `DiscreteGaussianSampler: variance must be a number in [2^-20, 2^60], got ${String(variance)}`,
      );
      expect(() => discreteGaussianPmf(0, variance)).toThrow(`discreteGaussianPmf: variance must be a number in [2^-20, 2^60], got ${String(variance)}`);
    }
    expect(() => new DiscreteGaussianSampler('1' as unknown as number)).toThrow('DiscreteGaussianSampler: variance must be a number in [2^-20, 2^60], got 1');
  });
});

describe('discreteGaussianPmf', () => {
  it.each([
    [0, 1, 0.3989422782668617],
    [3, 2.5, 0.04170710007256602],
    [-2, 0.3, 0.0009219999195020813],
    [0, 1e4, 0.003989422804022719],
    [150, 1e4, 0.001295175956661642],
    [0, 2 ** -20, 1],
  ])('P[Y = %s] at σ² = %s is %s (mpmath, normaliser summed over all integers)', (y, variance, expected) => {
    // The normaliser is a float64 sum of up to 8,000 terms: a relative rounding error of ~1e−12.
    expect(Math.abs(discreteGaussianPmf(y, variance) / expected - 1)).toBeLessThan(1e-10);
  });
});

describe('the float fast path at its margin', () => {
  // σ² = 1 (t = 2). Words 0, 7, 7, 1, 0 make the discrete Laplace return y = 0 (U = 0 accepted,
  // V = 0, sign +), so the first Gaussian trial is [U < γ] with γ = (0 − 1/2)²/2 = 1/8 and m = 1;
  // its 53 bits are u = (w₁ >>> 11)·2^32 + w₂. The fast path answers only outside
  // 1/8 ± 2^−30·(1 + 1/8) = (2^30 ∓ 9)·2^−33, exact multiples of 2^−53, and defers inside.
  // U < 1/8 means the trial succeeds, K = 2 is even and y = 0 is rejected (the first draw is then 2);
  // U ≥ 1/8 accepts y = 0. Expected draws from the same Python reference.
  const words = (u: number): number[] => [0, 7, 7, 1, 0, (Math.floor(u / 2 ** 32) * 2 ** 11 + 0x5a5) >>> 0, u % 2 ** 32];
  it.each([
    ['(u + 1)·2^−53 = 1/8 − margin: fast yes', (2 ** 30 - 9) * 2 ** 20 - 1, [2, -1, 1, 0, -1, 0], 0],
    ['u·2^−53 = 1/8 − margin: deferred, yes', (2 ** 30 - 9) * 2 ** 20, [2, -1, 1, 0, -1, 0], 1],
    ['u·2^−53 = 1/8 exactly: deferred, no', 2 ** 50, [0, 0, 0, 1, 0, -1], 1],
    ['u·2^−53 = 1/8 + margin: fast no', (2 ** 30 + 9) * 2 ** 20, [0, 0, 0, 1, 0, -1], 0],
    ['(u + 1)·2^−53 = 1/8 exactly: deferred, yes without a further word', 2 ** 50 - 1, [2, -1, 1, 0, -1, 0], 1],
  ])('%s', (_, u, draws, deferred) => {
    const fast = new DiscreteGaussianSampler(1, scriptedBytes(words(u)));
    expect(Array.from(fast.fill(new Float64Array(6)))).toEqual(draws);
    expect(fast.exactComparisons).toBe(deferred);
    const exact = new DiscreteGaussianSampler(1, scriptedBytes(words(u)), { alwaysExact: true });
    expect(Array.from(exact.fill(new Float64Array(6)))).toEqual(draws);
  });
});

describe('the exact path when U straddles γ', () => {
  it('draws 32 more bits of U until γ/(m·K) is outside its interval (σ² = 3, y = 1, γ = 1/24)', () => {
    // Words 1, 1, 7, 1, 0: U = 1 accepted by Bernoulli(exp(−1/2)) (below(2) = 1 is not < 1), V = 0,
    // sign +, so y = 1 and γ = (1 − 3/2)²/6 = 1/24, not a dyadic rational; with u = ⌊2^53/24⌋ the
    // interval [u, u + 1)·2^−53 contains 1/24 and only further words decide. Draws from the reference.
    const u = Math.floor(2 ** 53 / 24);
    const words = [1, 1, 7, 1, 0, (Math.floor(u / 2 ** 32) * 2 ** 11) >>> 0, u % 2 ** 32];
    const fast = new DiscreteGaussianSampler(3, scriptedBytes(words));
    expect(Array.from(fast.fill(new Float64Array(6)))).toEqual([-3, -1, -2, 1, 3, 0]);
    expect(fast.exactComparisons).toBe(1);
    const exact = new DiscreteGaussianSampler(3, scriptedBytes(words), { alwaysExact: true });
    expect(Array.from(exact.fill(new Float64Array(6)))).toEqual([-3, -1, -2, 1, 3, 0]);
    expect(exact.exactComparisons).toBe(10);
  });
});

describe('edges', () => {
  it('names the function and the argument when the length is refused', () => {
    expect(() => discreteGaussianNoise(-1, 1)).toThrow('discreteGaussianNoise: length must be an integer >= 0, got -1');
  });

  it('draws no randomness for an empty vector', () => {
    let calls = 0;
    const counting: RandomBytes = (out) => {
      calls++;
      return out;
    };
    expect(addDiscreteGaussianNoiseMod(new Uint32Array(0), 1, 8, counting)).toHaveLength(0);
    expect(discreteGaussianNoise(0, 1, counting)).toHaveLength(0);
    expect(calls).toBe(0);
  });

  it.each([
    [0, 0.0625, 0.9993295245830602],
    [1, 0.0625, 0.0003352377084572012],
    [0, 0.1, 0.9867032870288581],
  ])('P[Y = %s] at σ² = %s is %s (mpmath): the normaliser includes |z| = 1 for small σ', (y, variance, expected) => {
    expect(Math.abs(discreteGaussianPmf(y, variance) / expected - 1)).toBeLessThan(1e-13);
  });
});

describe('uniform integers by rejection', () => {
  // Expected draws from the same Python reference on the same words.
  it('rejects the word 2^32 − 1 for a uniform below 3 (σ² = 4, t = 3) and uses the next one', () => {
    const fast = new DiscreteGaussianSampler(4, scriptedBytes([0xffff_ffff, 1]));
    expect(Array.from(fast.fill(new Float64Array(6)))).toEqual([1, 1, -2, 1, 0, -2]);
  });

  it('rejects the 53-bit value 2^53 − (2^53 mod n) for a uniform below n = 4t > 2^32 (σ² = 2^60, t = 2^30 + 1)', () => {
    // U = 2^30; three zero words make the uniforms below t, 2t, 3t fall under U, so K reaches 4 and
    // the next uniform is below 4t = 2^32 + 4, drawn from 53 bits: the first value is the rejection
    // limit itself, the second is 5.
    const n = 4 * (2 ** 30 + 1);
    const limit = 2 ** 53 - (2 ** 53 % n);
    const bits53 = (u: number): number[] => [(Math.floor(u / 2 ** 32) * 2 ** 11 + 0x5a5) >>> 0, u % 2 ** 32];
    // The uniform 5 is below U, so K = 5; the words 2^31, 0 (2^52 mod 5t ≥ U) then stop K at 5, odd, so
    // U is accepted with V = 0 (words 7, 1) and sign + (word 0): the first draw is y = 2^30 itself.
    const words = [2 ** 30, 0, 0, 0, ...bits53(limit), ...bits53(5), 0x8000_0000, 0, 7, 1, 0];
    expect(words.slice(4, 8)).toEqual([4294966693, 8388604, 1445, 5]);
    const fast = new DiscreteGaussianSampler(2 ** 60, scriptedBytes(words));
    expect(Array.from(fast.fill(new Float64Array(4)))).toEqual([1073741824, 1118374643, 1504982240, -82514103]);
  });

  it('draws a uniform below exactly 2^32 from one word (σ² = 2^60 − 2^30, t = 2^30)', () => {
    const fast = new DiscreteGaussianSampler(2 ** 60 - 2 ** 30, scriptedBytes([2 ** 30 - 1, 0, 0, 0]));
    expect(Array.from(fast.fill(new Float64Array(4)))).toEqual([-745495504, -87470069, 1366792101, -963487239]);
  });
});
