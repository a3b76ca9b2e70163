/** Byte helpers shared by the SecAgg machines. Binary stays binary: Uint8Array end to end. */

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

/** A length-prefixed field, so that concatenated labels cannot collide ("ab"+"c" vs "a"+"bc"). */
export function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  return concatBytes(u32be(bytes.length), bytes);
}

/**
 * A copy in a fresh buffer (byteOffset 0). Not `.slice()`: on a Node Buffer — what Socket.IO hands
 * the aggregator — slice() returns a view into the same memory, often at an odd offset.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Overwrites secret material we are done with (best effort: JS gives no stronger guarantee). */
export function wipe(...buffers: readonly (Uint8Array | Uint32Array)[]): void {
  for (const buffer of buffers) buffer.fill(0);
}

export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Bytes per word on the wire for Z_(2^k): ⌈k/8⌉. With k ≤ 16 a masked input costs half a float32
 * update; with k = 32 the same.
 */
export function wordBytes(modulusBits: number): number {
  return Math.ceil(modulusBits / 8);
}

/** Packs words < 2^k little-endian into ⌈k/8⌉ bytes each. */
export function packWords(words: Uint32Array, modulusBits: number): Uint8Array {
  const width = wordBytes(modulusBits);
  if (width === 4 && LITTLE_ENDIAN) return new Uint8Array(words.buffer.slice(words.byteOffset, words.byteOffset + words.byteLength));
  const out = new Uint8Array(words.length * width);
  for (let i = 0, o = 0; i < words.length; i++) {
    let w = words[i] as number;
    for (let b = 0; b < width; b++, o++) {
      out[o] = w & 0xff;
      w >>>= 8;
    }
  }
  return out;
}

/**
 * The words of a packed vector without copying where the platform allows (little-endian host,
 * aligned buffer, 2- or 4-byte words); otherwise a decoded copy. Values are not range-checked.
 */
export function wordView(bytes: Uint8Array, modulusBits: number): Uint8Array | Uint16Array | Uint32Array {
  const width = wordBytes(modulusBits);
  const count = bytes.length / width;
  if (width === 1) return bytes;
  if (LITTLE_ENDIAN && (width === 2 || width === 4) && bytes.byteOffset % width === 0) {
    return width === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : new Uint32Array(bytes.buffer, bytes.byteOffset, count);
  }
  const words = new Uint32Array(count);
  for (let i = 0, o = 0; i < count; i++, o += width) {
    let w = 0;
    for (let b = width - 1; b >= 0; b--) w = w * 256 + (bytes[o + b] as number);
    words[i] = w;
  }
  return words;
}

/** Index of the first word ≥ 2^k, or −1 (only possible when k is not a multiple of 8). */
export function firstOutOfRange(words: Uint8Array | Uint16Array | Uint32Array, modulusBits: number): number {
  if (modulusBits % 8 === 0) return -1;
  const limit = 2 ** modulusBits;
  for (let i = 0; i < words.length; i++) if ((words[i] as number) >= limit) return i;
  return -1;
}

/** Inverse of packWords, as a fresh Uint32Array; or the index of the first word ≥ 2^k. */
export function unpackWords(bytes: Uint8Array, modulusBits: number): { words: Uint32Array } | { outOfRange: number } {
  const view = wordView(bytes, modulusBits);
  const outOfRange = firstOutOfRange(view, modulusBits);
  if (outOfRange >= 0) return { outOfRange };
  return { words: view instanceof Uint32Array && view.buffer !== bytes.buffer ? view : Uint32Array.from(view) };
}
