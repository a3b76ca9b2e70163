import { describe, expect, it } from 'vitest';
import { ProcessRing, ROUTING_BUCKETS } from './routing';

const THREE = ['murmur-aggregator-0', 'murmur-aggregator-1', 'murmur-aggregator-2'];
const FOURTH = 'murmur-aggregator-3';

/** Buckets whose owner differs between two assignments. */
function moved(before: string[], after: string[]): number[] {
  return before.flatMap((owner, bucket) => (after[bucket] === owner ? [] : [bucket]));
}

describe('ProcessRing', () => {
  it('matches fixed owners computed with sha256sum', () => {
    // score = sha256(bucket as u32 big-endian ‖ process id), the highest wins; first 8 bytes, e.g. for bucket 7:
    // { printf '\x00\x00\x00\x07'; printf '%s' murmur-aggregator-2; } | sha256sum → 9cf32d690d4f81b2 (-0: 7b262c51…, -1: 1af16f58…).
    // Bucket 0: -0 7e043373, -1 9c9b2dd7, -2 8d6f131a. Bucket 1: -0 14387a48, -1 edf1c508, -2 21e28ff1.
    // Bucket 1023: -0 45c5b8a2, -1 4116db2f, -2 3f5bb2bb.
    const ring = new ProcessRing(THREE);
    expect([0, 1, 7, 1023].map((bucket) => ring.owner(bucket))).toEqual([
      'murmur-aggregator-1',
      'murmur-aggregator-1',
      'murmur-aggregator-2',
      'murmur-aggregator-0',
    ]);
  });

  it('depends on the set of processes, not the order of adds', () => {
    const forward = new ProcessRing(THREE).assignment();
    const backward = new ProcessRing([...THREE].reverse()).assignment();
    const churned = new ProcessRing([...THREE, FOURTH]);
    churned.remove(FOURTH);
    expect(backward).toEqual(forward);
    expect(churned.assignment()).toEqual(forward);
  });

  it('gives each of 3 processes a third of 1024 buckets, within ±15%', () => {
    const counts = new Map<string, number>();
    for (const owner of new ProcessRing(THREE).assignment(1024)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(THREE);
    for (const count of counts.values()) expect(Math.abs(count / 1024 - 1 / 3)).toBeLessThanOrEqual(0.15 / 3);
  });

  it('moves only the removed process’s buckets when one of 3 leaves', () => {
    for (const gone of THREE) {
      const ring = new ProcessRing(THREE);
      const before = ring.assignment();
      expect(ring.remove(gone)).toBe(true);
      const after = ring.assignment();
      const owned = before.flatMap((owner, bucket) => (owner === gone ? [bucket] : []));
      expect(owned.length).toBeGreaterThan(0);
      expect(moved(before, after)).toEqual(owned);
    }
  });

  it('moves about a quarter of the buckets, all to the new process, when a 4th joins', () => {
    const ring = new ProcessRing(THREE);
    const before = ring.assignment();
    expect(ring.add(FOURTH)).toBe(true);
    const after = ring.assignment();
    const changed = moved(before, after);
    for (const bucket of changed) expect(after[bucket]).toBe(FOURTH);
    expect(changed.length / ROUTING_BUCKETS).toBeGreaterThanOrEqual(0.2);
    expect(changed.length / ROUTING_BUCKETS).toBeLessThanOrEqual(0.3);
  });

  it('adds and removes idempotently, and refuses bad input', () => {
    const ring = new ProcessRing();
    expect(() => ring.owner(0)).toThrow(/no processes/);
    expect(ring.add('a')).toBe(true);
    expect(ring.add('a')).toBe(false);
    expect(ring.has('a')).toBe(true);
    expect(ring.remove('b')).toBe(false);
    expect(ring.size).toBe(1);
    expect(ring.owner(5)).toBe('a');
    expect(() => ring.add('')).toThrow(RangeError);
    for (const bad of [-1, 0.5, 2 ** 32, Number.NaN]) expect(() => ring.owner(bad)).toThrow(RangeError);
    expect(() => ring.assignment(0)).toThrow(RangeError);
    expect(new ProcessRing(['b', 'a']).processes).toEqual(['a', 'b']);
  });
});
