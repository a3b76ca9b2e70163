import { describe, expect, it } from 'vitest';
import { checkProofOfWork, leadingZeroBits, MAX_POW_BITS, proofOfWorkMessage, solveProofOfWork } from './pow';

const CHALLENGE = 'AAAAAAAAAAAAAAAAAAAAAA';
const PUBLIC_KEY = `B${'x'.repeat(86)}`;

/** SHA-256 by WebCrypto: an implementation independent of the one under test (noble). */
async function webCryptoZeroBits(work: string, challenge = CHALLENGE, publicKey = PUBLIC_KEY): Promise<number> {
  return leadingZeroBits(new Uint8Array(await crypto.subtle.digest('SHA-256', proofOfWorkMessage(challenge, publicKey, work).slice())));
}

describe('proof of work', () => {
  it('counts leading zero bits from the first byte', () => {
    expect(leadingZeroBits(Uint8Array.of(0x80))).toBe(0);
    expect(leadingZeroBits(Uint8Array.of(0x01, 0xff))).toBe(7);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x40))).toBe(9);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x00, 0x00, 0x0f))).toBe(28);
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256);
  });

  it('hashes the purpose, challenge, key and work with | between them (FIPS 180-4 vector for the hash)', async () => {
    expect(new TextDecoder().decode(proofOfWorkMessage('c', 'k', '42'))).toBe('murmur/enroll-pow/v1|c|k|42');
    // SHA-256("abc") starts ba 78 16 bf: 0 leading zero bits; the empty string's e3 b0: 0 too.
    const abc = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('abc')));
    expect([...abc.slice(0, 4)]).toEqual([0xba, 0x78, 0x16, 0xbf]);
  });

  it('finds work that WebCrypto agrees meets the difficulty, and is the smallest such counter', async () => {
    for (const bits of [1, 4, 8, 12]) {
      const { work, attempts } = await solveProofOfWork({ challenge: CHALLENGE, publicKey: PUBLIC_KEY, difficultyBits: bits });
      expect(attempts).toBe(Number(work) + 1);
      expect(await webCryptoZeroBits(work)).toBeGreaterThanOrEqual(bits);
      expect(checkProofOfWork(CHALLENGE, PUBLIC_KEY, work, bits)).toBe(true);
      for (let smaller = 0; smaller < Number(work); smaller++) expect(await webCryptoZeroBits(String(smaller))).toBeLessThan(bits);
    }
  });

  it('binds the work to its challenge and key: the same counter fails for another', async () => {
    const bits = 12;
    const { work } = await solveProofOfWork({ challenge: CHALLENGE, publicKey: PUBLIC_KEY, difficultyBits: bits });
    const otherKey = `B${'y'.repeat(86)}`;
    const otherChallenge = 'BBBBBBBBBBBBBBBBBBBBBB';
    expect(checkProofOfWork(CHALLENGE, otherKey, work, bits)).toBe((await webCryptoZeroBits(work, CHALLENGE, otherKey)) >= bits);
    expect(checkProofOfWork(otherChallenge, PUBLIC_KEY, work, bits)).toBe((await webCryptoZeroBits(work, otherChallenge)) >= bits);
    // With 12 bits a random other counter passes with probability 1/4096: count over a few.
    let passes = 0;
    for (let i = 0; i < 64; i++) if (checkProofOfWork(`${CHALLENGE.slice(0, 20)}${String(i).padStart(2, 'A')}`, PUBLIC_KEY, work, bits)) passes++;
    expect(passes).toBeLessThan(3);
  });

  it('refuses work that is not a canonical decimal and difficulties outside [0, 32]', () => {
    expect(checkProofOfWork(CHALLENGE, PUBLIC_KEY, '0', 0)).toBe(true);
    for (const bad of ['', '-1', '01', '1e3', ' 1', '1.0', '12345678901234567']) expect(checkProofOfWork(CHALLENGE, PUBLIC_KEY, bad, 0)).toBe(false);
    expect(() => checkProofOfWork(CHALLENGE, PUBLIC_KEY, '0', MAX_POW_BITS + 1)).toThrow(/difficultyBits must be an integer in \[0, 32\], got 33/);
    expect(() => checkProofOfWork(CHALLENGE, PUBLIC_KEY, '0', 1.5)).toThrow(RangeError);
  });

  it('yields to the event loop between slices, so a page keeps running, and stops when aborted', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    // A clock that says every slice is over at once: a yield after each 256 attempts.
    let t = 0;
    const solving = solveProofOfWork({ challenge: CHALLENGE, publicKey: PUBLIC_KEY, difficultyBits: 14, sliceMs: 1, now: () => (t += 1) });
    const { attempts } = await solving;
    clearInterval(timer);
    expect(attempts).toBeGreaterThan(1024);
    expect(ticks).toBeGreaterThan(0);
    const controller = new AbortController();
    controller.abort();
    await expect(solveProofOfWork({ challenge: CHALLENGE, publicKey: PUBLIC_KEY, difficultyBits: 30, signal: controller.signal })).rejects.toThrow();
  });
});
