import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesToNumberBE, hexToBytes, numberToBytesBE } from '@noble/curves/utils.js';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { toHex } from './bytes';
import {
  combineShares,
  combineWithWeights,
  fieldElementAt,
  isFieldElement,
  lagrangeAtZero,
  parseShare,
  SHAMIR_PRIME,
  SHARE_BYTES,
  splitSecret,
} from './shamir';

/** Deterministic bytes for reproducible tests only. */
function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, size - 1).map((s) => [first, ...s]), ...subsets(rest, size)];
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

const secret = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

describe('Shamir over GF(2^256 + 297)', () => {
  it('uses a prime (Miller–Rabin with 12 fixed bases) just above 2^256', () => {
    expect(SHAMIR_PRIME).toBe((1n << 256n) + 297n);
    const p = SHAMIR_PRIME;
    let d = p - 1n;
    let s = 0;
    while ((d & 1n) === 0n) {
      d >>= 1n;
      s++;
    }
    for (const a of [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n]) {
      let x = modPow(a, d, p);
      if (x === 1n || x === p - 1n) continue;
      let witness = true;
      for (let r = 1; r < s && witness; r++) {
        x = (x * x) % p;
        if (x === p - 1n) witness = false;
      }
      expect(witness).toBe(false);
    }
  });

  it('matches shares computed independently in python3', () => {
    // Coefficients a1, a2 come from the injected bytes: call c fills [0x00, (16c + j) & 0xff for j = 1…32].
    let call = 0;
    const scripted: RandomBytes = (out) => {
      call++;
      out[0] = 0;
      for (let j = 1; j < out.length; j++) out[j] = (call * 16 + j) & 0xff;
      return out;
    };
    // python3:
    //   p = 2**256 + 297
    //   a = [int.from_bytes(bytes(range(1, 33)), 'big')] + [int.from_bytes(bytes([0] + [(c*16 + j) & 0xff for j in range(1, 33)]), 'big') for c in (1, 2)]
    //   [(sum(ai * x**i for i, ai in enumerate(a)) % p).to_bytes(33, 'big').hex() for x in range(1, 6)]
    const expected = [
      '003336393c3f4245484b4e5154575a5d606366696c6f7275787b7e8184878a8d90',
      '00a7aeb5bcc3cad1d8dfe6edf4fc030a11181f262d343b424950575e656c737a80',
      '005e6b7885929facb9c6d3e0edfb0815222f3c495663707d8a97a4b1becbd8e4c7',
      '00576c8196abc0d5eb00152a3f54697e93a8bdd2e7fd12273c51667b90a5bacd8e',
      '0092b1d0f00f2e4d6c8baac9e90827466584a3c2e201203f5e7d9cbbdafa1934d5',
    ];
    const shares = splitSecret(secret, [1, 2, 3, 4, 5], 3, scripted);
    expect(shares.map(toHex)).toEqual(expected);
  });

  it('draws coefficients by rejection: candidates p and 2^257 − 1 are discarded, not reduced', () => {
    // The first two draws are p itself and 0x01ff…ff (≥ p after masking the top byte to one bit); the
    // coefficients must then be the next two draws, so the shares equal the python3 ones above.
    const rejected = [numberToBytesBE(SHAMIR_PRIME, SHARE_BYTES), new Uint8Array(SHARE_BYTES).fill(0xff)];
    let call = 0;
    const scripted: RandomBytes = (out) => {
      const next = rejected.shift();
      if (next) {
        out.set(next);
        return out;
      }
      call++;
      out[0] = 0;
      for (let j = 1; j < out.length; j++) out[j] = (call * 16 + j) & 0xff;
      return out;
    };
    const shares = splitSecret(secret, [1, 2, 3], 3, scripted);
    expect(shares.map(toHex)).toEqual([
      '003336393c3f4245484b4e5154575a5d606366696c6f7275787b7e8184878a8d90',
      '00a7aeb5bcc3cad1d8dfe6edf4fc030a11181f262d343b424950575e656c737a80',
      '005e6b7885929facb9c6d3e0edfb0815222f3c495663707d8a97a4b1becbd8e4c7',
    ]);
  });

  it('shares a secret with t = 1 as the secret itself, and refuses t outside [1, n]', () => {
    const shares = splitSecret(secret, [4, 9], 1, testBytes(3));
    for (const share of shares) expect(toHex(share)).toBe(`00${toHex(secret)}`);
    expect(() => splitSecret(secret, [1, 2], 0, testBytes(1))).toThrow(/threshold 0 must be in \[1, 2\]/);
    expect(() => splitSecret(secret, [1, 2], 1.5, testBytes(1))).toThrow(/threshold 1.5/);
    expect(() => splitSecret(secret, [1, 2], 3, testBytes(1))).toThrow(/threshold 3/);
  });

  it('reconstructs from every t-subset (n = 5, t = 3 and n = 7, t = 4) and from more than t', () => {
    for (const [n, t] of [
      [5, 3],
      [7, 4],
    ] as const) {
      const points = Array.from({ length: n }, (_, i) => i + 1);
      const shares = splitSecret(secret, points, t, testBytes(n));
      const all = points.map((point, i) => ({ point, share: shares[i] as Uint8Array }));
      const chosen = subsets(all, t);
      expect(chosen.length).toBe(n === 5 ? 10 : 35);
      for (const subset of chosen) expect(combineShares(subset)).toEqual(secret);
      expect(combineShares(all)).toEqual(secret);
    }
  });

  it('reconstructs known secrets from random t-subsets for every t from 2 to 6 (even and odd t)', () => {
    // Even t matters: a sign slip in the λᵢ denominators, (xᵢ − xⱼ) for (xⱼ − xᵢ), multiplies every
    // weight by (−1)^(t−1), which is invisible for odd t.
    const secrets = [
      secret,
      new Uint8Array(32).fill(0xff), // 2^256 − 1: its negation mod p is 298, a valid-looking secret
      Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? 1 : 0)),
      Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff),
    ];
    const random = createSeededRandom(2024);
    for (let t = 2; t <= 6; t++) {
      const points = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89].slice(0, t + 4);
      for (const [k, value] of secrets.entries()) {
        const shares = splitSecret(value, points, t, testBytes(100 * t + k));
        const all = points.map((point, i) => ({ point, share: shares[i] as Uint8Array }));
        for (let draw = 0; draw < 5; draw++) {
          // A uniformly random t-subset, in random order (partial Fisher–Yates).
          const pool = all.slice();
          for (let i = 0; i < t; i++) {
            const j = i + random.nextInt(pool.length - i);
            [pool[i], pool[j]] = [pool[j] as (typeof pool)[number], pool[i] as (typeof pool)[number]];
          }
          expect(combineShares(pool.slice(0, t)), `t = ${t}, secret ${k}, draw ${draw}`).toEqual(value);
        }
      }
    }
  });

  it('has the Lagrange weights at zero of the binomial pattern for points 1…t, and 5/3, −2/3 for points 2, 5', () => {
    // λᵢ = Π_{j≠i} xⱼ/(xⱼ − xᵢ); for xᵢ = i this is (−1)^(i−1)·C(t, i), by hand:
    //   {1, 2}: 2/(2−1) = 2,  1/(1−2) = −1
    //   {1, 2, 3}: 2·3/(1·2) = 3,  1·3/(−1·1) = −3,  1·2/(−2·−1) = 1
    //   {1, 2, 3, 4}: 24/6 = 4,  12/(−1·1·2) = −6,  8/(−2·−1·1) = 4,  6/(−3·−2·−1) = −1
    const p = SHAMIR_PRIME;
    const field = (values: number[]) => values.map((v) => ((BigInt(v) % p) + p) % p);
    expect(lagrangeAtZero([1, 2])).toEqual(field([2, -1]));
    expect(lagrangeAtZero([1, 2, 3])).toEqual(field([3, -3, 1]));
    expect(lagrangeAtZero([1, 2, 3, 4])).toEqual(field([4, -6, 4, -1]));
    expect(lagrangeAtZero([1, 2, 3, 4, 5])).toEqual(field([5, -10, 10, -5, 1]));
    expect(lagrangeAtZero([1, 2, 3, 4, 5, 6])).toEqual(field([6, -15, 20, -15, 6, -1]));
    // {2, 5}: λ₂ = 5/(5−2) = 5/3, λ₅ = 2/(2−5) = −2/3; check 3·λ ≡ numerator (mod p).
    const [l2, l5] = lagrangeAtZero([2, 5]) as [bigint, bigint];
    expect((3n * l2) % p).toBe(5n);
    expect((3n * l5) % p).toBe(p - 2n);
  });

  it('reconstructs hand-computed small-number sharings of 1234 (t = 2 and t = 4)', () => {
    const asSecret = (value: bigint) => numberToBytesBE(value, 32);
    const share = (point: number, value: bigint) => ({ point, share: numberToBytesBE(value, SHARE_BYTES) });
    // t = 2, f(x) = 1234 + 166x: f(2) = 1566, f(5) = 2064; (5·1566 − 2·2064)/3 = 3702/3 = 1234.
    expect(combineShares([share(2, 1566n), share(5, 2064n)])).toEqual(asSecret(1234n));
    expect(combineShares([share(5, 2064n), share(2, 1566n)])).toEqual(asSecret(1234n));
    // t = 4, f(x) = 1234 + 166x + 94x² + 5x³: f(1) = 1499, f(2) = 1982, f(3) = 2713, f(4) = 3722;
    // 4·1499 − 6·1982 + 4·2713 − 1·3722 = 5996 − 11892 + 10852 − 3722 = 1234.
    expect(combineShares([share(1, 1499n), share(2, 1982n), share(3, 2713n), share(4, 3722n)])).toEqual(asSecret(1234n));
    // t = 3, f(x) = 7 + 2x + x²: f(1) = 10, f(3) = 22, f(4) = 31; λ = (2, −2, 1) at points 1, 3, 4
    // (1: 3·4/(2·3) = 2; 3: 1·4/(−2·1) = −2; 4: 1·3/(−3·−1) = 1): 20 − 44 + 31 = 7.
    expect(combineShares([share(1, 10n), share(3, 22n), share(4, 31n)])).toEqual(asSecret(7n));
  });

  it('reconstructs any secret from any t of n shares at arbitrary points (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { minLength: 2, maxLength: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        (value, points, rawT, seed) => {
          const t = Math.min(rawT, points.length);
          const shares = splitSecret(value, points, t, testBytes(seed));
          const picked = points.map((point, i) => ({ point, share: shares[i] as Uint8Array })).slice(-t);
          expect(combineShares(picked)).toEqual(value);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('reveals nothing with t − 1 shares: they are consistent with every secret', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer(), (other, seed) => {
        const t = 4;
        const shares = splitSecret(secret, [1, 2, 3, 4, 5, 6], t, testBytes(seed));
        const known = [1, 2, 3].map((point) => ({ point, x: BigInt(point), y: parseShare(shares[point - 1] as Uint8Array) as bigint }));
        // The unique degree-(t−1) polynomial through (0, other) and the t − 1 known shares gives a
        // share at point 6 that, with the known ones, reconstructs `other`: t − 1 shares cannot
        // distinguish the real secret from any other.
        const nodes = [{ x: 0n, y: BigInt(`0x${toHex(other)}`) }, ...known];
        const at6 = nodes.reduce((acc, node, i) => {
          let weight = node.y;
          nodes.forEach((m, j) => {
            if (j === i) return;
            const denominator = (((node.x - m.x) % SHAMIR_PRIME) + SHAMIR_PRIME) % SHAMIR_PRIME;
            weight = (((weight * (6n - m.x)) % SHAMIR_PRIME) * modPow(denominator, SHAMIR_PRIME - 2n, SHAMIR_PRIME)) % SHAMIR_PRIME;
          });
          return (acc + weight) % SHAMIR_PRIME;
        }, 0n);
        const forged = hexToBytes(at6.toString(16).padStart(66, '0'));
        expect(combineShares([...known.map((k) => ({ point: k.point, share: shares[k.point - 1] as Uint8Array })), { point: 6, share: forged }])).toEqual(
          other,
        );
      }),
      { numRuns: 25 },
    );
  });

  it('flags inconsistent shares and bad arguments', () => {
    const shares = splitSecret(secret, [1, 2, 3], 3, testBytes(1));
    const tampered = (shares[0] as Uint8Array).slice();
    tampered[32] = (tampered[32] as number) ^ 1;
    const result = combineShares([
      { point: 1, share: tampered },
      { point: 2, share: shares[1] as Uint8Array },
      { point: 3, share: shares[2] as Uint8Array },
    ]);
    expect(result === null || toHex(result) !== toHex(secret)).toBe(true);
    expect(() => splitSecret(secret, [1, 2], 3, testBytes(1))).toThrow(/threshold 3/);
    expect(() => splitSecret(secret, [1, 1], 2, testBytes(1))).toThrow(/appears twice/);
    expect(() => splitSecret(secret.subarray(1), [1, 2], 2, testBytes(1))).toThrow(/31 bytes/);
    expect(() => lagrangeAtZero([0, 1])).toThrow(/positive integer/);
    expect(parseShare(new Uint8Array(33).fill(0xff))).toBeNull();
    // Errors name the function the caller used.
    expect(() => splitSecret(secret, [1, 1], 2, testBytes(1))).toThrow(/^splitSecret: share point 1 appears twice/);
    expect(() => lagrangeAtZero([2, 0])).toThrow(/^lagrangeAtZero: share point 0 must be a positive integer/);
    expect(() => combineShares([{ point: 1, share: new Uint8Array(33).fill(0xff) }])).toThrow(/share at point 1 is not 33 bytes below p/);
    expect(() => combineWithWeights([1n], [1n, 2n])).toThrow(/1 weights for 2 shares/);
    // Shares of 32 or 34 bytes are not shares, even when their leading bytes would parse.
    expect(parseShare(new Uint8Array(32))).toBeNull();
    expect(parseShare(new Uint8Array(34))).toBeNull();
    // A valid field element ≥ 2^256 interpolates (t = 1, λ = 1) to no 32-byte secret.
    expect(combineShares([{ point: 1, share: numberToBytesBE((1n << 256n) + 5n, SHARE_BYTES) }])).toBeNull();
    expect(combineShares([{ point: 1, share: numberToBytesBE((1n << 256n) - 1n, SHARE_BYTES) }])).toEqual(new Uint8Array(32).fill(0xff));
  });

  it('reads shares at an offset and tells field elements by their bytes, at every boundary of p', () => {
    const asShare = (value: bigint) => numberToBytesBE(value, SHARE_BYTES);
    const boundaries = [0n, 1n, (1n << 256n) - 1n, 1n << 256n, (1n << 256n) + 255n, (1n << 256n) + 256n, SHAMIR_PRIME - 1n];
    for (const value of boundaries) {
      expect(isFieldElement(asShare(value))).toBe(true);
      expect(parseShare(asShare(value))).toBe(value);
    }
    for (const value of [SHAMIR_PRIME, SHAMIR_PRIME + 1n, (1n << 256n) + 0x1ffn, (1n << 257n) - 1n, 2n << 256n]) {
      expect(isFieldElement(asShare(value))).toBe(false);
      expect(parseShare(asShare(value))).toBeNull();
    }
    // Packed records at odd offsets in a larger buffer, as the server reads them: against noble's parser.
    const random = testBytes(7);
    const packed = random(new Uint8Array(5 + 40 * SHARE_BYTES));
    for (let i = 0; i < 40; i++) {
      const offset = 5 + i * SHARE_BYTES;
      packed[offset] = (packed[offset] as number) & 1;
      const record = packed.subarray(offset, offset + SHARE_BYTES);
      const expected = bytesToNumberBE(record);
      expect(fieldElementAt(new DataView(packed.buffer), offset)).toBe(expected);
      expect(isFieldElement(packed, offset)).toBe(expected < SHAMIR_PRIME);
    }
  });
});
