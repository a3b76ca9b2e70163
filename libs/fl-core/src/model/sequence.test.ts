import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { createSeededRandom } from '../random/seeded';
import { createVocabulary, textToExamples } from '../text/index';
import { trainLocal } from '../train/local';
import { buildModel, sequenceLogits } from './build';
import { CifgCell, TiedSoftmax } from './layers';
import type { ModelSpec } from './spec';
import { getFlatWeights, setFlatWeights } from './weights';

beforeAll(async () => {
  await useNodeBackend('wasm');
});

const BASE: ModelSpec = { architecture: 'lstm', vocabularySize: 100, contextLength: 4, embeddingDim: 6, hiddenUnits: 5 };
const SPECS: ModelSpec[] = (['lstm', 'gru', 'cifg'] as const).flatMap((architecture) => [
  { ...BASE, architecture },
  { ...BASE, architecture, tiedEmbeddings: true, dropout: 0.2 },
]);
const label = (spec: ModelSpec) => `${spec.architecture}${spec.tiedEmbeddings ? ' tied' : ''}${spec.dropout ? ' dropout' : ''}`;

type RnnCell = Parameters<typeof tf.layers.rnn>[0]['cell'];

/**
 * buildModel as it was before the recurrent layer returned sequences (Embedding → RNN with
 * returnSequences false → Dense/TiedSoftmax), with the same seeds, to pin that the new structure
 * changed neither weights, nor their order, nor predictions, nor last-position training.
 */
function buildPreviousModel(spec: ModelSpec, seed: number): tf.LayersModel {
  const recurrentConfig = {
    units: spec.hiddenUnits,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }),
  };
  const embedding = tf.layers.embedding({
    inputDim: spec.vocabularySize,
    outputDim: spec.embeddingDim,
    inputLength: spec.contextLength,
    embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }),
  });
  const recurrent =
    spec.architecture === 'lstm'
      ? tf.layers.lstm(recurrentConfig)
      : spec.architecture === 'gru'
        ? tf.layers.gru(recurrentConfig)
        : tf.layers.rnn({ cell: new CifgCell({ units: spec.hiddenUnits, seed: seed + 1 }) as unknown as RnnCell });
  const dropout = spec.dropout ?? 0;
  const withDropout = (layer: tf.layers.Layer) => (dropout > 0 ? [layer, tf.layers.dropout({ rate: dropout })] : [layer]);
  const output = spec.tiedEmbeddings
    ? new TiedSoftmax({ embedding, seed: seed + 3 })
    : tf.layers.dense({ units: spec.vocabularySize, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) });
  return tf.sequential({ layers: [...withDropout(embedding), ...withDropout(recurrent), output] });
}

const bits = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);

describe('the sequence-returning model against the previous structure', () => {
  const contexts = () =>
    tf.tensor2d(
      [
        [0, 0, 2, 7],
        [2, 9, 4, 11],
        [5, 6, 7, 8],
      ],
      [3, 4],
      'int32',
    );

  for (const spec of SPECS) {
    it(`${label(spec)}: same initial flat weights, and the same predictions bit for bit from weights saved by either`, () => {
      const current = buildModel(spec, { seed: 7 });
      const previous = buildPreviousModel(spec, 7);
      expect(current.weights.map((w) => w.shape)).toEqual(previous.weights.map((w) => w.shape));
      expect(bits(getFlatWeights(current)).equals(bits(getFlatWeights(previous)))).toBe(true);
      // A version trained elsewhere: load the previous model's perturbed weights into the new one.
      const saved = getFlatWeights(previous).map((v, i) => v + 0.01 * Math.sin(i));
      setFlatWeights(previous, saved);
      setFlatWeights(current, saved);
      const input = contexts();
      const [a, b] = [current, previous].map((m) => tf.tidy(() => (m.predict(input) as tf.Tensor).dataSync() as Float32Array));
      expect(bits(a as Float32Array).equals(bits(b as Float32Array))).toBe(true);
      input.dispose();
      current.dispose();
      previous.dispose();
    });
  }

  // Dropout masks are random at every step (unseeded), so only the dropout-free variants can be
  // compared bit for bit.
  it('trains on the last position to bit-identical deltas', async () => {
    const vocabulary = createVocabulary({ size: BASE.vocabularySize });
    const examples = textToExamples(
      Array.from({ length: 6 }, () => 'the people and the government of the people'),
      vocabulary,
      BASE.contextLength,
    );
    const plan = { epochs: 2, batchSize: 8, learningRate: 0.5, maxExamples: 1_000 };
    for (const spec of SPECS.filter((candidate) => !candidate.dropout)) {
      const deltas = [];
      for (const model of [buildModel(spec, { seed: 7 }), buildPreviousModel(spec, 7)]) {
        const result = await trainLocal(model, getFlatWeights(model), examples, { ...plan, targets: 'last' }, { random: createSeededRandom(3) });
        deltas.push(result.delta);
        model.dispose();
      }
      expect(deltas[0]?.some((v) => v !== 0)).toBe(true);
      expect(bits(deltas[0] as Float32Array).equals(bits(deltas[1] as Float32Array)), label(spec)).toBe(true);
    }
  });
});

describe('sequenceLogits', () => {
  for (const spec of SPECS) {
    it(`${label(spec)}: [batch, T, vocabulary], causal, its last position is predict(), no tensor leaked`, () => {
      const model = buildModel(spec, { seed: 8 });
      const window = [2, 9, 4, 11];
      const input = tf.tensor2d([window, [9, 9, 9, 9]], [2, 4], 'int32');
      // The same window with its third token changed: positions 0 and 1 cannot see it.
      const changed = tf.tensor2d([[2, 9, 50, 11]], [1, 4], 'int32');
      const before = tf.memory().numTensors;
      const logits = sequenceLogits(model, input);
      const logitsChanged = sequenceLogits(model, changed);
      const predicted = model.predict(input) as tf.Tensor2D;
      expect(logits.shape).toEqual([2, 4, spec.vocabularySize]);
      const V = spec.vocabularySize;
      const all = logits.dataSync();
      const other = logitsChanged.dataSync();
      const last = predicted.dataSync();
      for (let row = 0; row < 2; row++) {
        for (let k = 0; k < V; k++) expect(all[row * 4 * V + 3 * V + k]).toBeCloseTo(last[row * V + k] as number, 5);
      }
      for (let k = 0; k < 2 * V; k++) expect(other[k]).toBe(all[k]);
      expect(other.subarray(2 * V, 3 * V).some((v, k) => v !== all[2 * V + k])).toBe(true);
      tf.dispose([logits, logitsChanged, predicted]);
      expect(tf.memory().numTensors).toBe(before);
      input.dispose();
      changed.dispose();
      model.dispose();
    });
  }

  it('drops out only when training', () => {
    const model = buildModel({ ...BASE, architecture: 'cifg', tiedEmbeddings: true, dropout: 0.3 }, { seed: 9 });
    const input = tf.tensor2d([[2, 9, 4, 11]], [1, 4], 'int32');
    const [a, b, trained] = [false, false, true].map((training) => tf.tidy(() => Array.from(sequenceLogits(model, input, { training }).dataSync())));
    expect(a).toEqual(b);
    expect(trained).not.toEqual(a);
    input.dispose();
    model.dispose();
  });

  it('refuses a model that does not come from buildModel', () => {
    const model = buildPreviousModel(BASE, 1);
    const input = tf.tensor2d([[2, 9, 4, 11]], [1, 4], 'int32');
    expect(() => sequenceLogits(model, input)).toThrow(/one LastTimeStep layer, got 0/);
    input.dispose();
    model.dispose();
  });
});
