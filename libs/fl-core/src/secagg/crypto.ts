import { x25519 } from '@noble/curves/ed25519.js';
import { ctr, gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { RandomBytes } from '../random/index';
import { concatBytes, lengthPrefixed, u32be, utf8 } from './bytes';

/**
 * The primitives of Bonawitz et al. 2017 §3 (key agreement, authenticated encryption, PRG, KDF),
 * each with a WebCrypto implementation and a byte-identical @noble fallback. Every party must
 * compute the same keys and masks, so a fallback has to be the *same* algorithm, never another
 * curve or cipher: we use X25519 everywhere (not P-256 where X25519 is missing, which would split
 * a cohort into parties that cannot agree) and AES-256 everywhere.
 *
 * Measured in Node 20 on this repo's 2-core AMD EPYC (see docs/secure-aggregation.md):
 * - X25519: WebCrypto 0.24 ms per agreement (import + derive) vs @noble/curves 1.8 ms — WebCrypto
 *   when the runtime supports X25519 (Node ≥ 20, Chrome ≥ 133, Firefox ≥ 130, Safari ≥ 17), noble
 *   otherwise.
 * - PRG: WebCrypto AES-256-CTR 3.9 ms per 4 MiB (1M words) vs @noble/ciphers ChaCha20 18 ms — AES
 *   (AES-NI through the platform) is 4.6× faster, so the mask PRG is AES-256-CTR; noble's AES-CTR
 *   is the fallback where `crypto.subtle` is missing (insecure contexts).
 * - AEAD: AES-256-GCM for the ~66-byte share messages.
 */
export interface CryptoSuite {
  readonly name: string;
  /** X25519(secretKey, pᵢ) for each public key; null where the peer key is invalid (low order). */
  agree(secretKey: Uint8Array, publicKeys: readonly Uint8Array[]): Promise<(Uint8Array | null)[]>;
  /**
   * AES-256-CTR keystream: bytes [16·firstBlock, 16·firstBlock + byteLength) of the stream whose
   * initial counter block is all zeros (the counter is the block's last 8 bytes, big-endian).
   */
  keystream(key: Uint8Array, byteLength: number, firstBlock?: number): Promise<Uint8Array>;
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array>;
  /** Null when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array | null>;
}

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** u = 9, the X25519 base point (RFC 7748 §4.1): X25519(k, 9) is k's public key. */
const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;
/** PKCS#8 prefix of a raw X25519 private key (RFC 8410 §7). */
const PKCS8_X25519_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
const SMALL_KEYSTREAM_BYTES = 4096;

function counterBlock(firstBlock: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(firstBlock) || firstBlock < 0) throw new RangeError(`keystream: firstBlock ${firstBlock} must be a non-negative integer`);
  const block = new Uint8Array(16);
  new DataView(block.buffer).setBigUint64(8, BigInt(firstBlock), false);
  return block;
}

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

const nobleAgree: CryptoSuite['agree'] = async (secretKey, publicKeys) =>
  publicKeys.map((publicKey) => {
    try {
      return x25519.getSharedSecret(secretKey, publicKey);
    } catch {
      return null;
    }
  });

function webCryptoAgree(subtle: SubtleCrypto): CryptoSuite['agree'] {
  return async (secretKey, publicKeys) => {
    const privateKey = await subtle.importKey('pkcs8', concatBytes(PKCS8_X25519_PREFIX, secretKey) as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, [
      'deriveBits',
    ]);
    return Promise.all(
      publicKeys.map(async (publicKey) => {
        try {
          const peer = await subtle.importKey('raw', copy(publicKey), { name: 'X25519' }, false, []);
          return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: peer }, privateKey, 256));
        } catch {
          // deriveBits rejects an all-zero output, i.e. a low-order peer key (RFC 7748 §6.1).
          return null;
        }
      }),
    );
  };
}

function webCryptoAes(subtle: SubtleCrypto): Pick<CryptoSuite, 'keystream' | 'seal' | 'open'> {
  let zeros = new Uint8Array(0);
  return {
    async keystream(key, byteLength, firstBlock = 0) {
      // Below a few KiB WebCrypto's per-call overhead (~0.1 ms) exceeds noble's whole computation;
      // both compute the same AES-256-CTR bytes.
      if (byteLength <= SMALL_KEYSTREAM_BYTES) return nobleSuite.keystream(key, byteLength, firstBlock);
      if (zeros.length < byteLength) zeros = new Uint8Array(byteLength);
      const aesKey = await subtle.importKey('raw', copy(key), 'AES-CTR', false, ['encrypt']);
      // 64-bit counter in the low half of the block: 2^64 blocks, far beyond 2^32 words.
      return new Uint8Array(await subtle.encrypt({ name: 'AES-CTR', counter: counterBlock(firstBlock), length: 64 }, aesKey, zeros.subarray(0, byteLength)));
    },
    async seal(key, nonce, plaintext, associatedData) {
      const aesKey = await subtle.importKey('raw', copy(key), 'AES-GCM', false, ['encrypt']);
      return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: copy(nonce), additionalData: copy(associatedData) }, aesKey, copy(plaintext)));
    },
    async open(key, nonce, ciphertext, associatedData) {
      const aesKey = await subtle.importKey('raw', copy(key), 'AES-GCM', false, ['decrypt']);
      try {
        return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: copy(nonce), additionalData: copy(associatedData) }, aesKey, copy(ciphertext)));
      } catch {
        return null;
      }
    },
  };
}

