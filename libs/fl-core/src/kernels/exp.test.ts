import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { createSeededRandom } from '../random/index';
import { fastWasmExpActive, registerFastWasmExp } from './exp';

const random = createSeededRandom(5);

/** Math.exp rounded to float32: what a correctly rounded expf gives. */
const expf = (x: number) => Math.fround(Math.exp(Math.fround(x)));

beforeAll(async () => {
  await useNodeBackend('wasm');
  registerFastWasmExp();
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('registerFastWasmExp', () => {
  it('is the wasm backend’s Exp after useNodeBackend', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(fastWasmExpActive()).toBe(true);
  });

  it('is within 2 ulp of expf over the range a softmax sees, for every tail length', () => {
    for (const size of [0, 1, 2, 3, 4, 5, 7, 8, 1001]) {
      const values = Float32Array.from({ length: size }, () => random.nextFloat() * 120 - 80);
      const got = tf.tidy(() => tf.exp(tf.tensor1d(values)).dataSync());
      expect(got).toHaveLength(size);
      for (let i = 0; i < size; i++) {
        const want = expf(values[i] as number);
        // One float ulp at `want` is 2^(exponent − 23).
        const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
        expect(Math.abs((got[i] as number) - want)).toBeLessThanOrEqual(2 * ulp);
      }
    }
  });

  it('gives 1 at 0, +∞ above the float range, 0 below the normal range, and keeps NaN', () => {
    const special = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 88.7, 89, 100, -87.3, -88, -104, 1e-8];
    const got = Array.from(tf.tidy(() => tf.exp(tf.tensor1d(special)).dataSync()));
    expect(got[0]).toBe(1);
    expect(got[1]).toBe(1);
    expect(got[2]).toBeNaN();
    expect(got.slice(3, 5)).toEqual([Number.POSITIVE_INFINITY, 0]);
    expect((got[5] as number) / expf(88.7)).toBeCloseTo(1, 6);
    expect(got.slice(6, 8)).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect((got[8] as number) / expf(-87.3)).toBeCloseTo(1, 6);
    // expf is subnormal below −87.34: flushed to 0.
    expect(got.slice(9, 11)).toEqual([0, 0]);
    expect(got[11]).toBe(1);
  });

  it('keeps shapes, falls back for int32, and frees what it does not return', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor3d(
      Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => i / 10 - 1),
      [2, 3, 5],
    );
    const y = tf.exp(x);
    expect(y.shape).toEqual([2, 3, 5]);
    expect(y.dtype).toBe('float32');
    const intInput = tf.tensor1d([0, 1, 2], 'int32');
    const ints = tf.exp(intInput);
    expect(ints.dtype).toBe('float32');
    expect(Array.from(ints.dataSync()).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([1, 2.7183, 7.3891]);
    tf.dispose([x, y, intInput, ints]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the softmax cross-entropy gradient the cpu backend gives (three Exp per training step)', async () => {
    const logits = Float32Array.from({ length: 4 * 50 }, () => random.nextFloat() * 20 - 10);
    const gradient = () =>
      tf.tidy(() => {
        const labels = tf.oneHot(tf.tensor1d([1, 7, 30, 49], 'int32'), 50);
        const grad = tf.grad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, l));
        return Array.from(grad(tf.tensor2d(logits, [4, 50])).dataSync());
      });
    const onWasm = gradient();
    await tf.setBackend('cpu');
    const onCpu = gradient();
    await tf.setBackend('wasm');
    onWasm.forEach((value, i) => expect(value).toBeCloseTo(onCpu[i] as number, 6));
  });
});
