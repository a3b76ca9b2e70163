/**
 * Exact sampling from the discrete Gaussian N_Z(0, σ²), P[Y = y] ∝ exp(−y²/(2σ²)) on the integers
 * (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential Privacy", Section 5):
 *
 * - Bernoulli(exp(−γ)), γ ∈ [0, 1]: K ← 1; while Bernoulli(γ/K) succeeds, K ← K + 1; return
 *   [K odd] (their Algorithm 1, von Neumann's trick). For γ > 1 we use exp(−γ) = exp(−γ/m)^m with
 *   any integer m ≥ γ: m independent trials that must all succeed.
 * - Discrete Laplace with scale t (their Algorithm 2, s = 1): U uniform in {0, …, t−1}, accepted with
 *   probability exp(−U/t); V ~ Geometric(1 − e^−1) counted with Bernoulli(exp(−1)); X = U + t·V; a
 *   sign bit, rejecting (−, 0).
 * - Discrete Gaussian (their Algorithm 3): t = ⌊σ⌋ + 1; Y ~ DLap(t), accepted with probability
 *   exp(−(|Y| − σ²/t)²/(2σ²)). (Correct for every integer t ≥ 1: the accepted Y has density
 *   ∝ e^(−|y|/t)·e^(−(|y|−σ²/t)²/(2σ²)) ∝ e^(−y²/(2σ²)); t only sets the speed.)
 *
 * Exactness. Every Bernoulli whose parameter is a ratio of integers (γ/K = U/(t·K) and 1/K) is
 * decided by a uniform integer below the denominator, from rejection sampling on uniform words:
 * exact. The one irrational-looking step is the final acceptance, γ = (|Y| − σ²/t)²/(2σ²). σ² is a
 * float64, hence an exact dyadic rational a/b, so γ = (t|Y|b − a)²/(2ab·t²) is an exact rational
 * too, but BigInt arithmetic for every draw would be far too slow for 10^6 coordinates. So each
 * trial [U < γ/(m·K)], with U uniform in [0, 1), is decided in two steps:
 *   1. Draw the first 53 bits of U, so U ∈ [u·2^−53, (u+1)·2^−53), and compare that interval with
 *      γ̃/(m·K) ± a margin, where γ̃ is γ computed in float64. The float error is provably far inside
 *      the margin: with q = σ²/t < σ < t, the error of (|Y| − q) is ≤ 2^−53(q + |Y − q|), so
 *      |γ̃ − γ| ≤ 2^−53(√(2γ) + 4γ)(1 + 2^−50) ≤ 2^−50(1 + γ), and the margin is 2^−30(1 + γ̃).
 *      When the interval lies wholly on one side, the answer is the exact answer.
 *   2. Otherwise (probability about 2^−29 per trial, so a handful of times per 10^8 draws) the
 *      comparison is redone in exact BigInt arithmetic with the same u, drawing further bits of U
 *      32 at a time until the exact rational γ/(m·K) falls outside U's interval.
 * The output distribution is therefore exactly N_Z(0, σ²); floating point only decides how often
 * the slow path runs.
 *
 * Randomness comes only from the injected RandomBytes, by default crypto.getRandomValues
 * (secureRandomBytes). Timing: like CKS's sampler, the number of loop iterations depends on the
 * output, so a co-located observer timing the sampler learns something about the noise. In Murmur
 * the noise is added on the person's own device and only the masked, modular sum leaves it, so the
 * timing of one client's sampling is not visible to the aggregator.
 */
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { assertNonNegativeInteger } from './validate';

/** Random words are drawn in 64 KiB blocks (WebCrypto's per-call cap). */
const BLOCK_WORDS = 16_384;
const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;
const TWO_POW_MINUS_53 = 2 ** -53;
/** Absolute margin, relative to 1 + γ̃, within which the float comparison defers to BigInt. */
const FAST_PATH_MARGIN = 2 ** -30;

/**
 * σ² range accepted. Below 2^−20 the distribution is a point mass at 0 to within e^−500000; above
 * 2^60 the integers involved approach float64's safe range (Y ≈ 40σ must stay far below 2^53).
 */
export const MIN_DISCRETE_GAUSSIAN_VARIANCE = 2 ** -20;
export const MAX_DISCRETE_GAUSSIAN_VARIANCE = 2 ** 60;

function assertVariance(where: string, variance: unknown): asserts variance is number {
  if (typeof variance !== 'number' || !(variance >= MIN_DISCRETE_GAUSSIAN_VARIANCE && variance <= MAX_DISCRETE_GAUSSIAN_VARIANCE)) {
    throw new RangeError(`${where}: variance must be a number in [2^-20, 2^60], got ${String(variance)}`);
  }
}

