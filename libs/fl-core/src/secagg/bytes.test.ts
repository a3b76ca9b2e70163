import { describe, expect, it } from 'vitest';
import {
  bytesEqual,
  concatBytes,
  copyBytes,
  firstOutOfRange,
  LITTLE_ENDIAN,
  lengthPrefixed,
  packWords,
  toHex,
  u32be,
  unpackWords,
  utf8,
  wipe,
  wordBytes,
  wordView,
} from './bytes';

/** Bytes at an odd offset inside a larger buffer, as a Node Buffer slice hands them over. */
function atOffset(bytes: readonly number[], offset: number): Uint8Array {
  const backing = new Uint8Array(bytes.length + offset + 3).fill(0xee);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.length);
}

describe('byte helpers', () => {
  it('encodes UTF-8, concatenates, and writes big-endian u32 length prefixes', () => {
    expect(Array.from(utf8('aé'))).toEqual([0x61, 0xc3, 0xa9]);
    expect(Array.from(concatBytes(Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)))).toEqual([1, 2, 3]);
    expect(concatBytes()).toEqual(new Uint8Array(0));
    expect(Array.from(u32be(0x01020304))).toEqual([1, 2, 3, 4]);
    expect(Array.from(u32be(0xffffffff))).toEqual([255, 255, 255, 255]);
    expect(Array.from(lengthPrefixed(Uint8Array.of(9, 8, 7)))).toEqual([0, 0, 0, 3, 9, 8, 7]);
    // "ab" + "c" and "a" + "bc" stay apart once each part is prefixed.
    expect(
      bytesEqual(concatBytes(lengthPrefixed(utf8('ab')), lengthPrefixed(utf8('c'))), concatBytes(lengthPrefixed(utf8('a')), lengthPrefixed(utf8('bc')))),
    ).toBe(false);
  });

  it('copies into a fresh buffer at offset 0', () => {
    const view = atOffset([5, 6, 7], 3);
    const copy = copyBytes(view);
    expect(Array.from(copy)).toEqual([5, 6, 7]);
    expect(copy.byteOffset).toBe(0);
    expect(copy.buffer).not.toBe(view.buffer);
    expect(copy.buffer.byteLength).toBe(3);
  });

  it('compares bytes by length and every position', () => {
    expect(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3))).toBe(true);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2))).toBe(false);
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3))).toBe(false);
    expect(bytesEqual(Uint8Array.of(0, 2, 3), Uint8Array.of(1, 2, 3))).toBe(false);
    expect(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 2))).toBe(false);
  });

  it('writes lowercase hex, two digits a byte', () => {
    expect(toHex(Uint8Array.of(0, 1, 0x0f, 0x10, 0xab, 0xff))).toBe('00010f10abff');
    expect(toHex(new Uint8Array(0))).toBe('');
  });

  it('wipes every buffer given', () => {
    const a = Uint8Array.of(1, 2);
    const b = Uint32Array.of(3, 4);
    wipe(a, b);
    expect(Array.from(a)).toEqual([0, 0]);
    expect(Array.from(b)).toEqual([0, 0]);
  });

  it('knows the host byte order', () => {
    expect(LITTLE_ENDIAN).toBe(new DataView(Uint32Array.of(1).buffer).getUint8(0) === 1);
  });
});

