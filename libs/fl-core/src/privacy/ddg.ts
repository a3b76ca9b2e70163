/**
 * The distributed discrete Gaussian mechanism (Kairouz, Liu & Steinke 2021, "The Distributed
 * Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML; arXiv:2102.06387),
 * Algorithm 1 (client) and Algorithm 2 (server):
 *
 *   client: clip to L2 norm c; scale by 1/γ; flatten with a shared random rotation H·D; round each
 *           coordinate stochastically, retrying until the rounded vector's L2 norm is within Δ₂;
 *           add N_Z(0, σ²/γ²) per coordinate; reduce mod m = 2^k.
 *   server: sum mod m (secure aggregation); map to [−m/2, m/2); undo the rotation; multiply by γ.
 *
 * Because noise is added to integers after rounding, the rounding sits inside the guarantee: the
 * sensitivity the accountant uses (ddg-accountant.ts) is the deterministic bound Δ₂ on the rounded
 * vector, which the client enforces by rejection. Here `scale` = 1/γ (integer units per 1.0, as in
 * ../encode/fixed-point.ts) and σ is the per-client noise standard deviation in model units.
 *
 * Flattening: H is the normalised Walsh–Hadamard matrix and D a diagonal of random signs, so the
 * dimension is padded to a power of two. D comes from a 32-byte round-public seed expanded with
 * ChaCha20 (RFC 8439): every client and the server derive the same D. Privacy does not depend on D
 * being secret (the rotation is orthogonal, so clipping bounds the norm whatever D is); the
 * modular-wrap bound assumes that the updates do not depend on D, i.e. the seed is drawn fresh for
 * the round after the model is fixed.
 */
import { chacha20 } from '@noble/ciphers/chacha.js';
import { z } from 'zod';
import { roundingStream } from '../encode/fixed-point';
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { clipL2, l2Norm } from './clip';
import { addDiscreteGaussianNoiseMod, MAX_DISCRETE_GAUSSIAN_VARIANCE } from './discrete-gaussian';
import { assertOpenUnitInterval, assertPositiveFinite, assertPositiveInteger } from './validate';

/** The paper's experiments use β = e^(−1/2): at most 1/(1 − β) ≈ 2.5 rounding attempts on average. */
export const DEFAULT_ROUNDING_BETA = Math.exp(-0.5);
/** Conditional rounding gives up (and throws) after this many rejected attempts. */
export const MAX_ROUNDING_ATTEMPTS = 1_000;
/** ChaCha20 nonce for the rotation's sign stream: domain separation from other uses of a seed. */
const ROTATION_NONCE = new TextEncoder().encode('murmur-ddg-D');
const TWO_POW_32 = 2 ** 32;

export const ddgParamsInputSchema = z
  .object({
    /** d: length of the model update (before padding to a power of two). */
    dimension: z
      .number()
      .int()
      .min(1)
      .max(2 ** 28),
    /** c: each update is clipped to this L2 norm, in model units. */
    clipNorm: z.number().positive().finite(),
    /** 1/γ: integer units per 1.0 of a model value. */
    scale: z.number().positive().finite(),
    /** σ: the standard deviation of the discrete Gaussian each client adds, in model units. */
    localNoiseStdDev: z.number().positive().finite(),
    /** k: values live in Z_(2^k). @default 32 */
    modulusBits: z.number().int().min(2).max(32).default(32),
    /** β ∈ [0, 1): conditional rounding's failure parameter. @default e^(−1/2) */
    beta: z.number().min(0).lt(1).default(DEFAULT_ROUNDING_BETA),
  })
  .strict();

export type DdgParamsInput = z.input<typeof ddgParamsInputSchema>;

export interface DdgParams {
  readonly dimension: number;
  readonly clipNorm: number;
  readonly scale: number;
  readonly localNoiseStdDev: number;
  readonly modulusBits: number;
  readonly beta: number;
  /** The rotated, rounded and noised vector's length: the next power of two ≥ dimension. */
  readonly paddedDimension: number;
  /** (σ·scale)²: the variance of each client's discrete Gaussian, in integer units. */
  readonly noiseVariance: number;
  /** Δ₂: every rounded vector's L2 norm is at most this, in integer units (roundedL2NormBound). */
  readonly roundedNormBound: number;
}

/** The smallest power of two ≥ n. */
export function hadamardDimension(n: number): number {
  assertPositiveInteger('hadamardDimension', 'n', n);
  return 2 ** Math.ceil(Math.log2(n));
}

