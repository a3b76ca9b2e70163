import { BOS_ID, PAD_ID, type ExampleSet } from '../text/index';
import { PairTable } from './pair-table';

export interface NgramCountOptions {
  /** Longest n-gram counted; models of any order up to it can be built from the counts. */
  maxOrder: number;
  /** Token ids must lie in [0, vocabularySize). */
  vocabularySize: number;
}

/**
 * Every n-gram (n ≤ maxOrder) ending at a predicted position of an example set. Histories (the
 * n − 1 tokens before the predicted one) form a trie read from the newest token back: history
 * `h` extends `historyParent[h]` by one older token, `historyOldest[h]`; history 0 is the empty
 * one. An n-gram is a (history, token) pair; its order is its history's depth + 1.
 */
export interface NgramCounts {
  readonly maxOrder: number;
  readonly vocabularySize: number;
  /** Predicted positions counted: the example count. */
  readonly positions: number;
  readonly historyParent: Int32Array;
  readonly historyOldest: Int32Array;
  readonly historyDepth: Uint8Array;
  readonly gramHistory: Int32Array;
  readonly gramToken: Int32Array;
  /** Occurrences of each n-gram. */
  readonly gramCount: Int32Array;
  /**
   * Distinct tokens seen right before each n-gram, i.e. its one-token-longer left extensions
   * (N1+(• g) of Chen & Goodman 1998): the continuation count Kneser–Ney uses at lower orders.
   * 0 at maxOrder, where extensions are not counted.
   */
  readonly gramExtensions: Int32Array;
  /** The history one token older than `history` (`olderToken` prepended), or −1 if never seen. */
  extendHistory(history: number, olderToken: number): number;
}

/**
 * Counts the n-grams of a training example set: row i contributes, for every k ≤ maxOrder, the
 * k-gram made of the last k − 1 context ids and the target. Because textToExamples left-pads
 * contexts with <pad>, these are exactly the n-grams of each sentence <bos> w1 … wn <eos> with
 * the history before w1 padded by <pad> — what the model trains on, position for position.
 */
export function countNgrams(examples: ExampleSet, options: NgramCountOptions): NgramCounts {
  const { maxOrder, vocabularySize } = options;
  const { contexts, targets, count, contextLength } = examples;
  if (!Number.isInteger(vocabularySize) || vocabularySize < 5) {
    throw new RangeError(`countNgrams: vocabularySize must be an integer ≥ 5 (4 specials and a word), got ${vocabularySize}`);
  }
  if (!Number.isInteger(maxOrder) || maxOrder < 1 || maxOrder > contextLength + 1) {
    throw new RangeError(`countNgrams: maxOrder must be an integer in [1, context length + 1 = ${contextLength + 1}], got ${maxOrder}`);
  }
  if (targets.length !== count || contexts.length !== count * contextLength) {
    throw new RangeError(`countNgrams: inconsistent example set: count ${count}, ${targets.length} targets, ${contexts.length} context ids`);
  }
  for (let i = 0; i < contexts.length; i++) assertTokenId(contexts[i] as number, vocabularySize, `context id ${i}`);
  for (let i = 0; i < count; i++) {
    const target = targets[i] as number;
    assertTokenId(target, vocabularySize, `target ${i}`);
    // The model's order-0 distribution leaves these out (see kneser-ney.ts), so they must not occur.
    if (target === PAD_ID || target === BOS_ID) {
      throw new RangeError(`countNgrams: target ${i} is <pad> or <bos> (id ${target}); textToExamples never predicts those`);
    }
  }

  // Parent −1 and token −1 make the root; no real pair uses them.
  const histories = new PairTable(Math.max(16, count));
  histories.intern(-1, -1);
  const grams = new PairTable(Math.max(16, count * 2));
  let gramCount: Int32Array = new Int32Array(grams.size + 1024);
  let gramExtensions: Int32Array = new Int32Array(gramCount.length);
  for (let row = 0; row < count; row++) {
    const target = targets[row] as number;
    const newest = (row + 1) * contextLength - 1;
    let history = 0;
    let shorter = -1;
    for (let order = 1; order <= maxOrder; order++) {
      const before = grams.size;
      const gram = grams.intern(history, target);
      if (gram >= gramCount.length) {
        gramCount = grown(gramCount);
        gramExtensions = grown(gramExtensions);
      }
      gramCount[gram] = (gramCount[gram] as number) + 1;
      // A new k-gram is a new left extension of the (k−1)-gram it ends with.
      if (grams.size > before && shorter >= 0) gramExtensions[shorter] = (gramExtensions[shorter] as number) + 1;
      shorter = gram;
      if (order < maxOrder) history = histories.intern(history, contexts[newest - (order - 1)] as number);
    }
  }

  const historyParent = histories.firsts.slice();
  const historyOldest = histories.seconds.slice();
  const historyDepth = new Uint8Array(histories.size);
  // Parents are interned before their children, so one pass in id order fills every depth.
  for (let h = 1; h < histories.size; h++) historyDepth[h] = (historyDepth[historyParent[h] as number] as number) + 1;
  return Object.freeze({
    maxOrder,
    vocabularySize,
    positions: count,
    historyParent,
    historyOldest,
    historyDepth,
    gramHistory: grams.firsts.slice(),
    gramToken: grams.seconds.slice(),
    gramCount: gramCount.slice(0, grams.size),
    gramExtensions: gramExtensions.slice(0, grams.size),
    extendHistory: (history: number, olderToken: number): number => histories.idOf(history, olderToken),
  });
}

function assertTokenId(id: number, vocabularySize: number, where: string): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabularySize) {
    throw new RangeError(`countNgrams: ${where} is ${id}, expected an id in [0, ${vocabularySize})`);
  }
}

function grown(values: Int32Array): Int32Array {
  const next = new Int32Array(values.length * 2);
  next.set(values);
  return next;
}
