import { createSeededRandom } from '../random/index';
import type { Client } from './types';

export interface HeldOutOptions {
  /** Share of clients held out for testing, in (0, 1); rounded, but at least one on each side. */
  testFraction: number;
  seed: number;
}

/**
 * Splits by whole clients, so test text comes from people the model never trained on — the
 * question federated evaluation asks. Both sides keep the input order.
 */
export function splitHeldOut(clients: readonly Client[], options: HeldOutOptions): { train: Client[]; test: Client[] } {
  const { testFraction, seed } = options;
  if (!Array.isArray(clients) || clients.length < 2) {
    throw new RangeError(`splitHeldOut: expected at least 2 clients, got ${Array.isArray(clients) ? clients.length : typeof clients}`);
  }
  if (!Number.isFinite(testFraction) || testFraction <= 0 || testFraction >= 1) {
    throw new RangeError(`splitHeldOut: testFraction must be in (0, 1), got ${testFraction}`);
  }
  const ids = new Set(clients.map((c) => c.id));
  if (ids.size !== clients.length) throw new RangeError(`splitHeldOut: client ids must be unique, got ${clients.length - ids.size} duplicates`);
  const testCount = Math.min(clients.length - 1, Math.max(1, Math.round(clients.length * testFraction)));
  const held = new Set(createSeededRandom(seed).sampleIndices(clients.length, testCount));
  return {
    train: clients.filter((_, i) => !held.has(i)),
    test: clients.filter((_, i) => held.has(i)),
  };
}
