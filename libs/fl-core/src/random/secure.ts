/**
 * Fills `out` with cryptographically secure random bytes. Injectable wherever randomness is
 * consumed so tests can be deterministic; production code always uses this default.
 */
export type RandomBytes = (out: Uint8Array) => Uint8Array;

/** WebCrypto caps one getRandomValues call at 65,536 bytes. */
const MAX_BYTES_PER_CALL = 65_536;

export const secureRandomBytes: RandomBytes = (out) => {
  for (let offset = 0; offset < out.length; offset += MAX_BYTES_PER_CALL) {
    crypto.getRandomValues(out.subarray(offset, Math.min(out.length, offset + MAX_BYTES_PER_CALL)));
  }
  return out;
};
