/**
 * Test-only: a reproducible RandomBytes for the discrete Gaussian and DDG tests, the ChaCha20
 * keystream under a key made from the seed, read in order across calls. Exported only from
 * `@murmur/fl-core/testing` (lint keeps it out of production code, which takes secureRandomBytes).
 */
import { chacha20 } from '@noble/ciphers/chacha.js';
import type { RandomBytes } from '../random/index';

export function keystreamRandomBytes(seed: number): RandomBytes {
  const key = new Uint8Array(32);
  new DataView(key.buffer).setFloat64(0, seed);
  let block = 0;
  return (out) => {
    // Each call starts on a fresh 64-byte block, so no keystream byte is used twice.
    chacha20(key, new Uint8Array(12), out.fill(0), out, block);
    block += Math.ceil(out.length / 64);
    return out;
  };
}
