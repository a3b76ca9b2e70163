import type * as tf from '@tensorflow/tfjs';
import { secureRandomBytes, type RandomBytes, type SeededRandom } from '../random/index';
import { sliceExamples, type ExampleSet } from '../text/index';
import { parameterCount } from '../model/spec';
import { setFlatWeights } from '../model/weights';
import { trainLocal, type LocalTrainingOptions } from '../train/local';
import { evaluateSums, type EvaluationSums } from '../train/evaluate';
import { privatizeClientUpdate } from '../privacy/modes';
import { clipIndicator, privatizeClipIndicator } from '../privacy/adaptive-clipping';
import { createMetricsLayout, encodeWithMetrics } from '../encode/metrics';
import { clipL2 } from '../privacy/clip';
import { encodeDiscreteContribution } from '../round/discrete';
import { clientPrivacyOptionsOf, clipIndicatorPrivacyOptionsOf } from '../round/client-privacy';
import { encodingParams } from '../encode/fixed-point';
import { protocolFailure, type ProtocolResult } from '../protocol/errors';
import { MAX_LOSS_PER_EXAMPLE, type ContributionMetric } from '../protocol/events';
import type { RoundPlan } from '../protocol/schemas';

export interface ContributionOptions {
  plan: RoundPlan;
  /** A model built from plan.model.spec; its weights are overwritten. */
  model: tf.LayersModel;
  /** The global weights of plan.model.version, already verified against plan.model.hash. */
  globalWeights: Float32Array;
  /** All of this client's local examples; the last evaluationFraction of them are held out. */
  examples: ExampleSet;
  /** CSPRNG for noise and stochastic rounding. @default secureRandomBytes */
  randomBytes?: RandomBytes;
  /** Orders and subsamples the training examples. @default seeded from the CSPRNG */
  random?: SeededRandom;
  signal?: AbortSignal;
  /** Called after every training batch (trainLocal's onBatch), e.g. for a progress indicator. */
  onBatch?: LocalTrainingOptions['onBatch'];
}

export interface ContributionReport {
  /** Distinct examples trained on. */
  numExamples: number;
  /** Mean training loss in nats (NaN when no batch ran). */
  trainLoss: number;
  evaluation: EvaluationSums;
  /** L2 norm of the update before clipping. */
  norm: number;
  wasClipped: boolean;
  /** Standard deviation of the Gaussian (or, with discrete noise, discrete Gaussian) noise this client added per coordinate, in model units. */
  noiseStdDev: number;
  seconds: number;
}

export interface Contribution {
  /** The encoded update followed by the contribution metrics: secure aggregation's input x. */
  input: Uint32Array;
  report: ContributionReport;
}

/**
 * One client's part of a round, before secure aggregation: evaluate the incoming global model on
 * held-out local examples (federated evaluation), train from it (FedAvg's client update), clip and
 * add this client's share of the noise for the plan's privacy mode, and encode the update with
 * the evaluation and training totals as one vector in Z_(2^k). Only the cohort's sum of these
 * vectors is ever revealed. Errors come back as values (CONTRIBUTION_FAILED).
 */
