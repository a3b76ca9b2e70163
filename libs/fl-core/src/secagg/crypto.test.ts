import { describe, expect, it } from 'vitest';
import { hexToBytes } from '@noble/curves/utils.js';
import { packWords, toHex, unpackWords, wordBytes } from './bytes';
import { defaultSuite, deriveKey, nobleSuite, publicKeyOf, shareNonce, type CryptoSuite } from './crypto';
import { hararyNeighbours } from './graph';
import { applyMasks, expandMask } from './prg';

// RFC 7748 §6.1.
const alice = hexToBytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const alicePublic = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const bob = hexToBytes('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
const bobPublic = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
// NIST SP 800-38A F.5.5 AES-256 key.
const aesKey = hexToBytes('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');

const suites: [string, () => Promise<CryptoSuite>][] = [
  ['default (WebCrypto)', defaultSuite],
  ['noble', async () => nobleSuite],
];

describe.each(suites)('crypto suite: %s', (_, getSuite) => {
  it('X25519 matches RFC 7748 §6.1 and rejects a low-order key', async () => {
    const suite = await getSuite();
    expect(toHex((await publicKeyOf(suite, alice)) as Uint8Array)).toBe(alicePublic);
    expect(toHex((await publicKeyOf(suite, bob)) as Uint8Array)).toBe(bobPublic);
    const [k1, low] = await suite.agree(alice, [hexToBytes(bobPublic), new Uint8Array(32)]);
    expect(toHex(k1 as Uint8Array)).toBe(shared);
    expect(low).toBeNull();
  });

  it('AES-256-CTR keystream from the zero counter matches python3 cryptography', async () => {
    const suite = await getSuite();
    // python3: Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(32)).hex()
    expect(toHex(await suite.keystream(aesKey, 32))).toBe('e568f68194cf76d6174d4cc04310a85491151e5d0b7a1f1bc0d7acd0ae3e51e4');
    // PRG words are little-endian, ⌈k/8⌉ ∈ {1, 2, 4} bytes each, reduced mod 2^k:
    // [struct.unpack('<I', ks[i:i+4])[0] for i in (0, 4, 8, 12)], [struct.unpack('<H', ks[i:i+2])[0] & 0xfff for i in (0, 2, 4, 6)], list(ks[:4]).
    expect(Array.from(await expandMask(suite, aesKey, 4, 32))).toEqual([2180409573, 3598110612, 3226225943, 1420300355]);
    expect(Array.from(await expandMask(suite, aesKey, 4, 12))).toEqual([2277, 502, 3988, 1654]);
    expect(Array.from(await expandMask(suite, aesKey, 4, 8))).toEqual([229, 104, 246, 129]);
  });

  it('AES-256-GCM matches python3 cryptography and rejects tampering', async () => {
    const suite = await getSuite();
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => i);
    const plaintext = Uint8Array.from({ length: 66 }, (_, i) => i);
    const ad = new TextEncoder().encode('ad');
    // python3: AESGCM(key).encrypt(bytes(range(12)), bytes(range(66)), b'ad').hex()
    const sealed = await suite.seal(aesKey, nonce, plaintext, ad);
    expect(toHex(sealed)).toBe(
      '0860b35080419d79aea948a2813397e4556d94f1b6708fc4c0aee6fb75b90bbc3213c7f5f05610e0067ec6eb9e32ec8c5c93a4b936ddcd471b9e4899bdc8b37e60b03959ae35813372bf27734666d5b0a930',
    );
    expect(await suite.open(aesKey, nonce, sealed, ad)).toEqual(plaintext);
    expect(await suite.open(aesKey, nonce, sealed, new TextEncoder().encode('other'))).toBeNull();
    const flipped = sealed.slice();
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(await suite.open(aesKey, nonce, flipped, ad)).toBeNull();
  });
});

