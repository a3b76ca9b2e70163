import { afterEach, describe, expect, it, vi } from 'vitest';
import { hexToBytes } from '@noble/curves/utils.js';
import { toHex } from './bytes';
import type { CryptoSuite } from './crypto';

/**
 * Which suite defaultSuite() picks, and the crypto.ts helpers the round machines use (key pairs,
 * share associated data, keystreams from a later counter block). Each detection case loads a fresh
 * copy of the module, since the suite is probed once per module. Expected bytes: RFC 7748 §6.1 and
 * python3 `cryptography` (commands beside each value), never this module's own output.
 */

// RFC 7748 §6.1.
const alice = hexToBytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const alicePublic = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const bobPublic = hexToBytes('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
// NIST SP 800-38A F.5.5 AES-256 key.
const aesKey = hexToBytes('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
// python3: AESGCM(key).encrypt(bytes(range(12)), bytes(range(66)), b'ad').hex() (as crypto.test.ts).
const sealedHex =
  '0860b35080419d79aea948a2813397e4556d94f1b6708fc4c0aee6fb75b90bbc3213c7f5f05610e0067ec6eb9e32ec8c5c93a4b936ddcd471b9e4899bdc8b37e60b03959ae35813372bf27734666d5b0a930';

async function freshCrypto(): Promise<typeof import('./crypto')> {
  vi.resetModules();
  return import('./crypto');
}

type ImportKey = (format: string, keyData: unknown, algorithm: unknown, extractable: boolean, usages: string[]) => Promise<CryptoKey>;

/** Makes WebCrypto refuse X25519 keys, as a runtime without X25519 does; AES keys still import. */
function withoutWebCryptoX25519(): void {
  const subtle = globalThis.crypto.subtle;
  const real = subtle.importKey.bind(subtle) as unknown as ImportKey;
  vi.spyOn(subtle, 'importKey').mockImplementation(((format, keyData, algorithm, extractable, usages) =>
    (algorithm as { name?: string }).name === 'X25519'
      ? Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'))
      : real(format, keyData, algorithm, extractable, usages)) as ImportKey as never);
}

/** The default suite, checked to be the all-WebCrypto one (so both implementations are exercised). */
async function webCrypto(defaultSuite: () => Promise<CryptoSuite>): Promise<CryptoSuite> {
  const suite = await defaultSuite();
  expect(suite.name).toBe('webcrypto');
  return suite;
}

async function checkAgreement(suite: CryptoSuite): Promise<void> {
  const [k, low] = await suite.agree(alice, [bobPublic, new Uint8Array(32)]);
  expect(toHex(k as Uint8Array)).toBe(shared);
  expect(low).toBeNull();
}

async function checkGcm(suite: CryptoSuite): Promise<void> {
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => i);
  const plaintext = Uint8Array.from({ length: 66 }, (_, i) => i);
  const ad = new TextEncoder().encode('ad');
  expect(toHex(await suite.seal(aesKey, nonce, plaintext, ad))).toBe(sealedHex);
  expect(await suite.open(aesKey, nonce, hexToBytes(sealedHex), ad)).toEqual(plaintext);
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('defaultSuite: which implementation this runtime gets', () => {
  it('uses WebCrypto X25519 where the runtime has it (Node ≥ 20 here), probed once', async () => {
    const { defaultSuite } = await freshCrypto();
    const pending = defaultSuite();
    expect(defaultSuite()).toBe(pending);
    const suite = await pending;
    expect(suite.name).toBe('webcrypto');
    const deriveBits = vi.spyOn(globalThis.crypto.subtle, 'deriveBits');
    const encrypt = vi.spyOn(globalThis.crypto.subtle, 'encrypt');
    await checkAgreement(suite);
    // Both keys go through WebCrypto's X25519 (the low-order one is refused by deriveBits itself).
    expect(deriveBits).toHaveBeenCalledTimes(2);
    await checkGcm(suite);
    expect(encrypt).toHaveBeenCalledTimes(1);
  });

  it('falls back to noble X25519, keeping WebCrypto AES, where WebCrypto refuses X25519 keys', async () => {
    withoutWebCryptoX25519();
    const { defaultSuite } = await freshCrypto();
    const suite = await defaultSuite();
    expect(suite.name).toBe('webcrypto-aes+noble-x25519');
    const encrypt = vi.spyOn(globalThis.crypto.subtle, 'encrypt');
    await checkAgreement(suite);
    await checkGcm(suite);
    expect(encrypt).toHaveBeenCalledTimes(1);
  });

  it('falls back to noble X25519 where WebCrypto X25519 runs but disagrees with RFC 7748 in a single byte', async () => {
    const subtle = globalThis.crypto.subtle;
    const real = subtle.deriveBits.bind(subtle);
    vi.spyOn(subtle, 'deriveBits').mockImplementation(async (algorithm, baseKey, length) => {
      const bits = new Uint8Array(await real(algorithm, baseKey, length));
      bits[31] = (bits[31] as number) ^ 1;
      return bits.buffer;
    });
    const { defaultSuite } = await freshCrypto();
    const suite = await defaultSuite();
    expect(suite.name).toBe('webcrypto-aes+noble-x25519');
    vi.restoreAllMocks();
    await checkAgreement(suite);
  });

  it.each([
    ['no crypto.subtle (an insecure context)', () => ({ getRandomValues: globalThis.crypto.getRandomValues.bind(globalThis.crypto) })],
    ['no crypto global at all', () => undefined],
  ])('is the noble suite where there is %s', async (_, replacement) => {
    vi.stubGlobal('crypto', replacement());
    const { defaultSuite, nobleSuite } = await freshCrypto();
    const suite = await defaultSuite();
    expect(suite).toBe(nobleSuite);
    expect(suite.name).toBe('noble');
    await checkAgreement(suite);
    await checkGcm(suite);
  });
});

describe('key pairs, share associated data and keystream offsets', () => {
  it('generateKeyPair takes 32 bytes from the CSPRNG as the secret and X25519(secret, 9) as the public key', async () => {
    const { generateKeyPair, nobleSuite, defaultSuite } = await freshCrypto();
    for (const suite of [nobleSuite, await webCrypto(defaultSuite)]) {
      const requested: number[] = [];
      const pair = await generateKeyPair(suite, (out) => {
        requested.push(out.length);
        out.set(alice);
        return out;
      });
      expect(requested).toEqual([32]);
      expect(toHex(pair.secretKey)).toBe(toHex(alice));
      expect(toHex(pair.publicKey)).toBe(alicePublic);
    }
  });

  it('generateKeyPair and publicKeyOf report a suite whose X25519 fails on the base point', async () => {
    const { generateKeyPair, publicKeyOf, nobleSuite } = await freshCrypto();
    const failing: CryptoSuite = { ...nobleSuite, agree: async (_, keys) => keys.map(() => null) };
    await expect(generateKeyPair(failing, (out) => out.fill(1))).rejects.toThrow('generateKeyPair: X25519 failed on the base point');
    expect(await publicKeyOf(failing, alice)).toBeNull();
    const empty: CryptoSuite = { ...nobleSuite, agree: async () => [] };
    expect(await publicKeyOf(empty, alice)).toBeNull();
  });

  it('shareAssociatedData is lp("murmur/secagg/v1 shares") ‖ lp(round) ‖ u32be(from) ‖ u32be(to)', async () => {
    const { shareAssociatedData } = await freshCrypto();
    // python3: lp = lambda x: struct.pack('>I', len(x)) + x
    //          (lp(b'murmur/secagg/v1 shares') + lp(b'round-7') + struct.pack('>I', 3) + struct.pack('>I', 258)).hex()
    expect(toHex(shareAssociatedData('round-7', 3, 258))).toBe('000000176d75726d75722f7365636167672f76312073686172657300000007726f756e642d370000000300000102');
    expect(toHex(shareAssociatedData('round-7', 258, 3))).not.toBe(toHex(shareAssociatedData('round-7', 3, 258)));
  });

  it('starts the keystream at 16·firstBlock with a 64-bit big-endian counter, on both suites and both sides of 4 KiB', async () => {
    const { defaultSuite, nobleSuite } = await freshCrypto();
    for (const suite of [nobleSuite, await webCrypto(defaultSuite)]) {
      // python3: Cipher(algorithms.AES(key), modes.CTR(bytes(8) + struct.pack('>Q', 3))).encryptor().update(bytes(20)).hex()
      expect(toHex(await suite.keystream(aesKey, 20, 3))).toBe('480d3ceda63605659579b51694e2b82e019b0e48');
      // The same from block 2^32 + 1 over 5000 bytes (WebCrypto above 4096 bytes): ks[:16], ks[4984:].
      const long = await suite.keystream(aesKey, 5000, 2 ** 32 + 1);
      expect(long).toHaveLength(5000);
      expect(toHex(long.subarray(0, 16))).toBe('03cca10627cfc246a502a6bd7eaf48e4');
      expect(toHex(long.subarray(4984))).toBe('2c6658a65b28ecb04077672fc0198011');
      // A shorter request after a longer one (WebCrypto reuses its zero buffer) is still exact.
      expect(toHex(await suite.keystream(aesKey, 4100, 3).then((s) => s.subarray(0, 20)))).toBe('480d3ceda63605659579b51694e2b82e019b0e48');
    }
  });

  it('computes keystreams of up to 4096 bytes with noble and longer ones with WebCrypto AES-CTR (the documented split)', async () => {
    const { defaultSuite } = await freshCrypto();
    const suite = await webCrypto(defaultSuite);
    const encrypt = vi.spyOn(globalThis.crypto.subtle, 'encrypt');
    // python3: Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(32)).hex() (crypto.test.ts).
    const head = 'e568f68194cf76d6174d4cc04310a85491151e5d0b7a1f1bc0d7acd0ae3e51e4';
    expect(toHex((await suite.keystream(aesKey, 4096)).subarray(0, 32))).toBe(head);
    expect(encrypt).not.toHaveBeenCalled();
    expect(toHex((await suite.keystream(aesKey, 4097)).subarray(0, 32))).toBe(head);
    expect(encrypt).toHaveBeenCalledTimes(1);
  });

  it('refuses a negative, fractional or unsafe first block, naming it', async () => {
    const { defaultSuite, nobleSuite } = await freshCrypto();
    for (const suite of [nobleSuite, await webCrypto(defaultSuite)]) {
      for (const bytes of [16, 5000]) {
        await expect(suite.keystream(aesKey, bytes, -1)).rejects.toThrow('keystream: firstBlock -1 must be a non-negative integer');
        await expect(suite.keystream(aesKey, bytes, 1.5)).rejects.toThrow(/firstBlock 1.5 must/);
        await expect(suite.keystream(aesKey, bytes, 2 ** 53)).rejects.toThrow(RangeError);
      }
      expect(toHex(await suite.keystream(aesKey, 16))).toBe('e568f68194cf76d6174d4cc04310a854');
    }
  });

  it('open returns null, not an error, for a wrong key, a short ciphertext or a wrong nonce', async () => {
    const { defaultSuite, nobleSuite } = await freshCrypto();
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => i);
    const ad = new TextEncoder().encode('ad');
    for (const suite of [nobleSuite, await webCrypto(defaultSuite)]) {
      expect(await suite.open(new Uint8Array(32), nonce, hexToBytes(sealedHex), ad)).toBeNull();
      expect(await suite.open(aesKey, new Uint8Array(12), hexToBytes(sealedHex), ad)).toBeNull();
      expect(await suite.open(aesKey, nonce, new Uint8Array(8), ad)).toBeNull();
    }
  });
});
