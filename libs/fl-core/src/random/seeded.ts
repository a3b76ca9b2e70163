import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';

/**
 * A deterministic, seedable generator for reproducible *experiments*: data partitions, client
 * sampling in simulations, shuffles. Never use it for noise, keys or masks — those take
 * `crypto.getRandomValues` (see ./secure.ts).
 */
export interface SeededRandom {
  /** Uniform float in [0, 1). */
  nextFloat(): number;
  /** Uniform integer in [0, bound). */
  nextInt(bound: number): number;
  /** Standard normal N(0, 1) (Box–Muller). */
  nextNormal(): number;
  /** Gamma(shape, 1) (Marsaglia–Tsang 2000), used for Dirichlet partitions. */
  nextGamma(shape: number): number;
  /** In-place Fisher–Yates shuffle; returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** `count` distinct indices from [0, population), uniformly without replacement. */
  sampleIndices(population: number, count: number): number[];
  /** An independent stream (2^64 steps away), so sub-tasks stay reproducible on their own. */
  fork(): SeededRandom;
}

export function createSeededRandom(seed: number): SeededRandom {
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return wrap(xoroshiro128plus(seed | 0));
}

type Generator = ReturnType<typeof xoroshiro128plus>;

function wrap(rng: Generator): SeededRandom {
  const self: SeededRandom = {
    nextFloat: () => uniformFloat64(rng),
    nextInt(bound) {
      if (!Number.isInteger(bound) || bound <= 0) {
        throw new RangeError(`bound must be a positive integer, got ${bound}`);
      }
      return uniformInt(rng, 0, bound - 1);
    },
    nextNormal() {
      const u1 = 1 - self.nextFloat();
      const u2 = self.nextFloat();
      return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    },
    nextGamma(shape) {
      if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
      if (shape < 1) {
        // Boost: Gamma(a) = Gamma(a + 1) · U^(1/a).
        return self.nextGamma(shape + 1) * Math.pow(1 - self.nextFloat(), 1 / shape);
      }
      const d = shape - 1 / 3;
      const c = 1 / Math.sqrt(9 * d);
      for (;;) {
        const x = self.nextNormal();
        const v = Math.pow(1 + c * x, 3);
        if (v <= 0) continue;
        const u = 1 - self.nextFloat();
        if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
      }
    },
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = self.nextInt(i + 1);
        const tmp = items[i] as (typeof items)[number];
        items[i] = items[j] as (typeof items)[number];
        items[j] = tmp;
      }
      return items;
    },
    sampleIndices(population, count) {
      if (!Number.isInteger(count) || count < 0 || count > population) {
        throw new RangeError(`cannot sample ${count} of ${population}`);
      }
      const indices = Array.from({ length: population }, (_, i) => i);
      // Partial Fisher–Yates: only the first `count` positions are drawn.
      for (let i = 0; i < count; i++) {
        const j = i + self.nextInt(population - i);
        const tmp = indices[i] as number;
        indices[i] = indices[j] as number;
        indices[j] = tmp;
      }
      return indices.slice(0, count);
    },
    fork() {
      // The child takes the next 2^64 outputs and the parent jumps past them, so successive forks
      // and the parent never share a stretch of the sequence. (Advancing the parent by one step
      // instead would make each fork the previous one shifted by a single draw.)
      const child = rng.clone();
      if (rng.jump === undefined) throw new Error('SeededRandom.fork: the generator cannot jump');
      rng.jump();
      return wrap(child);
    },
  };
  return self;
}
