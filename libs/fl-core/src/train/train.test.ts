import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel, sequenceLogits } from '../model/build';
import { getFlatWeights } from '../model/weights';
import type { ModelSpec } from '../model/spec';
import { createSeededRandom } from '../random/index';
import { createVocabulary, EOS_ID, everyPositionWindows, selectExamples, textToExamples, type ExampleSet } from '../text/index';
import { positionTargets } from './batches';
import { evaluate } from './evaluate';
import { trainLocal } from './local';
import { parseTrainingPlan } from './plan';

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 32, contextLength: 3, embeddingDim: 8, hiddenUnits: 16 };

/**
 * A tiny language with a learnable rule: sentences <bos> a b c d <eos> over a few fixed phrases, so
 * after training the next token is fully determined by the previous three.
 */
function phraseExamples(repeats: number): ExampleSet {
  const phrases = [
    [4, 5, 6, 7],
    [8, 9, 10, 11, 12],
    [13, 14, 15],
    [16, 5, 17, 18, 19],
  ];
  const contexts: number[] = [];
  const targets: number[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const phrase of phrases) {
      const tokens = [2, ...phrase, 3];
      for (let i = 1; i < tokens.length; i++) {
        const window = tokens.slice(Math.max(0, i - SPEC.contextLength), i);
        while (window.length < SPEC.contextLength) window.unshift(0);
        contexts.push(...window);
        targets.push(tokens[i] as number);
      }
    }
  }
  return { contexts: Int32Array.from(contexts), targets: Int32Array.from(targets), count: targets.length, contextLength: SPEC.contextLength };
}

beforeAll(async () => {
  await useNodeBackend('wasm');
});

