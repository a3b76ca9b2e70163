/**
 * Gaussian noise from a cryptographically secure byte source.
 *
 * Sampler: Marsaglia's polar method (Marsaglia & Bray 1964). Each attempt takes two uniforms u, v
 * on a symmetric grid in (−1, 1) with 52 random bits each, accepts when s = u² + v² < 1, and
 * returns the pair u·√(−2 ln s / s), v·√(−2 ln s / s) of independent N(0, 1) values. All
 * arithmetic is float64; the caller's standard deviation is applied after, also in float64.
 *
 * Why this is adequate, and what it does not claim:
 * - Randomness comes only from the injected RandomBytes, by default crypto.getRandomValues
 *   (secureRandomBytes); never Math.random or a seeded generator.
 * - The uniform grid is exactly symmetric, so the output distribution is exactly symmetric (mean
 *   zero, unbiased) and matches N(0, 1) to within the 2^−52 grid; |z| ≤ √(2·103·ln 2) ≈ 11.95
 *   because s ≥ 2^−103, a truncation of probability below 10^−32.
 * - Timing: the number of rejected attempts is independent of the accepted pair (the accepted
 *   point is uniform on the disc whatever came before), so run time reveals nothing about the
 *   noise values — unlike samplers whose loop count grows with |z|, the timing channel of Jin et
 *   al. 2022 ("Are We There Yet? Timing and Floating-Point Attacks on Differential Privacy
 *   Systems", IEEE S&P).
 * - Floating point: like every floating-point sampler, the set of reachable outputs is a finite,
 *   non-uniform set. Mironov 2012 ("On Significance of the Least Significant Bits for Differential
 *   Privacy", CCS) broke textbook Laplace samplers through it, and Jin et al. 2022 did the same for
 *   common Gaussian samplers: from x + z released in full precision an attacker can sometimes tell
 *   which x was used. This sampler does not prove immunity. What blunts it in Murmur: in
 *   'distributed' mode the server never sees one client's x + z, only a modular sum of
 *   stochastically rounded fixed-point encodings; in every mode the released model is float32
 *   (about 24 bits), far coarser than the 52-bit noise grid. The sound fix is integer noise after
 *   encoding (the distributed discrete Gaussian, Kairouz, Liu & Steinke 2021); see docs/privacy.md.
 */
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { assertNonNegativeFinite, assertNonNegativeInteger } from './validate';

/** Random bytes are drawn in blocks of up to 64 KiB (WebCrypto's per-call cap). */
const MAX_BLOCK_BYTES = 65_536;
/** Values generated per pass when adding noise in place. */
const CHUNK_VALUES = 8_192;

// Which Uint32 of a float64 holds the sign, exponent and top 20 mantissa bits.
const HIGH_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
const HALF_GRID = 2 ** -52;

/**
 * A stream of standard normal values over one RandomBytes source; keeps its random block between
 * calls so that small requests do not each pay for a fresh draw.
 */
class StandardNormalStream {
  readonly #randomBytes: RandomBytes;
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #doubles: Float64Array;
  #next: number;

  constructor(randomBytes: RandomBytes, expectedValues: number) {
    // Two uniforms (16 bytes) per attempt, π/4 of attempts accepted, two values per acceptance.
    const wanted = 16 * Math.ceil((expectedValues / 2) * 1.3 + 4);
    const size = Math.min(MAX_BLOCK_BYTES, wanted);
    this.#randomBytes = randomBytes;
    this.#bytes = new Uint8Array(size);
    this.#words = new Uint32Array(this.#bytes.buffer);
    this.#doubles = new Float64Array(this.#bytes.buffer);
    this.#next = this.#doubles.length;
  }

  #refill(): void {
    this.#randomBytes(this.#bytes);
    // Force every float64 into [1, 2): exponent 0x3ff over 52 random mantissa bits.
    const words = this.#words;
    for (let k = HIGH_WORD; k < words.length; k += 2) {
      words[k] = ((words[k] as number) & 0x000f_ffff) | 0x3ff0_0000;
    }
    this.#next = 0;
  }

  /** Writes `count` independent N(0, 1) values to out[0..count). */
  fill(out: Float64Array, count: number): void {
    // Locals rather than private fields in the hot loop.
    const doubles = this.#doubles;
    const end = doubles.length - 1;
    let next = this.#next;
    let i = 0;
    while (i < count) {
      if (next >= end) {
        this.#refill();
        next = 0;
      }
      // d ∈ [1, 2) on the 2^−52 grid ⇒ 2d − 3 + 2^−52 ∈ (−1, 1) on odd multiples of 2^−52, exactly
      // symmetric about 0 and never 0 (so s > 0).
      const u = 2 * (doubles[next] as number) - 3 + HALF_GRID;
      const v = 2 * (doubles[next + 1] as number) - 3 + HALF_GRID;
      next += 2;
      const s = u * u + v * v;
      if (s >= 1) continue;
      const factor = Math.sqrt((-2 * Math.log(s)) / s);
      out[i++] = u * factor;
      // An odd count drops the second value of the last pair; the pair's values are independent.
      if (i < count) out[i++] = v * factor;
    }
    this.#next = next;
  }
}

/** `length` independent N(0, stdDev²) values in float64. */
export function gaussianNoise(length: number, stdDev: number, randomBytes: RandomBytes = secureRandomBytes): Float64Array {
  assertNonNegativeInteger('gaussianNoise', 'length', length);
  assertNonNegativeFinite('gaussianNoise', 'stdDev', stdDev);
  const out = new Float64Array(length);
  if (stdDev === 0 || length === 0) return out;
  new StandardNormalStream(randomBytes, length).fill(out, length);
  for (let i = 0; i < length; i++) out[i] = (out[i] as number) * stdDev;
  return out;
}

/**
 * Adds independent N(0, stdDev²) noise to every element of `target` in place and returns it. Each
 * noise value is formed in float64; a Float32Array target rounds the sum once, on store.
 */
export function addGaussianNoise<T extends Float32Array | Float64Array>(target: T, stdDev: number, randomBytes: RandomBytes = secureRandomBytes): T {
  if (!(target instanceof Float32Array) && !(target instanceof Float64Array)) {
    throw new TypeError(`addGaussianNoise: target must be a Float32Array or Float64Array, got ${typeof target}`);
  }
  assertNonNegativeFinite('addGaussianNoise', 'stdDev', stdDev);
  if (stdDev === 0 || target.length === 0) return target;
  const stream = new StandardNormalStream(randomBytes, target.length);
  const chunk = new Float64Array(Math.min(CHUNK_VALUES, target.length));
  for (let start = 0; start < target.length; start += chunk.length) {
    const count = Math.min(chunk.length, target.length - start);
    stream.fill(chunk, count);
    for (let k = 0; k < count; k++) {
      target[start + k] = (target[start + k] as number) + stdDev * (chunk[k] as number);
    }
  }
  return target;
}
