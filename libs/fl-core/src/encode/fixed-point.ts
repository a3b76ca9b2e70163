import { z } from 'zod';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { addWordsMod } from '../kernels/modular';
import { secureRandomBytes, type RandomBytes } from '../random/index';

/**
 * Fixed-point encoding of float updates into Z_(2^k) for secure aggregation (Bonawitz et al. 2017,
 * §3: inputs are vectors over Z_R and the server learns their sum mod R).
 *
 * Choice (two's-complement centered, no offset):
 * - each value is clipped to [−r, r] and scaled: v = clamp(x·scale, −L, L) with L = ⌊r·scale⌋;
 * - v is stochastically rounded to an integer q ∈ [−L, L] and sent as q mod 2^k;
 * - the sum of `count ≤ maxClients` such q lies in [−m·L, m·L]; with m·L ≤ 2^(k−1) − 1 that range
 *   holds at most 2^k − 1 values, so it never wraps and decodes uniquely: S ≥ 2^(k−1) ↦ S − 2^k.
 *   (This is m·(2·r·scale) < 2^k with one spare code point.)
 * An offset encoding would need the count at decode time as well and saves nothing; centering
 * keeps zero at zero, so the sum of clients that sent nothing is exactly 0.
 *
 * The default scale is the largest allowed: L = ⌊(2^(k−1) − 1)/m⌋ and scale = L/r. Clamping in
 * the scaled domain against the integer L (not r·scale, which floats can round up) makes the
 * no-wrap guarantee exact.
 *
 * Quantization bound: stochastic rounding moves each value by less than one unit, so per
 * coordinate |decodeSum − Σ clamp(xᵢ, −r, r)| < count/scale, plus the float32 rounding of the
 * result (half an ulp of the sum).
 */
export const encodingParamsInputSchema = z
  .object({
    /** r: each value is clipped to [−r, r] before encoding. */
    clipRange: z.number().positive().finite(),
    /** m: the most clients whose encodings may be summed without wrapping. */
    maxClients: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31),
    /** k: values live in Z_(2^k). @default 32 */
    modulusBits: z.number().int().min(2).max(32).default(32),
    /** Integer units per 1.0; @default the largest that cannot wrap, ⌊(2^(k−1) − 1)/m⌋ / r. */
    scale: z.number().positive().finite().optional(),
  })
  .strict();

export type EncodingParamsInput = z.input<typeof encodingParamsInputSchema>;

export interface EncodingParams {
  readonly clipRange: number;
  readonly maxClients: number;
  readonly modulusBits: number;
  readonly scale: number;
  /** L: one client's encoded integer lies in [−L, L]. */
  readonly maxMagnitude: number;
}

export function encodingParams(input: EncodingParamsInput): EncodingParams {
  const parsed = encodingParamsInputSchema.safeParse(input);
  if (!parsed.success) throw new RangeError(`encodingParams: ${z.prettifyError(parsed.error)}`);
  const { clipRange, maxClients, modulusBits, scale } = parsed.data;
  const halfModulus = 2 ** (modulusBits - 1) - 1;
  if (scale === undefined) {
    const maxMagnitude = Math.floor(halfModulus / maxClients);
    if (maxMagnitude < 1) {
      throw new RangeError(
        `encodingParams: ${maxClients} clients cannot share Z_(2^${modulusBits}) (each needs at least ±1; ` + `need maxClients ≤ ${halfModulus})`,
      );
    }
    return Object.freeze({ clipRange, maxClients, modulusBits, scale: maxMagnitude / clipRange, maxMagnitude });
  }
  const maxMagnitude = Math.floor(clipRange * scale);
  if (maxMagnitude < 1) {
    throw new RangeError(`encodingParams: clipRange·scale = ${clipRange * scale} leaves no integer levels; expected ≥ 1`);
  }
  if (maxClients * maxMagnitude > halfModulus) {
    throw new RangeError(
      `encodingParams: ${maxClients} clients × ⌊${clipRange}·${scale}⌋ = ${maxClients * maxMagnitude} could wrap ` +
        `Z_(2^${modulusBits}); expected ≤ ${halfModulus}`,
    );
  }
  return Object.freeze({ clipRange, maxClients, modulusBits, scale, maxMagnitude });
}

