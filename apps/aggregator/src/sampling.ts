/**
 * Cohort sampling from the CSPRNG (crypto.getRandomValues). Selection is part of the privacy
 * argument (sampling amplifies privacy), so it must not be predictable or biased.
 */
/** A uniform float in [0, 1) from 53 CSPRNG bits. */
export function secureRandomUnit(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return ((words[0] as number) * 2 ** 21 + ((words[1] as number) >>> 11)) / 2 ** 53;
}

/**
 * Poisson sampling: each item joins independently with probability q. This is the event the RDP
 * accountant amplifies (Mironov, Talwar, Zhang 2019); a fixed-size draw is a different mechanism.
 */
export function poissonSample<T>(items: readonly T[], probability: number): T[] {
  if (!(probability > 0 && probability <= 1)) throw new RangeError(`poissonSample: probability must be in (0, 1], got ${probability}`);
  return items.filter(() => secureRandomUnit() < probability);
}
