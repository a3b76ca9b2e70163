import type * as tf from '@tensorflow/tfjs';
import type { ExampleSet } from '../text/index';
import type { SeededRandom } from '../random/index';
import { setFlatWeights } from '../model/weights';
import { trainLocal } from '../train/local';
import { parseTrainingPlan, type TrainingPlanInput } from '../train/plan';
import { evaluate, type EvaluationMetrics } from '../train/evaluate';
import { weightedMean } from '../aggregate/mean';
import {
  applyServerUpdate,
  createServerOptimizer,
  parseServerOptimizer,
  type ServerOptimizerInput,
  type ServerOptimizerState,
} from '../aggregate/server-optimizers';
import { LossPlateau } from './plateau';
import { PrivateAggregation, type PrivateRoundReport, type SimulationPrivacy } from './private-round';

/** One simulated device: an id and the training examples derived from its own text. */
export interface VirtualClient {
  id: string;
  examples: ExampleSet;
}

export interface FederatedSimulationOptions {
  /** One model instance, reused by every virtual client in turn. */
  model: tf.LayersModel;
  initialWeights: Float32Array;
  clients: readonly VirtualClient[];
  /** Held-out clients' examples; never trained on. */
  testExamples: ExampleSet;
  rounds: number;
  clientsPerRound: number;
  plan: TrainingPlanInput;
  optimizer: ServerOptimizerInput;
  /** FedAvg weighting: by example count (the default) or uniform over clients. */
  weighting?: 'examples' | 'uniform';
  random: SeededRandom;
  /** Evaluate every k rounds (and always after the last). */
  evaluateEvery?: number;
  onRound?: (record: RoundRecord) => void;
  signal?: AbortSignal;
  /**
   * DP-FedAvg: clients join each round independently with probability clientsPerRound/population
   * (Poisson sampling, what the accountant assumes), updates are clipped and noised, and the mean
   * divides by the expected cohort. Absent: a fixed-size cohort and example-weighted FedAvg.
   */
  privacy?: SimulationPrivacy;
  /**
   * Stop early once the held-out loss has not improved for this many evaluations in a row; the
   * weights returned are the last ones.
   */
  patience?: number;
  /** Continue a run from a checkpoint written by onCheckpoint (not with privacy: the accountant restarts). */
  resume?: FederatedCheckpoint;
  /** Called after every evaluated round, with the state to resume from. */
  onCheckpoint?: (checkpoint: FederatedCheckpoint) => Promise<void> | void;
}

/** Everything a run needs to continue after `round` (dropout masks aside, which are unseeded). */
export interface FederatedCheckpoint {
  round: number;
  weights: Float32Array;
  optimizer: ServerOptimizerState;
  records: RoundRecord[];
}

export interface RoundRecord {
  round: number;
  participants: string[];
  /** Mean local training loss over the cohort, weighted like the aggregate. */
  trainLoss: number;
  /** The clients' learning rate this round (a resumed run may lower it by hand). */
  learningRate?: number;
  /** Candidates of the clients' sampled softmax this round; absent: the full softmax. */
  sampledSoftmax?: number;
  /** The server optimizer's learning rate this round (a resumed run may lower it by hand). */
  serverLearningRate?: number;
  /** Evaluation on the held-out clients after this round's update; absent on skipped rounds. */
  test?: EvaluationMetrics;
  /** Distinct examples the cohort trained on. */
  examples: number;
  /** Examples processed, epochs included: the compute budget central training is matched to. */
  examplesProcessed: number;
  seconds: number;
  /** With DP: ε so far, the clip norm and noise of this round. */
  privacy?: PrivateRoundReport;
}

export interface FederatedSimulationResult {
  weights: Float32Array;
  rounds: RoundRecord[];
  stoppedBy: 'rounds' | 'patience';
}

/**
 * FedOpt (Reddi et al. 2021, Algorithm 1) over virtual clients in one process: each round samples
 * a cohort uniformly without replacement, every member trains from the global weights, the server
 * averages their deltas and takes one optimizer step.
 */
