/**
 * Device signing keys: ECDSA P-256 with SHA-256 through WebCrypto. P-256 rather than Ed25519
 * because every browser Murmur supports signs with it through `crypto.subtle` and can keep the
 * private key non-extractable in IndexedDB (Ed25519 reached Chrome only in 137). No @noble
 * fallback on purpose: a fallback key would be extractable, which is the property this exists for.
 */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNATURE = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Uncompressed SEC1 point: 0x04 ‖ x ‖ y. */
export const PUBLIC_KEY_BYTES = 65;
/** IEEE P1363 r ‖ s, as WebCrypto produces it. */
export const SIGNATURE_BYTES = 64;

export interface SigningKeyPair {
  /** Non-extractable: it signs, it cannot be read, and it survives a structured clone into IndexedDB. */
  readonly privateKey: CryptoKey;
  readonly publicKey: Uint8Array;
}

function subtle(): SubtleCrypto {
  const api = globalThis.crypto?.subtle;
  if (!api) throw new Error('device identity needs WebCrypto (crypto.subtle): open the app over https or localhost');
  return api;
}

export async function generateSigningKeyPair(): Promise<SigningKeyPair> {
  const pair = await subtle().generateKey(ALGORITHM, false, ['sign', 'verify']);
  const publicKey = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

export async function sign(privateKey: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign(SIGNATURE, privateKey, message as BufferSource));
}

/** False for a wrong signature, a malformed signature or a public key that is not a P-256 point. */
export async function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  let key: CryptoKey;
  try {
    key = await subtle().importKey('raw', publicKey as BufferSource, ALGORITHM, false, ['verify']);
  } catch {
    return false;
  }
  return subtle().verify(SIGNATURE, key, signature as BufferSource, message as BufferSource);
}
