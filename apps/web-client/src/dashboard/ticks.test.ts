import { describe, expect, it } from 'vitest';
import { integerTicks, valueRange } from './ticks';

describe('integer ticks for counts', () => {
  it('print each label once for a series between 5 and 6 participants (was "6, 6, 6, 5, 5")', () => {
    const ticks = integerTicks(5, 6);
    expect(ticks).toEqual([5, 6]);
  });

  it.each([
    [0, 1],
    [0, 7],
    [3, 17],
    [0, 100],
    [12, 12],
    [0, 0],
    [480, 1_020],
  ])('are distinct whole numbers covering [%d, %d], at most 6', (min, max) => {
    const ticks = integerTicks(min, max);
    expect(ticks.every(Number.isInteger)).toBe(true);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.length).toBeLessThanOrEqual(6);
    expect(ticks[0]).toBeLessThanOrEqual(min);
    expect(ticks.at(-1)).toBeGreaterThanOrEqual(max);
    expect(ticks.map(String)).toEqual(ticks.map((t) => String(Math.round(t))));
  });

  it('give a flat series room on both sides without going below zero', () => {
    expect(integerTicks(5, 5)).toEqual([4, 5, 6]);
    expect(integerTicks(0, 0)).toEqual([0, 1]);
  });

  it('refuse what is not a range', () => {
    expect(() => integerTicks(3, 2)).toThrow('integerTicks: expected finite min ≤ max, got 3 and 2');
    expect(() => integerTicks(0, 5, 1)).toThrow('expected an integer maxTicks ≥ 2, got 1');
  });
});

describe('the range a chart draws', () => {
  const rows = [
    { a: 5, b: 6 },
    { a: 5, b: null },
    { a: 6, b: 6 },
  ];
  it('spans every series, skipping gaps', () => {
    expect(valueRange(rows, [(r) => r.a, (r) => r.b], false)).toEqual([5, 6]);
  });
  it('starts stacked areas at zero and tops them at the largest sum', () => {
    expect(valueRange(rows, [(r) => r.a, (r) => r.b], true)).toEqual([0, 12]);
  });
  it('is null without data', () => {
    expect(valueRange([], [(r: { a: number }) => r.a], false)).toBeNull();
  });
});
