/**
 * Uniform integers and samples from the CSPRNG (crypto.getRandomValues). Cohort selection is part
 * of the privacy argument (sampling amplifies privacy), so it must not be predictable or biased.
 */
export function secureRandomInt(bound: number): number {
  if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32) throw new RangeError(`secureRandomInt: bound must be an integer in [1, 2^32], got ${bound}`);
  // Rejection sampling: drop the top partial block of 2^32 so every residue is equally likely.
  const limit = 2 ** 32 - (2 ** 32 % bound);
  const word = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(word);
    if ((word[0] as number) < limit) return (word[0] as number) % bound;
  }
}

/** k distinct items chosen uniformly without replacement (partial Fisher–Yates). */
export function sampleWithoutReplacement<T>(items: readonly T[], k: number): T[] {
  const pool = [...items];
  const take = Math.min(k, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + secureRandomInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j] as T, pool[i] as T];
  }
  return pool.slice(0, take);
}