export async function runFederatedSimulation(options: FederatedSimulationOptions): Promise<FederatedSimulationResult> {
  const { model, clients, rounds, clientsPerRound, random } = options;
  if (clients.length === 0) throw new RangeError('simulation needs at least one training client');
  if (!Number.isInteger(clientsPerRound) || clientsPerRound < 1 || clientsPerRound > clients.length) {
    throw new RangeError(`clientsPerRound must be in [1, ${clients.length}], got ${clientsPerRound}`);
  }
  const evaluateEvery = options.evaluateEvery ?? 1;
  const { resume } = options;
  if (resume && options.privacy) throw new RangeError('runFederatedSimulation: a private run cannot resume (its privacy accountant would restart)');
  let weights = resume?.weights ?? options.initialWeights;
  const serverLearningRate = parseServerOptimizer(options.optimizer).learningRate;
  // Rounds saved before they recorded the server's rate ran at the rate their checkpoint stored.
  const storedServerRate = resume?.optimizer.config.learningRate ?? serverLearningRate;
  // A resumed run keeps its optimizer's moments but takes the server learning rate it is given now
  // (decayed by hand on a plateau); the optimizer itself must be the same.
  let optimizerState = resume
    ? { ...resume.optimizer, config: { ...resume.optimizer.config, learningRate: serverLearningRate } }
    : createServerOptimizer(options.optimizer, weights.length);
  const records: RoundRecord[] = [...(resume?.records ?? [])];
  const privateAggregation = options.privacy ? new PrivateAggregation(options.privacy, clientsPerRound, clientsPerRound / clients.length) : null;
  // Round r draws only from the r-th fork, so a resumed run samples the cohorts it would have.
  for (let round = 1; round <= (resume?.round ?? 0); round++) random.fork();
  const { learningRate, sampledSoftmax } = parseTrainingPlan(options.plan);
  // Patience counts evaluations since the best loss, restarting whenever the training changed
  // (client or server learning rate, softmax): a run resumed at a lower rate, or finishing with the
  // full softmax, gets its full patience under the new setting.
  const setting = (record: Pick<RoundRecord, 'learningRate' | 'sampledSoftmax' | 'serverLearningRate'>) =>
    `${record.learningRate}/${record.sampledSoftmax ?? 'full'}/${record.serverLearningRate ?? storedServerRate}`;
  const plateau = LossPlateau.replay(
    records.map((record) => ({ loss: record.test?.loss, setting: setting(record) })),
    setting({ learningRate, serverLearningRate, ...(sampledSoftmax !== undefined ? { sampledSoftmax } : {}) }),
  );

  for (let round = (resume?.round ?? 0) + 1; round <= rounds; round++) {
    options.signal?.throwIfAborted();
    const started = performance.now();
    const roundRandom = random.fork();
    const cohort = privateAggregation
      ? clients.filter(() => roundRandom.nextFloat() < privateAggregation.samplingRate)
      : roundRandom.sampleIndices(clients.length, clientsPerRound).map((i) => clients[i] as VirtualClient);
    const updates: { delta: Float32Array; weight: number }[] = [];
    let lossWeighted = 0;
    let examples = 0;
    let examplesProcessed = 0;
    for (const client of cohort) {
      const result = await trainLocal(model, weights, client.examples, options.plan, {
        random: roundRandom.fork(),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const weight = options.weighting === 'uniform' || privateAggregation ? 1 : result.numExamples;
      updates.push({ delta: result.delta, weight });
      lossWeighted += weight * result.metrics.trainLoss;
      examples += result.numExamples;
      examplesProcessed += result.metrics.examplesProcessed;
    }
    const totalWeight = updates.reduce((sum, u) => sum + u.weight, 0);
    const record: RoundRecord = {
      round,
      participants: cohort.map((c) => c.id),
      trainLoss: totalWeight > 0 ? lossWeighted / totalWeight : Number.NaN,
      learningRate,
      ...(sampledSoftmax !== undefined ? { sampledSoftmax } : {}),
      serverLearningRate,
      examples,
      examplesProcessed,
      seconds: 0,
    };
    // A Poisson round can sample nobody: then nothing is released and no privacy is spent.
    if (updates.length > 0) {
      if (privateAggregation) {
        const aggregated = privateAggregation.aggregate(
          round,
          updates.map((u) => u.delta),
          { weights, optimizer: optimizerState },
        );
        ({ weights, optimizer: optimizerState } = aggregated);
        record.privacy = aggregated.report;
      } else {
        ({ weights, state: optimizerState } = applyServerUpdate(optimizerState, weights, weightedMean(updates)));
      }
    }
    if (round % evaluateEvery === 0 || round === rounds) {
      setFlatWeights(model, weights);
      record.test = await evaluate(model, options.testExamples);
    }
    record.seconds = (performance.now() - started) / 1000;
    records.push(record);
    options.onRound?.(record);
    if (record.test) {
      await options.onCheckpoint?.({ round, weights, optimizer: optimizerState, records: [...records] });
      const sinceBest = plateau.observe(record.test.loss);
      if (options.patience !== undefined && sinceBest >= options.patience) return { weights, rounds: records, stoppedBy: 'patience' };
    }
  }
  return { weights, rounds: records, stoppedBy: 'rounds' };
}
