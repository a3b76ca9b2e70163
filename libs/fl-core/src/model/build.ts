import * as tf from '@tensorflow/tfjs';
import { CifgCell, LastTimeStep, TiedSoftmax } from './layers';
import type { ModelSpec } from './spec';

export interface BuildOptions {
  /** Seeds every initializer, so one seed gives the same initial weights everywhere. */
  seed?: number;
}

type RnnCell = Parameters<typeof tf.layers.rnn>[0]['cell'];

/**
 * Embedding → [dropout] → LSTM/GRU/CIFG → last step → [dropout] → Dense or the tied softmax,
 * emitting logits (no softmax): the loss applies a fused, numerically stable softmax cross-entropy,
 * and suggestion ranking only needs the order. The recurrent layer returns every step and a
 * weightless LastTimeStep picks the last, so predict() gives [batch, vocabulary] while
 * sequenceLogits() can score every position with the same layers; the weights and their flat order
 * are those of a `returnSequences: false` model, so versions saved before load unchanged.
 */
export function buildModel(spec: ModelSpec, options: BuildOptions = {}): tf.LayersModel {
  const seed = options.seed ?? 1;
  // glorotUniform for the recurrent kernel: tfjs's default Orthogonal initializer warns and is slow
  // for large matrices (it runs a QR decomposition on the main thread).
  const recurrentConfig = {
    units: spec.hiddenUnits,
    returnSequences: true,
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
          tf.layers.rnn({ cell: new CifgCell({ units: spec.hiddenUnits, seed: seed + 1 }) as unknown as RnnCell, returnSequences: true });
  const dropout = spec.dropout ?? 0;
  // No seed: a seeded tfjs dropout layer draws the same mask at every call, which would silence a
  // fixed set of units for good instead of regularizing.
  const withDropout = (layer: tf.layers.Layer) => (dropout > 0 ? [layer, tf.layers.dropout({ rate: dropout })] : [layer]);
  const output = spec.tiedEmbeddings
    ? new TiedSoftmax({ embedding, seed: seed + 3 })
    : tf.layers.dense({ units: spec.vocabularySize, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) });
  return tf.sequential({
    name: `murmur_${spec.architecture}`,
    // The dropout after the recurrent layer sits after LastTimeStep so that the last-position path
    // draws its mask on [batch, hidden] as before.
    layers: [...withDropout(embedding), recurrent, ...withDropout(new LastTimeStep()), output],
  });
}

export interface SequenceLogitsOptions {
  /** Applies dropout, as in training. @default false */
  training?: boolean;
}

/**
 * The output layer's input at every position of each context window, [batch, T, hidden]: the
 * model's layers applied in order, minus LastTimeStep and the output layer. A sampled softmax scores
 * these against a few candidate words instead of the whole vocabulary. Only for models from buildModel.
 */
export function sequenceFeatures(model: tf.LayersModel, contexts: tf.Tensor2D, options: SequenceLogitsOptions = {}): tf.Tensor3D {
  const layers = sequenceLayers(model, 'sequenceFeatures');
  return applyLayers(layers.slice(0, -1), contexts, options, 'sequenceFeatures', 'hidden');
}

/**
 * Logits for the next token after every position of each context window, [batch, T, vocabulary]:
 * the model's layers applied in order, minus LastTimeStep, so Dense and TiedSoftmax score all T
 * recurrent outputs. Position T − 1 is what predict() returns. Only for models from buildModel.
 */
export function sequenceLogits(model: tf.LayersModel, contexts: tf.Tensor2D, options: SequenceLogitsOptions = {}): tf.Tensor3D {
  return applyLayers(sequenceLayers(model, 'sequenceLogits'), contexts, options, 'sequenceLogits', 'vocabulary');
}

/** The model's layers without LastTimeStep, checking the model is buildModel's. */
function sequenceLayers(model: tf.LayersModel, caller: string): tf.layers.Layer[] {
  const layers = (model as tf.Sequential).layers;
  const lastSteps = layers.filter((layer) => layer instanceof LastTimeStep).length;
  if (lastSteps !== 1) throw new TypeError(`${caller}: expected a model from buildModel with one LastTimeStep layer, got ${lastSteps} in "${model.name}"`);
  return layers.filter((layer) => !(layer instanceof LastTimeStep));
}

function applyLayers(layers: tf.layers.Layer[], contexts: tf.Tensor2D, options: SequenceLogitsOptions, caller: string, lastAxis: string): tf.Tensor3D {
  const kwargs = { training: options.training ?? false };
  return tf.tidy(() => {
    let x: tf.Tensor = contexts;
    for (const layer of layers) x = layer.apply(x, kwargs) as tf.Tensor;
    if (x.rank !== 3) throw new TypeError(`${caller}: expected [batch, T, ${lastAxis}] outputs, got shape [${x.shape.join(', ')}]`);
    return x as tf.Tensor3D;
  });
}
