import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../random/index';
import { addWordsMod, createWordVector, modularKernelsAvailable, type ModularWords } from './modular';

const WIDTHS = [1, 2, 4] as const;

function randomWords(width: 1 | 2 | 4, length: number, modulusBits: number, seed: number): ModularWords {
  const random = createSeededRandom(seed);
  const words = width === 1 ? new Uint8Array(length) : width === 2 ? new Uint16Array(length) : new Uint32Array(length);
  for (let i = 0; i < length; i++) words[i] = Math.floor(random.nextFloat() * 2 ** modulusBits);
  return words;
}

/** (a ± b) mod 2^k by exact float arithmetic (|a ± b| < 2^33), independent of the kernels' `& mask` trick. */
function reference(target: Uint32Array, offset: number, source: ModularWords, sign: 1 | -1, modulusBits: number): Uint32Array {
  const modulus = 2 ** modulusBits;
  const out = target.slice();
  for (let i = 0; i < source.length; i++) {
    out[offset + i] = ((((out[offset + i] as number) + sign * (source[i] as number)) % modulus) + modulus) % modulus;
  }
  return out;
}

/** Index of the first differing word, −1 when equal (toEqual on a million words takes seconds). */
function firstDifference(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('addWordsMod', () => {
  it('has the WebAssembly SIMD kernels in Node 20 (and so in every current browser)', () => {
    expect(modularKernelsAvailable()).toBe(true);
  });

  // Lengths around the 16-byte SIMD step, and just past one 1 MiB scratch copy of the source.
  const cases = WIDTHS.flatMap((width) =>
    [8 * width, 8 * width - 3, 1].flatMap((k) => [0, 1, 15, 16, 17, 1_001, (1 << 20) / width + 3].map((length) => ({ width, k, length }))),
  );
  it.each(cases)('width $width, k = $k, $length words: SIMD and plain targets both equal the reference', ({ width, k, length }) => {
    const offset = length % 7;
    const source = randomWords(width, length, k, 3 * length + k);
    const start = randomWords(4, length + offset + 5, k, length + 11) as Uint32Array;
    for (const sign of [1, -1] as const) {
      const expected = reference(start, offset, source, sign, k);
      const simd = createWordVector(start.length);
      simd.set(start);
      addWordsMod(simd, offset, source, sign, k);
      const plain = start.slice();
      addWordsMod(plain, offset, source, sign, k);
      expect(firstDifference(simd, expected)).toBe(-1);
      expect(firstDifference(plain, expected)).toBe(-1);
    }
  });

  it('wraps at the modulus edges: (2^k − 1) + 1 = 0 and 0 − 1 = 2^k − 1, for k = 8, 16, 32', () => {
    for (const [k, Words] of [
      [8, Uint8Array],
      [16, Uint16Array],
      [32, Uint32Array],
    ] as const) {
      const top = 2 ** k - 1;
      const target = createWordVector(40);
      target.fill(top, 0, 20);
      addWordsMod(target, 0, new Words(40).fill(1), 1, k);
      expect([...target.subarray(0, 20)].every((w) => w === 0)).toBe(true);
      expect([...target.subarray(20)].every((w) => w === 1)).toBe(true);
      addWordsMod(target, 0, new Words(40).fill(2), -1, k);
      expect([...target.subarray(0, 20)].every((w) => w === top - 1)).toBe(true);
      expect([...target.subarray(20)].every((w) => w === top)).toBe(true);
    }
  });

  it('adding then subtracting the same words restores any vector (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 80 }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 80 }),
        (k, a, b) => {
          const length = Math.min(a.length, b.length);
          const mod = (x: number) => Number(BigInt(x) % (1n << BigInt(k)));
          const target = createWordVector(length);
          target.set(a.slice(0, length).map(mod));
          const before = target.slice();
          const source = Uint32Array.from(b.slice(0, length), mod);
          addWordsMod(target, 0, source, 1, k);
          addWordsMod(target, 0, source, -1, k);
          expect(target).toEqual(before);
        },
      ),
    );
  });

  it('leaves words outside [offset, offset + length) untouched', () => {
    const target = createWordVector(64);
    target.fill(7);
    addWordsMod(target, 10, new Uint16Array(20).fill(1), 1, 16);
    expect([...target.subarray(0, 10)]).toEqual(Array(10).fill(7));
    expect([...target.subarray(10, 30)]).toEqual(Array(20).fill(8));
    expect([...target.subarray(30)]).toEqual(Array(34).fill(7));
  });

  it('rejects a source that does not fit, a bad offset and a modulus outside [1, 32]', () => {
    const target = createWordVector(8);
    expect(() => addWordsMod(target, 4, new Uint32Array(5), 1, 32)).toThrow(/5 words at offset 4 do not fit a target of 8/);
    expect(() => addWordsMod(target, -1, new Uint32Array(1), 1, 32)).toThrow(/offset -1/);
    expect(() => addWordsMod(target, 0, new Uint32Array(1), 1, 33)).toThrow(/modulusBits must be an integer in \[1, 32\], got 33/);
    expect(() => createWordVector(-1)).toThrow(/non-negative integer/);
  });
});
