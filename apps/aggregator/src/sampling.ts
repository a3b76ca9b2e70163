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

/** A uniform integer in [0, n) from the CSPRNG, without modulo bias (rejection sampling). */
export function secureRandomIndex(n: number): number {
  if (!(Number.isInteger(n) && n >= 1 && n <= 2 ** 32)) throw new RangeError(`secureRandomIndex: n must be an integer in [1, 2^32], got ${n}`);
  const limit = 2 ** 32 - (2 ** 32 % n);
  const word = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(word);
    if ((word[0] as number) < limit) return (word[0] as number) % n;
  }
}

/**
 * The per-network cohort cap: of the clients a draw selected, at most `maxPerNetwork` per network
 * stay, chosen uniformly at random (a CSPRNG Fisher–Yates shuffle within the network); the rest
 * are not selected this round and keep waiting. `networkOf` returns null for a client counted on
 * its own (a loopback peer when those are exempt; see config.ts round.exemptLoopback).
 * `maxPerNetwork` 0 keeps everyone. Order among the kept follows `selected`.
 *
 * Why after the draw: each client still joins with probability at most q, decided by coins nobody
 * sees; the cap only removes. For a client whose network has at most `maxPerNetwork` candidates the
 * draw is exactly Poisson sampling. In a network with more, one client's presence can take a slot
 * another would have had (docs/privacy.md, "Fake clients and the per-network cap").
 */
export function capPerNetwork<T>(selected: readonly T[], networkOf: (item: T) => string | null, maxPerNetwork: number): { kept: T[]; capped: T[] } {
  if (!(Number.isInteger(maxPerNetwork) && maxPerNetwork >= 0))
    throw new RangeError(`capPerNetwork: maxPerNetwork must be an integer ≥ 0, got ${maxPerNetwork}`);
  if (maxPerNetwork === 0) return { kept: [...selected], capped: [] };
  const byNetwork = new Map<string, number[]>();
  selected.forEach((item, index) => {
    const network = networkOf(item);
    if (network === null) return;
    const members = byNetwork.get(network);
    if (members) members.push(index);
    else byNetwork.set(network, [index]);
  });
  const dropped = new Set<number>();
  for (const members of byNetwork.values()) {
    if (members.length <= maxPerNetwork) continue;
    // Partial Fisher–Yates: the first maxPerNetwork positions become a uniform random subset.
    for (let i = 0; i < maxPerNetwork; i++) {
      const j = i + secureRandomIndex(members.length - i);
      [members[i], members[j]] = [members[j] as number, members[i] as number];
    }
    for (const index of members.slice(maxPerNetwork)) dropped.add(index);
  }
  const kept: T[] = [];
  const capped: T[] = [];
  selected.forEach((item, index) => (dropped.has(index) ? capped : kept).push(item));
  return { kept, capped };
}

/**
 * A process's draw as SecAgg groups (the distributed mode): a CSPRNG shuffle, so no client picks
 * its group mates by when it checked in, then g near-equal groups (sizes differ by at most one),
 * g = ⌈n / maxSize⌉, lowered until every group holds at least `minSize`. Privacy wins over the size
 * bound: each group's noise is calibrated to minSize (k_min), so groups grow past maxSize rather
 * than fall below it. Fewer than minSize items: no group.
 */
export function splitIntoGroups<T>(items: readonly T[], maxSize: number, minSize: number): T[][] {
  for (const [name, value] of [
    ['maxSize', maxSize],
    ['minSize', minSize],
  ] as const) {
    if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`splitIntoGroups: ${name} must be an integer ≥ 1, got ${value}`);
  }
  const n = items.length;
  if (n < minSize) return [];
  const count = Math.min(Math.ceil(n / maxSize), Math.floor(n / minSize));
  const shuffled = [...items];
  for (let i = n - 1; i > 0; i--) {
    const j = secureRandomIndex(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j] as T, shuffled[i] as T];
  }
  const groups: T[][] = [];
  let start = 0;
  for (let g = 0; g < count; g++) {
    const size = Math.floor(n / count) + (g < n % count ? 1 : 0);
    groups.push(shuffled.slice(start, start + size));
    start += size;
  }
  return groups;
}
