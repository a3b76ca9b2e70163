import type { RandomBytes } from '../random/index';
import { secureRandomBytes } from '../random/index';
import { base64UrlDecode, base64UrlEncode } from './certificate';
import { PUBLIC_KEY_BYTES, sign, SIGNATURE_BYTES, verify } from './signing';

/**
 * Proofs of possession: a device shows it holds the private half of a key by signing a fresh,
 * single-use value with it. Two places ask for one:
 * - enrollment: the device signs the enrollment service's challenge together with the public key
 *   it asks to have certified (a challenge bound to one key cannot certify another);
 * - the Socket.IO handshake: the device signs (purpose, time, nonce, certificate). The aggregator
 *   accepts a time within its clock-skew bound and each nonce once, so a recorded handshake cannot
 *   be replayed to impersonate the device, and a signature made for one purpose (or one
 *   certificate) is worthless for another.
 * Messages are ASCII with `|` separators; every field is base64url or decimal, so none can contain
 * a separator and the encoding is injective.
 */

/** Domain separation: what each signature is for. */
export const ENROLLMENT_PROOF_PURPOSE = 'murmur/enroll/v1';
export const HANDSHAKE_PROOF_PURPOSE = 'murmur/participant-socket/v1';
/** A challenge or a nonce: 16 random bytes, 22 base64url characters. */
export const NONCE_BYTES = 16;
export const NONCE_CHARS = 22;
/** base64url lengths of a P-256 public key (65 bytes) and of a P1363 signature (64 bytes). */
export const PUBLIC_KEY_CHARS = 87;
export const SIGNATURE_CHARS = 86;

const ascii = (text: string) => new TextEncoder().encode(text);
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A fresh nonce (or challenge) from the CSPRNG, base64url. */
export function freshNonce(randomBytes: RandomBytes = secureRandomBytes): string {
  return base64UrlEncode(randomBytes(new Uint8Array(NONCE_BYTES)));
}

/** Decodes base64url that must name exactly `bytes` bytes in its one canonical spelling; null otherwise. */
export function decodeExact(text: string, bytes: number): Uint8Array | null {
  if (!BASE64URL.test(text)) return null;
  let decoded: Uint8Array;
  try {
    decoded = base64UrlDecode(text);
  } catch {
    // Not base64url (CertificateError), or a length atob refuses (4k + 1 characters: a DOMException).
    return null;
  }
  // atob ignores a last character's unused low bits: only the canonical spelling is one value.
  return decoded.length === bytes && base64UrlEncode(decoded) === text ? decoded : null;
}

export function enrollmentProofMessage(challenge: string, publicKey: Uint8Array): Uint8Array {
  return ascii(`${ENROLLMENT_PROOF_PURPOSE}|${challenge}|${base64UrlEncode(publicKey)}`);
}

/** The device's signature over a challenge and the key it wants certified (base64url). */
export async function signEnrollmentProof(privateKey: CryptoKey, challenge: string, publicKey: Uint8Array): Promise<string> {
  return base64UrlEncode(await sign(privateKey, enrollmentProofMessage(challenge, publicKey)));
}

export async function checkEnrollmentProof(challenge: string, publicKey: Uint8Array, signature: string): Promise<boolean> {
  const bytes = decodeExact(signature, SIGNATURE_BYTES);
  return bytes !== null && publicKey.length === PUBLIC_KEY_BYTES && verify(publicKey, enrollmentProofMessage(challenge, publicKey), bytes);
}

/** The signed part of a handshake: when, which nonce, and the signature (base64url). */
export interface HandshakeProof {
  readonly atMs: number;
  readonly nonce: string;
  readonly signature: string;
}

export function handshakeProofMessage(certificate: string, atMs: number, nonce: string): Uint8Array {
  return ascii(`${HANDSHAKE_PROOF_PURPOSE}|${atMs}|${nonce}|${certificate}`);
}

/** Signs a handshake proof for `certificate` at `nowMs` with a fresh nonce. */
export async function signHandshakeProof(
  privateKey: CryptoKey,
  certificate: string,
  nowMs: number,
  randomBytes: RandomBytes = secureRandomBytes,
): Promise<HandshakeProof> {
  const atMs = Math.floor(nowMs);
  const nonce = freshNonce(randomBytes);
  return { atMs, nonce, signature: base64UrlEncode(await sign(privateKey, handshakeProofMessage(certificate, atMs, nonce))) };
}

/** Whether `proof` is the holder of `publicKey` signing this certificate, time and nonce (freshness is the caller's check). */
export async function checkHandshakeProof(publicKey: Uint8Array, certificate: string, proof: HandshakeProof): Promise<boolean> {
  const signature = decodeExact(proof.signature, SIGNATURE_BYTES);
  if (signature === null || decodeExact(proof.nonce, NONCE_BYTES) === null) return false;
  return verify(publicKey, handshakeProofMessage(certificate, proof.atMs, proof.nonce), signature);
}