/**
 * The bound Δ₂ on ‖z‖₂ after conditional randomized rounding of a vector with ‖x‖₂ ≤ norm in d
 * dimensions (Kairouz, Liu & Steinke 2021, Theorem 1; the reference implementation's
 * rounded_l2_norm_bound):
 *   Δ₂² = min{ (norm + √d)², norm² + d/4 + √(2 ln(1/β))·(norm + √d/2) }.
 * The first holds always (each coordinate moves by less than 1); the second holds with probability
 * ≥ 1 − β for unconditional rounding, and with certainty once rounding retries until it holds.
 * β = 0 means no conditioning: only the first bound.
 */
export function roundedL2NormBound(norm: number, dimension: number, beta: number): number {
  const where = 'roundedL2NormBound';
  assertPositiveFinite(where, 'norm', norm);
  assertPositiveInteger(where, 'dimension', dimension);
  if (typeof beta !== 'number' || !(beta >= 0 && beta < 1)) {
    throw new RangeError(`${where}: beta must be in [0, 1), got ${String(beta)}`);
  }
  const always = norm + Math.sqrt(dimension);
  if (beta === 0) return always;
  const conditioned = Math.sqrt(norm * norm + dimension / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (norm + Math.sqrt(dimension) / 2));
  return Math.min(always, conditioned);
}

export function ddgParams(input: DdgParamsInput): DdgParams {
  const parsed = ddgParamsInputSchema.safeParse(input);
  if (!parsed.success) throw new RangeError(`ddgParams: ${z.prettifyError(parsed.error)}`);
  const { dimension, clipNorm, scale, localNoiseStdDev, modulusBits, beta } = parsed.data;
  const paddedDimension = hadamardDimension(dimension);
  const noiseVariance = (localNoiseStdDev * scale) ** 2;
  if (!(noiseVariance >= 1 && noiseVariance <= MAX_DISCRETE_GAUSSIAN_VARIANCE)) {
    // Below 1 the sum-of-discrete-Gaussians bound (τ ≈ 10(n−1)e^(−π²σ²)) is useless.
    throw new RangeError(`ddgParams: (localNoiseStdDev·scale)² must be in [1, 2^60], got ${noiseVariance}`);
  }
  // Whether the sums fit Z_(2^k) is a matter of probability: ddgWrapLogProbabilityBound.
  const roundedNormBound = roundedL2NormBound(clipNorm * scale, paddedDimension, beta);
  return Object.freeze({ dimension, clipNorm, scale, localNoiseStdDev, modulusBits, beta, paddedDimension, noiseVariance, roundedNormBound });
}

/** In-place unnormalised fast Walsh–Hadamard transform; length a power of two. */
function walshHadamard(x: Float64Array): void {
  const n = x.length;
  for (let half = 1; half < n; half *= 2) {
    for (let start = 0; start < n; start += 2 * half) {
      for (let i = start; i < start + half; i++) {
        const a = x[i] as number;
        const b = x[i + half] as number;
        x[i] = a + b;
        x[i + half] = a - b;
      }
    }
  }
}

function assertRotationInput(where: string, x: Float64Array, seed: Uint8Array): void {
  if (!(x instanceof Float64Array) || x.length === 0 || (x.length & (x.length - 1)) !== 0) {
    throw new RangeError(`${where}: values must be a Float64Array whose length is a power of two, got length ${(x as { length?: number }).length}`);
  }
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new RangeError(`${where}: seed must be a 32-byte Uint8Array, got ${seed instanceof Uint8Array ? `${seed.length} bytes` : typeof seed}`);
  }
}

/** D's signs: bit i of the ChaCha20 keystream under the seed; 1 means −1. */
function rotationSignBits(seed: Uint8Array, length: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil(length / 8));
  return chacha20(seed, ROTATION_NONCE, bits, bits);
}

function applySigns(x: Float64Array, signs: Uint8Array): void {
  for (let i = 0; i < x.length; i++) {
    if (((signs[i >>> 3] as number) >>> (i & 7)) & 1) x[i] = -(x[i] as number);
  }
}

