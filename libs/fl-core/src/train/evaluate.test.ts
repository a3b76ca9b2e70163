import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel } from '../model/build';
import { getFlatWeights, setFlatWeights } from '../model/weights';
import type { ModelSpec } from '../model/spec';
import { createSeededRandom } from '../random/index';
import { BOS_ID, EOS_ID, PAD_ID, UNK_ID, type ExampleSet } from '../text/index';
import { addEvaluationSums, countInVocabularyTargets, evaluate, evaluateSums, suggestionIds, summarizeEvaluation, UNSUGGESTABLE_TOKEN_IDS } from './evaluate';
import { meanInterval, wilsonInterval } from './intervals';

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 16, contextLength: 2, embeddingDim: 4, hiddenUnits: 8 };

function examples(targets: number[], random = createSeededRandom(1)): ExampleSet {
  const contexts = Int32Array.from({ length: targets.length * SPEC.contextLength }, () => 4 + random.nextInt(SPEC.vocabularySize - 4));
  return { contexts, targets: Int32Array.from(targets), count: targets.length, contextLength: SPEC.contextLength };
}

beforeAll(async () => {
  await useNodeBackend('wasm');
});

describe('suggestionIds', () => {
  it('takes the k best ids that are not <pad>, <unk>, <bos>, <eos>, ties to the lower id', () => {
    expect(UNSUGGESTABLE_TOKEN_IDS).toEqual([PAD_ID, UNK_ID, BOS_ID, EOS_ID]);
    const scores = [9, 9, 9, 9, 0.1, 0.5, 0.5, 0.7, -1];
    expect(suggestionIds(scores, 3)).toEqual([7, 5, 6]);
    expect(suggestionIds(scores, 1)).toEqual([7]);
    expect(suggestionIds(scores, 10)).toEqual([7, 5, 6, 4, 8]);
    expect(() => suggestionIds(scores, 0)).toThrow(/suggestionIds: k must be a positive integer, got 0/);
    expect(() => suggestionIds(scores, 1.5)).toThrow(/got 1.5/);
  });

  it('offers only ids that `accept` lets through, still best first, and fills k from further down', () => {
    // Ranked without a filter: 7 (0.7), 5, 6 (0.5 each), 4 (0.1), 8 (−1).
    const scores = [9, 9, 9, 9, 0.1, 0.5, 0.5, 0.7, -1];
    expect(suggestionIds(scores, 3, (id) => id !== 7)).toEqual([5, 6, 4]);
    expect(suggestionIds(scores, 2, (id) => id % 2 === 0)).toEqual([6, 4]);
    expect(suggestionIds(scores, 3, (id) => id === 8)).toEqual([8]);
    expect(suggestionIds(scores, 3, () => false)).toEqual([]);
    // A later, better id displaces the current worst of a full list.
    expect(suggestionIds([0, 0, 0, 0, 1, 2, 3, 4, 5], 2)).toEqual([8, 7]);
    expect(suggestionIds([0, 0, 0, 0, 5, 4, 3, 2, 1], 2)).toEqual([4, 5]);
  });
});

describe('addEvaluationSums / countInVocabularyTargets', () => {
  it('adds every field, so two halves evaluated apart summarize like the whole', () => {
    const a = { lossSum: 3.5, lossSquaredSum: 20, top1Hits: 2, top3Hits: 5, count: 10, inVocabularyCount: 8 };
    const b = { lossSum: 1.25, lossSquaredSum: 4, top1Hits: 1, top3Hits: 1, count: 3, inVocabularyCount: 2 };
    expect(addEvaluationSums(a, b)).toEqual({ lossSum: 4.75, lossSquaredSum: 24, top1Hits: 3, top3Hits: 6, count: 13, inVocabularyCount: 10 });
  });

  it('counts the targets a suggestion could hit', () => {
    expect(countInVocabularyTargets([PAD_ID, UNK_ID, BOS_ID, EOS_ID, 4, 5, 4, 15])).toBe(4);
    expect(countInVocabularyTargets([])).toBe(0);
  });
});

/** A model whose weights are all 0 but the output bias, so every row's logits are that bias. */
function biasOnlyModel(logits: Record<number, number>) {
  const model = buildModel(SPEC, { seed: 1 });
  const bias = new Float32Array(SPEC.vocabularySize);
  for (const [id, value] of Object.entries(logits)) bias[Number(id)] = value;
  const flat = new Float32Array(getFlatWeights(model).length);
  flat.set(bias, flat.length - bias.length);
  setFlatWeights(model, flat);
  return { model, bias };
}

