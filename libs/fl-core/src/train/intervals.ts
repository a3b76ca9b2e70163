/**
 * 95% confidence intervals for held-out metrics, from the additive sums evaluation keeps.
 *
 * Both treat the evaluated examples as independent draws. Consecutive words of one held-out
 * speech are not independent, so these intervals measure the sampling noise of *which examples*
 * were evaluated and are narrower than intervals over held-out speakers would be. They suffice to
 * tell whether two models scored on the same examples differ by more than example noise.
 */

/** Φ⁻¹(0.975), the two-sided 95% standard normal quantile (Python: NormalDist().inv_cdf(0.975)). */
export const Z_95 = 1.9599639845400536;

export interface Interval {
  lower: number;
  upper: number;
}

const UNDEFINED_INTERVAL: Interval = Object.freeze({ lower: Number.NaN, upper: Number.NaN });

/**
 * Wilson score interval for a proportion (Wilson 1927; Newcombe 1998, method 3): the p whose
 * score test does not reject at 5%,
 *   (p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n).
 * Unlike p̂ ± z √(p̂(1 − p̂)/n) it stays inside [0, 1] and does not collapse to a point at 0 or n
 * successes. NaN bounds for 0 trials.
 */
export function wilsonInterval(successes: number, trials: number): Interval {
  if (!Number.isInteger(trials) || trials < 0 || !Number.isInteger(successes) || successes < 0 || successes > trials) {
    throw new RangeError(`wilsonInterval: expected integers 0 ≤ successes ≤ trials, got ${successes} of ${trials}`);
  }
  if (trials === 0) return UNDEFINED_INTERVAL;
  const p = successes / trials;
  const z2n = (Z_95 * Z_95) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const halfWidth = (Z_95 * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials))) / (1 + z2n);
  // Clamp rounding: at 0 or n successes one bound is exactly 0 or 1.
  return { lower: Math.max(0, centre - halfWidth), upper: Math.min(1, centre + halfWidth) };
}

/** Σx, Σx² and n of a sample, the additive form evaluation keeps. */
export interface SampleSums {
  sum: number;
  sumOfSquares: number;
  count: number;
}

/**
 * Normal-approximation interval for a mean, x̄ ± z s/√n with s² the unbiased sample variance
 * (Σx² − (Σx)²/n)/(n − 1); by the central limit theorem, fine for the thousands of examples a
 * held-out set has. NaN bounds below 2 examples.
 */
export function meanInterval({ sum, sumOfSquares, count }: SampleSums): Interval {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`meanInterval: count must be a non-negative integer, got ${count}`);
  if (count < 2) return UNDEFINED_INTERVAL;
  const mean = sum / count;
  // Cancellation can leave a tiny negative variance when all values are equal.
  const variance = Math.max(0, (sumOfSquares - sum * mean) / (count - 1));
  const halfWidth = Z_95 * Math.sqrt(variance / count);
  return { lower: mean - halfWidth, upper: mean + halfWidth };
}

/** Two predictors' hits on the same examples (1 = hit), for a paired comparison. */
export interface PairedHits {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
}

export interface PairedRatio {
  /** Hit rate of a over hit rate of b. */
  ratio: number;
  /** 95% interval of the ratio. */
  interval: Interval;
  /** McNemar's statistic (n_ab̄ − n_āb)/√(n_ab̄ + n_āb): above 1.96, a beats b at the 5% level. */
  mcnemarZ: number;
}

/**
 * The ratio of two hit rates measured on the same examples, with the delta-method interval for
 * paired proportions: ln R̂ ± z·√(((1 − p_a)/p_a + (1 − p_b)/p_b − 2(p_ab/(p_a·p_b) − 1))/n), where
 * p_ab is the share both hit. Pairing removes the examples' shared difficulty, so this is much
 * narrower than an interval from two independent samples would be.
 */
export function pairedRatioInterval({ a, b }: PairedHits): PairedRatio {
  const n = a.length;
  if (n !== b.length || n === 0) throw new RangeError(`pairedRatioInterval: expected two equal, non-empty hit vectors, got ${a.length} and ${b.length}`);
  let hitsA = 0;
  let hitsB = 0;
  let both = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if ((x !== 0 && x !== 1) || (y !== 0 && y !== 1)) throw new RangeError(`pairedRatioInterval: hits must be 0 or 1, got ${x} and ${y} at ${i}`);
    hitsA += x;
    hitsB += y;
    both += x * y;
  }
  const onlyA = hitsA - both;
  const onlyB = hitsB - both;
  const mcnemarZ = onlyA + onlyB > 0 ? (onlyA - onlyB) / Math.sqrt(onlyA + onlyB) : 0;
  if (hitsA === 0 || hitsB === 0) return { ratio: hitsA / hitsB, interval: UNDEFINED_INTERVAL, mcnemarZ };
  const pa = hitsA / n;
  const pb = hitsB / n;
  const pab = both / n;
  const ratio = pa / pb;
  const variance = Math.max(0, ((1 - pa) / pa + (1 - pb) / pb - 2 * (pab / (pa * pb) - 1)) / n);
  const halfWidth = Z_95 * Math.sqrt(variance);
  return { ratio, interval: { lower: ratio * Math.exp(-halfWidth), upper: ratio * Math.exp(halfWidth) }, mcnemarZ };
}