/**
 * Uniform 32-bit words for stochastic rounding: ChaCha20 (RFC 8439) keyed with 32 bytes from
 * `randomBytes`. A CSPRNG stream keeps the rounding unpredictable to the server while costing one
 * 32-byte draw from the injectable source (tests pass a deterministic one).
 */
export function roundingStream(count: number, randomBytes: RandomBytes): Uint32Array {
  const key = randomBytes(new Uint8Array(32));
  const words = new Uint32Array(count);
  const bytes = new Uint8Array(words.buffer);
  // Any byte order of uniform bytes is uniform, so the platform's endianness does not matter here.
  chacha20(key, new Uint8Array(12), bytes, bytes);
  return words;
}

const TWO_POW_32 = 2 ** 32;

/**
 * Encodes `values[i]` into `out[offset + i]` with uniforms `uniforms[uniformOffset + i]`. Stochastic
 * rounding: q = ⌊v⌋ + [u < v − ⌊v⌋] with u = word/2^32, so E[q] = v up to 2^−32 (the resolution of u).
 */
export function encodeInto(
  values: ArrayLike<number>,
  params: EncodingParams,
  out: Uint32Array,
  offset: number,
  uniforms: Uint32Array,
  uniformOffset: number,
  label: string,
): void {
  const { scale, maxMagnitude, modulusBits } = params;
  const modulus = 2 ** modulusBits;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (!Number.isFinite(x)) {
      throw new RangeError(`${label}: value ${i} is ${x}, expected a finite number`);
    }
    let v = x * scale;
    if (v > maxMagnitude) v = maxMagnitude;
    else if (v < -maxMagnitude) v = -maxMagnitude;
    const floor = Math.floor(v);
    const q = floor + ((uniforms[uniformOffset + i] as number) < (v - floor) * TWO_POW_32 ? 1 : 0);
    out[offset + i] = q < 0 ? q + modulus : q;
  }
}

/**
 * Decodes one centered sum coordinate range; `count` is how many encodings were summed. Returns
 * float64 values (callers narrow to float32 where they need to).
 */
export function decodeInto(
  sum: Uint32Array,
  offset: number,
  length: number,
  params: EncodingParams,
  count: number,
  out: { [index: number]: number },
  label: string,
): void {
  checkCount(params, count, label);
  const { modulusBits, scale } = params;
  const modulus = 2 ** modulusBits;
  const half = 2 ** (modulusBits - 1);
  for (let i = 0; i < length; i++) {
    const s = sum[offset + i] as number;
    if (s >= modulus) throw new RangeError(`${label}: sum word ${offset + i} is ${s}, expected < 2^${modulusBits}`);
    out[i] = (s >= half ? s - modulus : s) / scale;
  }
}

function checkCount(params: EncodingParams, count: number, label: string): void {
  if (!Number.isInteger(count) || count < 0 || count > params.maxClients) {
    throw new RangeError(`${label}: count is ${count}, expected an integer in [0, ${params.maxClients}] (maxClients; more could have wrapped)`);
  }
}

/** Encodes one client's update: clip to [−r, r], scale, stochastically round, reduce mod 2^k. */
export function encodeVector(values: Float32Array, params: EncodingParams, randomBytes: RandomBytes = secureRandomBytes): Uint32Array {
  const out = new Uint32Array(values.length);
  encodeInto(values, params, out, 0, roundingStream(values.length, randomBytes), 0, 'encodeVector');
  return out;
}

/**
 * Decodes Σ encodeVector(xᵢ) mod 2^k over `count` clients back to floats. Within the bound
 * |result − Σ clamp(xᵢ)| < count/scale per coordinate (plus float32 rounding of the result).
 */
export function decodeSum(sum: Uint32Array, params: EncodingParams, count: number): Float32Array {
  const out = new Float32Array(sum.length);
  decodeInto(sum, 0, sum.length, params, count, out, 'decodeSum');
  return out;
}

/** The stated per-coordinate quantization bound for a sum of `count` encodings: count/scale. */
export function quantizationBound(params: EncodingParams, count: number): number {
  checkCount(params, count, 'quantizationBound');
  return count / params.scale;
}

/** Adds `b` into `a` modulo 2^k in place: how encodings (and masked inputs) are summed. */
export function addModInto(a: Uint32Array, b: Uint32Array, modulusBits: number): Uint32Array {
  if (a.length !== b.length) throw new RangeError(`addModInto: lengths ${a.length} and ${b.length} differ`);
  addWordsMod(a, 0, b, 1, modulusBits);
  return a;
}
