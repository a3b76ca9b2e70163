import * as tf from '@tensorflow/tfjs';
import { CifgCell, TiedSoftmax } from './layers';
import type { ModelSpec } from './spec';

export interface BuildOptions {
  /** Seeds every initializer, so one seed gives the same initial weights everywhere. */
  seed?: number;
}

/**
 * Embedding → [dropout] → LSTM/GRU/CIFG → [dropout] → Dense or the tied softmax, emitting logits (no
 * softmax): the loss applies a fused, numerically stable softmax cross-entropy, and suggestion
 * ranking only needs the order.
 */
type RnnCell = Parameters<typeof tf.layers.rnn>[0]['cell'];

export function buildModel(spec: ModelSpec, options: BuildOptions = {}): tf.LayersModel {
  const seed = options.seed ?? 1;
  // glorotUniform for the recurrent kernel: tfjs's default Orthogonal initializer warns and is slow
  // for large matrices (it runs a QR decomposition on the main thread).
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
        : // tfjs does not export its RNNCell base class; tf.layers.rnn only reads stateSize and call().
          tf.layers.rnn({ cell: new CifgCell({ units: spec.hiddenUnits, seed: seed + 1 }) as unknown as RnnCell });
  const dropout = spec.dropout ?? 0;
  const withDropout = (layer: tf.layers.Layer, offset: number) => (dropout > 0 ? [layer, tf.layers.dropout({ rate: dropout, seed: seed + offset })] : [layer]);
  const output = spec.tiedEmbeddings
    ? new TiedSoftmax({ embedding, seed: seed + 3 })
    : tf.layers.dense({ units: spec.vocabularySize, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) });
  return tf.sequential({
    name: `murmur_${spec.architecture}`,
    layers: [...withDropout(embedding, 4), ...withDropout(recurrent, 5), output],
  });
}