/** A finite float64 as an exact fraction numerator/denominator with a power-of-two denominator. */
function exactFraction(value: number): { numerator: bigint; denominator: bigint } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biasedExponent = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & 0xf_ffff_ffff_ffffn;
  // Normal numbers carry an implicit leading 1; subnormals have exponent 1 − 1023 without it.
  let exponent = biasedExponent === 0 ? -1074 : biasedExponent - 1075;
  if (biasedExponent !== 0) mantissa |= 1n << 52n;
  if (exponent >= 0) return { numerator: mantissa << BigInt(exponent), denominator: 1n };
  // Reduce so that small integers stay small.
  while (exponent < 0 && (mantissa & 1n) === 0n && mantissa !== 0n) {
    mantissa >>= 1n;
    exponent++;
  }
  return { numerator: mantissa, denominator: 1n << BigInt(-exponent) };
}

/** Uniform words from a RandomBytes source, refilled a block at a time. */
class RandomWords {
  readonly #randomBytes: RandomBytes;
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  #next: number;

  constructor(randomBytes: RandomBytes) {
    this.#randomBytes = randomBytes;
    this.#bytes = new Uint8Array(BLOCK_WORDS * 4);
    this.#words = new Uint32Array(this.#bytes.buffer);
    this.#next = BLOCK_WORDS;
  }

  /** Uniform in [0, 2^32). Any byte order of uniform bytes is uniform, so endianness is moot. */
  word(): number {
    if (this.#next === BLOCK_WORDS) {
      this.#randomBytes(this.#bytes);
      this.#next = 0;
    }
    return this.#words[this.#next++] as number;
  }

  /** Uniform in [0, 2^53). */
  bits53(): number {
    return (this.word() >>> 11) * TWO_POW_32 + this.word();
  }

  /** Uniform integer in [0, n) for an integer 1 ≤ n ≤ 2^53, by rejection (no modulo bias). */
  below(n: number): number {
    if (n <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      for (;;) {
        const w = this.word();
        if (w < limit) return w % n;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % n);
    for (;;) {
      const w = this.bits53();
      if (w < limit) return w % n;
    }
  }
}

export interface DiscreteGaussianSamplerOptions {
  /**
   * Decide every acceptance trial in BigInt arithmetic, skipping the float fast path. Given the
   * same random bytes the output is identical either way (both decide the same exact comparison
   * with the same bits); tests use this to check one path against the other. @default false
   */
  alwaysExact?: boolean;
}

/**
 * A sampler for N_Z(0, σ²) with σ² fixed: the constants t, σ²/t and the exact fraction of σ² are
 * computed once.
 */
export class DiscreteGaussianSampler {
  readonly variance: number;
  readonly #random: RandomWords;
  readonly #t: number;
  readonly #varianceOverT: number;
  readonly #twoVariance: number;
  readonly #exactVariance: { numerator: bigint; denominator: bigint };
  readonly #alwaysExact: boolean;
  /** How many trials needed the exact BigInt path (for tests and diagnostics). */
  exactComparisons = 0;

  constructor(variance: number, randomBytes: RandomBytes = secureRandomBytes, options: DiscreteGaussianSamplerOptions = {}) {
    assertVariance('DiscreteGaussianSampler', variance);
    this.variance = variance;
    this.#alwaysExact = options.alwaysExact ?? false;
    this.#random = new RandomWords(randomBytes);
    this.#t = Math.floor(Math.sqrt(variance)) + 1;
    this.#varianceOverT = variance / this.#t;
    this.#twoVariance = 2 * variance;
    this.#exactVariance = exactFraction(variance);
  }

  /** Bernoulli(exp(−numerator/denominator)) for integers 0 ≤ numerator ≤ denominator, K·denominator ≤ 2^53. */
  #bernoulliExpNegRatio(numerator: number, denominator: number): boolean {
    let k = 1;
    while (this.#random.below(denominator * k) < numerator) k++;
    return (k & 1) === 1;
  }