describe('evaluateSums', () => {
  it('never suggests <eos> or <unk>: such targets are misses, yet count in the loss', async () => {
    // All weights 0 but the output bias: the GRU state stays 0, so every row's logits are the bias.
    // The specials score highest; the strip must skip them and show 5, 6, 7.
    const { model, bias } = biasOnlyModel({ [PAD_ID]: 11, [BOS_ID]: 12, [EOS_ID]: 10, [UNK_ID]: 9, 5: 5, 6: 4, 7: 3 });
    expect(model.weights.at(-1)?.shape).toEqual([SPEC.vocabularySize]);

    const targets = [EOS_ID, UNK_ID, 5, 6, 7, 8];
    const sums = await evaluateSums(model, examples(targets));
    const logSumExp = Math.log(Array.from(bias).reduce((s, b) => s + Math.exp(b), 0));
    const losses = targets.map((t) => logSumExp - (bias[t] as number));
    expect(sums.count).toBe(6);
    expect(sums.top1Hits).toBe(1); // 5
    expect(sums.top3Hits).toBe(3); // 5, 6, 7; the <eos> and <unk> targets are misses
    expect(sums.inVocabularyCount).toBe(4);
    expect(sums.lossSum).toBeCloseTo(
      losses.reduce((a, b) => a + b, 0),
      4,
    );
    expect(sums.lossSquaredSum).toBeCloseTo(
      losses.reduce((a, b) => a + b * b, 0),
      3,
    );

    const metrics = summarizeEvaluation(sums);
    expect(metrics.top1).toBeCloseTo(1 / 6, 12);
    expect(metrics.inVocabulary).toMatchObject({ count: 4, top1: 0.25, top3: 0.75 });
    expect(metrics.inVocabulary.top3Interval).toEqual(wilsonInterval(3, 4));
    model.dispose();
  });

  it('scores an <unk> or <eos> target as a miss even when the model ranks it far above every word', async () => {
    // Output bias only (GRU state stays 0): <unk> 50 and <eos> 40 dominate, the words 5, 6, 7 follow.
    // The strip shows 5, 6, 7. Were <unk> (or <eos>) let through, it would be the top suggestion
    // and its own targets would count as hits while the 5/6/7 targets slide down or out.
    const { model, bias } = biasOnlyModel({ [UNK_ID]: 50, [EOS_ID]: 40, [PAD_ID]: 30, [BOS_ID]: 20, 5: 5, 6: 4, 7: 3 });
    expect(suggestionIds(bias, 3)).toEqual([5, 6, 7]);

    const targets = [UNK_ID, UNK_ID, UNK_ID, EOS_ID, EOS_ID, 5, 6, 7, 8];
    const hits = { top1: new Uint8Array(targets.length), top3: new Uint8Array(targets.length) };
    const sums = await evaluateSums(model, examples(targets), 256, hits);
    expect(Array.from(hits.top1)).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(Array.from(hits.top3)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 0]);
    expect(sums).toMatchObject({ top1Hits: 1, top3Hits: 3, count: 9, inVocabularyCount: 4 });
    const metrics = summarizeEvaluation(sums);
    expect(metrics.top1).toBeCloseTo(1 / 9, 12);
    expect(metrics.inVocabulary).toMatchObject({ count: 4, top1: 0.25, top3: 0.75 });
    model.dispose();
  });

  it("counts hits exactly as suggestionIds ranks the model's logits, on a random model", async () => {
    const model = buildModel(SPEC, { seed: 7 });
    const random = createSeededRandom(3);
    const set = examples(
      Array.from({ length: 300 }, () => 1 + random.nextInt(SPEC.vocabularySize - 1)).map((t) => (t === BOS_ID ? EOS_ID : t)),
      random,
    );
    const sums = await evaluateSums(model, set, 64);
    const logits = tf.tidy(() => model.predict(tf.tensor2d(set.contexts, [set.count, SPEC.contextLength], 'int32')) as tf.Tensor2D);
    const rows = (await logits.array()) as number[][];
    logits.dispose();
    let top1 = 0;
    let top3 = 0;
    let lossSum = 0;
    rows.forEach((row, i) => {
      const target = set.targets[i] as number;
      const suggested = suggestionIds(row, 3);
      if (suggested[0] === target) top1++;
      if (suggested.includes(target)) top3++;
      const max = Math.max(...row);
      lossSum += max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0)) - (row[target] as number);
    });
    expect(sums).toMatchObject({ top1Hits: top1, top3Hits: top3, count: 300 });
    expect(sums.lossSum).toBeCloseTo(lossSum, 2);
    model.dispose();
  });
});

