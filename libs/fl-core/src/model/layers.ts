import * as tf from '@tensorflow/tfjs';

/**
 * The two layers of Gboard's on-device language model that tfjs does not ship (Hard et al. 2018,
 * "Federated Learning for Mobile Keyboard Prediction", §3): a CIFG-LSTM cell and a softmax whose
 * weights are the input embeddings, reached through a projection.
 */

export interface CifgCellArgs {
  units: number;
  seed: number;
}

/**
 * Coupled input and forget gate LSTM (Greff et al. 2017, "LSTM: A Search Space Odyssey", variant
 * CIFG): the forget gate is f = 1 − i, so the cell has three gate blocks instead of four — 25%
 * fewer recurrent parameters and multiply-adds than an LSTM, with no measurable loss of quality in
 * Greff et al.'s comparison, which is why Gboard chose it for phones:
 *
 *   z = x·W + h·U + b,  [z_i, z_g, z_o] = split(z)
 *   i = σ(z_i),  c' = (1 − i) ⊙ c + i ⊙ tanh(z_g),  o = σ(z_o),  h' = o ⊙ tanh(c')
 *
 * The input-gate bias starts at −1, so the cell starts by keeping most of its memory (the role of
 * the LSTM's unit forget bias). Used through tf.layers.rnn, which reads `stateSize` and calls
 * `call([x, h, c])` once per time step.
 */
export class CifgCell extends tf.layers.Layer {
  static readonly className = 'MurmurCifgCell';
  readonly units: number;
  readonly stateSize: number[];
  readonly #seed: number;
  #kernel: tf.LayerVariable | null = null;
  #recurrentKernel: tf.LayerVariable | null = null;
  #bias: tf.LayerVariable | null = null;

