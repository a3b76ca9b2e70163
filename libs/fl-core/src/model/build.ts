import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from './spec';

export interface BuildOptions {
  /** Seeds every initializer, so one seed gives the same initial weights everywhere. */
  seed?: number;
}

/**
 * Embedding → LSTM/GRU → Dense, emitting logits (no softmax): the loss applies a fused,
 * numerically stable softmax cross-entropy, and suggestion ranking only needs the order.
 */
export function buildModel(spec: ModelSpec, options: BuildOptions = {}): tf.LayersModel {
  const seed = options.seed ?? 1;
  // glorotUniform for the recurrent kernel: tfjs's default Orthogonal initializer warns and is slow
  // for large matrices (it runs a QR decomposition on the main thread).
  const recurrentConfig = {
    units: spec.hiddenUnits,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }),
  };
  return tf.sequential({
    name: `murmur_${spec.architecture}`,
    layers: [
      tf.layers.embedding({
        inputDim: spec.vocabularySize,
        outputDim: spec.embeddingDim,
        inputLength: spec.contextLength,
        embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }),
      }),
      spec.architecture === 'lstm' ? tf.layers.lstm(recurrentConfig) : tf.layers.gru(recurrentConfig),
      tf.layers.dense({
        units: spec.vocabularySize,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }),
      }),
    ],
  });
}
