import { BOS_ID, PAD_ID } from '../text/index';
import { suggestionIds } from '../train/evaluate';
import type { NgramCounts } from './counts';

/** Discounts of one order (Chen & Goodman 1998, eq. 26) and the count-of-counts behind them. */
export interface KneserNeyDiscounts {
  /** Subtracted from adjusted counts of 1, 2 and 3 or more. */
  d1: number;
  d2: number;
  d3plus: number;
  /** n-grams of this order whose adjusted count is exactly 1, 2, 3, 4. */
  countOfCounts: readonly [number, number, number, number];
  /** The closed form failed (a count-of-counts was 0 or a discount left [0, j]); 0.5, 1, 1.5 used. */
  fallback: boolean;
}

/** A next-token model that gives the full distribution over the vocabulary for a context. */
export interface NextTokenModel {
  readonly vocabularySize: number;
  /**
   * P(next token | context) for every id. `context` holds ids oldest first (a row of an
   * ExampleSet); missing history is read as <pad>, as textToExamples pads it. Writes into `into`
   * when given (length vocabularySize) and returns it.
   */
  distribution(context: ArrayLike<number>, into?: Float64Array): Float64Array;
}

export interface KneserNeyModel extends NextTokenModel {
  /** n: the model conditions on the last n − 1 tokens. */
  readonly order: number;
  /** Index k − 1 holds the discounts of k-grams. */
  readonly discounts: readonly KneserNeyDiscounts[];
  /** The k most probable ids the suggestion strip may show (train/evaluate.ts `suggestionIds`). */
  topSuggestions(context: ArrayLike<number>, k?: number): number[];
}

/**
 * The default of KenLM's `lmplz --discount_fallback` (kpu/kenlm lm/builder/lmplz_main.cc), for
 * orders whose closed-form discounts fail: small or artificial data such as the unit tests, or the
 * unigram level of a corpus where every word follows several others.
 */
const FALLBACK_DISCOUNTS = Object.freeze([0.5, 1, 1.5] as const);

/**
 * Interpolated *modified* Kneser–Ney (Kneser & Ney 1995; Chen & Goodman 1998, TR-10-98 §3) of
 * order n from counts of at least that order:
 *
 *   p_k(w | h) = (a(h w) − D_k(a(h w))) / Σ_v a(h v) + γ(h) · p_{k−1}(w | h′),
 *   γ(h) = (D_k1 · N1(h •) + D_k2 · N2(h •) + D_k3+ · N3+(h •)) / Σ_v a(h v),
 *
 * with h′ the history without its oldest token, N_j(h •) the number of tokens whose adjusted count
 * after h is j (3+: at least 3), and three discounts per order from that order's count-of-counts
 * n1…n4 (eq. 26): Y = n1 / (n1 + 2 n2), D_j = j − (j + 1) Y n_{j+1} / n_j.
 * Adjusted counts a: the raw count at order n; below it, the number of distinct tokens seen
 * before the n-gram (continuation count), except that an n-gram starting with <pad> or <bos>
 * keeps its raw count, since nothing else can precede it and its continuation count would be 1
 * (as KenLM does for n-grams starting with <s>: Heafield et al. 2013, "Scalable Modified
 * Kneser-Ney Language Model Estimation", and kpu/kenlm lm/builder/adjust_counts.cc).
 * A history never seen is skipped (as if γ = 1 with no successors). The order-0 distribution is
 * uniform over the vocabulary without <pad> and <bos>, which textToExamples never predicts, so
 * every other id keeps some probability and each p_k sums to 1.
 */
