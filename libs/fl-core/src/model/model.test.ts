import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel } from './build';
import { parameterCount, parseModelSpec, REFERENCE_SPEC, TINY_SPEC } from './spec';
import { assertWeightsFitSpec, getFlatWeights, modelHash, setFlatWeights, WeightShapeError } from './weights';
import { decodeModelPayload, encodeModelPayload, ModelPayloadError } from './payload';

beforeAll(async () => {
  await useNodeBackend('wasm');
});

describe('model specs', () => {
  it('predicts the parameter count tfjs builds, for both presets and both cells', () => {
    for (const spec of [TINY_SPEC, REFERENCE_SPEC, { ...TINY_SPEC, architecture: 'lstm' as const }, { ...REFERENCE_SPEC, architecture: 'gru' as const }]) {
      const model = buildModel(spec);
      expect(model.countParams()).toBe(parameterCount(spec));
      model.dispose();
    }
  });

  it('puts the reference model at about 1–2M parameters', () => {
    expect(parameterCount(REFERENCE_SPEC)).toBe(1_063_816);
  });

  it('rejects malformed specs with the offending field named', () => {
    expect(() => parseModelSpec({ ...TINY_SPEC, hiddenUnits: 0 })).toThrow(/hiddenUnits/);
    expect(() => parseModelSpec({ ...TINY_SPEC, architecture: 'transformer' })).toThrow(/architecture/);
    expect(() => parseModelSpec({ ...TINY_SPEC, extra: 1 })).toThrow(/extra/);
  });
});

describe('flat weights', () => {
  it('round-trip exactly into a differently initialized model, with the same hash', () => {
    const source = buildModel(TINY_SPEC, { seed: 11 });
    const target = buildModel(TINY_SPEC, { seed: 99 });
    const weights = getFlatWeights(source);
    expect(weights.length).toBe(parameterCount(TINY_SPEC));
    expect(modelHash(TINY_SPEC, getFlatWeights(target))).not.toBe(modelHash(TINY_SPEC, weights));
    setFlatWeights(target, weights);
    const copied = getFlatWeights(target);
    expect(Buffer.from(copied.buffer).equals(Buffer.from(weights.buffer))).toBe(true);
    expect(modelHash(TINY_SPEC, copied)).toBe(modelHash(TINY_SPEC, weights));
    source.dispose();
    target.dispose();
  });

  it('is deterministic per seed', () => {
    const a = buildModel(TINY_SPEC, { seed: 5 });
    const b = buildModel(TINY_SPEC, { seed: 5 });
    expect(modelHash(TINY_SPEC, getFlatWeights(a))).toBe(modelHash(TINY_SPEC, getFlatWeights(b)));
    a.dispose();
    b.dispose();
  });

  it('hashes the spec too: the same weights under another spec hash differently', () => {
    const weights = new Float32Array(10);
    expect(modelHash(TINY_SPEC, weights)).not.toBe(modelHash({ ...TINY_SPEC, contextLength: 9 }, weights));
    expect(modelHash(TINY_SPEC, weights)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses weights of the wrong size without touching the model', () => {
    const model = buildModel(TINY_SPEC);
    const before = getFlatWeights(model);
    const tensorsBefore = tf.memory().numTensors;
    expect(() => setFlatWeights(model, new Float32Array(before.length - 1))).toThrow(WeightShapeError);
    expect(() => setFlatWeights(model, new Float32Array(before.length + 1))).toThrow(/expected \d+ values, got \d+/);
    expect(() => assertWeightsFitSpec(REFERENCE_SPEC, before)).toThrow(WeightShapeError);
    expect(Array.from(getFlatWeights(model))).toEqual(Array.from(before));
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    model.dispose();
  });
});

describe('model payload', () => {
  const weights = Float32Array.from({ length: parameterCount(TINY_SPEC) }, (_, i) => Math.sin(i));

  it('round-trips version, spec and weights bit for bit', () => {
    const bytes = encodeModelPayload({ version: 7, spec: TINY_SPEC, weights });
    expect(bytes.length).toBeLessThan(weights.byteLength + 1024);
    const decoded = decodeModelPayload(bytes);
    expect(decoded.version).toBe(7);
    expect(decoded.spec).toEqual(TINY_SPEC);
    expect(Buffer.from(decoded.weights.buffer).equals(Buffer.from(weights.buffer))).toBe(true);
    expect(decoded.hash).toBe(modelHash(TINY_SPEC, weights));
  });

  it('rejects corrupt, truncated and mismatched payloads with a clear error', () => {
    const bytes = encodeModelPayload({ version: 1, spec: TINY_SPEC, weights });
    expect(() => decodeModelPayload(bytes.subarray(0, 4))).toThrow(ModelPayloadError);
    expect(() => decodeModelPayload(bytes.subarray(0, bytes.length - 4))).toThrow(/expected \d+ values/);
    const flipped = bytes.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    expect(() => decodeModelPayload(flipped)).toThrow(/hash mismatch/);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expect(() => decodeModelPayload(badMagic)).toThrow(/magic/);
    expect(() => encodeModelPayload({ version: 1, spec: REFERENCE_SPEC, weights })).toThrow(WeightShapeError);
  });
});
