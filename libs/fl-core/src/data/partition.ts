import { createSeededRandom, type SeededRandom } from '../random/index';
import { splitSentences } from '../text/tokenize';
import type { Client, Document } from './types';

/** What one natural client holds: a single document, or every document of one group. */
export type PartitionUnit = 'document' | 'group';

/**
 * How a corpus is cut into clients. Every scheme produces the natural scheme's client count and
 * per-client sizes (in sentences), so schemes differ only in *which* sentences a client holds.
 */
export type PartitionOptions =
  | {
      /** Each client holds its own document (or group): the realistic, non-IID split. */
      scheme: 'natural';
      /** @default 'document' */
      unit?: PartitionUnit;
    }
  | {
      /** Sentences pooled and dealt out uniformly at random: the IID baseline. */
      scheme: 'iid';
      /** @default 'document' */
      unit?: PartitionUnit;
      seed: number;
    }
  | {
      /**
       * Label skew: each client draws a mixture over document groups from a Dirichlet
       * distribution and samples its sentences from the groups accordingly.
       */
      scheme: 'dirichlet';
      /** @default 'document' */
      unit?: PartitionUnit;
      seed: number;
      /** Concentration per group: small → each client mostly one group, large → near IID. @default 0.5 */
      alpha?: number;
    };

export const DEFAULT_DIRICHLET_ALPHA = 0.5;

interface Unit {
  id: string;
  sentences: string[];
}

/**
 * Splits `documents` into clients whose texts are single sentences (see `splitSentences`). Every
 * scheme places each sentence of the corpus in exactly one client; documents without any sentence
 * produce no client. Deterministic: the same documents and options give the same clients.
 */
export function partitionClients(documents: readonly Document[], options: PartitionOptions): Client[] {
  assertDocuments(documents);
  const unit = options.unit ?? 'document';
  if (unit !== 'document' && unit !== 'group') {
    throw new RangeError(`partitionClients: unit must be 'document' or 'group', got ${String(unit)}`);
  }
  const labelled = documents.map((document) => ({ group: document.group, sentences: splitSentences(document.text) }));
  const natural = naturalUnits(documents, labelled, unit);
  const sizes = natural.map((u) => u.sentences.length);
  const scheme = options.scheme;
  switch (scheme) {
    case 'natural':
      return natural.map((u) => ({ id: u.id, texts: u.sentences }));
    case 'iid': {
      const random = createSeededRandom(options.seed);
      const pool = random.shuffle(natural.flatMap((u) => u.sentences));
      let next = 0;
      return sizes.map((size, i) => {
        const texts = pool.slice(next, next + size);
        next += size;
        return { id: clientId('iid', i, sizes.length), texts };
      });
    }
    case 'dirichlet': {
      const alpha = options.alpha ?? DEFAULT_DIRICHLET_ALPHA;
      if (!Number.isFinite(alpha) || alpha <= 0) {
        throw new RangeError(`partitionClients: alpha must be a finite number > 0, got ${alpha}`);
      }
      const random = createSeededRandom(options.seed);
      const texts = dirichletFill(labelled, sizes, alpha, random);
      return texts.map((t, i) => ({ id: clientId('dirichlet', i, sizes.length), texts: t }));
    }
    default: {
      const unknown: never = scheme;
      throw new RangeError(`partitionClients: scheme must be 'natural', 'iid' or 'dirichlet', got ${String(unknown)}`);
    }
  }
}

function assertDocuments(documents: readonly Document[]): void {
  if (!Array.isArray(documents)) throw new TypeError(`partitionClients: expected an array of documents, got ${typeof documents}`);
  const seen = new Set<string>();
  documents.forEach((document: Partial<Document>, i) => {
    if (typeof document?.id !== 'string' || typeof document.group !== 'string' || typeof document.text !== 'string') {
      throw new TypeError(`partitionClients: document ${i} must have string id, group and text`);
    }
    if (seen.has(document.id)) throw new RangeError(`partitionClients: document id '${document.id}' appears twice (at ${i})`);
    seen.add(document.id);
  });
}