export async function prepareContribution(options: ContributionOptions): Promise<ProtocolResult<Contribution>> {
  const { plan, model, globalWeights, examples } = options;
  const started = performance.now();
  const randomBytes = options.randomBytes ?? secureRandomBytes;
  const dimension = parameterCount(plan.model.spec);
  const metricNames = Object.keys(plan.metrics);
  if (globalWeights.length !== dimension) {
    return protocolFailure(
      'CONTRIBUTION_FAILED',
      `prepareContribution: global weights have ${globalWeights.length} values, expected ${dimension} for the plan's spec`,
    );
  }
  // Discrete noise sends the rotated update, padded to a power of two (round/discrete.ts).
  const modelWords = plan.privacy.discrete?.paddedDimension ?? dimension;
  if (plan.secagg.vectorLength !== modelWords + metricNames.length) {
    return protocolFailure(
      'CONTRIBUTION_FAILED',
      `prepareContribution: plan's secure-aggregation vector has ${plan.secagg.vectorLength} words, expected ${modelWords} weights + ${metricNames.length} metrics`,
    );
  }
  const heldOut = Math.min(Math.floor(examples.count * plan.evaluationFraction), plan.training.maxExamples);
  const trainCount = examples.count - heldOut;
  if (trainCount < 1) return protocolFailure('CONTRIBUTION_FAILED', `prepareContribution: ${examples.count} local examples leave none to train on`);
  try {
    let evaluation: EvaluationSums = { lossSum: 0, top1Hits: 0, top3Hits: 0, count: 0 };
    if (heldOut > 0) {
      setFlatWeights(model, globalWeights);
      evaluation = await evaluateSums(model, sliceExamples(examples, trainCount, examples.count));
    }
    options.signal?.throwIfAborted();
    const trained = await trainLocal(model, globalWeights, sliceExamples(examples, 0, trainCount), plan.training, {
      ...(options.random ? { random: options.random } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    });
    const discrete = plan.privacy.discrete !== undefined;
    // Discrete noise is added after encoding (encodeDiscreteContribution clips, rotates, rounds and
    // noises in the integers); here only the norm is measured for the report.
    const privatized = discrete
      ? { ...clipL2(trained.delta, plan.privacy.clipNorm), update: trained.delta, noiseStdDev: 0 }
      : privatizeClientUpdate(trained.delta, clientPrivacyOptionsOf(plan), randomBytes);
    const trainLoss = trained.metrics.trainLoss;
    const indicatorOptions = clipIndicatorPrivacyOptionsOf(plan);
    // Adaptive clipping: was this update inside C? Sent centred and noised, summed securely.
    const unclipped =
      indicatorOptions === undefined
        ? undefined
        : privatizeClipIndicator(clipIndicator(privatized.norm, plan.privacy.clipNorm), indicatorOptions, randomBytes).value;
    const metrics: Partial<Record<ContributionMetric, number>> = {
      examples: trained.numExamples,
      // A loss past the metric's clip range would be clamped; clamp here so the sum stays honest.
      trainLossSum: Number.isFinite(trainLoss) ? Math.min(trainLoss, MAX_LOSS_PER_EXAMPLE) * trained.numExamples : 0,
      evalCount: evaluation.count,
      evalLossSum: Math.min(evaluation.lossSum, MAX_LOSS_PER_EXAMPLE * evaluation.count),
      evalTop1: evaluation.top1Hits,
      evalTop3: evaluation.top3Hits,
      ...(unclipped !== undefined ? { unclipped } : {}),
    };
    const missing = metricNames.filter((name) => metrics[name as ContributionMetric] === undefined);
    if (missing.length > 0) return protocolFailure('CONTRIBUTION_FAILED', `prepareContribution: the plan asks for unknown metrics ${missing.join(', ')}`);
    const planned = Object.fromEntries(metricNames.map((name) => [name, metrics[name as ContributionMetric] as number]));
    let input: Uint32Array;
    let noiseStdDev = privatized.noiseStdDev;
    if (discrete) {
      const encoded = encodeDiscreteContribution(trained.delta, planned, plan, randomBytes);
      input = encoded.input;
      noiseStdDev = encoded.noiseStdDev;
    } else {
      const { maxClients, modulusBits } = plan.encoding;
      const layout = createMetricsLayout(plan.metrics, { maxClients, modulusBits });
      input = encodeWithMetrics(privatized.update, planned, encodingParams(plan.encoding), layout, randomBytes);
    }
    return {
      ok: true,
      value: {
        input,
        report: {
          numExamples: trained.numExamples,
          trainLoss,
          evaluation,
          norm: privatized.norm,
          wasClipped: privatized.wasClipped,
          noiseStdDev,
          seconds: (performance.now() - started) / 1000,
        },
      },
    };
  } catch (error) {
    return protocolFailure('CONTRIBUTION_FAILED', `prepareContribution: ${error instanceof Error ? error.message : String(error)}`);
  }
}
