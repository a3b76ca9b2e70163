import { LITTLE_ENDIAN } from './bytes';
import { addWordsMod, createWordVector, type ModularSign, type ModularWords } from '../kernels/modular';
import type { CryptoSuite } from './crypto';

/**
 * PRG(key) of Bonawitz et al. 2017 §3 and Round 2 (MaskedInputCollection): the AES-256-CTR keystream under the full
 * 256-bit key, read as little-endian words of 1, 2 or 4 bytes (k ≤ 8, k ≤ 16, k ≤ 32) and reduced
 * mod 2^k. The low k bits of a uniform word are uniform in Z_(2^k), so masks are uniform; reading
 * only the bytes k needs halves the AES work at k = 16 (the server expands n of these per round).
 */
export function maskWordBytes(modulusBits: number): 1 | 2 | 4 {
  return modulusBits <= 8 ? 1 : modulusBits <= 16 ? 2 : 4;
}

/**
 * Words per keystream request. 1 MiB chunks run WebCrypto's AES-CTR at its best throughput here
 * (1.3 GB/s against 0.8 GB/s for 4 MiB requests) and keep the add loop's mask in cache.
 */
const CHUNK_BYTES = 1 << 20;

function view(stream: Uint8Array, width: 1 | 2 | 4): ModularWords {
  if (width === 1) return stream;
  if (LITTLE_ENDIAN && stream.byteOffset % width === 0) {
    return width === 2
      ? new Uint16Array(stream.buffer, stream.byteOffset, stream.length / 2)
      : new Uint32Array(stream.buffer, stream.byteOffset, stream.length / 4);
  }
  // The PRG is defined little-endian: a big-endian host must still agree with everyone else.
  const data = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  if (width === 2) return Uint16Array.from({ length: stream.length / 2 }, (_, i) => data.getUint16(2 * i, true));
  return Uint32Array.from({ length: stream.length / 4 }, (_, i) => data.getUint32(4 * i, true));
}

/** PRG(key) as `words` values in Z_(2^k). */
export async function expandMask(suite: CryptoSuite, key: Uint8Array, words: number, modulusBits: number): Promise<Uint32Array> {
  const out = createWordVector(words);
  await applyMasks(suite, out, [{ key, sign: 1 }], modulusBits);
  return out;
}

export interface MaskTerm {
  key: Uint8Array;
  sign: ModularSign;
}

/**
 * target ← target + Σ ±PRG(keyᵢ) (mod 2^k). Keystream chunks are requested a few at a time so that
 * WebCrypto's worker threads expand the next ones while this thread adds the current one; at most
 * `window` chunks (1 MiB each) are alive at once, whatever d is.
 */
export async function applyMasks(suite: CryptoSuite, target: Uint32Array, terms: readonly MaskTerm[], modulusBits: number, window = 4): Promise<void> {
  const width = maskWordBytes(modulusBits);
  const wordsPerChunk = CHUNK_BYTES / width;
  const chunksPerTerm = Math.ceil(target.length / wordsPerChunk);
  const total = terms.length * chunksPerTerm;
  const request = (index: number) => {
    const term = terms[Math.floor(index / chunksPerTerm)] as MaskTerm;
    const firstWord = (index % chunksPerTerm) * wordsPerChunk;
    const words = Math.min(wordsPerChunk, target.length - firstWord);
    // Chunk boundaries fall on 16-byte AES blocks (1 MiB / 16), so chunk c starts at block c·2^16.
    return suite.keystream(term.key, words * width, (firstWord * width) / 16);
  };
  const pending: Promise<Uint8Array>[] = [];
  let next = 0;
  const refill = () => {
    while (pending.length < window && next < total) pending.push(request(next++));
  };
  refill();
  for (let index = 0; index < total; index++) {
    const stream = await (pending.shift() as Promise<Uint8Array>);
    refill();
    const term = terms[Math.floor(index / chunksPerTerm)] as MaskTerm;
    addWordsMod(target, (index % chunksPerTerm) * wordsPerChunk, view(stream, width), term.sign, modulusBits);
  }
}