function naturalUnits(documents: readonly Document[], labelled: readonly { group: string; sentences: string[] }[], unit: PartitionUnit): Unit[] {
  if (unit === 'document') {
    return documents.map((d, i) => ({ id: d.id, sentences: labelled[i]?.sentences ?? [] })).filter((u) => u.sentences.length > 0);
  }
  // Groups in order of first appearance, so the client order follows the corpus order.
  const groups = new Map<string, string[]>();
  for (const { group, sentences } of labelled) {
    const members = groups.get(group) ?? [];
    members.push(...sentences);
    groups.set(group, members);
  }
  return [...groups].map(([id, sentences]) => ({ id, sentences })).filter((u) => u.sentences.length > 0);
}

function clientId(scheme: string, index: number, count: number): string {
  return `${scheme}-${String(index).padStart(String(count - 1).length, '0')}`;
}

/**
 * Label-skewed filling after Hsu et al. 2019 ("Measuring the effects of non-identical data
 * distribution for federated visual classification"): client mixture q ~ Dir(α·K·p), where p holds
 * the groups' shares of all sentences and K the number of groups. With balanced groups this is the
 * symmetric Dir(α); with unbalanced ones (SpamAssassin: 3,900 easy-ham vs 250 hard-ham mails) the
 * mean mixture is p, so expected demand for each group equals its supply and small groups are not
 * drained by the first clients.
 *
 * Exhaustion still happens by chance. A client then renormalizes its mixture over the groups it
 * wants that still have sentences; if none has any left, it takes the leftovers in proportion to
 * what remains. Clients are filled in a random order so that these distortions do not always fall
 * on the last clients of the corpus. Total demand equals total supply, so every sentence is placed.
 */
function dirichletFill(labelled: readonly { group: string; sentences: string[] }[], sizes: readonly number[], alpha: number, random: SeededRandom): string[][] {
  const byGroup = new Map<string, string[]>();
  for (const { group, sentences } of labelled) {
    if (sentences.length === 0) continue;
    const pool = byGroup.get(group) ?? [];
    pool.push(...sentences);
    byGroup.set(group, pool);
  }
  const pools = [...byGroup.values()].map((pool) => random.shuffle(pool));
  const taken = pools.map(() => 0);
  const total = pools.reduce((sum, pool) => sum + pool.length, 0);
  const shares = pools.map((pool) => pool.length / total);
  const result: string[][] = sizes.map(() => []);

  const order = random.shuffle(sizes.map((_, i) => i));
  for (const client of order) {
    const mixture = drawMixture(shares, alpha, random);
    const texts = result[client] as string[];
    const size = sizes[client] as number;
    while (texts.length < size) {
      let weights = mixture.map((w, k) => ((taken[k] as number) < (pools[k] as string[]).length ? w : 0));
      if (weights.every((w) => w === 0)) weights = pools.map((pool, k) => pool.length - (taken[k] as number));
      const k = pickWeighted(weights, random);
      const index = taken[k] as number;
      texts.push((pools[k] as string[])[index] as string);
      taken[k] = index + 1;
    }
  }
  return result;
}

function drawMixture(shares: readonly number[], alpha: number, random: SeededRandom): number[] {
  const K = shares.length;
  const draws = shares.map((share) => random.nextGamma(alpha * K * share));
  const sum = draws.reduce((a, b) => a + b, 0);
  if (sum > 0 && Number.isFinite(sum)) return draws.map((d) => d / sum);
  // Tiny concentrations can underflow every Gamma draw to 0; the Dirichlet's limit as α → 0 is all
  // mass on one group, chosen with probability equal to its share.
  const one = pickWeighted(shares, random);
  return shares.map((_, k) => (k === one ? 1 : 0));
}

function pickWeighted(weights: readonly number[], random: SeededRandom): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = random.nextFloat() * total;
  let last = 0;
  for (let k = 0; k < weights.length; k++) {
    const w = weights[k] as number;
    if (w <= 0) continue;
    last = k;
    if (u < w) return k;
    u -= w;
  }
  // Rounding can leave u a hair above the last positive weight.
  return last;
}
