import * as tf from '@tensorflow/tfjs';
import { everyPositionWindows, selectExamples, shuffleExamples, type ExampleSet } from '../text/index';
import { createSeededRandom, type SeededRandom } from '../random/index';
import { sequenceFeatures, sequenceLogits } from '../model/build';
import { TiedSoftmax } from '../model/layers';
import { getFlatWeights, setFlatWeights } from '../model/weights';
import { assertExamplesFit, batchTensors, positionTargets } from './batches';
import { parseTrainingPlan, type TrainingPlanInput, type TrainingTargets } from './plan';
import { logUniformSampler, sampledSoftmaxLoss } from './sampled-softmax';

export interface LocalTrainingOptions {
  /** Orders and subsamples the examples; defaults to a generator seeded from the CSPRNG. */
  random?: SeededRandom;
  /** Milliseconds; injectable so tests can exercise the time budget. */
  now?: () => number;
  /** Aborts between batches; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after every batch, e.g. to report progress to the UI. */
  onBatch?: (progress: { batch: number; batches: number; loss: number }) => void;
}

export interface LocalTrainingResult {
  /** New weights − starting weights, flat. */
  delta: Float32Array;
  /** Distinct examples trained on (FedAvg's weight). */
  numExamples: number;
  metrics: {
    /** Mean cross-entropy per predicted token over the batches run, in nats. */
    trainLoss: number;
    batches: number;
    /** Examples processed, counting every epoch: the compute spent. */
    examplesProcessed: number;
    seconds: number;
    examplesPerSecond: number;
    /**
     * Next tokens the loss scored, counting every epoch: one per window with targets 'last', up to
     * contextLength per window with 'every' (positions whose target is <pad> or <bos> excluded).
     */
    tokensProcessed: number;
    tokensPerSecond: number;
    stoppedBy: 'completed' | 'time-budget';
  };
}

/** How long training may hold the event loop before it hands over a turn. */
const YIELD_EVERY_MS = 25;

/**
 * One macrotask turn. On cpu and wasm a step's data() resolves without leaving the microtask
 * queue, so without this an abort, a timer or a worker's next message (a suggestion request)
 * would wait for the whole run. MessageChannel exists in browsers, workers and Node and, unlike
 * setTimeout, is not clamped to 4 ms.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

function randomSeed(): number {
  return crypto.getRandomValues(new Int32Array(1))[0] as number;
}

/**
 * Client update of FedAvg (McMahan et al. 2017): minibatch SGD (or a fresh Adam) for E epochs from the global
 * weights, returning the difference. With `targets: 'every'` one forward pass scores the next token
 * after every position of a window (sequenceLogits), not only after the last. The model is reused
 * across calls (weights are overwritten), so a simulation of many clients builds it once.
 */