/** x ← H·D·x in place (H = Walsh–Hadamard / √d, orthogonal and symmetric); returns x. */
export function randomizedHadamard(x: Float64Array, seed: Uint8Array): Float64Array {
  assertRotationInput('randomizedHadamard', x, seed);
  applySigns(x, rotationSignBits(seed, x.length));
  walshHadamard(x);
  const norm = 1 / Math.sqrt(x.length);
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) * norm;
  return x;
}

/** y ← (H·D)⁻¹·y = D·H·y in place; returns y. */
export function inverseRandomizedHadamard(y: Float64Array, seed: Uint8Array): Float64Array {
  assertRotationInput('inverseRandomizedHadamard', y, seed);
  walshHadamard(y);
  const norm = 1 / Math.sqrt(y.length);
  for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) * norm;
  applySigns(y, rotationSignBits(seed, y.length));
  return y;
}

export interface ConditionalRoundingResult {
  /** Integer-valued, same length as the input, L2 norm ≤ the bound. */
  rounded: Float64Array;
  /** Attempts made (≥ 1); on average at most 1/(1 − β) when the bound is roundedL2NormBound's. */
  attempts: number;
}

/**
 * Conditional randomized rounding (Kairouz, Liu & Steinke 2021, Algorithm 1, step 3): round each
 * coordinate to ⌊x⌋ + Bernoulli(x − ⌊x⌋), and start again until ‖z‖₂ ≤ normBound.
 *
 * The check is conservative: the float64 sum of squares carries a relative error below
 * (d + 4)·2^−53, so it must clear normBound² by a factor (1 + (d + 4)·2^−52); an accepted vector's
 * exact norm is therefore never above normBound. Each attempt takes fresh uniforms from a ChaCha20
 * stream keyed from `randomBytes` (../encode/fixed-point.ts's roundingStream), 32 bits per coordinate.
 */
export function conditionalRandomizedRounding(
  values: Float64Array,
  normBound: number,
  randomBytes: RandomBytes = secureRandomBytes,
): ConditionalRoundingResult {
  const where = 'conditionalRandomizedRounding';
  if (!(values instanceof Float64Array)) throw new TypeError(`${where}: values must be a Float64Array, got ${typeof values}`);
  assertPositiveFinite(where, 'normBound', normBound);
  const limit = (normBound * normBound) / (1 + (values.length + 4) * 2 ** -52);
  const rounded = new Float64Array(values.length);
  for (let attempts = 1; attempts <= MAX_ROUNDING_ATTEMPTS; attempts++) {
    const uniforms = roundingStream(values.length, randomBytes);
    for (let i = 0; i < values.length; i++) {
      const x = values[i] as number;
      const floor = Math.floor(x);
      rounded[i] = floor + ((uniforms[i] as number) < (x - floor) * TWO_POW_32 ? 1 : 0);
    }
    const norm = l2Norm(rounded, where);
    if (norm * norm <= limit) return { rounded, attempts };
  }
  throw new Error(
    `${where}: no rounding within L2 norm ${normBound} after ${MAX_ROUNDING_ATTEMPTS} attempts; ` +
      `expected the input norm to be at most the norm the bound was computed for, got ${l2Norm(values, where)}`,
  );
}

export interface DdgEncodedUpdate {
  /** paddedDimension words in Z_(2^k): rounded, rotated update plus discrete Gaussian noise. */
  words: Uint32Array;
  /** Conditional rounding attempts. */
  roundingAttempts: number;
  /** Whether clipping scaled the update down. */
  wasClipped: boolean;
}

function assertSeed(where: string, seed: unknown): asserts seed is Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new RangeError(`${where}: rotationSeed must be a 32-byte Uint8Array, got ${seed instanceof Uint8Array ? `${seed.length} bytes` : typeof seed}`);
  }
}

/**
 * Client side: clip, scale, rotate, round conditionally, add N_Z(0, (σ·scale)²) per coordinate and
 * reduce mod 2^k. The result is what goes into secure aggregation.
 */
