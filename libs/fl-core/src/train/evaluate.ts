import * as tf from '@tensorflow/tfjs';
import { BOS_ID, PAD_ID, UNK_ID, type ExampleSet } from '../text/index';
import { assertExamplesFit, batchTensors } from './batches';

/** Tokens never offered as a suggestion. */
export const UNSUGGESTABLE_TOKEN_IDS: readonly number[] = Object.freeze([PAD_ID, UNK_ID, BOS_ID]);

/**
 * Additive totals, so evaluations on many clients combine by summing (securely, later) before
 * `summarizeEvaluation` turns them into rates.
 */
export interface EvaluationSums {
  /** Σ cross-entropy in nats. */
  lossSum: number;
  top1Hits: number;
  top3Hits: number;
  count: number;
}

export interface EvaluationMetrics {
  /** Mean cross-entropy per predicted token, in nats. */
  loss: number;
  /** Share of targets that are the top suggestion. An <unk> target is always a miss. */
  top1: number;
  /** Share of targets among the three suggestions shown in the suggestion strip. */
  top3: number;
  perplexity: number;
  count: number;
}

export function addEvaluationSums(a: EvaluationSums, b: EvaluationSums): EvaluationSums {
  return {
    lossSum: a.lossSum + b.lossSum,
    top1Hits: a.top1Hits + b.top1Hits,
    top3Hits: a.top3Hits + b.top3Hits,
    count: a.count + b.count,
  };
}

export function summarizeEvaluation(sums: EvaluationSums): EvaluationMetrics {
  if (sums.count <= 0) return { loss: Number.NaN, top1: Number.NaN, top3: Number.NaN, perplexity: Number.NaN, count: 0 };
  const loss = sums.lossSum / sums.count;
  return { loss, top1: sums.top1Hits / sums.count, top3: sums.top3Hits / sums.count, perplexity: Math.exp(loss), count: sums.count };
}

/**
 * Loss over the full softmax; accuracy as the suggestion strip sees it: the k best tokens after
 * removing the unsuggestable ones.
 */
export async function evaluateSums(model: tf.LayersModel, examples: ExampleSet, batchSize = 256): Promise<EvaluationSums> {
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
  const sums: EvaluationSums = { lossSum: 0, top1Hits: 0, top3Hits: 0, count: 0 };
  try {
    for (let start = 0; start < examples.count; start += batchSize) {
      const end = Math.min(examples.count, start + batchSize);
      const batch = tf.tidy(() => {
        const { contexts, targets } = batchTensors(examples, start, end);
        const logits = model.predict(contexts) as tf.Tensor2D;
        const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(targets, vocabularySize), logits, undefined, 0, tf.Reduction.SUM);
        const { indices } = tf.topk(tf.add(logits, penalty), 3);
        const hits = tf.equal(indices, tf.expandDims(targets, 1)).cast('float32');
        const top1 = tf.sum(hits.slice([0, 0], [-1, 1]));
        return tf.stack([loss, top1, tf.sum(hits)]);
      });
      const [lossSum, top1, top3] = Array.from(await batch.data());
      batch.dispose();
      sums.lossSum += lossSum as number;
      sums.top1Hits += top1 as number;
      sums.top3Hits += top3 as number;
      sums.count += end - start;
    }
  } finally {
    penalty.dispose();
  }
  return sums;
}

export async function evaluate(model: tf.LayersModel, examples: ExampleSet, batchSize = 256): Promise<EvaluationMetrics> {
  return summarizeEvaluation(await evaluateSums(model, examples, batchSize));
}
