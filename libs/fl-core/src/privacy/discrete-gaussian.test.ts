import { afterEach, describe, expect, it, vi } from 'vitest';
import { addDiscreteGaussianNoiseMod, discreteGaussianNoise, discreteGaussianPmf, DiscreteGaussianSampler } from './discrete-gaussian';
import { keystreamRandomBytes } from './test-random';

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * The chi-square critical value with `df` degrees of freedom at upper-tail probability 1e−7, by
 * the Wilson–Hilferty cube approximation (z = 5.2 is the standard normal's 1e−7 quantile): a correct
 * sampler fails a check with probability about 1e−7, and the seeds are fixed, so these cannot flake.
 */
function chiSquareCritical(df: number): number {
  const h = 2 / (9 * df);
  return df * (1 - h + 5.2 * Math.sqrt(h)) ** 3;
}

/**
 * Pearson's chi-square of integer `samples` against `pmf`: every value whose expected count is at
 * least 20 is its own cell, the two tails beyond are pooled into one cell each.
 */
function chiSquare(samples: Float64Array, pmf: (y: number) => number): { statistic: number; df: number } {
  const n = samples.length;
  let limit = 0;
  while (n * pmf(limit + 1) >= 20) limit++;
  const counts = new Map<number, number>();
  for (const y of samples) {
    const cell = Math.max(-limit - 1, Math.min(limit + 1, y));
    counts.set(cell, (counts.get(cell) ?? 0) + 1);
  }
  let inside = 0;
  for (let y = -limit; y <= limit; y++) inside += pmf(y);
  let statistic = 0;
  for (let cell = -limit - 1; cell <= limit + 1; cell++) {
    const p = Math.abs(cell) === limit + 1 ? (1 - inside) / 2 : pmf(cell);
    const expected = n * p;
    const observed = counts.get(cell) ?? 0;
    statistic += (observed - expected) ** 2 / expected;
  }
  return { statistic, df: 2 * limit + 2 };
}

describe('DiscreteGaussianSampler distribution', () => {
  // For every σ² the sample's histogram must match the exact pmf e^(−y²/2σ²)/Σ e^(−z²/2σ²).
  // Checked by planting bugs: dropping the discrete Laplace's (−, 0) rejection fails every
  // chi-square here; scaling γ by 1.05 fails the small-σ² ones, the variance test and the
  // fast-versus-exact test.
  it.each([0.3, 1, 2.5, 40, 1234.5])('matches N_Z(0, %s) by chi-square on 200,000 draws', (variance) => {
    const samples = new DiscreteGaussianSampler(variance, keystreamRandomBytes(variance)).fill(new Float64Array(200_000));
    const { statistic, df } = chiSquare(samples, (y) => discreteGaussianPmf(y, variance));
    expect(df).toBeGreaterThanOrEqual(2);
    expect(statistic).toBeLessThan(chiSquareCritical(df));
  });

  it('has mean 0 and the exact variance (σ² = 1e8, 1.3e6 draws, as for a model update)', () => {
    // The discrete Gaussian's variance is below σ² by a term of order σ⁴e^(−2π²σ²) (Poisson
    // summation), nothing at σ² = 1e8. Standard errors: mean σ/√N, mean of y² σ²√2/√N; the
    // bounds are 6 of them.
    const variance = 1e8;
    const n = 1_300_000;
    const samples = discreteGaussianNoise(n, variance, keystreamRandomBytes(7));
    let sum = 0;
    let squares = 0;
    let nonIntegers = 0;
    for (const y of samples) {
      if (!Number.isInteger(y)) nonIntegers++;
      sum += y;
      squares += y * y;
    }
    expect(nonIntegers).toBe(0);
    expect(Math.abs(sum / n)).toBeLessThan((6 * Math.sqrt(variance)) / Math.sqrt(n));
    expect(Math.abs(squares / n - variance)).toBeLessThan((6 * variance * Math.SQRT2) / Math.sqrt(n));
  });

  it('matches the exact CDF at σ² = 1e8 by Kolmogorov–Smirnov', () => {
    // P[D > √(ln(2/p)/(2N))] ≤ p for continuous laws (Dvoretzky–Kiefer–Wolfowitz–Massart), and it
    // is conservative for discrete ones; p = 1e−7.
    const variance = 1e8;
    const n = 200_000;
    const samples = discreteGaussianNoise(n, variance, keystreamRandomBytes(8)).sort();
    const sigma = Math.sqrt(variance);
    const low = -Math.ceil(12 * sigma);
    const cdf = new Float64Array(-2 * low + 1);
    let total = 0;
    for (let i = 0; i < cdf.length; i++) {
      total += Math.exp(-((low + i) ** 2) / (2 * variance));
      cdf[i] = total;
    }
    let statistic = 0;
    for (let k = 0; k < n; k++) {
      const y = samples[k] as number;
      // Only the upper side at each sample matters for a right-continuous step CDF.
      const below = (cdf[y - low] as number) / total;
      statistic = Math.max(statistic, Math.abs(below - (k + 1) / n), Math.abs((cdf[y - low - 1] ?? 0) / total - k / n));
    }
    expect(statistic).toBeLessThan(Math.sqrt(Math.log(2 / 1e-7) / (2 * n)));
  });

  it('gives the same draws on the float fast path as in exact BigInt arithmetic', () => {
    // Both paths decide the same exact comparison with the same random bits, so one random stream
    // must give identical samples. Catches any error in either γ's float formula or its rational one.
    for (const variance of [0.7, 3, 1e4 + 0.3, 2 ** 40 / 3]) {
      const fast = new DiscreteGaussianSampler(variance, keystreamRandomBytes(11));
      const exact = new DiscreteGaussianSampler(variance, keystreamRandomBytes(11), { alwaysExact: true });
      const a = fast.fill(new Float64Array(5_000));
      const b = exact.fill(new Float64Array(5_000));
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(exact.exactComparisons).toBeGreaterThan(5_000);
    }
  });

  it('matches N_Z(0, σ²) by chi-square on the exact BigInt path too', () => {
    const variance = 2.5;
    const samples = new DiscreteGaussianSampler(variance, keystreamRandomBytes(12), { alwaysExact: true }).fill(new Float64Array(40_000));
    const { statistic, df } = chiSquare(samples, (y) => discreteGaussianPmf(y, variance));
    expect(statistic).toBeLessThan(chiSquareCritical(df));
  });
});

describe('sums of discrete Gaussians', () => {
  /** The exact pmf of the sum of `n` N_Z(0, σ²), by convolution, on [−L, L]·n. */
  function sumPmf(variance: number, n: number, limit: number): Float64Array {
    const single = Float64Array.from({ length: 2 * limit + 1 }, (_, i) => discreteGaussianPmf(i - limit, variance));
    let acc = Float64Array.of(1);
    for (let k = 0; k < n; k++) {
      const next = new Float64Array(acc.length + single.length - 1);
      acc.forEach((a, i) => single.forEach((b, j) => (next[i + j] = (next[i + j] as number) + a * b)));
      acc = next;
    }
    return acc;
  }

  it('the sum of 5 draws of N_Z(0, 1) is N_Z(0, 5) to within total variation 1e−6, and the sampler agrees', () => {
    // What Kairouz, Liu & Steinke's τ quantifies: for σ = 1 the sum is almost exactly discrete
    // Gaussian (TV 4.4e−7 by this convolution), for σ = 1/2 it is not (TV 0.058).
    const n = 5;
    const exact = sumPmf(1, n, 40);
    const offset = (exact.length - 1) / 2;
    let tv = 0;
    exact.forEach((p, i) => (tv += Math.abs(p - discreteGaussianPmf(i - offset, n)) / 2));
    expect(tv).toBeLessThan(1e-6);
    const coarse = sumPmf(0.25, n, 40);
    let tvCoarse = 0;
    coarse.forEach((p, i) => (tvCoarse += Math.abs(p - discreteGaussianPmf(i - offset, n * 0.25)) / 2));
    expect(tvCoarse).toBeGreaterThan(0.05);

    const sampler = new DiscreteGaussianSampler(1, keystreamRandomBytes(13));
    const sums = new Float64Array(200_000);
    for (let i = 0; i < sums.length; i++) {
      for (let k = 0; k < n; k++) sums[i] = (sums[i] as number) + sampler.sample();
    }
    const { statistic, df } = chiSquare(sums, (y) => discreteGaussianPmf(y, n));
    expect(statistic).toBeLessThan(chiSquareCritical(df));
  });
});

describe('addDiscreteGaussianNoiseMod', () => {
  it('adds integer noise modulo 2^k, wrapping negative noise to the top of the range', () => {
    const k = 16;
    const words = new Uint32Array(100_000).fill(3);
    addDiscreteGaussianNoiseMod(words, 100, k, keystreamRandomBytes(14));
    let sum = 0;
    let squares = 0;
    let wrapped = 0;
    expect(Math.max(...words)).toBeLessThan(2 ** k);
    for (const w of words) {
      const centered = (w >= 2 ** (k - 1) ? w - 2 ** k : w) - 3;
      if (w >= 2 ** (k - 1)) wrapped++;
      sum += centered;
      squares += centered * centered;
    }
    expect(wrapped).toBeGreaterThan(30_000); // P[Y < −3] ≈ 0.38
    expect(Math.abs(sum / words.length)).toBeLessThan(6 * Math.sqrt(100 / words.length));
    expect(Math.abs(squares / words.length - 100)).toBeLessThan((6 * 100 * Math.SQRT2) / Math.sqrt(words.length));
  });

  it('rejects bad arguments with where / expected / got', () => {
    expect(() => addDiscreteGaussianNoiseMod(new Uint32Array(1), 1, 33)).toThrow(/modulusBits must be an integer in \[1, 32\], got 33/);
    expect(() => addDiscreteGaussianNoiseMod([1] as unknown as Uint32Array, 1, 8)).toThrow(/words must be a Uint32Array/);
    expect(() => new DiscreteGaussianSampler(0)).toThrow(/variance must be a number in \[2\^-20, 2\^60\], got 0/);
    expect(() => new DiscreteGaussianSampler(Number.NaN)).toThrow(/variance/);
    expect(() => discreteGaussianNoise(-1, 1)).toThrow(/length must be an integer >= 0, got -1/);
  });
});

describe('randomness source', () => {
  it('draws from crypto.getRandomValues by default and never from Math.random', () => {
    const mathRandom = vi.spyOn(Math, 'random');
    const getRandomValues = vi.spyOn(crypto, 'getRandomValues');
    const noise = discreteGaussianNoise(10_000, 50);
    expect(getRandomValues).toHaveBeenCalled();
    expect(mathRandom).not.toHaveBeenCalled();
    expect(new Set(noise).size).toBeGreaterThan(20);
  });

  it('is reproducible from an injected source and differs between sources', () => {
    const a = discreteGaussianNoise(1_000, 10, keystreamRandomBytes(1));
    const b = discreteGaussianNoise(1_000, 10, keystreamRandomBytes(1));
    const c = discreteGaussianNoise(1_000, 10, keystreamRandomBytes(2));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });
});