  /** Discrete Laplace: P[X = x] ∝ exp(−|x|/t). */
  #discreteLaplace(): number {
    const t = this.#t;
    for (;;) {
      const u = this.#random.below(t);
      if (!this.#bernoulliExpNegRatio(u, t)) continue;
      let v = 0;
      while (this.#bernoulliExpNegRatio(1, 1)) v++;
      const x = u + t * v;
      const negative = (this.#random.word() & 1) === 1;
      if (negative && x === 0) continue;
      return negative ? -x : x;
    }
  }

  /**
   * [U < γ/(m·k)] for U uniform in [0, 1), where γ = (|y| − σ²/t)²/(2σ²) and γ̃ is its float64
   * value. Float fast path, exact fallback (see the file comment).
   */
  #uniformBelow(y: number, gammaApprox: number, mk: number): boolean {
    const u = this.#random.bits53();
    if (this.#alwaysExact) return this.#uniformBelowExact(u, y, mk);
    const threshold = gammaApprox / mk;
    // The division adds a relative error ≤ 2^−53, well inside the margin's slack.
    const margin = (FAST_PATH_MARGIN * (1 + gammaApprox)) / mk;
    if ((u + 1) * TWO_POW_MINUS_53 <= threshold - margin) return true;
    if (u * TWO_POW_MINUS_53 >= threshold + margin) return false;
    return this.#uniformBelowExact(u, y, mk);
  }

  #uniformBelowExact(u: number, y: number, mk: number): boolean {
    this.exactComparisons++;
    // γ = (t|y|·b − a)² / (2ab·t²) with σ² = a/b.
    const { numerator: a, denominator: b } = this.#exactVariance;
    const t = BigInt(this.#t);
    const diff = t * BigInt(Math.abs(y)) * b - a;
    const gammaNumerator = diff * diff;
    const gammaDenominator = 2n * a * b * t * t * BigInt(mk);
    // U ∈ [w/2^bits, (w+1)/2^bits); refine until γ/(m·k) is outside that interval.
    let w = BigInt(u);
    let bits = 53n;
    for (;;) {
      const scaledGamma = gammaNumerator << bits;
      if ((w + 1n) * gammaDenominator <= scaledGamma) return true;
      if (w * gammaDenominator >= scaledGamma) return false;
      w = (w << 32n) | BigInt(this.#random.word());
      bits += 32n;
    }
  }

  /** Bernoulli(exp(−γ)) for the Gaussian acceptance step. */
  #acceptGaussian(y: number): boolean {
    const diff = Math.abs(y) - this.#varianceOverT;
    const gammaApprox = (diff * diff) / this.#twoVariance;
    // Any integer m ≥ γ works; the margin makes sure that m ≥ γ although only γ̃ is known.
    const m = Math.max(1, Math.ceil(gammaApprox + FAST_PATH_MARGIN * (1 + gammaApprox)));
    for (let piece = 0; piece < m; piece++) {
      let k = 1;
      while (this.#uniformBelow(y, gammaApprox, m * k)) k++;
      if ((k & 1) === 0) return false;
    }
    return true;
  }

  /** One draw from N_Z(0, σ²). */
  sample(): number {
    for (;;) {
      const y = this.#discreteLaplace();
      if (this.#acceptGaussian(y)) return y;
    }
  }

  /** Fills `out` with independent draws and returns it. */
  fill<T extends Float64Array | Int32Array>(out: T): T {
    for (let i = 0; i < out.length; i++) out[i] = this.sample();
    return out;
  }
}

/** `length` independent draws from N_Z(0, variance), as (integer-valued) float64. */
export function discreteGaussianNoise(length: number, variance: number, randomBytes: RandomBytes = secureRandomBytes): Float64Array {
  assertNonNegativeInteger('discreteGaussianNoise', 'length', length);
  return new DiscreteGaussianSampler(variance, randomBytes).fill(new Float64Array(length));
}

/**
 * words[i] ← (words[i] + Y_i) mod 2^k with independent Y_i ~ N_Z(0, variance): discrete Gaussian
 * noise added to an encoding in Z_(2^k) (the representation ../encode/fixed-point.ts and secure
 * aggregation use). Returns `words`.
 */
export function addDiscreteGaussianNoiseMod(
  words: Uint32Array,
  variance: number,
  modulusBits: number,
  randomBytes: RandomBytes = secureRandomBytes,
): Uint32Array {
  if (!(words instanceof Uint32Array)) {
    throw new TypeError(`addDiscreteGaussianNoiseMod: words must be a Uint32Array, got ${typeof words}`);
  }
  if (!Number.isInteger(modulusBits) || modulusBits < 1 || modulusBits > 32) {
    throw new RangeError(`addDiscreteGaussianNoiseMod: modulusBits must be an integer in [1, 32], got ${String(modulusBits)}`);
  }
  const sampler = new DiscreteGaussianSampler(variance, randomBytes);
  const modulus = 2 ** modulusBits;
  for (let i = 0; i < words.length; i++) {
    const sum = ((words[i] as number) + sampler.sample()) % modulus;
    words[i] = sum < 0 ? sum + modulus : sum;
  }
  return words;
}

/**
 * P[Y = y] for Y ~ N_Z(0, σ²): e^(−y²/(2σ²)) / Σ_z e^(−z²/(2σ²)). The normaliser is summed
 * directly over |z| ≤ σ·40 + 10, beyond which terms are below e^−800; used by tests and by the
 * variance of the sum in the accountant's tests.
 */
export function discreteGaussianPmf(y: number, variance: number): number {
  assertVariance('discreteGaussianPmf', variance);
  const limit = Math.ceil(40 * Math.sqrt(variance) + 10);
  let normaliser = 1;
  for (let z = 1; z <= limit; z++) normaliser += 2 * Math.exp((-z * z) / (2 * variance));
  return Math.exp((-y * y) / (2 * variance)) / normaliser;
}
