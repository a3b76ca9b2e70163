import * as tf from '@tensorflow/tfjs';
import { everyPositionWindows, selectExamples, shuffleExamples, type ExampleSet } from '../text/index';
import { createSeededRandom, type SeededRandom } from '../random/index';
import { sequenceLogits } from '../model/build';
import { getFlatWeights, setFlatWeights } from '../model/weights';
import { assertExamplesFit, batchTensors, positionTargets } from './batches';
import { parseTrainingPlan, type TrainingPlanInput, type TrainingTargets } from './plan';

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
  const step = createTrainingStep(model, plan.targets);
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

/**
 * The minibatch step trainLocal and central training share: softmax cross-entropy on each window's
 * target ('last'), or the mean over every unmasked position ('every').
 */
export function createTrainingStep(model: tf.LayersModel, targets: TrainingTargets): TrainingStep {
  const [, contextLength] = model.inputs[0]?.shape ?? [];
  const vocabularySize = model.outputs[0]?.shape[1];
  if (typeof contextLength !== 'number' || typeof vocabularySize !== 'number') {
    throw new TypeError('createTrainingStep: model must take [batch, context] and emit [batch, vocabulary]');
  }
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
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
      const batchLoss = optimizer.minimize(lossFn, true, variables);
      if (!batchLoss) throw new Error('training step: optimizer returned no loss');
      return batchLoss;
    });
    return { cost, tokens: positions?.tokens ?? end - start };
  };
}

/** Examples processed by `batches` batches over epochs of `count` examples. */
function countExamplesRun(count: number, batchSize: number, batches: number): number {
  const perEpoch = Math.ceil(count / batchSize);
  const fullEpochs = Math.floor(batches / perEpoch);
  const rest = batches % perEpoch;
  return fullEpochs * count + Math.min(count, rest * batchSize);
}
