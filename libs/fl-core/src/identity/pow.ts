import { sha256 } from '@noble/hashes/sha2.js';

/**
 * Enrollment's optional proof of work, hashcash-style (Back 2002, "Hashcash – A Denial of Service
 * Counter-Measure"): the enrollment service hands out a challenge with a difficulty of b bits, and
 * the device finds a decimal `work` such that
 *
 *   SHA-256("murmur/enroll-pow/v1|" challenge "|" publicKey "|" work)
 *
 * starts with at least b zero bits: 2^b hashes on average to find, one to check. The message names
 * the challenge (single-use and expiring, kept by the service: a solution cannot be replayed) and
 * the base64url public key being certified (a solution found for one key is worthless for
 * another). Every field is base64url or decimal, so no field can contain a separator.
 *
 * What it buys: each identity costs the device 2^b hashes, seconds in a browser at the standalone
 * service's default (18 bits: about 0.3–1 s on a desktop core, a few seconds on a phone) and
 * microseconds per identity for an attacker hashing natively or on a GPU. It is a speed bump for
 * scripted swarms; the per-address, per-network and global rate limits are the bound
 * (docs/aggregator.md, "Enrollment service").
 */
export const POW_PURPOSE = 'murmur/enroll-pow/v1';
/** Largest difficulty a challenge may ask for: 2^32 hashes is hours in a browser. */
export const MAX_POW_BITS = 32;
/** `work` is a decimal counter of at most this many digits (2^53 attempts never run out). */
export const MAX_POW_WORK_CHARS = 16;

const encoder = new TextEncoder();

/** The hashed bytes for one attempt. */
export function proofOfWorkMessage(challenge: string, publicKey: string, work: string): Uint8Array {
  return encoder.encode(`${POW_PURPOSE}|${challenge}|${publicKey}|${work}`);
}

/** Leading zero bits of `hash`, counted from the first byte's most significant bit. */
export function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0;
  for (const byte of hash) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

function assertBits(difficultyBits: number, where: string): void {
  if (!Number.isInteger(difficultyBits) || difficultyBits < 0 || difficultyBits > MAX_POW_BITS) {
    throw new RangeError(`${where}: difficultyBits must be an integer in [0, ${MAX_POW_BITS}], got ${difficultyBits}`);
  }
}

/** True when `work` is a decimal of at most MAX_POW_WORK_CHARS digits whose hash meets `difficultyBits`. */
export function checkProofOfWork(challenge: string, publicKey: string, work: string, difficultyBits: number): boolean {
  assertBits(difficultyBits, 'checkProofOfWork');
  if (!/^(0|[1-9][0-9]*)$/.test(work) || work.length > MAX_POW_WORK_CHARS) return false;
  return leadingZeroBits(sha256(proofOfWorkMessage(challenge, publicKey, work))) >= difficultyBits;
}

export interface SolveProofOfWorkOptions {
  challenge: string;
  /** The base64url public key the enrollment asks to certify. */
  publicKey: string;
  difficultyBits: number;
  /**
   * Hash for about this long, then yield to the event loop, so that a browser's main thread keeps
   * painting and answering input while it solves. @default 8
   */
  sliceMs?: number;
  /** Gives up with an AbortError when aborted. */
  signal?: AbortSignal;
  /** @default performance.now */
  now?: () => number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Finds the smallest `work` (0, 1, 2, …) whose hash meets the difficulty, in slices of `sliceMs`
 * between which it yields. Returns the work as text and how many hashes it took.
 */
export async function solveProofOfWork(options: SolveProofOfWorkOptions): Promise<{ work: string; attempts: number }> {
  const { challenge, publicKey, difficultyBits, signal } = options;
  assertBits(difficultyBits, 'solveProofOfWork');
  const sliceMs = options.sliceMs ?? 8;
  const now = options.now ?? (() => performance.now());
  const prefix = encoder.encode(`${POW_PURPOSE}|${challenge}|${publicKey}|`);
  const buffer = new Uint8Array(prefix.length + MAX_POW_WORK_CHARS);
  buffer.set(prefix);
  const tail = buffer.subarray(prefix.length);
  for (let work = 0; ;) {
    signal?.throwIfAborted();
    const sliceEnd = now() + sliceMs;
    // Check the clock every 256 attempts: reading it costs more than a hash in some browsers.
    do {
      for (let i = 0; i < 256; i++, work++) {
        const { written } = encoder.encodeInto(String(work), tail);
        if (leadingZeroBits(sha256(buffer.subarray(0, prefix.length + written))) >= difficultyBits) {
          return { work: String(work), attempts: work + 1 };
        }
      }
    } while (now() < sliceEnd);
    await yieldToEventLoop();
  }
}
