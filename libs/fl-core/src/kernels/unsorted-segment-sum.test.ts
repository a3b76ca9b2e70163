import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentSumValues } from './unsorted-segment-sum';
import { useNodeBackend } from '../node/backend';
import { createSeededRandom } from '../random/index';

describe('segmentSumValues', () => {
  it('adds rows into their segments and drops out-of-range ids, as TensorFlow does', () => {
    // rows: [1,2] → 2, [3,4] → 0, [5,6] → 2, [7,8] → −1 (dropped), [9,10] → 3 (≥ numSegments, dropped)
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const out = segmentSumValues(x, Int32Array.from([2, 0, 2, -1, 3]), 3, 2);
    expect(Array.from(out)).toEqual([3, 4, 0, 0, 6, 8]);
  });
});

describe.each(['cpu', 'wasm'] as const)('UnsortedSegmentSum kernel on %s', (backend) => {
  beforeAll(async () => {
    await useNodeBackend(backend);
  });
  afterAll(() => {
    tf.disposeVariables();
  });

  it('matches a reference sum for the Embedding-gradient shape, without leaking tensors', () => {
    const random = createSeededRandom(7);
    const rows = 96;
    const dim = 5;
    const segments = 11;
    const values = Float32Array.from({ length: rows * dim }, () => random.nextNormal());
    const ids = Int32Array.from({ length: rows }, () => random.nextInt(segments));
    const before = tf.memory().numTensors;
    const result = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(values, [rows, dim]), tf.tensor1d(ids, 'int32'), segments));
    const expected = new Float64Array(segments * dim);
    ids.forEach((id, row) => {
      for (let j = 0; j < dim; j++) expected[id * dim + j] = (expected[id * dim + j] as number) + (values[row * dim + j] as number);
    });
    expect(result.shape).toEqual([segments, dim]);
    const got = result.dataSync();
    expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
    result.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the Embedding layer the same gradient as a dense one-hot matmul', () => {
    const vocabulary = 13;
    const dim = 4;
    const table = tf.variable(tf.randomUniform([vocabulary, dim], -1, 1, 'float32', 3));
    const ids = tf.tensor1d([3, 7, 3, 12, 0, 7, 7], 'int32');
    const upstream = tf.randomUniform([7, dim], -1, 1, 'float32', 4);
    const viaGather = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), upstream)))(table);
    const viaMatmul = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.matMul(tf.oneHot(ids, vocabulary).cast('float32'), t), upstream)))(table);
    const a = viaGather.dataSync();
    const b = viaMatmul.dataSync();
    b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 5));
    tf.dispose([table, ids, upstream, viaGather, viaMatmul]);
  });
});
