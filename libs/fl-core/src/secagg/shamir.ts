import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import type { RandomBytes } from '../random/index';

/**
 * Shamir t-out-of-n secret sharing (Bonawitz et al. 2017, §3.1) of 32-byte secrets over GF(p) with
 * p = 2^256 + 297, the smallest prime above 2^256 (checked with Miller–Rabin in the test).
 *
 * Why this field: the secrets are an X25519 secret key and a 32-byte seed, i.e. arbitrary 256-bit
 * strings, so p must exceed 2^256 to share them without loss or bias (2^255 − 19 would drop a bit
 * or need rejection at key generation). GF(2^8) byte-wise sharing caps the cohort at 255 holders,
 * below our n = 500, and a 32-bit prime would need per-chunk carries for the same result. BigInt
 * arithmetic costs ~1 µs per multiply-mod, which for t ≤ 500 is milliseconds per secret.
 * Shares are 33 bytes (values < p < 2^257), big-endian.
 */
export const SHAMIR_PRIME = (1n << 256n) + 297n;
export const SECRET_BYTES = 32;
export const SHARE_BYTES = 33;

function mod(a: bigint): bigint {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
}

/** Modular inverse by the extended Euclidean algorithm (a ≠ 0 mod p). */
function invert(a: bigint): bigint {
  let [oldR, r] = [mod(a), SHAMIR_PRIME];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError('shamir: value has no inverse mod p');
  return mod(oldS);
}

/** A uniform element of GF(p) by rejection: 257-bit candidates, accepted with probability ≈ 1/2. */
function randomFieldElement(randomBytes: RandomBytes): bigint {
  const buffer = new Uint8Array(SHARE_BYTES);
  for (;;) {
    randomBytes(buffer);
    buffer[0] = (buffer[0] as number) & 0x01;
    const candidate = bytesToNumberBE(buffer);
    if (candidate < SHAMIR_PRIME) return candidate;
  }
}

function checkPoints(xs: readonly number[], label: string): void {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) throw new RangeError(`${label}: share point ${x} must be a positive integer`);
    if (seen.has(x)) throw new RangeError(`${label}: share point ${x} appears twice`);
    seen.add(x);
  }
}

/**
 * Splits a 32-byte secret into shares f(x) for each x in `points` (distinct positive integers; we
 * use client id + 1), where f has degree threshold − 1, f(0) = secret and uniform other
 * coefficients from `randomBytes`. Any `threshold` shares reconstruct; fewer are consistent with
 * every secret.
 */
export function splitSecret(secret: Uint8Array, points: readonly number[], threshold: number, randomBytes: RandomBytes): Uint8Array[] {
  if (secret.length !== SECRET_BYTES) throw new RangeError(`splitSecret: secret has ${secret.length} bytes, expected ${SECRET_BYTES}`);
  checkPoints(points, 'splitSecret');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > points.length) {
    throw new RangeError(`splitSecret: threshold ${threshold} must be in [1, ${points.length}] (the number of shares)`);
  }
  const coefficients: bigint[] = [bytesToNumberBE(secret)];
  for (let i = 1; i < threshold; i++) coefficients.push(randomFieldElement(randomBytes));
  return points.map((point) => {
    const x = BigInt(point);
    // Horner: f(x) = a0 + x(a1 + x(a2 + …)).
    let y = 0n;
    for (let i = coefficients.length - 1; i >= 0; i--) y = (y * x + (coefficients[i] as bigint)) % SHAMIR_PRIME;
    return numberToBytesBE(y, SHARE_BYTES);
  });
}

/**
 * λᵢ = Π_{j≠i} xⱼ/(xⱼ − xᵢ) mod p: the weights that interpolate f(0) from f(x₀), …, f(x_{t−1}).
 * As N/dᵢ with N = Π xⱼ and dᵢ = xᵢ·Π_{j≠i}(xⱼ − xᵢ): the factors are small integers, and all t
 * denominators are inverted with one inversion (Montgomery's batch trick), so t = 251 costs
 * ~t² small multiplications instead of t² full multiply-mods and t inversions.
 */
