import * as tf from '@tensorflow/tfjs';
import { BOS_ID, EOS_ID, PAD_ID, UNK_ID, type ExampleSet } from '../text/index';
import { assertExamplesFit, batchTensors } from './batches';
import { meanInterval, wilsonInterval, type Interval } from './intervals';

/**
 * Tokens never offered as a suggestion: <pad> and <bos> never follow anything, <unk> is not a
 * word to insert, and <eos> is not one either (a sentence ends with punctuation, which the strip
 * does not offer). So a target that is <unk> or <eos> can never be a hit.
 */
export const UNSUGGESTABLE_TOKEN_IDS: readonly number[] = Object.freeze([PAD_ID, UNK_ID, BOS_ID, EOS_ID]);

/**
 * The suggestion strip's rule: the `k` highest-scoring ids that are not unsuggestable (and that
 * `accept`, e.g. words completing what is being typed), best first, ties to the lower id (tfjs's
 * CPU topk breaks them the same way; with float logits they are rare). Scores may be logits or
 * probabilities.
 */
export function suggestionIds(scores: ArrayLike<number>, k: number, accept: (id: number) => boolean = () => true): number[] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`suggestionIds: k must be a positive integer, got ${k}`);
  const best: number[] = [];
  for (let id = 0; id < scores.length; id++) {
    if (UNSUGGESTABLE_TOKEN_IDS.includes(id)) continue;
    const score = scores[id] as number;
    if (best.length === k && !(score > (scores[best[k - 1] as number] as number))) continue;
    if (!accept(id)) continue;
    let at = best.length;
    while (at > 0 && score > (scores[best[at - 1] as number] as number)) at--;
    best.splice(at, 0, id);
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * Additive totals, so evaluations on many clients combine by summing before `summarizeEvaluation`
 * turns them into rates. These four are what federated evaluation carries through secure
 * aggregation (evalLossSum, evalTop1, evalTop3, evalCount in protocol/events.ts).
 */
export interface EvaluationSums {
  /** Σ cross-entropy in nats, over every target (<unk> and <eos> included). */
  lossSum: number;
  /** Targets that were the first suggestion; never an <unk> or <eos> target. */
  top1Hits: number;
  /** Targets among the three suggestions. */
  top3Hits: number;
  count: number;
}

/** EvaluationSums plus what the intervals and in-vocabulary rates need; kept by local evaluations. */
export interface DetailedEvaluationSums extends EvaluationSums {
  /** Σ cross-entropy², for the loss interval. */
  lossSquaredSum: number;
  /** Targets that are not <unk> or <eos>: the ones a suggestion could hit. */
  inVocabularyCount: number;
}

export interface EvaluationMetrics {
  /** Mean cross-entropy per predicted token, in nats, over every target. */
  loss: number;
  /** exp(loss). */
  perplexity: number;
  /** Share of targets that are the top suggestion; an <unk> or <eos> target is always a miss. */
  top1: number;
  /** Share of targets among the three suggestions shown in the suggestion strip. */
  top3: number;
  count: number;
  /** 95% normal-approximation interval of the mean loss (see intervals.ts for what it covers). */
  lossInterval: Interval;
  /** exp of lossInterval's bounds. */
  perplexityInterval: Interval;
  /** 95% Wilson intervals. */
  top1Interval: Interval;
  top3Interval: Interval;
  /** The same rates over targets that are not <unk> or <eos>: how often a suggestable word is hit. */
  inVocabulary: { count: number; top1: number; top3: number; top1Interval: Interval; top3Interval: Interval };
}

/** Per-example hits (1 or 0), filled by an evaluation that is given one, for paired comparisons. */
export interface ExampleHits {
  top1: Uint8Array;
  top3: Uint8Array;
}

export function addEvaluationSums(a: DetailedEvaluationSums, b: DetailedEvaluationSums): DetailedEvaluationSums {
  return {
    lossSum: a.lossSum + b.lossSum,
    lossSquaredSum: a.lossSquaredSum + b.lossSquaredSum,
    top1Hits: a.top1Hits + b.top1Hits,
    top3Hits: a.top3Hits + b.top3Hits,
    count: a.count + b.count,
    inVocabularyCount: a.inVocabularyCount + b.inVocabularyCount,
  };
}

/** Rates and 95% intervals; NaN where there are no examples to rate. */
export function summarizeEvaluation(sums: DetailedEvaluationSums): EvaluationMetrics {
  const { count, inVocabularyCount, top1Hits, top3Hits } = sums;
  const loss = sums.lossSum / count;
  const lossInterval = meanInterval({ sum: sums.lossSum, sumOfSquares: sums.lossSquaredSum, count });
  return {
    loss,
    perplexity: Math.exp(loss),
    top1: top1Hits / count,
    top3: top3Hits / count,
    count,
    lossInterval,
    perplexityInterval: { lower: Math.exp(lossInterval.lower), upper: Math.exp(lossInterval.upper) },
    top1Interval: wilsonInterval(top1Hits, count),
    top3Interval: wilsonInterval(top3Hits, count),
    // Every hit is an in-vocabulary target, so the hit counts carry over unchanged.
    inVocabulary: {
      count: inVocabularyCount,
      top1: top1Hits / inVocabularyCount,
      top3: top3Hits / inVocabularyCount,
      top1Interval: wilsonInterval(top1Hits, inVocabularyCount),
      top3Interval: wilsonInterval(top3Hits, inVocabularyCount),
    },
  };
}

/** Targets a suggestion could hit: not <unk> or <eos> (nor <pad>/<bos>, which are never targets). */
export function countInVocabularyTargets(targets: ArrayLike<number>): number {
  let inVocabulary = 0;
  for (let i = 0; i < targets.length; i++) if (!UNSUGGESTABLE_TOKEN_IDS.includes(targets[i] as number)) inVocabulary++;
  return inVocabulary;
}

/**
 * Loss over the full softmax and every target; accuracy as the suggestion strip sees it: the k
 * best tokens after removing the unsuggestable ones (`suggestionIds`).
 */
export async function evaluateSums(model: tf.LayersModel, examples: ExampleSet, batchSize = 256, hits?: ExampleHits): Promise<DetailedEvaluationSums> {
  const [, contextLength] = model.inputs[0]?.shape ?? [];
  const vocabularySize = model.outputs[0]?.shape[1];
  if (typeof contextLength !== 'number' || typeof vocabularySize !== 'number') {
    throw new TypeError('evaluate: model must take [batch, context] and emit [batch, vocabulary]');
  }
  assertExamplesFit(examples, contextLength, vocabularySize);
  const penalty = tf.tidy(() => {
    const mask = new Float32Array(vocabularySize);
    for (const id of UNSUGGESTABLE_TOKEN_IDS) mask[id] = -1e9;
    return tf.tensor1d(mask);
  });
  const sums: DetailedEvaluationSums = {
    lossSum: 0,
    lossSquaredSum: 0,
    top1Hits: 0,
    top3Hits: 0,
    count: 0,
    inVocabularyCount: countInVocabularyTargets(examples.targets),
  };
  try {
    for (let start = 0; start < examples.count; start += batchSize) {
      const end = Math.min(examples.count, start + batchSize);
      const batch = tf.tidy(() => {
        const { contexts, targets } = batchTensors(examples, start, end);
        const logits = model.predict(contexts) as tf.Tensor2D;
        const losses = tf.losses.softmaxCrossEntropy(tf.oneHot(targets, vocabularySize), logits, undefined, 0, tf.Reduction.NONE);
        // Masked ids sit 1e9 below every real logit, so with ≥ 3 suggestable ids (model specs have
        // ≥ 8 tokens) none of them reaches the top 3, and an <unk>/<eos> target cannot match.
        const { indices } = tf.topk(tf.add(logits, penalty), 3);
        const matches = tf.equal(indices, tf.expandDims(targets, 1)).cast('float32');
        const top1 = tf.sum(matches.slice([0, 0], [-1, 1]));
        return { sums: tf.stack([tf.sum(losses), tf.sum(tf.square(losses)), top1, tf.sum(matches)]), matches };
      });
      const [lossSum, lossSquaredSum, top1, top3] = Array.from(await batch.sums.data());
      if (hits) {
        const matches = await batch.matches.data();
        for (let row = 0; row < end - start; row++) {
          hits.top1[start + row] = matches[row * 3] as number;
          hits.top3[start + row] = (matches[row * 3] as number) + (matches[row * 3 + 1] as number) + (matches[row * 3 + 2] as number);
        }
      }
      batch.sums.dispose();
      batch.matches.dispose();
      sums.lossSum += lossSum as number;
      sums.lossSquaredSum += lossSquaredSum as number;
      sums.top1Hits += top1 as number;
      sums.top3Hits += top3 as number;
      sums.count += end - start;
    }
  } finally {
    penalty.dispose();
  }
  return sums;
}

export async function evaluate(model: tf.LayersModel, examples: ExampleSet, batchSize = 256, hits?: ExampleHits): Promise<EvaluationMetrics> {
  return summarizeEvaluation(await evaluateSums(model, examples, batchSize, hits));
}