describe('summarizeEvaluation', () => {
  it('turns sums into rates with Wilson and normal-approximation intervals', () => {
    const metrics = summarizeEvaluation({ lossSum: 15, lossSquaredSum: 55, top1Hits: 16, top3Hits: 30, count: 100, inVocabularyCount: 80 });
    expect(metrics.loss).toBe(0.15);
    expect(metrics.perplexity).toBe(Math.exp(0.15));
    expect(metrics.top1Interval).toEqual(wilsonInterval(16, 100));
    expect(metrics.top3Interval).toEqual(wilsonInterval(30, 100));
    expect(metrics.lossInterval).toEqual(meanInterval({ sum: 15, sumOfSquares: 55, count: 100 }));
    expect(metrics.perplexityInterval.lower).toBe(Math.exp(metrics.lossInterval.lower));
    expect(metrics.perplexityInterval.upper).toBe(Math.exp(metrics.lossInterval.upper));
    expect(metrics.top1).toBe(0.16);
    expect(metrics.top3).toBe(0.3);
    expect(metrics.count).toBe(100);
    expect(metrics.inVocabulary).toEqual({ count: 80, top1: 0.2, top3: 0.375, top1Interval: wilsonInterval(16, 80), top3Interval: wilsonInterval(30, 80) });
  });

  it('is NaN, not an error, with nothing evaluated', () => {
    const metrics = summarizeEvaluation({ lossSum: 0, lossSquaredSum: 0, top1Hits: 0, top3Hits: 0, count: 0, inVocabularyCount: 0 });
    expect(metrics.top1).toBeNaN();
    expect(metrics.perplexity).toBeNaN();
    expect(metrics.top1Interval.lower).toBeNaN();
  });
});

describe('evaluate', () => {
  it('refuses a model that does not map [batch, context] to [batch, vocabulary]', async () => {
    const shaped = (input: (number | null)[], output: (number | null)[]) =>
      ({ inputs: [{ shape: input }], outputs: [{ shape: output }] }) as unknown as tf.LayersModel;
    const message = 'evaluate: model must take [batch, context] and emit [batch, vocabulary]';
    await expect(evaluateSums(shaped([null], [null, 16]), examples([4]))).rejects.toThrow(message);
    await expect(evaluateSums(shaped([null, 2], [null]), examples([4]))).rejects.toThrow(message);
  });

  it('summarizes the sums, over batches of any size, and frees every tensor it made', async () => {
    const model = buildModel(SPEC, { seed: 5 });
    const random = createSeededRandom(9);
    const set = examples(
      Array.from({ length: 50 }, () => 4 + random.nextInt(SPEC.vocabularySize - 4)),
      random,
    );
    const tensorsBefore = tf.memory().numTensors;
    const whole = await evaluateSums(model, set);
    const batched = await evaluateSums(model, set, 7);
    const metrics = await evaluate(model, set, 16);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(batched).toMatchObject({ count: 50, top1Hits: whole.top1Hits, top3Hits: whole.top3Hits, inVocabularyCount: 50 });
    expect(batched.lossSum).toBeCloseTo(whole.lossSum, 4);
    expect(batched.lossSquaredSum).toBeCloseTo(whole.lossSquaredSum, 3);
    expect(metrics.count).toBe(50);
    expect(metrics.top1).toBe(whole.top1Hits / 50);
    expect(metrics.loss).toBeCloseTo(whole.lossSum / 50, 5);
    model.dispose();
  });
});

describe('evaluateSums per-example hits', () => {
  it('fills one hit per example, agreeing with the sums and with each row scored alone', async () => {
    const model = buildModel(SPEC, { seed: 4 });
    const random = createSeededRandom(2);
    const set = examples(
      Array.from({ length: 300 }, () => random.nextInt(SPEC.vocabularySize)),
      random,
    );
    const hits = { top1: new Uint8Array(set.count), top3: new Uint8Array(set.count) };
    const sums = await evaluateSums(model, set, 64, hits);
    expect(hits.top1.reduce((a, b) => a + b, 0)).toBe(sums.top1Hits);
    expect(hits.top3.reduce((a, b) => a + b, 0)).toBe(sums.top3Hits);
    for (const row of [0, 63, 64, 299]) {
      const alone = await evaluateSums(model, {
        contexts: set.contexts.slice(row * 2, row * 2 + 2),
        targets: set.targets.slice(row, row + 1),
        count: 1,
        contextLength: 2,
      });
      expect([hits.top1[row], hits.top3[row]]).toEqual([alone.top1Hits, alone.top3Hits]);
    }
    model.dispose();
  });
});
