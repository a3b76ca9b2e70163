import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, getFlatWeights, TINY_SPEC } from '../model/index';
import { useNodeBackend } from '../node/backend';
import { createSeededRandom } from '../random/index';
import { trainLocal } from '../train/index';
import { registerFastWasmMatMul } from './batch-mat-mul';

const random = createSeededRandom(11);
const values = (n: number) => Float32Array.from({ length: n }, () => random.nextFloat() * 2 - 1);

/** Every transpose combination, rank 2 and 3 (batched), as plain arrays. */
function products(): number[][] {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[2, 4, 6], [2, 4, 3], true, false],
    [[2, 6, 4], [2, 3, 4], false, true],
  ];
  return cases.map(([shapeA, shapeB, transposeA, transposeB]) =>
    tf.tidy(() => {
      const a = tf.tensor(fixed.get(`${shapeA}`) as Float32Array, shapeA);
      const b = tf.tensor(fixed.get(`${shapeB}`) as Float32Array, shapeB);
      return Array.from(tf.matMul(a, b, transposeA, transposeB).dataSync());
    }),
  );
}
const fixed = new Map(
  [
    [7, 5],
    [5, 3],
    [5, 7],
    [3, 5],
    [2, 4, 6],
    [2, 4, 3],
    [2, 6, 4],
    [2, 3, 4],
  ].map((shape) => [`${shape}`, values(shape.reduce((x, y) => x * y, 1))]),
);

let cpuProducts: number[][];
beforeAll(async () => {
  await tf.setBackend('cpu');
  cpuProducts = products();
  await useNodeBackend('wasm', { stockKernels: false });
  registerFastWasmMatMul();
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('registerFastWasmMatMul', () => {
  it('gives the products the cpu backend gives, for every transpose combination', () => {
    expect(tf.getBackend()).toBe('wasm');
    const wasm = products();
    wasm.forEach((product, i) => {
      const expected = cpuProducts[i] as number[];
      expect(product).toHaveLength(expected.length);
      product.forEach((v, j) => expect(v).toBeCloseTo(expected[j] as number, 4));
    });
  });

  it('frees the transposed copies it makes', () => {
    const dataIds = () => tf.engine().backend.numDataIds();
    const a = tf.tensor(fixed.get('5,7') as Float32Array, [5, 7]);
    const b = tf.tensor(fixed.get('3,5') as Float32Array, [3, 5]);
    const before = dataIds();
    const product = tf.matMul(a, b, true, true);
    expect(dataIds()).toBe(before + 1);
    tf.dispose([a, b, product]);
  });

  it('is idempotent and leaks no tensors through a training run', async () => {
    registerFastWasmMatMul();
    const model = buildModel({ ...TINY_SPEC, vocabularySize: 200, contextLength: 4, embeddingDim: 8, hiddenUnits: 8 }, { seed: 1 });
    const weights = getFlatWeights(model);
    const count = 64;
    const examples = {
      contexts: Int32Array.from({ length: count * 4 }, (_, i) => (i * 31) % 200),
      targets: Int32Array.from({ length: count }, (_, i) => (i * 17) % 200),
      count,
      contextLength: 4,
    };
    const before = tf.memory().numTensors;
    const result = await trainLocal(
      model,
      weights,
      examples,
      { epochs: 2, batchSize: 16, learningRate: 0.5, maxExamples: count },
      { random: createSeededRandom(3) },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(result.metrics.trainLoss)).toBe(true);
    expect(result.delta.some((d) => d !== 0)).toBe(true);
    model.dispose();
  });
});
