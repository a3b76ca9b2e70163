import * as tf from '@tensorflow/tfjs';
import type { SeededRandom } from '../random/index';

/**
 * Candidate words for a sampled softmax (Jean et al. 2015, "On Using Very Large Target Vocabulary";
 * the loss TensorFlow ships as sampled_softmax_loss): each training step scores the targets against
 * K words drawn from a proposal Q instead of the whole vocabulary, and subtracts log(K·Q(w)) from
 * every logit so that the sampled softmax's gradient estimates the full one. Q is log-uniform
 * (Zipfian) over ids, Q(k) = ln((k + 2)/(k + 1)) / ln(V + 1), which suits a vocabulary sorted by
 * frequency, as Murmur's is (special tokens first, then SUBTLEX-US by count). Draws are with
 * replacement, so K·Q(w) is exactly the expected number of times w is drawn.
 */
export interface CandidateSampler {
  readonly vocabularySize: number;
  /** K ids drawn independently from Q. */
  draw(count: number): Int32Array;
  /** ln(K·Q(id)) for each id: the correction subtracted from its logit. */
  logExpectedCount(ids: ArrayLike<number>, count: number): Float32Array;
}

export function logUniformSampler(vocabularySize: number, random: SeededRandom): CandidateSampler {
  if (!Number.isInteger(vocabularySize) || vocabularySize < 2) throw new RangeError(`vocabularySize must be an integer ≥ 2, got ${vocabularySize}`);
  const logRange = Math.log(vocabularySize + 1);
  return {
    vocabularySize,
    draw(count) {
      const ids = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        // Inverse CDF: P(id ≤ k) = ln(k + 2) / ln(V + 1).
        ids[i] = Math.min(vocabularySize - 1, Math.floor(Math.exp(random.nextFloat() * logRange)) - 1);
      }
      return ids;
    },
    logExpectedCount(ids, count) {
      const out = new Float32Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as number;
        out[i] = Math.log(count) + Math.log(Math.log1p(1 / (id + 1)) / logRange);
      }
      return out;
    },
  };
}

/** The output layer a sampled softmax needs: TiedSoftmax's candidateLogits. */
export interface CandidateScorer {
  candidateLogits(h: tf.Tensor2D, targets: tf.Tensor1D, candidates: tf.Tensor1D): { target: tf.Tensor1D; candidates: tf.Tensor2D };
}

/** A logit low enough that exp() of it is 0 next to any real one: how an accidental hit is removed. */
const REMOVED_LOGIT = -1e9;

/**
 * [n, K]: REMOVED_LOGIT where candidate k is row i's own target, else 0. Built here rather than with
 * a broadcast tf.equal, which the wasm backend runs element by element through its generic
 * broadcasting path: it took a third of a CIFG training step.
 */
function accidentalHits(targets: Int32Array, candidates: Int32Array): tf.Tensor2D {
  const slots = new Map<number, number[]>();
  candidates.forEach((id, k) => {
    const list = slots.get(id);
    if (list) list.push(k);
    else slots.set(id, [k]);
  });
  const mask = new Float32Array(targets.length * candidates.length);
  targets.forEach((id, row) => {
    for (const k of slots.get(id) ?? []) mask[row * candidates.length + k] = REMOVED_LOGIT;
  });
  return tf.tensor2d(mask, [targets.length, candidates.length]);
}

/**
 * Summed sampled-softmax cross-entropy of rows h [n, hidden] with targets [n] against shared
 * candidates [K]: each row's corrected target logit competes with the K corrected candidate logits,
 * where a candidate equal to the row's own target ("accidental hit") is removed, as
 * sampled_softmax_loss(remove_accidental_hits=True) does.
 */
export function sampledSoftmaxLoss(scorer: CandidateScorer, h: tf.Tensor2D, targets: Int32Array, candidates: Int32Array, sampler: CandidateSampler): tf.Scalar {
  return tf.tidy(() => {
    const targetIds = tf.tensor1d(targets, 'int32');
    const candidateIds = tf.tensor1d(candidates, 'int32');
    const logits = scorer.candidateLogits(h, targetIds, candidateIds);
    const target = tf.sub(logits.target, tf.tensor1d(sampler.logExpectedCount(targets, candidates.length)));
    const corrected = tf.sub(logits.candidates, tf.tensor1d(sampler.logExpectedCount(candidates, candidates.length)));
    const sampled = tf.add(corrected, accidentalHits(targets, candidates));
    const all = tf.concat([tf.expandDims(target, 1), sampled], 1);
    // Column 0 holds each row's target. softmaxCrossEntropy's own gradient (softmax − labels) also
    // keeps logSumExp's max (and its broadcast Equal in the backward pass) out of the step.
    const labels = tf.oneHot(tf.zeros([targets.length], 'int32') as tf.Tensor1D, candidates.length + 1);
    return tf.losses.softmaxCrossEntropy(labels, all, undefined, 0, tf.Reduction.SUM) as tf.Scalar;
  });
}
