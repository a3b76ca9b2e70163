import * as tf from '@tensorflow/tfjs';
import type { ExampleSet } from '../text/index';

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
    throw new RangeError(`example set is inconsistent: ${examples.count} examples, ${examples.contexts.length} context ids, ${examples.targets.length} targets`);
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