export function lagrangeAtZero(points: readonly number[]): bigint[] {
  checkPoints(points, 'lagrangeAtZero');
  let product = 1n;
  for (const x of points) product = (product * BigInt(x)) % SHAMIR_PRIME;
  const denominators = points.map((xi) => {
    let d = BigInt(xi);
    for (const xj of points) if (xj !== xi) d = mod(d * BigInt(xj - xi));
    return d;
  });
  // prefix[i] = d₀·…·d_{i−1}; one inversion of the full product, then peel off one dᵢ at a time.
  const prefix: bigint[] = [1n];
  for (const d of denominators) prefix.push(((prefix[prefix.length - 1] as bigint) * d) % SHAMIR_PRIME);
  let inverse = invert(prefix[denominators.length] as bigint);
  const weights = new Array<bigint>(points.length);
  for (let i = points.length - 1; i >= 0; i--) {
    weights[i] = (((inverse * (prefix[i] as bigint)) % SHAMIR_PRIME) * product) % SHAMIR_PRIME;
    inverse = (inverse * (denominators[i] as bigint)) % SHAMIR_PRIME;
  }
  return weights;
}

/** The low 32 bytes of p − 2^256 = 297, big-endian: a 33-byte value below p has byte 0 = 0, or 1 and these below. */
const P_LOW = numberToBytesBE(SHAMIR_PRIME - (1n << 256n), SECRET_BYTES);

/**
 * Whether bytes [offset, offset + 33) are a canonical element of GF(p), by comparing bytes: the
 * server checks every share it is sent, and this is ~50× cheaper than parsing each into a BigInt.
 */
export function isFieldElement(bytes: Uint8Array, offset = 0): boolean {
  const top = bytes[offset];
  if (top === 0) return true;
  if (top !== 1) return false;
  for (let i = 0; i < SECRET_BYTES; i++) {
    const b = bytes[offset + 1 + i] as number;
    const limit = P_LOW[i] as number;
    if (b !== limit) return b < limit;
  }
  return false;
}

/**
 * The 33-byte big-endian share at `offset` as a BigInt, four 64-bit limbs at a time (noble's
 * bytesToNumberBE goes through a hex string, which made share parsing the server's largest cost).
 */
export function fieldElementAt(view: DataView, offset = 0): bigint {
  let value = BigInt(view.getUint8(offset));
  for (let limb = 0; limb < 4; limb++) value = (value << 64n) | view.getBigUint64(offset + 1 + 8 * limb, false);
  return value;
}

/** Parses a share, or returns null when it is not a canonical element of GF(p). */
export function parseShare(share: Uint8Array): bigint | null {
  if (share.length !== SHARE_BYTES || !isFieldElement(share)) return null;
  return fieldElementAt(new DataView(share.buffer, share.byteOffset, SHARE_BYTES));
}

/**
 * Σ λᵢ·sᵢ with precomputed weights (so many secrets shared among the same holders reuse one set of
 * inversions). Returns null when the interpolated value is ≥ 2^256: no 32-byte secret has such
 * shares, so they were inconsistent.
 */
export function combineWithWeights(weights: readonly bigint[], shares: readonly bigint[]): Uint8Array | null {
  if (weights.length !== shares.length) throw new RangeError(`combineWithWeights: ${weights.length} weights for ${shares.length} shares`);
  let secret = 0n;
  for (let i = 0; i < shares.length; i++) secret += (weights[i] as bigint) * (shares[i] as bigint);
  secret %= SHAMIR_PRIME;
  return secret >> 256n === 0n ? numberToBytesBE(secret, SECRET_BYTES) : null;
}

/** Reconstructs a secret from shares at distinct points; uses all of them (pass exactly t). */
export function combineShares(shares: readonly { point: number; share: Uint8Array }[]): Uint8Array | null {
  const values = shares.map(({ point, share }) => {
    const value = parseShare(share);
    if (value === null) throw new RangeError(`combineShares: share at point ${point} is not ${SHARE_BYTES} bytes below p`);
    return value;
  });
  return combineWithWeights(lagrangeAtZero(shares.map((s) => s.point)), values);
}