/** Pure-JS implementation: identical bytes, slower; for runtimes without WebCrypto's X25519/AES. */
export const nobleSuite: CryptoSuite = {
  name: 'noble',
  agree: nobleAgree,
  async keystream(key, byteLength, firstBlock = 0) {
    return ctr(key, counterBlock(firstBlock)).encrypt(new Uint8Array(byteLength));
  },
  async seal(key, nonce, plaintext, associatedData) {
    return gcm(key, nonce, associatedData).encrypt(plaintext);
  },
  async open(key, nonce, ciphertext, associatedData) {
    try {
      return gcm(key, nonce, associatedData).decrypt(ciphertext);
    } catch {
      return null;
    }
  },
};

/** RFC 7748 §6.1 Alice/Bob keys: a probe that the runtime's X25519 works and agrees. */
const PROBE_SECRET = new Uint8Array([
  0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77,
  0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
]);

async function detectSuite(): Promise<CryptoSuite> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return nobleSuite;
  const aes = webCryptoAes(subtle);
  const agree = webCryptoAgree(subtle);
  let x25519Works = false;
  try {
    const [viaWebCrypto] = await agree(PROBE_SECRET, [BASE_POINT]);
    const [viaNoble] = await nobleAgree(PROBE_SECRET, [BASE_POINT]);
    x25519Works = viaWebCrypto != null && viaNoble != null && viaWebCrypto.every((b, i) => b === viaNoble[i]);
  } catch {
    x25519Works = false;
  }
  return { name: x25519Works ? 'webcrypto' : 'webcrypto-aes+noble-x25519', agree: x25519Works ? agree : nobleAgree, ...aes };
}

let suite: Promise<CryptoSuite> | undefined;

/** The fastest suite this runtime supports (probed once). */
export function defaultSuite(): Promise<CryptoSuite> {
  suite ??= detectSuite();
  return suite;
}

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A fresh X25519 key pair; the secret is 32 bytes from the injectable CSPRNG (clamped at use). */
export async function generateKeyPair(cryptoSuite: CryptoSuite, randomBytes: RandomBytes): Promise<KeyPair> {
  const secretKey = randomBytes(new Uint8Array(KEY_BYTES));
  const [publicKey] = await cryptoSuite.agree(secretKey, [BASE_POINT]);
  if (!publicKey) throw new Error('generateKeyPair: X25519 failed on the base point');
  return { secretKey, publicKey };
}

export async function publicKeyOf(cryptoSuite: CryptoSuite, secretKey: Uint8Array): Promise<Uint8Array | null> {
  const [publicKey] = await cryptoSuite.agree(secretKey, [BASE_POINT]);
  return publicKey ?? null;
}

export type KeyPurpose = 'pairwise-mask' | 'share-encryption';

/**
 * HKDF-SHA-256 (RFC 5869) of an X25519 output into a 256-bit key bound to its purpose, the round
 * and the unordered pair {a, b}. The raw X25519 output is not uniform, so it is never a key by
 * itself; the full 256-bit result keys the PRG (no folding to 32 bits, unlike Flower's mask seed).
 */
export function deriveKey(sharedSecret: Uint8Array, purpose: KeyPurpose, roundId: string, a: number, b: number): Uint8Array {
  const info = concatBytes(lengthPrefixed(utf8(`murmur/secagg/v1 ${purpose}`)), lengthPrefixed(utf8(roundId)), u32be(Math.min(a, b)), u32be(Math.max(a, b)));
  return hkdf(sha256, sharedSecret, undefined, info, KEY_BYTES);
}

/** Associated data of the share ciphertext from → to: binds sender, recipient and round (Bonawitz et al. 2017, Round 1). */
export function shareAssociatedData(roundId: string, from: number, to: number): Uint8Array {
  return concatBytes(lengthPrefixed(utf8('murmur/secagg/v1 shares')), lengthPrefixed(utf8(roundId)), u32be(from), u32be(to));
}

/**
 * The AES-GCM nonce of the share ciphertext from → to: u32be(from) ‖ u32be(to) ‖ four zero bytes,
 * derived rather than sent (12 bytes less per ciphertext, each way). A (key, nonce) pair is never
 * used twice: the pair key k_uv = HKDF(X25519(c_u, c_v), "share-encryption", round, {u, v}) is new
 * in every round (both c key pairs come fresh from the CSPRNG in Round 0 and the server refuses a
 * key advertised twice in a round), and under it exactly two messages are sealed, u → v and v → u,
 * each once: ShareKeys runs once per client state (a second peerKeys is a REPLAY) and wipes c_SK.
 * The two directions differ in the nonce. A caller must therefore never step two copies of one
 * awaitingPeerKeys state (secagg/client.ts says so where the state is defined).
 */
export function shareNonce(from: number, to: number): Uint8Array {
  const nonce = new Uint8Array(NONCE_BYTES);
  nonce.set(u32be(from), 0);
  nonce.set(u32be(to), 4);
  return nonce;
}