describe('trainLocal', () => {
  it('lowers the loss and raises top-1 accuracy on a small fixed corpus', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(8);
    const before = await evaluate(model, examples);
    const result = await trainLocal(
      model,
      weights,
      examples,
      { epochs: 12, batchSize: 16, learningRate: 1, maxExamples: 10_000 },
      { random: createSeededRandom(1) },
    );
    const after = await evaluate(model, examples);
    expect(after.loss).toBeLessThan(before.loss * 0.5);
    // 4 of the 21 targets are <eos>, never suggested and so never a hit: rate the word targets.
    expect(after.inVocabulary.top1).toBeGreaterThan(0.7);
    expect(after.top3).toBeGreaterThanOrEqual(after.top1);
    expect(after.perplexity).toBeCloseTo(Math.exp(after.loss), 6);
    expect(result.numExamples).toBe(examples.count);
    expect(result.metrics.stoppedBy).toBe('completed');
    expect(result.metrics.examplesProcessed).toBe(12 * examples.count);
    // The delta is exactly what training moved the weights by.
    const trained = getFlatWeights(model);
    expect(result.delta.length).toBe(weights.length);
    expect(result.delta[7]).toBeCloseTo((trained[7] as number) - (weights[7] as number), 6);
    model.dispose();
  });

  it('keeps tensor memory flat over hundreds of rounds of training and evaluation', async () => {
    const model = buildModel(SPEC, { seed: 4 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(1);
    const plan = { epochs: 1, batchSize: 8, learningRate: 0.1 };
    await trainLocal(model, weights, examples, plan);
    await evaluate(model, examples);
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let round = 0; round < 200; round++) {
      await trainLocal(model, weights, examples, plan, { random: createSeededRandom(round) });
      await evaluate(model, examples);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
    model.dispose();
  });

  it('caps examples, honours the time budget, and can be aborted', async () => {
    const model = buildModel(SPEC, { seed: 5 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(4);
    const capped = await trainLocal(model, weights, examples, { epochs: 1, batchSize: 4, maxExamples: 10 });
    expect(capped.numExamples).toBe(10);
    expect(capped.metrics.batches).toBe(3);

    let clock = 0;
    const budgeted = await trainLocal(model, weights, examples, { epochs: 5, batchSize: 4, timeBudgetMs: 2500 }, { now: () => (clock += 1000) });
    expect(budgeted.metrics.stoppedBy).toBe('time-budget');
    expect(budgeted.metrics.batches).toBeLessThan(5);

    const controller = new AbortController();
    const aborted = trainLocal(
      model,
      weights,
      examples,
      { epochs: 50, batchSize: 2 },
      {
        signal: controller.signal,
        onBatch: ({ batch }) => batch === 3 && controller.abort(new Error('user left the page')),
      },
    );
    await expect(aborted).rejects.toThrow('user left the page');
    model.dispose();
  });

  it('hands the event loop a turn between batches, so an abort from a timer stops a long run', async () => {
    const model = buildModel(SPEC, { seed: 6 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(50);
    const controller = new AbortController();
    let batches = 0;
    // A macrotask, as a worker's cancel message is: it only runs if training yields.
    setTimeout(() => controller.abort(new Error('cancelled by the page')), 50);
    const run = trainLocal(
      model,
      weights,
      examples,
      { epochs: 50, batchSize: 2, maxExamples: examples.count, timeBudgetMs: 120_000 },
      { signal: controller.signal, onBatch: () => (batches += 1) },
    );
    await expect(run).rejects.toThrow('cancelled by the page');
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(50 * Math.ceil(examples.count / 2));
    model.dispose();
  });

  it('rejects examples that do not fit the model', async () => {
    const model = buildModel(SPEC);
    const weights = getFlatWeights(model);
    const examples = phraseExamples(1);
    await expect(trainLocal(model, weights, { ...examples, contextLength: 4 }, {})).rejects.toThrow(/context length 4/);
    const outOfRange = { ...examples, targets: examples.targets.map((t, i) => (i === 2 ? 32 : t)) };
    await expect(trainLocal(model, weights, outOfRange, {})).rejects.toThrow(/token id 32 at position 2/);
    await expect(trainLocal(model, weights.subarray(1), examples, {})).rejects.toThrow(/expected \d+ values/);
    await expect(trainLocal(model, weights, examples, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    model.dispose();
  });

  it('trains with a fresh Adam when the plan says so: one step moves every weight with a gradient by the learning rate', async () => {
    expect(parseTrainingPlan({}).optimizer).toBe('sgd');
    const model = buildModel(SPEC, { seed: 5 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(2);
    const oneStep = { batchSize: 8, maxExamples: 8, learningRate: 0.01 };
    const moved = async (optimizer: 'sgd' | 'adam', adamEpsilon?: number) => {
      const plan = { ...oneStep, optimizer, ...(adamEpsilon !== undefined ? { adamEpsilon } : {}) };
      const { delta } = await trainLocal(model, weights, examples, plan, { random: createSeededRandom(1) });
      return Array.from(delta, Math.abs).filter((d) => d > 0);
    };
    // Adam's first step is lr · g / (|g| + ε): ±lr wherever the gradient is not tiny, never more.
    const adam = await moved('adam');
    expect(Math.max(...adam)).toBeLessThanOrEqual(0.01 * (1 + 1e-5));
    expect(adam.filter((d) => d > 0.009).length).toBeGreaterThan(adam.length / 2);
    // An ε far above the gradients turns Adam's step into lr · g / ε: tiny, and proportional to g.
    const damped = await moved('adam', 1);
    expect(Math.max(...damped)).toBeLessThan(0.001);
    // SGD's step is lr · g, which for this loss is far below lr almost everywhere.
    const sgd = await moved('sgd');
    expect(sgd.filter((d) => d > 0.009).length).toBeLessThan(sgd.length / 10);
    model.dispose();
  });
});

describe('positionTargets', () => {
  it('shifts each window left by one, appends its target, and masks <pad> and <bos> targets', () => {
    // Rows: <pad> <pad> <bos> a → b; <bos> a b c → <eos>; a padded first window <pad> <pad> <pad> <bos> → a.
    const examples: ExampleSet = {
      contexts: Int32Array.from([0, 0, 2, 4, 2, 4, 5, 6, 0, 0, 0, 2]),
      targets: Int32Array.from([5, 3, 4]),
      count: 3,
      contextLength: 4,
    };
    const all = positionTargets(examples, 0, 3);
    expect(Array.from(all.targets)).toEqual([0, 2, 4, 5, 4, 5, 6, 3, 0, 0, 2, 4]);
    expect(Array.from(all.weights)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]);
    expect(all.tokens).toBe(7);
    // A range reads its own rows.
    const second = positionTargets(examples, 1, 2);
    expect(Array.from(second.targets)).toEqual([4, 5, 6, 3]);
    expect(second.tokens).toBe(4);
  });

  it('is opt-in: a plan without targets, as sent before the option existed, trains on the last position', () => {
    expect(parseTrainingPlan({ epochs: 1 }).targets).toBe('last');
    expect(parseTrainingPlan({ targets: 'every' }).targets).toBe('every');
    expect(() => parseTrainingPlan({ targets: 'all' } as never)).toThrow(/targets/);
  });
});

describe('trainLocal with targets "every"', () => {
  const plan = { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 10_000, targets: 'every' as const };

  it('reports the mean cross-entropy over the unmasked positions, and counts them as tokens', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(1);
    // The loss of the one batch, by hand from the logits at every position of the windows that
    // tile the sentences, before the step.
    const windows = everyPositionWindows(examples);
    const batch = windows.count;
    const { targets, weights: mask, tokens } = positionTargets(windows, 0, batch);
    const logits = tf.tidy(() => tf.logSoftmax(sequenceLogits(model, tf.tensor2d(windows.contexts, [batch, SPEC.contextLength], 'int32'))).dataSync());
    let sum = 0;
    targets.forEach((target, p) => (sum -= (mask[p] as number) * (logits[p * SPEC.vocabularySize + target] as number)));
    const losses: number[] = [];
    const result = await trainLocal(
      model,
      weights,
      examples,
      { ...plan, batchSize: batch },
      { random: createSeededRandom(1), onBatch: ({ loss }) => losses.push(loss) },
    );
    expect(losses[0]).toBeCloseTo(sum / tokens, 5);
    // 4 phrases of 4, 5, 3 and 5 words have 5 + 6 + 4 + 6 = 21 targets (<eos> included); windows of
    // 3 tokens tile each with 2 windows: every target once, from 8 windows.
    expect(result.metrics.tokensProcessed).toBe(21);
    expect(result.metrics.examplesProcessed).toBe(8);
    expect(result.numExamples).toBe(8);
    expect(result.metrics.tokensPerSecond).toBeGreaterThan(result.metrics.examplesPerSecond);
    const last = await trainLocal(model, weights, examples, { ...plan, targets: 'last' }, { random: createSeededRandom(1) });
    expect(last.metrics.tokensProcessed).toBe(21);
    model.dispose();
  });

  it('learns every word of a sentence from the one window that holds it whole, where the last target teaches only <eos>', async () => {
    // Six tokens of context hold a whole phrase: keep only each sentence's final window,
    // <pad>… <bos> w1 … wn → <eos>, and score the model on every window of the corpus.
    const spec = { ...SPEC, contextLength: 6 };
    const vocabulary = createVocabulary({ size: 100 });
    const text = ['the people and the government', 'we will build a better union', 'our state is strong'];
    const all = textToExamples(Array.from({ length: 8 }, () => text).flat(), vocabulary, spec.contextLength);
    const whole = selectExamples(
      all,
      Array.from(all.targets.keys()).filter((i) => all.targets[i] === EOS_ID),
    );
    const scores: Record<string, { loss: number; top1: number; tokens: number }> = {};
    for (const targets of ['last', 'every'] as const) {
      const model = buildModel({ ...spec, vocabularySize: 100 }, { seed: 3 });
      const result = await trainLocal(model, getFlatWeights(model), whole, { ...plan, epochs: 20, batchSize: 8, targets }, { random: createSeededRandom(1) });
      const after = await evaluate(model, all);
      scores[targets] = { loss: after.loss, top1: after.inVocabulary.top1, tokens: result.metrics.tokensProcessed };
      model.dispose();
    }
    // 'last' only ever sees <eos> as a target, which is never suggested: it cannot rank words.
    expect(scores.last?.top1).toBeLessThan(0.1);
    expect(scores.every?.top1).toBeGreaterThan(0.4);
    expect(scores.every?.loss).toBeLessThan((scores.last?.loss as number) / 2);
    // Per sentence of 5, 6 and 4 words: 6, 6 (the 6-word one has lost its <bos>) and 5 targets.
    expect(scores.every?.tokens).toBe(20 * 8 * (6 + 6 + 5));
    expect(scores.last?.tokens).toBe(20 * whole.count);
  });

  it('keeps tensor memory flat over many rounds', async () => {
    const model = buildModel({ ...SPEC, architecture: 'cifg', tiedEmbeddings: true, dropout: 0.1 }, { seed: 4 });
    const weights = getFlatWeights(model);
    const examples = phraseExamples(1);
    await trainLocal(model, weights, examples, { ...plan, batchSize: 8 });
    const tensors = tf.memory().numTensors;
    for (let round = 0; round < 50; round++) await trainLocal(model, weights, examples, { ...plan, batchSize: 8 }, { random: createSeededRandom(round) });
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });
});
