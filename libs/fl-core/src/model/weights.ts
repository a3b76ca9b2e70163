import * as tf from '@tensorflow/tfjs';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { parameterCount, type ModelSpec } from './spec';

/**
 * Every model's weights as one flat Float32Array, in `model.weights` order: the unit that training
 * deltas, clipping, noise, encoding and aggregation all work on.
 */
function sizeOf(shape: readonly (number | null)[]): number {
  return shape.reduce<number>((size, dim) => size * (dim ?? 1), 1);
}

export function getFlatWeights(model: tf.LayersModel): Float32Array {
  const total = model.weights.reduce((sum, w) => sum + sizeOf(w.shape), 0);
  const flat = new Float32Array(total);
  let offset = 0;
  for (const weight of model.weights) {
    const values = weight.read().dataSync() as Float32Array;
    flat.set(values, offset);
    offset += values.length;
  }
  return flat;
}

export class WeightShapeError extends Error {
  readonly code = 'WRONG_WEIGHT_SIZE';
}

/** Loads flat weights into the model; throws WeightShapeError if they do not fit it exactly. */
export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const sizes = model.weights.map((w) => sizeOf(w.shape));
  const expected = sizes.reduce((a, b) => a + b, 0);
  if (flat.length !== expected) {
    throw new WeightShapeError(`weights do not fit model "${model.name}": expected ${expected} values, got ${flat.length}`);
  }
  let offset = 0;
  model.weights.forEach((weight, i) => {
    const size = sizes[i] as number;
    const tensor = tf.tensor(flat.subarray(offset, offset + size), weight.shape as number[], 'float32');
    weight.write(tensor);
    tensor.dispose();
    offset += size;
  });
}

/** Checks flat weights against a spec before any model is built (e.g. on download). */
export function assertWeightsFitSpec(spec: ModelSpec, flat: Float32Array): void {
  const expected = parameterCount(spec);
  if (flat.length !== expected) {
    throw new WeightShapeError(
      `weights do not fit spec ${spec.architecture}/${spec.vocabularySize}/${spec.hiddenUnits}: ` + `expected ${expected} values, got ${flat.length}`,
    );
  }
}

/** Canonical JSON: keys sorted, so the hash does not depend on property order. */
function canonicalSpec(spec: ModelSpec): string {
  return JSON.stringify(spec, Object.keys(spec).sort());
}

/** SHA-256 over the canonical spec and the weights' little-endian float32 bytes, as hex. */
export function modelHash(spec: ModelSpec, flat: Float32Array): string {
  const hash = sha256.create();
  hash.update(utf8ToBytes(canonicalSpec(spec)));
  hash.update(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength));
  return bytesToHex(hash.digest());
}