export function kneserNey(counts: NgramCounts, order: number): KneserNeyModel {
  if (!Number.isInteger(order) || order < 1 || order > counts.maxOrder) {
    throw new RangeError(`kneserNey: order must be an integer in [1, ${counts.maxOrder}] (the counts' maxOrder), got ${order}`);
  }
  const { vocabularySize, historyDepth, historyOldest, gramHistory, gramToken, gramCount, gramExtensions, extendHistory } = counts;
  const histories = historyDepth.length;
  const grams = gramToken.length;

  const adjusted = new Int32Array(grams);
  // n1…n4 of order k at [4(k − 1), 4k).
  const countOfCounts = new Float64Array(4 * order);
  for (let g = 0; g < grams; g++) {
    const history = gramHistory[g] as number;
    const k = (historyDepth[history] as number) + 1;
    if (k > order) continue;
    const oldest = k === 1 ? (gramToken[g] as number) : (historyOldest[history] as number);
    const a = k === order || oldest === PAD_ID || oldest === BOS_ID ? (gramCount[g] as number) : (gramExtensions[g] as number);
    adjusted[g] = a;
    if (a <= 4) countOfCounts[4 * (k - 1) + a - 1] = (countOfCounts[4 * (k - 1) + a - 1] as number) + 1;
  }
  const discounts = Array.from({ length: order }, (_, k) => {
    const n = (j: number) => countOfCounts[4 * k + j] as number;
    return modifiedDiscounts([n(0), n(1), n(2), n(3)]);
  });
  const discountTable = discounts.map((d) => [0, d.d1, d.d2, d.d3plus]);

  // Successors of each history of depth < order, grouped by history (CSR), as their discounted
  // share (a − D(a)) / Σ a; and γ(h). D(a) ≤ min(a, 3) ≤ a, so no share is negative.
  const offsets = new Int32Array(histories + 1);
  const totals = new Float64Array(histories);
  const gammas = new Float64Array(histories);
  for (let g = 0; g < grams; g++) {
    const a = adjusted[g] as number;
    if (a === 0) continue;
    const history = gramHistory[g] as number;
    const d = discountTable[historyDepth[history] as number] as number[];
    offsets[history + 1] = (offsets[history + 1] as number) + 1;
    totals[history] = (totals[history] as number) + a;
    gammas[history] = (gammas[history] as number) + (d[Math.min(a, 3)] as number);
  }
  for (let h = 0; h < histories; h++) {
    offsets[h + 1] = (offsets[h + 1] as number) + (offsets[h] as number);
    if ((totals[h] as number) > 0) gammas[h] = (gammas[h] as number) / (totals[h] as number);
  }
  const successorToken = new Int32Array(offsets[histories] as number);
  const successorShare = new Float64Array(successorToken.length);
  const next = offsets.slice(0, histories);
  for (let g = 0; g < grams; g++) {
    const a = adjusted[g] as number;
    if (a === 0) continue;
    const history = gramHistory[g] as number;
    const d = discountTable[historyDepth[history] as number] as number[];
    const slot = next[history] as number;
    next[history] = slot + 1;
    successorToken[slot] = gramToken[g] as number;
    successorShare[slot] = (a - (d[Math.min(a, 3)] as number)) / (totals[history] as number);
  }

  const uniform = 1 / (vocabularySize - 2);
  const distribution = (context: ArrayLike<number>, into?: Float64Array): Float64Array => {
    const p = into ?? new Float64Array(vocabularySize);
    if (p.length !== vocabularySize) {
      throw new RangeError(`KneserNeyModel.distribution: output has length ${p.length}, expected the vocabulary size ${vocabularySize}`);
    }
    p.fill(uniform);
    p[PAD_ID] = 0;
    p[BOS_ID] = 0;
    let history = 0;
    for (let k = 1; ; k++) {
      const gamma = gammas[history] as number;
      for (let id = 0; id < vocabularySize; id++) p[id] = (p[id] as number) * gamma;
      const end = offsets[history + 1] as number;
      for (let slot = offsets[history] as number; slot < end; slot++) {
        const id = successorToken[slot] as number;
        p[id] = (p[id] as number) + (successorShare[slot] as number);
      }
      if (k === order) break;
      const position = context.length - k;
      const older = position >= 0 ? (context[position] as number) : PAD_ID;
      if (!Number.isInteger(older) || older < 0 || older >= vocabularySize) {
        throw new RangeError(`KneserNeyModel.distribution: context id at position ${position} is ${older}, expected an id in [0, ${vocabularySize})`);
      }
      history = extendHistory(history, older);
      // Unseen: no longer history was seen either (each extends this one), so p_{k} is final.
      if (history < 0) break;
    }
    return p;
  };

  return Object.freeze({
    order,
    vocabularySize,
    discounts: Object.freeze(discounts),
    distribution,
    topSuggestions: (context: ArrayLike<number>, k = 3): number[] => suggestionIds(distribution(context), k),
  });
}

/** Chen & Goodman (1998) eq. 26 from n1…n4, or the fallback when it is undefined or out of range. */
function modifiedDiscounts(countOfCounts: readonly [number, number, number, number]): KneserNeyDiscounts {
  const [n1, n2, n3, n4] = countOfCounts;
  if (n1 > 0 && n2 > 0 && n3 > 0 && n4 > 0) {
    const y = n1 / (n1 + 2 * n2);
    const d = [1 - (2 * y * n2) / n1, 2 - (3 * y * n3) / n2, 3 - (4 * y * n4) / n3];
    if (d.every((value, j) => value >= 0 && value <= j + 1)) {
      return Object.freeze({ d1: d[0] as number, d2: d[1] as number, d3plus: d[2] as number, countOfCounts: Object.freeze(countOfCounts), fallback: false });
    }
  }
  const [d1, d2, d3plus] = FALLBACK_DISCOUNTS;
  return Object.freeze({ d1, d2, d3plus, countOfCounts: Object.freeze(countOfCounts), fallback: true });
}
