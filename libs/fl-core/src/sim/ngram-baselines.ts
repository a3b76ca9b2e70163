import type { ExampleSet } from '../text/index';
import { countNgrams } from '../baselines/counts';
import { kneserNey, type KneserNeyDiscounts } from '../baselines/kneser-ney';
import { evaluateNextTokenModelSums } from '../baselines/evaluate';
import { summarizeEvaluation, type EvaluationMetrics, type ExampleHits } from '../train/evaluate';

export interface NgramBaselineOptions {
  /** The pooled training clients' examples: the same vocabulary and context length as the model. */
  trainExamples: ExampleSet;
  /** The held-out examples the model is evaluated on. */
  testExamples: ExampleSet;
  vocabularySize: number;
  /** n-gram orders to build, each ≤ context length + 1. @default [2, 3, 4] */
  orders?: readonly number[];
  /** Also return every held-out example's hits, for paired comparisons with the model. */
  collectHits?: boolean;
}

export interface NgramBaselineResult {
  order: number;
  test: EvaluationMetrics;
  /** Per k-gram order, index k − 1. */
  discounts: readonly KneserNeyDiscounts[];
  /** Building this order's model from the shared counts and evaluating it. */
  seconds: number;
  /** With collectHits. */
  hits?: ExampleHits;
}

export interface NgramBaselinesResult {
  /** Counting every n-gram of the training examples once, up to the largest order. */
  countSeconds: number;
  trainPositions: number;
  baselines: NgramBaselineResult[];
}

/**
 * Interpolated modified Kneser–Ney baselines for the model: counted on exactly the examples the
 * model could train on and scored on the same held-out rows by the same rule
 * (evaluateNextTokenModelSums), so model and baseline differ only in the predictor.
 */
export function runNgramBaselines(options: NgramBaselineOptions): NgramBaselinesResult {
  const orders = options.orders ?? [2, 3, 4];
  if (orders.length === 0) throw new RangeError('runNgramBaselines: expected at least one order, got none');
  if (options.testExamples.contextLength !== options.trainExamples.contextLength) {
    throw new RangeError(
      `runNgramBaselines: test examples have context length ${options.testExamples.contextLength}, training examples ${options.trainExamples.contextLength}`,
    );
  }
  let started = performance.now();
  const counts = countNgrams(options.trainExamples, { maxOrder: Math.max(...orders), vocabularySize: options.vocabularySize });
  const countSeconds = (performance.now() - started) / 1000;
  const baselines = orders.map((order) => {
    started = performance.now();
    const model = kneserNey(counts, order);
    const count = options.testExamples.count;
    const hits = options.collectHits ? { top1: new Uint8Array(count), top3: new Uint8Array(count) } : undefined;
    const test = summarizeEvaluation(evaluateNextTokenModelSums(model, options.testExamples, hits));
    return { order, test, discounts: model.discounts, seconds: (performance.now() - started) / 1000, ...(hits ? { hits } : {}) };
  });
  return { countSeconds, trainPositions: counts.positions, baselines };
}
