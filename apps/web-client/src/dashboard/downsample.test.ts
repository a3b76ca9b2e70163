import { describe, expect, it } from 'vitest';
import { downsampleRows, minMaxIndices } from './downsample';

/** A noisy, drifting series with a few spikes: deterministic (mulberry32) so failures reproduce. */
function series(length: number, seed: number): number[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length }, (_, i) => 5 * Math.exp(-i / 300) + next() - 0.5 + (next() < 0.005 ? 20 * (next() - 0.5) : 0));
}

const argMin = (v: number[]) => v.indexOf(Math.min(...v));
const argMax = (v: number[]) => v.indexOf(Math.max(...v));

describe('minMaxIndices', () => {
  it.each([
    [1000, 200],
    [1001, 201],
    [5000, 2],
    [5000, 3],
    [20_000, 500],
  ])('keeps at most maxPoints of %i points (maxPoints %i), ascending and distinct', (length, maxPoints) => {
    const values = series(length, length + maxPoints);
    const kept = minMaxIndices(values, maxPoints);
    expect(kept.length).toBeLessThanOrEqual(maxPoints);
    expect(kept.length).toBeGreaterThanOrEqual(Math.min(2, length));
    for (let i = 1; i < kept.length; i++) expect(kept[i] as number).toBeGreaterThan(kept[i - 1] as number);
  });

  it('fills its budget: 1,000 rounds into 200 points gives 200 (first, last and 99 min/max pairs)', () => {
    expect(minMaxIndices(series(1000, 7), 200)).toHaveLength(200);
  });

  it('keeps the first, the last, the global minimum and the global maximum', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const values = series(3000, seed);
      const kept = new Set(minMaxIndices(values, 100));
      expect(kept.has(0)).toBe(true);
      expect(kept.has(values.length - 1)).toBe(true);
      expect(kept.has(argMin(values))).toBe(true);
      expect(kept.has(argMax(values))).toBe(true);
    }
  });

  it('keeps each bucket’s extremes: a one-round spike anywhere survives', () => {
    for (const at of [1, 137, 500, 998]) {
      const values = Array.from({ length: 1000 }, () => 1);
      values[at] = 50;
      expect(minMaxIndices(values, 20)).toContain(at);
    }
  });

  it('returns every valid index when the series already fits', () => {
    expect(minMaxIndices([3, 1, 2], 10)).toEqual([0, 1, 2]);
    expect(minMaxIndices([], 10)).toEqual([]);
  });

  it('treats null and non-finite values as gaps, never selected nor counted', () => {
    const values = [null, 1, Number.NaN, 2, undefined, 3, Number.POSITIVE_INFINITY, null];
    expect(minMaxIndices(values, 3)).toEqual([1, 3, 5]);
    const long = series(1000, 9).map((v, i) => (i % 3 === 0 ? null : v));
    const kept = minMaxIndices(long, 50);
    expect(kept.length).toBeLessThanOrEqual(50);
    expect(kept.every((i) => long[i] !== null)).toBe(true);
    expect(kept[0]).toBe(1);
    expect(kept.at(-1)).toBe(998);
  });

  it('refuses a budget below first + last', () => {
    expect(() => minMaxIndices([1, 2, 3], 1)).toThrow(/maxPoints must be an integer ≥ 2, got 1/);
    expect(() => minMaxIndices([1, 2, 3], 2.5)).toThrow(RangeError);
  });
});

describe('downsampleRows', () => {
  const rows = series(1200, 11).map((loss, i) => ({ round: i + 1, loss, top1: i % 50 === 0 ? null : 1 / (1 + loss * loss) }));

  it('bounds the union of several series by maxPoints and keeps each series’ extremes', () => {
    const out = downsampleRows(rows, [(r) => r.loss, (r) => r.top1], 300);
    expect(out.length).toBeLessThanOrEqual(300);
    expect(out.length).toBeGreaterThan(150);
    const kept = new Set(out.map((r) => r.round));
    const losses = rows.map((r) => r.loss);
    expect(kept.has(rows[argMax(losses)]!.round)).toBe(true);
    expect(kept.has(rows[argMin(losses)]!.round)).toBe(true);
    expect(out[0]).toBe(rows[0]);
    expect(out.at(-1)).toBe(rows.at(-1));
    for (let i = 1; i < out.length; i++) expect(out[i]!.round).toBeGreaterThan(out[i - 1]!.round);
  });

  it('returns a copy of short inputs unchanged', () => {
    const short = rows.slice(0, 10);
    const out = downsampleRows(short, [(r) => r.loss], 100);
    expect(out).toEqual(short);
    expect(out).not.toBe(short);
  });

  it('refuses a budget below two points per series', () => {
    expect(() => downsampleRows(rows, [(r) => r.loss, (r) => r.top1], 3)).toThrow(/got 3/);
    expect(() => downsampleRows(rows, [], 100)).toThrow(/at least one series/);
  });
});