export function ddgEncodeUpdate(
  update: Float32Array,
  params: DdgParams,
  rotationSeed: Uint8Array,
  randomBytes: RandomBytes = secureRandomBytes,
): DdgEncodedUpdate {
  const where = 'ddgEncodeUpdate';
  if (!(update instanceof Float32Array) || update.length !== params.dimension) {
    throw new RangeError(
      `${where}: update must be a Float32Array of length ${params.dimension}, got ${update instanceof Float32Array ? `length ${update.length}` : typeof update}`,
    );
  }
  assertSeed(where, rotationSeed);
  const { clipped, wasClipped } = clipL2(update, params.clipNorm);
  const x = new Float64Array(params.paddedDimension);
  for (let i = 0; i < clipped.length; i++) x[i] = (clipped[i] as number) * params.scale;
  randomizedHadamard(x, rotationSeed);
  const { rounded, attempts } = conditionalRandomizedRounding(x, params.roundedNormBound, randomBytes);
  const modulus = 2 ** params.modulusBits;
  const words = new Uint32Array(params.paddedDimension);
  for (let i = 0; i < rounded.length; i++) {
    const q = (rounded[i] as number) % modulus;
    words[i] = q < 0 ? q + modulus : q;
  }
  addDiscreteGaussianNoiseMod(words, params.noiseVariance, params.modulusBits, randomBytes);
  return { words, roundingAttempts: attempts, wasClipped };
}

/**
 * Server side: the modular sum of the clients' words, mapped to [−2^(k−1), 2^(k−1)), rotated back
 * and divided by scale. Returns the first `dimension` coordinates: the noisy sum of the clipped
 * updates (exactly, unless a coordinate wrapped; see ddgWrapProbabilityBound).
 */
export function ddgDecodeSum(sum: Uint32Array, params: DdgParams, rotationSeed: Uint8Array): Float32Array {
  const where = 'ddgDecodeSum';
  if (!(sum instanceof Uint32Array) || sum.length !== params.paddedDimension) {
    throw new RangeError(
      `${where}: sum must be a Uint32Array of length ${params.paddedDimension}, got ${sum instanceof Uint32Array ? `length ${sum.length}` : typeof sum}`,
    );
  }
  assertSeed(where, rotationSeed);
  const modulus = 2 ** params.modulusBits;
  const half = modulus / 2;
  const y = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) {
    const s = sum[i] as number;
    if (s >= modulus) throw new RangeError(`${where}: sum word ${i} is ${s}, expected < 2^${params.modulusBits}`);
    y[i] = s >= half ? s - modulus : s;
  }
  inverseRandomizedHadamard(y, rotationSeed);
  const out = new Float32Array(params.dimension);
  for (let i = 0; i < out.length; i++) out[i] = (y[i] as number) / params.scale;
  return out;
}

export interface DdgWrapOptions {
  params: DdgParams;
  /** n: clients whose words are summed. */
  clients: number;
  /**
   * A bound on ‖Σᵢ clip(xᵢ)‖₂ in model units. @default clients·clipNorm (always true; the paper's
   * Eq. for aligned updates. Pass √clients·clipNorm only where updates are known to be near orthogonal.)
   */
  sumNorm?: number;
}

/**
 * log of an upper bound on P[some coordinate of the noisy integer sum leaves [−2^(k−1), 2^(k−1))],
 * i.e. on the probability that modular clipping changes the decoded sum. Our own union bound,
 * with the sub-Gaussian ingredients of Kairouz, Liu & Steinke 2021's modular-clipping analysis
 * (flattening with ρ = 1, rounding, discrete Gaussian tails). Per coordinate j the sum is
 * S_j = A_j + B_j + N_j:
 * - A_j = (H·D·v)_j, v = scale·Σᵢxᵢ: a Rademacher sum, sub-Gaussian with variance proxy ‖v‖²/d
 *   (Hoeffding), given that the updates do not depend on D;
 * - B_j: the n rounding errors, each in an interval of length 1, so sub-Gaussian with proxy 1/4
 *   about its mean (Hoeffding's lemma); conditioning on acceptance (probability ≥ 1 − β) moves
 *   each mean by at most min(1, β/(1 − β));
 * - N_j: n discrete Gaussians, each σ²·scale²-sub-Gaussian (Canonne, Kamath & Steinke 2020).
 * With V = ‖v‖²/d + n/4 + n·σ²·scale² and b = n·min(1, β/(1 − β)),
 *   P[|S_j| ≥ 2^(k−1)] ≤ 2·exp(−(2^(k−1) − b)²/(2V)), and a union bound over the d coordinates.
 * Wrapping is a utility failure only: privacy holds whatever the sum does.
 */
