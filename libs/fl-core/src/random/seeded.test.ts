import { describe, expect, it } from 'vitest';
import { createSeededRandom } from './seeded';

const draws = (random: { nextInt(bound: number): number }, n: number): number[] => Array.from({ length: n }, () => random.nextInt(2 ** 30));

describe('SeededRandom.fork', () => {
  it('is reproducible from the seed', () => {
    const a = createSeededRandom(7);
    const b = createSeededRandom(7);
    expect(draws(a.fork(), 20)).toEqual(draws(b.fork(), 20));
    expect(draws(a, 20)).toEqual(draws(b, 20));
  });

  it('gives successive forks and the parent streams that share no stretch, not one shifted by a draw', () => {
    const parent = createSeededRandom(7);
    const first = draws(parent.fork(), 200);
    const second = draws(parent.fork(), 200);
    const rest = draws(parent, 200);
    const seen = new Set(first);
    // 30-bit draws: a chance collision among 200 × 200 pairs has probability below 4·10⁻⁵.
    expect(second.filter((x) => seen.has(x))).toEqual([]);
    expect(rest.filter((x) => seen.has(x) || second.includes(x))).toEqual([]);
  });
});
