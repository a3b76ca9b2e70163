import type * as tf from '@tensorflow/tfjs';
import type { ExampleSet } from '../text/index';
import type { SeededRandom } from '../random/index';
import { setFlatWeights } from '../model/weights';
import { trainLocal } from '../train/local';
import type { TrainingTargets } from '../train/plan';
import { evaluate, type EvaluationMetrics } from '../train/evaluate';

export interface CentralTrainingOptions {
  model: tf.LayersModel;
  initialWeights: Float32Array;
  /** The union of the training clients' examples. */
  trainExamples: ExampleSet;
  testExamples: ExampleSet;
  /** Examples to process in all — set to what the federated run processed, for a fair comparison. */
  examplesBudget: number;
  batchSize: number;
  learningRate: number;
  /** Which next tokens each window trains on, as in the federated plan. @default 'last' */
  targets?: TrainingTargets;
  random: SeededRandom;
  /** Examples per chunk between progress callbacks. */
  chunkSize?: number;
  onProgress?: (processed: number, budget: number) => void;
}

export interface CentralTrainingResult {
  weights: Float32Array;
  test: EvaluationMetrics;
  examplesProcessed: number;
  seconds: number;
}

/**
 * The non-federated baseline: the same model and the same SGD, run on the pooled data for the
 * same number of processed examples. It reuses the client's training step (trainLocal) on random
 * chunks of the union, so the two differ only in where the data sits.
 */
export async function runCentralTraining(options: CentralTrainingOptions): Promise<CentralTrainingResult> {
  const { model, trainExamples, examplesBudget, random } = options;
  if (!(examplesBudget > 0)) throw new RangeError(`examplesBudget must be positive, got ${examplesBudget}`);
  const chunkSize = Math.min(options.chunkSize ?? 4096, trainExamples.count);
  const started = performance.now();
  let weights = options.initialWeights;
  let processed = 0;
  while (processed < examplesBudget) {
    const size = Math.min(chunkSize, examplesBudget - processed);
    const result = await trainLocal(
      model,
      weights,
      trainExamples,
      { epochs: 1, batchSize: options.batchSize, learningRate: options.learningRate, maxExamples: size, timeBudgetMs: 3_600_000, targets: options.targets ?? 'last' },
      { random: random.fork() },
    );
    const next = new Float32Array(weights.length);
    for (let i = 0; i < next.length; i++) next[i] = (weights[i] as number) + (result.delta[i] as number);
    weights = next;
    processed += result.metrics.examplesProcessed;
    options.onProgress?.(processed, examplesBudget);
  }
  setFlatWeights(model, weights);
  const test = await evaluate(model, options.testExamples);
  return { weights, test, examplesProcessed: processed, seconds: (performance.now() - started) / 1000 };
}