describe('key derivation, masks and wire words', () => {
  it('derives share nonces from the direction: u32be(from) ‖ u32be(to) ‖ 0000, so u → v and v → u never share one', () => {
    expect(toHex(shareNonce(3, 258))).toBe('000000030000010200000000');
    expect(toHex(shareNonce(258, 3))).not.toBe(toHex(shareNonce(3, 258)));
  });

  it('derives pair keys with HKDF-SHA-256 as python3 cryptography does, symmetric in the pair', () => {
    // python3: HKDF(SHA256(), 32, salt=None, info=lp(b'murmur/secagg/v1 pairwise-mask') + lp(b'round-7')
    //          + struct.pack('>I', 3) + struct.pack('>I', 12)).derive(shared), lp(x) = struct.pack('>I', len(x)) + x
    const expected = 'de3e8b87198c351ad7bd833bfd6d8a9d4f4eb0fee8937209bdc7a574e0d5028f';
    expect(toHex(deriveKey(hexToBytes(shared), 'pairwise-mask', 'round-7', 3, 12))).toBe(expected);
    expect(toHex(deriveKey(hexToBytes(shared), 'pairwise-mask', 'round-7', 12, 3))).toBe(expected);
    expect(toHex(deriveKey(hexToBytes(shared), 'share-encryption', 'round-7', 3, 12))).not.toBe(expected);
    expect(toHex(deriveKey(hexToBytes(shared), 'pairwise-mask', 'round-8', 3, 12))).not.toBe(expected);
  });

  it('gives identical masks on both suites, across 1 MiB chunk boundaries, and ±mask cancels mod 2^k', async () => {
    const webCrypto = await defaultSuite();
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    for (const words of [100, 5000]) expect(await expandMask(webCrypto, key, words, 32)).toEqual(await expandMask(nobleSuite, key, words, 32));
    // 300k words = 1.2 MB: two chunks, the second from counter block 2^16; it must continue the
    // one contiguous keystream exactly.
    const contiguous = await nobleSuite.keystream(key, 1_200_000);
    const view = new DataView(contiguous.buffer, contiguous.byteOffset);
    const chunked = await expandMask(webCrypto, key, 300_000, 32);
    for (const i of [0, 262_143, 262_144, 299_999]) expect(chunked[i]).toBe(view.getUint32(4 * i, true));
    const chunked16 = await expandMask(webCrypto, key, 600_000, 16);
    for (const i of [0, 524_287, 524_288, 599_999]) expect(chunked16[i]).toBe(view.getUint16(2 * i, true));
    for (const k of [1, 7, 16, 31, 32]) {
      const x = Uint32Array.from({ length: 257 }, (_, i) => (i * 2654435761) % 2 ** k);
      const y = x.slice();
      await applyMasks(
        webCrypto,
        y,
        [
          { key, sign: 1 },
          { key: aesKey, sign: -1 },
        ],
        k,
      );
      for (const w of y) expect(w).toBeLessThan(2 ** k);
      expect(y).not.toEqual(x);
      await applyMasks(
        nobleSuite,
        y,
        [
          { key, sign: -1 },
          { key: aesKey, sign: 1 },
        ],
        k,
      );
      expect(y).toEqual(x);
    }
  });

  it('reads 1, 2 or 4 keystream bytes per word exactly at k = 8 | 9, 16 | 17 (python3 struct.unpack of the F.5.5 keystream)', async () => {
    // ks = the AES-256-CTR keystream of the NIST key above from the zero counter (first test).
    // k = 9: [struct.unpack('<H', ks[i:i+2])[0] & 0x1ff for i in (0, 2, 4, 6)]
    // k = 16: [struct.unpack('<H', ks[i:i+2])[0] for i in (0, 2, 4, 6)]
    // k = 17: [struct.unpack('<I', ks[i:i+4])[0] & 0x1ffff for i in (0, 4, 8, 12)]
    expect(Array.from(await expandMask(nobleSuite, aesKey, 4, 9))).toEqual([229, 502, 404, 118]);
    expect(Array.from(await expandMask(nobleSuite, aesKey, 4, 16))).toEqual([26853, 33270, 53140, 54902]);
    expect(Array.from(await expandMask(nobleSuite, aesKey, 4, 17))).toEqual([26853, 53140, 19735, 4163]);
  });

  it('reads masks from keystream buffers at any byte offset (the DataView path a misaligned or big-endian buffer takes)', async () => {
    // A suite that hands back each keystream at an odd offset into a larger buffer, as a Node
    // Buffer pool can: the words must be the same as from an aligned copy.
    const misaligned: CryptoSuite = {
      ...nobleSuite,
      async keystream(key, byteLength, firstBlock) {
        const stream = await nobleSuite.keystream(key, byteLength, firstBlock);
        const host = new Uint8Array(byteLength + 3);
        host.set(stream, 1);
        return host.subarray(1, 1 + byteLength);
      },
    };
    for (const k of [8, 12, 16, 20, 32]) {
      expect(await expandMask(misaligned, aesKey, 37, k), `k = ${k}`).toEqual(await expandMask(nobleSuite, aesKey, 37, k));
    }
    expect(Array.from(await expandMask(misaligned, aesKey, 4, 16))).toEqual([26853, 33270, 53140, 54902]);
    expect(Array.from(await expandMask(misaligned, aesKey, 4, 32))).toEqual([2180409573, 3598110612, 3226225943, 1420300355]);
  });

  it('keeps at most `window` keystream chunks requested ahead, and adds every term once with its sign', async () => {
    let calls = 0;
    const counting: CryptoSuite = {
      ...nobleSuite,
      keystream(key, byteLength, firstBlock) {
        calls++;
        return nobleSuite.keystream(key, byteLength, firstBlock);
      },
    };
    const keys = Array.from({ length: 6 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const target = new Uint32Array(50);
    const pending = applyMasks(
      counting,
      target,
      keys.map((key, i) => ({ key, sign: i % 2 === 0 ? 1 : -1 })),
      16,
      3,
    );
    // The synchronous part of applyMasks requests the first `window` chunks and no more.
    expect(calls).toBe(3);
    await pending;
    expect(calls).toBe(6);
    // Σ ±PRG(keyᵢ) mod 2^16, computed term by term.
    const expected = new Uint32Array(50);
    for (const [i, key] of keys.entries()) {
      const mask = await expandMask(nobleSuite, key, 50, 16);
      for (let w = 0; w < 50; w++) expected[w] = ((((expected[w] as number) + (i % 2 === 0 ? 1 : -1) * (mask[w] as number)) % 65536) + 65536) % 65536;
    }
    expect(target).toEqual(expected);
    // Chunks are 1 MiB of keystream at most, whatever the word width: 300,000 words of 4 bytes
    // take one full 1 MiB chunk and one of 151,424 bytes, from block 2^16.
    const requests: [number, number | undefined][] = [];
    const recording: CryptoSuite = {
      ...nobleSuite,
      keystream(key, byteLength, firstBlock) {
        requests.push([byteLength, firstBlock]);
        return nobleSuite.keystream(key, byteLength, firstBlock);
      },
    };
    await applyMasks(recording, new Uint32Array(300_000), [{ key: aesKey, sign: 1 }], 32);
    expect(requests).toEqual([
      [1 << 20, 0],
      [1_200_000 - (1 << 20), 1 << 16],
    ]);
  });

  it('packs words in ⌈k/8⌉ little-endian bytes and flags words ≥ 2^k', () => {
    for (const k of [5, 8, 12, 16, 24, 32]) {
      const words = Uint32Array.from({ length: 9 }, (_, i) => (i * 0x9e3779b9) % 2 ** k);
      const packed = packWords(words, k);
      expect(packed.length).toBe(9 * wordBytes(k));
      expect(unpackWords(packed, k)).toEqual({ words });
    }
    expect(Array.from(packWords(Uint32Array.of(0x0102), 16))).toEqual([2, 1]);
    expect(unpackWords(Uint8Array.of(0, 0, 0x00, 0x10), 12)).toEqual({ outOfRange: 1 });
  });
});

describe('Harary graph (SecAgg+)', () => {
  it('is k-regular, symmetric, deterministic in the seed and complete at k = n − 1', () => {
    const seed = new Uint8Array(32).fill(7);
    const graph = hararyNeighbours(101, 12, seed);
    graph.forEach((neighbours, u) => {
      expect(neighbours.length).toBe(12);
      expect(neighbours).not.toContain(u);
      for (const v of neighbours) expect(graph[v]).toContain(u);
    });
    expect(hararyNeighbours(101, 12, seed)).toEqual(graph);
    expect(hararyNeighbours(101, 12, new Uint8Array(32).fill(8))).not.toEqual(graph);
    const complete = hararyNeighbours(9, 8, seed);
    complete.forEach((neighbours, u) => expect(neighbours).toEqual([...Array(9).keys()].filter((v) => v !== u)));
    expect(() => hararyNeighbours(10, 3, seed)).toThrow(/even/);
  });

  it('matches the graph derived independently in python3 (ChaCha20 Fisher–Yates, Harary positions)', () => {
    // python3 (cryptography): stream = ChaCha20(seed, nonce = u32le(0) ‖ b'harary' ‖ 6 zero bytes) over
    // max(64, 8n) zero bytes, read as u32le words w; order = range(n); for i = n−1 … 1: bound = i + 1,
    // redraw w while w ≥ ⌊2^32/bound⌋·bound, swap order[i] with order[w % bound]. Client order[p] is
    // adjacent to order[(p ± j) mod n] for j = 1 … k/2. With seed = bytes(range(32)):
    //   n = 10: order [0, 6, 7, 3, 2, 8, 1, 5, 9, 4];  n = 7: order [3, 6, 5, 0, 1, 4, 2]
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(hararyNeighbours(10, 4, seed)).toEqual([
      [4, 6, 7, 9],
      [2, 5, 8, 9],
      [1, 3, 7, 8],
      [2, 6, 7, 8],
      [0, 5, 6, 9],
      [1, 4, 8, 9],
      [0, 3, 4, 7],
      [0, 2, 3, 6],
      [1, 2, 3, 5],
      [0, 1, 4, 5],
    ]);
    // k = 2 is one Hamiltonian cycle through the order: 3 – 6 – 5 – 0 – 1 – 4 – 2 – 3.
    expect(hararyNeighbours(7, 2, seed)).toEqual([
      [1, 5],
      [0, 4],
      [3, 4],
      [2, 6],
      [1, 2],
      [0, 6],
      [3, 5],
    ]);
  });

  it('rejects biased words as python3 does at n = 100,000, where the seed below draws two of them', () => {
    // Rejection (word ≥ ⌊2^32/bound⌋·bound) has probability < bound/2^32 per draw, so only a large
    // cohort meets it: seed = 32 × 0x01 rejects 2 words in the python3 shuffle above.
    const graph = hararyNeighbours(100_000, 2, new Uint8Array(32).fill(1));
    expect([graph[0], graph[1], graph[99_999]]).toEqual([
      [17408, 56449],
      [13187, 61870],
      [12221, 97983],
    ]);
  });

  it('accepts the smallest graph (n = 3, k = 2: a triangle) and refuses every other out-of-range argument', () => {
    const seed = new Uint8Array(32);
    expect(hararyNeighbours(3, 2, seed)).toEqual([
      [1, 2],
      [0, 2],
      [0, 1],
    ]);
    expect(() => hararyNeighbours(1, 2, seed)).toThrow(/clientCount 1 must be an integer ≥ 2/);
    expect(() => hararyNeighbours(7.5, 2, seed)).toThrow(/clientCount 7.5/);
    // n = 2 is a valid count, but no even degree in [2, 1] exists.
    expect(() => hararyNeighbours(2, 2, seed)).toThrow(/degree 2 must be even and in \[2, 1\]/);
    expect(() => hararyNeighbours(9, 0, seed)).toThrow(/degree 0/);
    expect(() => hararyNeighbours(9, 10, seed)).toThrow(/degree 10/);
    expect(() => hararyNeighbours(9, 2.5, seed)).toThrow(/degree 2.5/);
    expect(hararyNeighbours(9, 8, seed)[0]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => hararyNeighbours(9, 2, new Uint8Array(31))).toThrow(/31 bytes, expected 32/);
    expect(() => hararyNeighbours(9, 2, new Uint8Array(33))).toThrow(/33 bytes/);
  });

  it('relabels uniformly: over many seeds every client is adjacent to every other about equally often', () => {
    const n = 12;
    const counts = new Array<number>(n).fill(0);
    const trials = 600;
    for (let s = 0; s < trials; s++) {
      const seed = new Uint8Array(32);
      new DataView(seed.buffer).setUint32(0, s);
      for (const v of hararyNeighbours(n, 4, seed)[0] as number[]) counts[v] = (counts[v] as number) + 1;
    }
    // Client 0 has 4 of 11 others as neighbours: expected 600·4/11 ≈ 218 each, sd ≈ 11.8.
    for (const [v, count] of counts.entries()) {
      if (v === 0) expect(count).toBe(0);
      else expect(Math.abs(count - (trials * 4) / 11)).toBeLessThan(5 * 11.8);
    }
  });
});