export function ddgWrapLogProbabilityBound(options: DdgWrapOptions): number {
  const where = 'ddgWrapLogProbabilityBound';
  const { params, clients } = options;
  assertPositiveInteger(where, 'clients', clients);
  const sumNorm = options.sumNorm ?? clients * params.clipNorm;
  assertPositiveFinite(where, 'sumNorm', sumNorm);
  const d = params.paddedDimension;
  const variance = (sumNorm * params.scale) ** 2 / d + clients / 4 + clients * params.noiseVariance;
  const bias = clients * roundingBiasBound(params.beta);
  const margin = 2 ** (params.modulusBits - 1) - bias;
  if (margin <= 0) return 0;
  return Math.min(0, Math.log(2 * d) - (margin * margin) / (2 * variance));
}

/** The most one client's conditional rounding can shift the mean of one coordinate. */
function roundingBiasBound(beta: number): number {
  return Math.min(1, beta / (1 - beta));
}

export interface DdgScaleOptions {
  /** d: model dimension (padded internally). */
  dimension: number;
  clipNorm: number;
  localNoiseStdDev: number;
  /** n: the largest number of clients whose words are summed. */
  clients: number;
  /** @default 32 */
  modulusBits?: number;
  /** @default DEFAULT_ROUNDING_BETA */
  beta?: number;
  /** The largest acceptable probability that any coordinate wraps in a round. @default 1e-9 */
  wrapProbability?: number;
  /** As in DdgWrapOptions. @default clients·clipNorm */
  sumNorm?: number;
}

/**
 * The largest scale (finest granularity γ = 1/scale) at which ddgWrapLogProbabilityBound stays at
 * or below log(wrapProbability). Solving (2^(k−1) − b)² = 2·ln(2d/p)·(scale²·(S²/d + nσ²) + n/4)
 * for scale, with S = sumNorm. A larger scale means a smaller rounding error and a Δ₂ closer to
 * clipNorm·scale, so the largest that keeps the sum in range is the one to use. Throws when no
 * scale fits (too many clients for k bits).
 */
export function ddgChooseScale(options: DdgScaleOptions): number {
  const where = 'ddgChooseScale';
  const { dimension, clipNorm, localNoiseStdDev, clients, modulusBits = 32, beta = DEFAULT_ROUNDING_BETA, wrapProbability = 1e-9 } = options;
  assertPositiveInteger(where, 'dimension', dimension);
  assertPositiveFinite(where, 'clipNorm', clipNorm);
  assertPositiveFinite(where, 'localNoiseStdDev', localNoiseStdDev);
  assertPositiveInteger(where, 'clients', clients);
  assertOpenUnitInterval(where, 'wrapProbability', wrapProbability);
  const sumNorm = options.sumNorm ?? clients * clipNorm;
  assertPositiveFinite(where, 'sumNorm', sumNorm);
  const d = hadamardDimension(dimension);
  const margin = 2 ** (modulusBits - 1) - clients * roundingBiasBound(beta);
  const logFactor = 2 * Math.log((2 * d) / wrapProbability);
  const room = (margin > 0 ? (margin * margin) / logFactor : 0) - clients / 4;
  if (room <= 0) {
    throw new RangeError(
      `${where}: ${clients} clients cannot share Z_(2^${modulusBits}) at wrap probability ${wrapProbability}; raise modulusBits or lower clients`,
    );
  }
  return Math.sqrt(room / ((sumNorm * sumNorm) / d + clients * localNoiseStdDev * localNoiseStdDev));
}

/**
 * The fewest modulus bits (≤ 32) for which ddgWrapLogProbabilityBound at this scale is at most
 * log(wrapProbability); throws if even 32 bits do not suffice.
 */
export function ddgMinModulusBits(options: Omit<DdgWrapOptions, 'params'> & { params: Omit<DdgParamsInput, 'modulusBits'>; wrapProbability?: number }): number {
  const where = 'ddgMinModulusBits';
  const { wrapProbability = 1e-9 } = options;
  assertOpenUnitInterval(where, 'wrapProbability', wrapProbability);
  // Validates every field once; nothing else in DdgParams depends on k.
  const widest = ddgParams({ ...options.params, modulusBits: 32 });
  for (let bits = 2; bits <= 32; bits++) {
    const params: DdgParams = { ...widest, modulusBits: bits };
    const logBound = ddgWrapLogProbabilityBound({ params, clients: options.clients, ...(options.sumNorm !== undefined ? { sumNorm: options.sumNorm } : {}) });
    if (logBound <= Math.log(wrapProbability)) return bits;
  }
  throw new RangeError(`${where}: even 32 bits wrap with probability above ${wrapProbability}; lower the scale`);
}
