import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { createSeededRandom } from '../random/seeded';
import { createVocabulary, textToExamples } from '../text/index';
import { trainLocal } from '../train/local';
import { buildModel } from './build';
import { CifgCell } from './layers';
import { CIFG_SPEC, parameterCount, type ModelSpec } from './spec';
import { getFlatWeights, setFlatWeights } from './weights';

beforeAll(async () => {
  await useNodeBackend('wasm');
});

const SMALL: ModelSpec = { architecture: 'cifg', vocabularySize: 60, contextLength: 4, embeddingDim: 6, hiddenUnits: 5, tiedEmbeddings: true, dropout: 0.2 };
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('CIFG cell', () => {
  it('computes one step as written: f = 1 − i, c′ = f·c + i·tanh(z_g), h′ = o·tanh(c′)', () => {
    const cell = new CifgCell({ units: 2, seed: 3 });
    cell.build([1, 3]);
    const [kernel, recurrent, bias] = cell.getWeights().map((w) => Array.from(w.dataSync()));
    const x = [0.3, -0.7, 1.1];
    const h = [0.2, -0.4];
    const c = [0.5, -1.5];
    const [hOut, , cOut] = tf.tidy(() => cell.call([tf.tensor2d([x]), tf.tensor2d([h]), tf.tensor2d([c])]).map((t) => Array.from(t.dataSync())));
    // The same step in plain arithmetic: kernel is [3, 6] and recurrent [2, 6], row-major.
    const z = Array.from({ length: 6 }, (_, j) => {
      let sum = (bias as number[])[j] as number;
      x.forEach((xi, r) => (sum += xi * ((kernel as number[])[r * 6 + j] as number)));
      h.forEach((hi, r) => (sum += hi * ((recurrent as number[])[r * 6 + j] as number)));
      return sum;
    });
    for (let u = 0; u < 2; u++) {
      const i = sigmoid(z[u] as number);
      const next = (1 - i) * (c[u] as number) + i * Math.tanh(z[2 + u] as number);
      expect(cOut?.[u]).toBeCloseTo(next, 5);
      expect(hOut?.[u]).toBeCloseTo(sigmoid(z[4 + u] as number) * Math.tanh(next), 5);
    }
    expect(Array.from(cell.getWeights()[2]?.dataSync() ?? []).slice(0, 2)).toEqual([-1, -1]);
  });
});

describe('CIFG model with tied embeddings', () => {
  it('has the parameters parameterCount predicts, the embedding listed once', () => {
    for (const spec of [
      SMALL,
      { ...SMALL, tiedEmbeddings: false },
      { ...SMALL, architecture: 'lstm' as const },
      { ...SMALL, architecture: 'gru' as const, dropout: 0 },
    ]) {
      const model = buildModel(spec);
      expect(model.countParams(), JSON.stringify(spec)).toBe(parameterCount(spec));
      expect(getFlatWeights(model).length).toBe(parameterCount(spec));
      model.dispose();
    }
    // 10,004 × 96 + 3 × (96·256 + 256² + 256) + 256·96 + 10,004.
    expect(parameterCount(CIFG_SPEC)).toBe(960_384 + 3 * (24_576 + 65_536 + 256) + 24_576 + 10_004);
  });

  it('scores the projected state against every input embedding: logits = (h·P)·Eᵀ + b', () => {
    const model = buildModel({ ...SMALL, dropout: 0 }, { seed: 4 });
    const context = tf.tensor2d([[5, 9, 2, 7]], [1, 4], 'int32');
    const logits = Array.from((model.predict(context) as tf.Tensor).dataSync());
    const embedding = model.layers[0]?.getWeights()[0] as tf.Tensor2D;
    // Embedding → CIFG (every step) → LastTimeStep gives the hidden state the softmax sees.
    const hidden = tf.sequential({ layers: model.layers.slice(0, 3) }).predict(context) as tf.Tensor2D;
    const [projection, bias] = (model.layers[3] as tf.layers.Layer).getWeights() as [tf.Tensor2D, tf.Tensor1D];
    const expected = Array.from(tf.add(tf.matMul(tf.matMul(hidden, projection), embedding, false, true), bias).dataSync());
    logits.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 5));
    // Moving one word's input embedding moves its own output score.
    const weights = getFlatWeights(model);
    weights.fill(0.5, 9 * SMALL.embeddingDim, 10 * SMALL.embeddingDim);
    setFlatWeights(model, weights);
    const after = Array.from((model.predict(context) as tf.Tensor).dataSync());
    expect(after[9]).not.toBeCloseTo(logits[9] as number, 5);
    model.dispose();
  });

  it('trains: the loss falls, and the tied embedding also learns from the output side', async () => {
    const spec = { ...SMALL, vocabularySize: 100 };
    const vocabulary = createVocabulary({ size: spec.vocabularySize });
    const examples = textToExamples(
      Array.from({ length: 40 }, () => 'the people and the government of the people'),
      vocabulary,
      spec.contextLength,
    );
    const plan = { epochs: 8, batchSize: 16, learningRate: 1, maxExamples: 10_000, timeBudgetMs: 60_000 };
    // <eos> (id 3) is a target but never an input: only a tied softmax gives its embedding a gradient.
    const eosRow = (delta: Float32Array) => Array.from(delta.subarray(3 * spec.embeddingDim, 4 * spec.embeddingDim));
    for (const tiedEmbeddings of [true, false]) {
      const model = buildModel({ ...spec, tiedEmbeddings }, { seed: 2 });
      const result = await trainLocal(model, getFlatWeights(model), examples, plan, { random: createSeededRandom(1) });
      expect(result.metrics.trainLoss).toBeLessThan(Math.log(spec.vocabularySize));
      expect(
        eosRow(result.delta).some((v) => v !== 0),
        `tied: ${tiedEmbeddings}`,
      ).toBe(tiedEmbeddings);
      model.dispose();
    }
  });

  it('drops out only in training, with a fresh mask at every step', () => {
    const model = buildModel(SMALL, { seed: 5 });
    const context = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    const a = Array.from((model.predict(context) as tf.Tensor).dataSync());
    const b = Array.from((model.predict(context) as tf.Tensor).dataSync());
    expect(a).toEqual(b);
    const trained = Array.from((model.apply(context, { training: true }) as tf.Tensor).dataSync());
    const again = Array.from((model.apply(context, { training: true }) as tf.Tensor).dataSync());
    expect(trained).not.toEqual(a);
    // A seeded tfjs dropout layer would repeat its mask here.
    expect(again).not.toEqual(trained);
    model.dispose();
  });
});