export async function trainLocal(
  model: tf.LayersModel,
  globalWeights: Float32Array,
  examples: ExampleSet,
  planInput: TrainingPlanInput,
  options: LocalTrainingOptions = {},
): Promise<LocalTrainingResult> {
  const plan = parseTrainingPlan(planInput);
  const [, contextLength] = model.inputs[0]?.shape ?? [];
  const vocabularySize = model.outputs[0]?.shape[1];
  if (typeof contextLength !== 'number' || typeof vocabularySize !== 'number') {
    throw new TypeError('trainLocal: model must take [batch, context] and emit [batch, vocabulary]');
  }
  assertExamplesFit(examples, contextLength, vocabularySize);
  if (examples.count === 0) throw new RangeError('trainLocal: no examples to train on');
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? createSeededRandom(randomSeed());

  setFlatWeights(model, globalWeights);
  // With 'every', one window trains T positions, so windows that tile the sentences replace the
  // one-per-token rows; maxExamples then counts windows.
  const pool = plan.targets === 'every' ? everyPositionWindows(examples) : examples;
  const chosen = random.sampleIndices(pool.count, Math.min(pool.count, plan.maxExamples));
  const subset = selectExamples(pool, chosen);
  const optimizer = plan.optimizer === 'adam' ? tf.train.adam(plan.learningRate, 0.9, 0.999, plan.adamEpsilon) : tf.train.sgd(plan.learningRate);
  const step = createTrainingStep(model, plan.targets, plan.sampledSoftmax !== undefined ? { sampledSoftmax: plan.sampledSoftmax, random: random.fork() } : {});
  const batchesPerEpoch = Math.ceil(subset.count / plan.batchSize);
  const totalBatches = batchesPerEpoch * plan.epochs;
  const started = now();
  let lossSum = 0;
  let tokensProcessed = 0;
  let batches = 0;
  let stoppedBy: LocalTrainingResult['metrics']['stoppedBy'] = 'completed';
  let lastYield = started;

  try {
    training: for (let epoch = 0; epoch < plan.epochs; epoch++) {
      const order = epoch === 0 ? subset : shuffleExamples(subset, random);
      for (let start = 0; start < order.count; start += plan.batchSize) {
        options.signal?.throwIfAborted();
        const end = Math.min(order.count, start + plan.batchSize);
        const { cost, tokens } = step(optimizer, order, start, end);
        // Reading the loss waits for the step.
        const loss = (await cost.data())[0] as number;
        cost.dispose();
        if (!Number.isFinite(loss)) throw new RangeError(`trainLocal: loss became ${loss} at batch ${batches}; lower the learning rate`);
        lossSum += loss * tokens;
        tokensProcessed += tokens;
        batches += 1;
        options.onBatch?.({ batch: batches, batches: totalBatches, loss });
        if (now() - started >= plan.timeBudgetMs) {
          stoppedBy = batches < totalBatches ? 'time-budget' : 'completed';
          break training;
        }
        if (now() - lastYield >= YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = now();
        }
      }
    }
  } finally {
    optimizer.dispose();
  }

  const trained = getFlatWeights(model);
  const delta = new Float32Array(trained.length);
  for (let i = 0; i < trained.length; i++) delta[i] = (trained[i] as number) - (globalWeights[i] as number);
  const seconds = (now() - started) / 1000;
  const examplesProcessed = countExamplesRun(subset.count, plan.batchSize, batches);
  return {
    delta,
    // The first epoch runs through the subset in order, so this counts each example once.
    numExamples: Math.min(subset.count, batches * plan.batchSize),
    metrics: {
      trainLoss: tokensProcessed > 0 ? lossSum / tokensProcessed : Number.NaN,
      batches,
      examplesProcessed,
      seconds,
      examplesPerSecond: seconds > 0 ? examplesProcessed / seconds : 0,
      tokensProcessed,
      tokensPerSecond: seconds > 0 ? tokensProcessed / seconds : 0,
      stoppedBy,
    },
  };
}

/** One optimizer step on rows [start, end): the loss tensor (its data() waits for the step) and the tokens it scored. */
export type TrainingStep = (optimizer: tf.Optimizer, examples: ExampleSet, start: number, end: number) => { cost: tf.Scalar; tokens: number };

export interface TrainingStepOptions {
  /**
   * Score each step's targets against this many sampled candidate words instead of the whole
   * vocabulary (sampledSoftmaxLoss); needs a tied-softmax model. Unset: the full softmax.
   */
  sampledSoftmax?: number;
  /** Draws the sampled softmax's candidates; required with sampledSoftmax. */
  random?: SeededRandom;
}

/**
 * The minibatch step trainLocal and central training share: softmax cross-entropy on each window's
 * target ('last'), or the mean over every unmasked position ('every'); either over the whole
 * vocabulary or, with `sampledSoftmax`, over sampled candidates.
 */
