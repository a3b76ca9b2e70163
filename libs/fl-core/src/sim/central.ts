import * as tf from '@tensorflow/tfjs';
import { everyPositionWindows, selectExamples, type ExampleSet } from '../text/index';
import { createSeededRandom, type SeededRandom } from '../random/index';
import { getFlatWeights, setFlatWeights } from '../model/weights';
import { createTrainingStep, yieldToEventLoop } from '../train/local';
import type { TrainingTargets } from '../train/plan';
import { evaluate, type EvaluationMetrics } from '../train/evaluate';
import { LossPlateau } from './plateau';

export type CentralOptimizerName = 'sgd' | 'adam';

/** One optimizer slot (Adam's iteration count and moments), in the order the optimizer lists them. */
export interface OptimizerSlot {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** A point on the learning curve: held-out metrics after `processed` examples. */
export interface CentralEvaluation {
  processed: number;
  epochs: number;
  trainLoss: number;
  test: EvaluationMetrics;
  seconds: number;
  /** Candidates of the sampled softmax the steps before this point trained with; absent: the full softmax. */
  sampledSoftmax?: number;
  /** The learning rate of the steps before this point (a resumed run may lower it by hand). */
  learningRate?: number;
}

/** Everything a run needs to continue where it stopped (dropout masks aside, which are unseeded). */
export interface CentralCheckpoint {
  weights: Float32Array;
  optimizer: OptimizerSlot[];
  processed: number;
  curve: CentralEvaluation[];
  seconds: number;
}

export interface CentralTrainingOptions {
  model: tf.LayersModel;
  initialWeights: Float32Array;
  /** The union of the training clients' examples, in textToExamples order. */
  trainExamples: ExampleSet;
  testExamples: ExampleSet;
  /**
   * Examples to process in all: windows with targets 'every' (see everyPositionWindows), rows with
   * 'last'. Matched to a federated run's for a same-budget comparison, or epochs × the pool.
   */
  examplesBudget: number;
  batchSize: number;
  learningRate: number;
  /** @default 'sgd', the client's optimizer; 'adam' (Kingma & Ba 2015) for the tuned baseline. */
  optimizer?: CentralOptimizerName;
  /** Which next tokens each window trains on, as in the federated plan. @default 'last' */
  targets?: TrainingTargets;
  /** Candidates per step for a sampled softmax, as in the federated plan's `sampledSoftmax`; unset: the full softmax. */
  sampledSoftmax?: number;
  /** Orders the epochs; the same generator state gives the same order, also when resuming. */
  random: SeededRandom;
  /** Evaluate on the held-out examples every this many processed examples; the end is always evaluated. */
  evaluateEvery?: number;
  /**
   * Stop early once the held-out loss has not improved for this many evaluations in a row (the
   * run has stopped learning); the weights returned are the last ones.
   */
  patience?: number;
  /** Continue a run from a checkpoint written by onCheckpoint. */
  resume?: CentralCheckpoint;
  /** Called after every evaluation, with the state to resume from. */
  onCheckpoint?: (checkpoint: CentralCheckpoint) => Promise<void> | void;
  /** After every batch. */
  onProgress?: (processed: number, budget: number, trainLoss: number) => void;
  signal?: AbortSignal;
}

export interface CentralTrainingResult {
  weights: Float32Array;
  test: EvaluationMetrics;
  curve: CentralEvaluation[];
  examplesProcessed: number;
  seconds: number;
  stoppedBy: 'budget' | 'patience';
}

function createOptimizer(name: CentralOptimizerName, learningRate: number): tf.Optimizer {
  return name === 'adam' ? tf.train.adam(learningRate) : tf.train.sgd(learningRate);
}

/**
 * The non-federated baseline: the same model and the same training step (createTrainingStep) on
 * the pooled data, epoch after epoch in a fresh random order, with one optimizer carried across
 * the whole run — SGD as the clients use, or Adam for the best central model.
 */
export async function runCentralTraining(options: CentralTrainingOptions): Promise<CentralTrainingResult> {
  const { model, examplesBudget, random } = options;
  if (!(examplesBudget > 0)) throw new RangeError(`examplesBudget must be positive, got ${examplesBudget}`);
  const targets = options.targets ?? 'last';
  const pool = targets === 'every' ? everyPositionWindows(options.trainExamples) : options.trainExamples;
  if (pool.count === 0) throw new RangeError('central training needs at least one training example');
  const evaluateEvery = options.evaluateEvery ?? Number.POSITIVE_INFINITY;
  const resume = options.resume;
  // Candidates come from their own stream, seeded by how far the run is, so a resumed run draws
  // fresh ones rather than replaying the first epoch's.
  const step = createTrainingStep(
    model,
    targets,
    options.sampledSoftmax !== undefined
      ? { sampledSoftmax: options.sampledSoftmax, random: createSeededRandom(random.nextInt(2 ** 31 - 1) ^ (resume?.processed ?? 0)) }
      : {},
  );
  const optimizer = createOptimizer(options.optimizer ?? 'sgd', options.learningRate);
  let processed = resume?.processed ?? 0;
  const curve = [...(resume?.curve ?? [])];
  const started = performance.now() - (resume?.seconds ?? 0) * 1000;
  setFlatWeights(model, resume?.weights ?? options.initialWeights);
  if (resume && resume.optimizer.length > 0) {
    await optimizer.setWeights(resume.optimizer.map(({ name, shape, values }) => ({ name, tensor: tf.tensor(values, shape) })));
  }
  // Epoch e shuffles with the (e + 1)-th fork of one seeded stream, so a resumed run replays the
  // orders it had.
  const orderSeed = random.nextInt(2 ** 31 - 1);
  const epochOrder = (epoch: number): ExampleSet => {
    const stream = createSeededRandom(orderSeed);
    let forked = stream.fork();
    for (let e = 0; e < epoch; e++) forked = stream.fork();
    return selectExamples(pool, forked.shuffle(Array.from({ length: pool.count }, (_, i) => i)));
  };
  let epoch = Math.floor(processed / pool.count);
  let order = epochOrder(epoch);
  let lossSum = 0;
  let tokens = 0;
  let nextEvaluation = (Math.floor(processed / evaluateEvery) + 1) * evaluateEvery;
  // Patience restarts when the training changed: a run resumed at a lower rate, or to finish on the
  // full softmax. Points saved before they recorded a rate ran at the one the optimizer was built with.
  const setting = (point: Pick<CentralEvaluation, 'learningRate' | 'sampledSoftmax'>) => `${point.learningRate ?? 'first'}/${point.sampledSoftmax ?? 'full'}`;
  const plateau = LossPlateau.replay(
    curve.map((point) => ({ loss: point.test.loss, setting: setting(point) })),
    setting({ learningRate: options.learningRate, ...(options.sampledSoftmax !== undefined ? { sampledSoftmax: options.sampledSoftmax } : {}) }),
  );
  let sinceBest = 0;
  let stoppedBy: CentralTrainingResult['stoppedBy'] = 'budget';
  let lastTest: EvaluationMetrics | null = null;

  const checkpoint = async (test: EvaluationMetrics): Promise<void> => {
    lastTest = test;
    curve.push({
      processed,
      epochs: processed / pool.count,
      ...(options.sampledSoftmax !== undefined ? { sampledSoftmax: options.sampledSoftmax } : {}),
      learningRate: options.learningRate,
      trainLoss: tokens > 0 ? lossSum / tokens : Number.NaN,
      test,
      seconds: (performance.now() - started) / 1000,
    });
    lossSum = 0;
    tokens = 0;
    sinceBest = plateau.observe(test.loss);
    if (options.onCheckpoint) {
      const slots = await optimizer.getWeights();
      const optimizerState = await Promise.all(
        slots.map(async ({ name, tensor }) => ({ name, shape: [...tensor.shape], values: Float32Array.from(await tensor.data()) })),
      );
      await options.onCheckpoint({
        weights: getFlatWeights(model),
        optimizer: optimizerState,
        processed,
        curve: [...curve],
        seconds: (performance.now() - started) / 1000,
      });
    }
  };

  let lastYield = performance.now();
  try {
    while (processed < examplesBudget) {
      // A step's data() resolves without leaving the microtask queue: hand timers (progress
      // output) a turn now and then.
      if (performance.now() - lastYield >= 250) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
      options.signal?.throwIfAborted();
      const offset = processed - epoch * pool.count;
      const end = Math.min(pool.count, offset + options.batchSize, offset + (examplesBudget - processed));
      const { cost, tokens: batchTokens } = step(optimizer, order, offset, end);
      const loss = (await cost.data())[0] as number;
      cost.dispose();
      if (!Number.isFinite(loss)) throw new RangeError(`central training: loss became ${loss} after ${processed} examples; lower the learning rate`);
      lossSum += loss * batchTokens;
      tokens += batchTokens;
      processed += end - offset;
      options.onProgress?.(processed, examplesBudget, loss);
      if (processed === (epoch + 1) * pool.count && processed < examplesBudget) {
        epoch += 1;
        order = epochOrder(epoch);
      }
      if (processed >= nextEvaluation && processed < examplesBudget) {
        nextEvaluation += evaluateEvery;
        await checkpoint(await evaluate(model, options.testExamples));
        if (options.patience !== undefined && sinceBest >= options.patience) {
          stoppedBy = 'patience';
          break;
        }
      }
    }
    // Stopped by patience just after an evaluation: that one stands.
    const test = stoppedBy === 'patience' && lastTest !== null ? lastTest : await evaluate(model, options.testExamples);
    if (curve.at(-1)?.processed !== processed) await checkpoint(test);
    return { weights: getFlatWeights(model), test, curve, examplesProcessed: processed, seconds: (performance.now() - started) / 1000, stoppedBy };
  } finally {
    optimizer.dispose();
  }
}