describe('packed words', () => {
  it('uses ⌈k/8⌉ bytes a word', () => {
    expect([1, 8, 9, 16, 17, 24, 25, 32].map(wordBytes)).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('packs little-endian, ⌈k/8⌉ bytes each', () => {
    const words = Uint32Array.of(0x00000001, 0x00abcdef, 0x00123456);
    expect(Array.from(packWords(words, 24))).toEqual([0x01, 0, 0, 0xef, 0xcd, 0xab, 0x56, 0x34, 0x12]);
    expect(Array.from(packWords(Uint32Array.of(0x1234, 0xfffe), 16))).toEqual([0x34, 0x12, 0xfe, 0xff]);
    expect(Array.from(packWords(Uint32Array.of(7, 200), 8))).toEqual([7, 200]);
    expect(Array.from(packWords(Uint32Array.of(0x01020304, 0xfffffffe), 32))).toEqual([4, 3, 2, 1, 0xfe, 0xff, 0xff, 0xff]);
  });

  it('packs 32-bit words from a view into a larger buffer as a copy of that view only', () => {
    const backing = Uint32Array.of(0xaaaaaaaa, 0x01020304, 0x05060708, 0xbbbbbbbb);
    const view = backing.subarray(1, 3);
    const packed = packWords(view, 32);
    expect(Array.from(packed)).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    backing[1] = 0;
    expect(packed[0]).toBe(4);
  });

  it('reads words back without copying when aligned, and decodes a copy at odd offsets', () => {
    const aligned = Uint8Array.of(0x34, 0x12, 0xfe, 0xff);
    const view16 = wordView(aligned, 16);
    expect(Array.from(view16)).toEqual([0x1234, 0xfffe]);
    if (LITTLE_ENDIAN) expect(view16.buffer).toBe(aligned.buffer);
    const odd = atOffset([0x34, 0x12, 0xfe, 0xff], 1);
    const copy16 = wordView(odd, 16);
    expect(copy16).toBeInstanceOf(Uint32Array);
    expect(Array.from(copy16)).toEqual([0x1234, 0xfffe]);
    expect(Array.from(wordView(atOffset([4, 3, 2, 1, 8, 7, 6, 0xf5], 3), 32))).toEqual([0x01020304, 0xf5060708]);
    expect(Array.from(wordView(atOffset([0x01, 0, 0, 0xef, 0xcd, 0xab], 1), 24))).toEqual([1, 0xabcdef]);
    expect(Array.from(wordView(Uint8Array.of(0x01, 0, 0, 0xef, 0xcd, 0xab), 24))).toEqual([1, 0xabcdef]);
    const bytes8 = Uint8Array.of(9, 250);
    expect(wordView(bytes8, 8)).toBe(bytes8);
  });

  it('views aligned 2- and 4-byte words in place on a little-endian host, at any aligned offset', () => {
    if (!LITTLE_ENDIAN) return;
    const backing = new Uint8Array(16);
    backing.set([4, 3, 2, 1, 8, 7, 6, 5], 4);
    const at4 = backing.subarray(4, 12);
    const words32 = wordView(at4, 32);
    expect(words32.buffer).toBe(backing.buffer);
    expect(Array.from(words32)).toEqual([0x01020304, 0x05060708]);
    const at2 = backing.subarray(2, 6);
    const words16 = wordView(at2, 16);
    expect(words16.buffer).toBe(backing.buffer);
    expect(Array.from(words16)).toEqual([0, 0x0304]);
  });

  it('finds the first word at or above 2^k, only when k is not a multiple of 8', () => {
    expect(firstOutOfRange(Uint32Array.of(1, 2 ** 20 - 1, 2 ** 20, 2 ** 21), 20)).toBe(2);
    expect(firstOutOfRange(Uint32Array.of(1, 2 ** 20 - 1), 20)).toBe(-1);
    expect(firstOutOfRange(Uint8Array.of(255, 255), 8)).toBe(-1);
    expect(firstOutOfRange(Uint16Array.of(0, 2 ** 12), 12)).toBe(1);
  });

  it('unpacks to a fresh Uint32Array, or reports the first word out of range', () => {
    for (const k of [5, 8, 12, 16, 20, 24, 31, 32]) {
      const words = Uint32Array.of(0, 1, 2 ** k - 1, Math.floor(2 ** k / 3));
      const packed = packWords(words, k);
      expect(packed.length).toBe(4 * wordBytes(k));
      const result = unpackWords(packed, k);
      expect(result).toEqual({ words });
      if (!('words' in result)) continue;
      expect(result.words).toBeInstanceOf(Uint32Array);
      expect(result.words.buffer).not.toBe(packed.buffer);
    }
    expect(unpackWords(Uint8Array.of(0x00, 0x10, 0xff, 0x0f), 12)).toEqual({ outOfRange: 0 });
    expect(unpackWords(Uint8Array.of(0xff, 0x0f, 0x00, 0x10), 12)).toEqual({ outOfRange: 1 });
    // A decoded copy (odd offset, 3-byte words) is handed back as it is: already a fresh array.
    const odd = atOffset([1, 0, 0, 2, 0, 0], 1);
    expect(unpackWords(odd, 24)).toEqual({ words: Uint32Array.of(1, 2) });
    // An aligned 32-bit view is copied, so later changes to the bytes do not reach the words.
    const aligned = Uint8Array.of(1, 0, 0, 0);
    const unpacked = unpackWords(aligned, 32);
    aligned[0] = 9;
    expect(unpacked).toEqual({ words: Uint32Array.of(1) });
  });
});