export function createTrainingStep(model: tf.LayersModel, targets: TrainingTargets, options: TrainingStepOptions = {}): TrainingStep {
  const [, contextLength] = model.inputs[0]?.shape ?? [];
  const vocabularySize = model.outputs[0]?.shape[1];
  if (typeof contextLength !== 'number' || typeof vocabularySize !== 'number') {
    throw new TypeError('createTrainingStep: model must take [batch, context] and emit [batch, vocabulary]');
  }
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (options.sampledSoftmax !== undefined)
    return createSampledStep(model, targets, contextLength, vocabularySize, variables, options.sampledSoftmax, options.random);
  return (optimizer, examples, start, end) => {
    const positions = targets === 'every' ? positionTargets(examples, start, end) : null;
    const cost = tf.tidy(() => {
      const { contexts, targets: last } = batchTensors(examples, start, end);
      let lossFn: () => tf.Scalar;
      if (positions === null) {
        const labels = tf.oneHot(last, vocabularySize);
        lossFn = () => tf.losses.softmaxCrossEntropy(labels, model.apply(contexts, { training: true }) as tf.Tensor) as tf.Scalar;
      } else {
        const labels = tf.oneHot(tf.tensor2d(positions.targets, [end - start, contextLength], 'int32'), vocabularySize);
        const weights = tf.tensor2d(positions.weights, [end - start, contextLength]);
        // Summed over the unmasked positions and divided by their count: the mean per token,
        // and 0 rather than 0/0 for a batch with none.
        lossFn = () =>
          tf.div(
            tf.losses.softmaxCrossEntropy(labels, sequenceLogits(model, contexts, { training: true }), weights, 0, tf.Reduction.SUM),
            Math.max(1, positions.tokens),
          ) as tf.Scalar;
      }
      return minimize(optimizer, lossFn, variables);
    });
    return { cost, tokens: positions?.tokens ?? end - start };
  };
}

function createSampledStep(
  model: tf.LayersModel,
  targets: TrainingTargets,
  contextLength: number,
  vocabularySize: number,
  variables: tf.Variable[],
  candidates: number,
  random: SeededRandom | undefined,
): TrainingStep {
  if (!Number.isInteger(candidates) || candidates < 1) throw new RangeError(`sampledSoftmax must be a positive integer, got ${candidates}`);
  if (!random) throw new TypeError('createTrainingStep: sampledSoftmax needs a random source for its candidates');
  const layers = (model as tf.Sequential).layers;
  const output = layers[layers.length - 1];
  if (!(output instanceof TiedSoftmax))
    throw new TypeError(`createTrainingStep: sampledSoftmax needs a tied-softmax model (cifg), "${model.name}" ends in ${output?.getClassName()}`);
  const sampler = logUniformSampler(vocabularySize, random);
  return (optimizer, examples, start, end) => {
    const { rows, targets: trained } = trainedPositions(examples, start, end, targets);
    const drawn = sampler.draw(candidates);
    const cost = tf.tidy(() => {
      const { contexts } = batchTensors(examples, start, end);
      const rowIds = tf.tensor1d(rows, 'int32');
      const lossFn = () => {
        const features = sequenceFeatures(model, contexts, { training: true });
        const h = tf.gather(tf.reshape(features, [-1, features.shape[2]]), rowIds) as tf.Tensor2D;
        return tf.div(sampledSoftmaxLoss(output, h, trained, drawn, sampler), Math.max(1, trained.length)) as tf.Scalar;
      };
      return minimize(optimizer, lossFn, variables);
    });
    return { cost, tokens: trained.length };
  };

  /** Flat [batch · T] indices of the positions that train, and their targets. */
  function trainedPositions(examples: ExampleSet, start: number, end: number, which: TrainingTargets): { rows: Int32Array; targets: Int32Array } {
    if (which === 'last') {
      const rows = Int32Array.from({ length: end - start }, (_, i) => i * contextLength + contextLength - 1);
      return { rows, targets: examples.targets.slice(start, end) };
    }
    const positions = positionTargets(examples, start, end);
    const rows = new Int32Array(positions.tokens);
    const kept = new Int32Array(positions.tokens);
    let next = 0;
    for (let i = 0; i < positions.weights.length; i++) {
      if (positions.weights[i] === 1) {
        rows[next] = i;
        kept[next] = positions.targets[i] as number;
        next += 1;
      }
    }
    return { rows, targets: kept };
  }
}

function minimize(optimizer: tf.Optimizer, lossFn: () => tf.Scalar, variables: tf.Variable[]): tf.Scalar {
  const batchLoss = optimizer.minimize(lossFn, true, variables);
  if (!batchLoss) throw new Error('training step: optimizer returned no loss');
  return batchLoss;
}

/** Examples processed by `batches` batches over epochs of `count` examples. */
function countExamplesRun(count: number, batchSize: number, batches: number): number {
  const perEpoch = Math.ceil(count / batchSize);
  const fullEpochs = Math.floor(batches / perEpoch);
  const rest = batches % perEpoch;
  return fullEpochs * count + Math.min(count, rest * batchSize);
}
