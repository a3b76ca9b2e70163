import { describe, expect, it } from 'vitest';
import { splitIntoGroups } from './sampling';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('splitIntoGroups (a process draw as SecAgg groups)', () => {
  it('makes ⌈n / maxSize⌉ groups whose sizes differ by at most one, holding every item once', () => {
    const cases: [n: number, maxSize: number, minSize: number, sizes: number[]][] = [
      [12, 5, 4, [4, 4, 4]],
      [11, 5, 2, [4, 4, 3]],
      [1000, 500, 100, [500, 500]],
      [1001, 500, 100, [334, 334, 333]],
      [6, 500, 4, [6]],
      [4, 4, 4, [4]],
    ];
    for (const [n, maxSize, minSize, sizes] of cases) {
      const groups = splitIntoGroups(range(n), maxSize, minSize);
      expect(groups.map((group) => group.length)).toEqual(sizes);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(range(n));
    }
  });

  it('keeps every group at least minSize, growing groups past maxSize rather than splitting below it', () => {
    // 9 of at most 4 would be 3 groups of 3 < minSize 4: two groups (5 and 4) instead.
    expect(splitIntoGroups(range(9), 4, 4).map((group) => group.length)).toEqual([5, 4]);
    // maxSize below minSize: one group per minSize.
    expect(splitIntoGroups(range(10), 2, 5).map((group) => group.length)).toEqual([5, 5]);
  });

  it('makes no group of fewer than minSize items', () => {
    expect(splitIntoGroups(range(3), 5, 4)).toEqual([]);
    expect(splitIntoGroups([], 5, 1)).toEqual([]);
  });

  it('assigns items to groups at random: each lands in each of two groups about half the time', () => {
    const firstGroup = new Array<number>(8).fill(0);
    const trials = 2000;
    for (let t = 0; t < trials; t++) for (const item of splitIntoGroups(range(8), 4, 4)[0] ?? []) firstGroup[item] = (firstGroup[item] ?? 0) + 1;
    // Binomial(2000, ½): mean 1000, sd ≈ 22; a fixed assignment gives 0 or 2000.
    for (const count of firstGroup) expect(Math.abs(count - trials / 2)).toBeLessThan(150);
  });

  it('refuses sizes that are not integers ≥ 1', () => {
    expect(() => splitIntoGroups(range(4), 0, 1)).toThrow('splitIntoGroups: maxSize must be an integer ≥ 1, got 0');
    expect(() => splitIntoGroups(range(4), 4, 1.5)).toThrow('splitIntoGroups: minSize must be an integer ≥ 1, got 1.5');
  });
});
