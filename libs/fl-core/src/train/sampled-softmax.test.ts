import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel, sequenceFeatures, sequenceLogits } from '../model/build';
import { TiedSoftmax } from '../model/layers';
import { getFlatWeights } from '../model/weights';
import type { ModelSpec } from '../model/spec';
import { createSeededRandom } from '../random/index';
import { evaluate } from './evaluate';
import { createTrainingStep, trainLocal } from './local';
import { parseTrainingPlan } from './plan';
import { logUniformSampler, sampledSoftmaxLoss, type CandidateScorer } from './sampled-softmax';

const TIED: ModelSpec = { architecture: 'cifg', vocabularySize: 40, contextLength: 4, embeddingDim: 8, hiddenUnits: 16, tiedEmbeddings: true };

beforeAll(async () => {
  await useNodeBackend('wasm');
});

describe('logUniformSampler', () => {
  it('is a distribution over the vocabulary: K·Q sums to K', () => {
    const sampler = logUniformSampler(10_004, createSeededRandom(1));
    const ids = Int32Array.from({ length: 10_004 }, (_, i) => i);
    const expected = sampler.logExpectedCount(ids, 64);
    const total = expected.reduce((sum, log) => sum + Math.exp(log), 0);
    expect(total).toBeCloseTo(64, 2);
    // Q(0) = ln 2 / ln(V + 1), computed by hand.
    expect(Math.exp(expected[0] as number) / 64).toBeCloseTo(Math.LN2 / Math.log(10_005), 6);
  });

  it('draws ids with the frequencies it claims', () => {
    const vocabularySize = 50;
    const sampler = logUniformSampler(vocabularySize, createSeededRandom(7));
    const draws = 200_000;
    const drawn = sampler.draw(draws);
    const counts = new Array<number>(vocabularySize).fill(0);
    for (const id of drawn) counts[id] = (counts[id] as number) + 1;
    expect(drawn.every((id) => id >= 0 && id < vocabularySize)).toBe(true);
    const expected = sampler.logExpectedCount(
      Int32Array.from({ length: vocabularySize }, (_, i) => i),
      draws,
    );
    for (let id = 0; id < vocabularySize; id++) {
      const mean = Math.exp(expected[id] as number);
      // Binomial counts: within 4 standard deviations of K·Q.
      expect(Math.abs((counts[id] as number) - mean), `id ${id}`).toBeLessThan(4 * Math.sqrt(mean));
    }
  });

  it('rejects a vocabulary it cannot sample', () => {
    expect(() => logUniformSampler(1, createSeededRandom(1))).toThrow(/≥ 2/);
  });
});

describe('TiedSoftmax.candidateLogits', () => {
  it("scores a word exactly as the full softmax's logit for it", () => {
    const model = buildModel(TIED, { seed: 2 });
    const output = model.layers.at(-1) as TiedSoftmax;
    const contexts = tf.tensor2d([4, 5, 6, 7, 0, 2, 9, 10], [2, 4], 'int32');
    const targets = [11, 12, 13, 14, 15, 16, 17, 18];
    const candidates = [3, 30, 11, 0];
    const [features, full] = [sequenceFeatures(model, contexts), sequenceLogits(model, contexts)];
    const h = tf.reshape(features, [8, 16]) as tf.Tensor2D;
    const { target, candidates: sampled } = output.candidateLogits(h, tf.tensor1d(targets, 'int32'), tf.tensor1d(candidates, 'int32'));
    const fullRows = (full.arraySync() as number[][][]).flat();
    const targetLogits = target.arraySync();
    const sampledLogits = sampled.arraySync();
    targets.forEach((word, row) => expect(targetLogits[row]).toBeCloseTo(fullRows[row]?.[word] as number, 4));
    for (let row = 0; row < 8; row++) {
      candidates.forEach((word, k) => expect(sampledLogits[row]?.[k]).toBeCloseTo(fullRows[row]?.[word] as number, 4));
    }
    tf.dispose([contexts, features, full, h, target, sampled]);
    model.dispose();
  });
});