  constructor(args: CifgCellArgs) {
    super({});
    this.units = args.units;
    this.stateSize = [args.units, args.units];
    this.#seed = args.seed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inputDim = shape[shape.length - 1] as number;
    const u = this.units;
    this.#kernel = this.addWeight('kernel', [inputDim, 3 * u], 'float32', tf.initializers.glorotUniform({ seed: this.#seed }));
    this.#recurrentKernel = this.addWeight('recurrent_kernel', [u, 3 * u], 'float32', tf.initializers.glorotUniform({ seed: this.#seed + 1 }));
    const bias = new Float32Array(3 * u);
    bias.fill(-1, 0, u);
    this.#bias = this.addWeight('bias', [3 * u], 'float32', tf.initializers.zeros());
    this.#bias.write(tf.tensor1d(bias));
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 3)
        throw new TypeError(`CifgCell: expected [input, h, c], got ${Array.isArray(inputs) ? inputs.length : 1} tensors`);
      const [x, h, c] = inputs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const kernel = (this.#kernel as tf.LayerVariable).read() as tf.Tensor2D;
      const recurrent = (this.#recurrentKernel as tf.LayerVariable).read() as tf.Tensor2D;
      const z = tf.add(tf.add(tf.matMul(x, kernel), tf.matMul(h, recurrent)), (this.#bias as tf.LayerVariable).read());
      const [zi, zg, zo] = tf.split(z, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const i = tf.sigmoid(zi);
      const next = tf.add(tf.mul(tf.sub(1, i), c), tf.mul(i, tf.tanh(zg)));
      const out = tf.mul(tf.sigmoid(zo), tf.tanh(next));
      return [out, out, next];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, seed: this.#seed };
  }
}

export interface TiedSoftmaxArgs {
  /** The model's input embedding layer, whose matrix E (vocabulary × d) becomes the output weights. */
  embedding: tf.layers.Layer;
  seed: number;
}

/**
 * Logits = (h·P)·Eᵀ + b: the hidden state is projected to the embedding width and scored against
 * every word's input embedding (Press & Wolf 2017; Inan et al. 2017). For a 10k vocabulary this
 * replaces a hidden × 10k output matrix with a hidden × d projection, the largest saving on a
 * device, and every word's embedding learns from both ends. E belongs to the embedding layer; this
 * layer owns only P and b, so the flat weights list it once.
 */
export class TiedSoftmax extends tf.layers.Layer {
  static readonly className = 'MurmurTiedSoftmax';
  readonly #embedding: tf.layers.Layer;
  readonly #seed: number;
  #projection: tf.LayerVariable | null = null;
  #bias: tf.LayerVariable | null = null;

  constructor(args: TiedSoftmaxArgs) {
    super({});
    this.#embedding = args.embedding;
    this.#seed = args.seed;
  }

  #embeddings(): tf.Tensor2D {
    const weight = this.#embedding.weights[0];
    if (!weight) throw new Error('TiedSoftmax: the embedding layer is not built yet');
    return weight.read() as tf.Tensor2D;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = inputShape as tf.Shape;
    const hidden = shape[shape.length - 1] as number;
    const [vocabulary, dim] = this.#embeddings().shape;
    this.#projection = this.addWeight('projection', [hidden, dim], 'float32', tf.initializers.glorotUniform({ seed: this.#seed }));
    this.#bias = this.addWeight('bias', [vocabulary], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = inputShape as tf.Shape;
    return [...shape.slice(0, -1), this.#embeddings().shape[0]];
  }

  /** h is [batch, hidden], or [batch, T, hidden] when every time step is scored (sequenceLogits). */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
      // matMul needs rank 2 here (a rank-3 matMul is a batched one, which would need E per batch):
      // fold the leading dimensions into rows. A rank-2 input skips the reshape, so the last-step
      // path runs exactly the ops it always ran.
      const hidden = input.shape[input.rank - 1] as number;
      const h = (input.rank === 2 ? input : tf.reshape(input, [-1, hidden])) as tf.Tensor2D;
      const projected = tf.matMul(h, (this.#projection as tf.LayerVariable).read() as tf.Tensor2D);
      const logits = tf.add(tf.matMul(projected, this.#embeddings(), false, true), (this.#bias as tf.LayerVariable).read());
      return input.rank === 2 ? logits : tf.reshape(logits, [...input.shape.slice(0, -1), logits.shape[1] as number]);
    });
  }

  /**
   * The logits a sampled softmax needs, and no others: each row's own target, [n], and every row
   * against a shared set of candidate words, [n, K]; h is [n, hidden]. Costs K + 1 dot products of
   * width d per row instead of the vocabulary's.
   */
  candidateLogits(h: tf.Tensor2D, targets: tf.Tensor1D, candidates: tf.Tensor1D): { target: tf.Tensor1D; candidates: tf.Tensor2D } {
    return tf.tidy(() => {
      const projected = tf.matMul(h, (this.#projection as tf.LayerVariable).read() as tf.Tensor2D);
      // One gather (and so one scatter of its gradient into the vocabulary-sized matrix) for both.
      const ids = tf.concat([targets, candidates]);
      const rows = tf.gather(this.#embeddings(), ids);
      const biases = tf.gather((this.#bias as tf.LayerVariable).read(), ids);
      const n = targets.shape[0];
      const k = candidates.shape[0];
      const target = tf.add(tf.sum(tf.mul(projected, tf.slice(rows, [0, 0], [n, -1])), 1), tf.slice(biases, [0], [n])) as tf.Tensor1D;
      const sampled = tf.add(tf.matMul(projected, tf.slice(rows, [n, 0], [k, -1]), false, true), tf.slice(biases, [n], [k])) as tf.Tensor2D;
      return { target, candidates: sampled };
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), seed: this.#seed };
  }
}

/**
 * [batch, T, features] → [batch, features]: the last time step of a recurrent layer that returns
 * sequences. The model's RNN returns every step so that training can score every position
 * (sequenceLogits, Hard et al. 2018 §3 train with a loss at each step), while predict() still
 * answers for the last position only. The RNN's last step output is the very tensor a
 * `returnSequences: false` RNN returns, so weights, their order and predictions are unchanged.
 * Weightless.
 */
export class LastTimeStep extends tf.layers.Layer {
  static readonly className = 'MurmurLastTimeStep';

  constructor() {
    super({});
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = inputShape as tf.Shape;
    if (shape.length !== 3) throw new TypeError(`LastTimeStep: expected input shape [batch, T, features], got [${shape.join(', ')}]`);
    return [shape[0] as number | null, shape[2] as number | null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
      if (x.rank !== 3) throw new TypeError(`LastTimeStep: expected a rank-3 [batch, T, features] input, got rank ${x.rank}`);
      const [batch, steps, features] = x.shape;
      return tf.reshape(tf.slice(x, [0, steps - 1, 0], [batch, 1, features]), [batch, features]);
    });
  }
}
