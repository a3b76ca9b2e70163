import * as tf from '@tensorflow/tfjs';
import { BOS_ID, PAD_ID, type ExampleSet } from '../text/index';

/** Rows [start, end) of an example set as int32 tensors: contexts [n, L] and targets [n]. */
export function batchTensors(examples: ExampleSet, start: number, end: number): { contexts: tf.Tensor2D; targets: tf.Tensor1D } {
  const length = examples.contextLength;
  return {
    contexts: tf.tensor2d(examples.contexts.subarray(start * length, end * length), [end - start, length], 'int32'),
    targets: tf.tensor1d(examples.targets.subarray(start, end), 'int32'),
  };
}

export function assertExamplesFit(examples: ExampleSet, contextLength: number, vocabularySize: number): void {
  if (examples.contextLength !== contextLength) {
    throw new RangeError(`examples have context length ${examples.contextLength}, the model expects ${contextLength}`);
  }
  if (examples.contexts.length !== examples.count * contextLength || examples.targets.length !== examples.count) {
    throw new RangeError(
      `example set is inconsistent: ${examples.count} examples, ${examples.contexts.length} context ids, ${examples.targets.length} targets`,
    );
  }
  for (const ids of [examples.contexts, examples.targets]) {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (id < 0 || id >= vocabularySize) {
        throw new RangeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${vocabularySize})`);
      }
    }
  }
}

export interface PositionTargets {
  /** Row-major [n, T]: the token after each position of each window. */
  targets: Int32Array;
  /** Row-major [n, T]: 1 where the target is trained on, 0 where it is <pad> or <bos>. */
  weights: Float32Array;
  /** How many weights are 1: the tokens this batch predicts. */
  tokens: number;
}

/**
 * The next token after every position of rows [start, end): position j of window i predicts
 * contexts[i, j + 1], and the last position predicts targets[i]. Windows are left-padded and every
 * sentence starts with <bos>, so a target of <pad> or <bos> marks a position that holds padding,
 * with nothing to predict from; it is masked out (textToExamples never makes either a target).
 */
export function positionTargets(examples: ExampleSet, start: number, end: number): PositionTargets {
  const length = examples.contextLength;
  const rows = end - start;
  const targets = new Int32Array(rows * length);
  const weights = new Float32Array(rows * length);
  let tokens = 0;
  for (let row = 0; row < rows; row++) {
    const base = row * length;
    // Shift the window left by one and append its target.
    targets.set(examples.contexts.subarray((start + row) * length + 1, (start + row + 1) * length), base);
    targets[base + length - 1] = examples.targets[start + row] as number;
    for (let j = base; j < base + length; j++) {
      const id = targets[j] as number;
      if (id !== PAD_ID && id !== BOS_ID) {
        weights[j] = 1;
        tokens += 1;
      }
    }
  }
  return { targets, weights, tokens };
}