describe('sampledSoftmaxLoss', () => {
  it('matches the loss computed by hand: corrected logits, accidental hits removed', () => {
    const vocabularySize = 20;
    const sampler = logUniformSampler(vocabularySize, createSeededRandom(1));
    // logit(row, word) = 0.1 · (row + 1) · word: any fixed table will do.
    const logit = (row: number, word: number) => 0.1 * (row + 1) * word;
    const scorer: CandidateScorer = {
      candidateLogits: (h, targets, candidates) =>
        tf.tidy(() => {
          const rows = h.shape[0];
          const t = targets.arraySync();
          const c = candidates.arraySync();
          return {
            target: tf.tensor1d(t.map((word, row) => logit(row, word))),
            candidates: tf.tensor2d(Array.from({ length: rows }, (_, row) => c.map((word) => logit(row, word)))),
          };
        }),
    };
    const targets = Int32Array.from([5, 2, 9]);
    const candidates = Int32Array.from([0, 5, 7, 7, 12]);
    const h = tf.zeros([3, 4]) as tf.Tensor2D;
    const loss = sampledSoftmaxLoss(scorer, h, targets, candidates, sampler);

    const q = (word: number) => Math.log((word + 2) / (word + 1)) / Math.log(vocabularySize + 1);
    const corrected = (row: number, word: number) => logit(row, word) - Math.log(candidates.length * q(word));
    let expected = 0;
    targets.forEach((target, row) => {
      // Candidate 5 is row 0's own target: it drops out of that row's normaliser.
      const competitors = Array.from(candidates)
        .filter((word) => word !== target)
        .map((word) => corrected(row, word));
      const all = [corrected(row, target), ...competitors];
      const max = Math.max(...all);
      expected += max + Math.log(all.reduce((sum, x) => sum + Math.exp(x - max), 0)) - corrected(row, target);
    });
    expect(loss.arraySync()).toBeCloseTo(expected, 4);
    tf.dispose([loss, h]);
  });
});

describe('training with a sampled softmax', () => {
  /** A corpus where each token follows from the one before: 4 → 5 → … → 19 → <eos>. */
  function chainExamples(): { contexts: Int32Array; targets: Int32Array; count: number; contextLength: number } {
    const tokens = [2, ...Array.from({ length: 16 }, (_, i) => 4 + i), 3];
    const contexts: number[] = [];
    const targets: number[] = [];
    for (let repeat = 0; repeat < 6; repeat++) {
      for (let i = 1; i < tokens.length; i++) {
        const window = tokens.slice(Math.max(0, i - TIED.contextLength), i);
        while (window.length < TIED.contextLength) window.unshift(0);
        contexts.push(...window);
        targets.push(tokens[i] as number);
      }
    }
    return { contexts: Int32Array.from(contexts), targets: Int32Array.from(targets), count: targets.length, contextLength: TIED.contextLength };
  }

  it('learns what the full softmax measures: held-in loss and top-1 improve', async () => {
    const model = buildModel(TIED, { seed: 5 });
    const examples = chainExamples();
    const before = await evaluate(model, examples);
    const result = await trainLocal(
      model,
      getFlatWeights(model),
      examples,
      { epochs: 50, batchSize: 8, learningRate: 0.02, optimizer: 'adam', maxExamples: 1_000, targets: 'every', sampledSoftmax: 8 },
      { random: createSeededRandom(3) },
    );
    const after = await evaluate(model, examples);
    expect(result.metrics.tokensProcessed).toBeGreaterThan(0);
    expect(after.loss).toBeLessThan(before.loss - 1);
    // Every word but <eos> is one of 16 equally frequent tokens: a unigram guess gets 1 in 17.
    expect(after.top1).toBeGreaterThan(0.5);
    model.dispose();
  });

  it('needs a tied softmax, a random source and a positive count', () => {
    const dense = buildModel({ ...TIED, tiedEmbeddings: false }, { seed: 1 });
    const tied = buildModel(TIED, { seed: 1 });
    const random = createSeededRandom(1);
    expect(() => createTrainingStep(dense, 'every', { sampledSoftmax: 8, random })).toThrow(/tied-softmax model/);
    expect(() => createTrainingStep(tied, 'every', { sampledSoftmax: 8 })).toThrow(/random source/);
    expect(() => createTrainingStep(tied, 'every', { sampledSoftmax: 0, random })).toThrow(/positive integer/);
    expect(() => parseTrainingPlan({ sampledSoftmax: 0 })).toThrow(/invalid training plan/);
    expect(parseTrainingPlan({ sampledSoftmax: 512 }).sampledSoftmax).toBe(512);
    expect(parseTrainingPlan({}).sampledSoftmax).toBeUndefined();
    dense.dispose();
    tied.dispose();
  });
});
