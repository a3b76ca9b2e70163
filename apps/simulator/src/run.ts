import { type ServerOptimizerState } from '@murmur/fl-core/aggregate';
import { type KneserNeyDiscounts } from '@murmur/fl-core/baselines';
import { partitionClients, splitHeldOut, type PartitionOptions } from '@murmur/fl-core/data';
import { buildModel, getFlatWeights, MODEL_PRESETS, parseModelSpec, parameterCount, type ModelSpec } from '@murmur/fl-core/model';
import { createSeededRandom } from '@murmur/fl-core/random';
import {
  runCentralTraining,
  runFederatedSimulation,
  runNgramBaselines,
  type SimulationPrivacy,
  type RoundRecord,
  type VirtualClient,
  type CentralCheckpoint,
  type CentralEvaluation,
  type FederatedCheckpoint,
} from '@murmur/fl-core/sim';
import {
  concatExamples,
  createVocabulary,
  EOS_ID,
  UNK_ID,
  everyPositionWindows,
  sampleExamples,
  textToExamples,
  type ExampleSet,
  type Vocabulary,
} from '@murmur/fl-core/text';
import { type EvaluationMetrics, type Interval } from '@murmur/fl-core/train';
import { loadCorpus, useNodeBackend } from '@murmur/fl-core/node';
import type { SimulationConfig } from './config';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { loadWarmStart, saveModel } from './saved-model';

/** An interpolated Kneser–Ney baseline on the held-out examples, beside the model. */
export type BaselineReport = EvaluationMetrics & {
  order: number;
  /** Per k-gram order (index k − 1): the modified-KN discounts D1, D2, D3+. */
  discounts: readonly KneserNeyDiscounts[];
  /** Building the model from the shared counts and evaluating it. */
  seconds: number;
};

export type BaselineName = 'kn2' | 'kn3' | 'kn4';

export interface SimulationReport {
  /** 'central' with --central-only: no rounds, the central learning curve instead. */
  mode: 'federated' | 'central';
  config: SimulationConfig & {
    parameters: number;
    trainClients: number;
    testClients: number;
    testExamples: number;
    vocabularyFingerprint: string;
    /** What one epoch over the pooled training clients trains on: windows with --targets every, rows with last. */
    trainPool: number;
    /** Share of target words (<eos> aside) outside the vocabulary, over the training clients and the held-out sample. */
    trainOovRate: number;
    testOovRate: number;
  };
  /** Why the run ended: its last round / epoch, or --patience. */
  stoppedBy: 'budget' | 'patience';
  rounds: {
    round: number;
    trainLoss: number;
    /** The clients' learning rate that round; null in rounds saved before rates were recorded. */
    learningRate: number | null;
    /** Candidates of the clients' sampled softmax that round; null: the full softmax. */
    sampledSoftmax: number | null;
    /** The server optimizer's learning rate that round; null in rounds saved before it was recorded. */
    serverLearningRate: number | null;
    testLoss: number | null;
    top1: number | null;
    top3: number | null;
    /** 95% intervals (Wilson for top-k, normal approximation of the mean loss); null when not evaluated. */
    top1Interval: Interval | null;
    top3Interval: Interval | null;
    perplexity: number | null;
    perplexityInterval: Interval | null;
    examples: number;
    examplesProcessed: number;
    seconds: number;
    /** With --dp: ε spent so far at --target-delta, and this round's clip norm. */
    epsilon?: number;
    clipNorm?: number;
    cohort?: number;
  }[];
  /** The final model (federated, or central with --central-only) on the held-out examples: every metric, with intervals. */
  model: EvaluationMetrics;
  /** With --central-only: held-out metrics against epochs. */
  curve?: CentralEvaluation[];
  central?: {
    testLoss: number;
    top1: number;
    top3: number;
    top1Interval: Interval;
    top3Interval: Interval;
    perplexity: number;
    perplexityInterval: Interval;
    examplesProcessed: number;
    seconds: number;
    top1Ratio: number;
  };
  /** Absent with --no-baselines. Counted on the pooled training clients' examples. */
  baselines?: Record<BaselineName, BaselineReport>;
  baselineCounting?: { trainExamples: number; seconds: number };
  /** The federated model over the baseline with the best held-out top-1. */
  comparison?: { best: BaselineName; top1Ratio: number; top3Ratio: number; perplexityRatio: number };
}

export interface SimulationHooks {
  onPhase?: (phase: 'data' | 'baselines' | 'federated' | 'central', total: number) => void;
  onProgress?: (done: number, detail: Record<string, string | number>) => void;
  onRound?: (round: RoundRecord) => void;
}

function partitionOptions(config: DataConfig): PartitionOptions {
  switch (config.partition) {
    case 'natural':
      return { scheme: 'natural', unit: config.unit };
    case 'iid':
      return { scheme: 'iid', unit: config.unit, seed: config.splitSeed ?? config.seed };
    case 'dirichlet':
      return { scheme: 'dirichlet', unit: config.unit, seed: config.splitSeed ?? config.seed, alpha: config.alpha };
  }
}

function simulationPrivacy(config: SimulationConfig): SimulationPrivacy {
  if (config.dp === 'off') throw new Error('simulationPrivacy: --dp is off');
  return {
    mode: config.dp,
    noiseMultiplier: config.noiseMultiplier,
    clip:
      config.clip === 'adaptive'
        ? { adaptive: true, initialClipNorm: config.initialClip, targetQuantile: config.targetQuantile }
        : { adaptive: false, clipNorm: config.clip },
    targetDelta: config.targetDelta,
  };
}

/** What a run trains and evaluates on: everything fixed by the data flags and the seed. */
export interface PreparedData {
  spec: ModelSpec;
  vocabulary: Vocabulary;
  /** Training clients (those with at least one example), each with its textToExamples rows. */
  population: VirtualClient[];
  /** The population's texts, client by client, for anyone re-deriving the training sentences. */
  trainTexts: string[][];
  testClients: number;
  /** Held-out rows: a uniform sample of at most --max-test-examples from the held-out clients. */
  testExamples: ExampleSet;
  /** Every training client's rows, concatenated in client order (what the baselines count). */
  pooled: ExampleSet;
  /** Share of target words (<eos> aside) outside the vocabulary, i.e. <unk>: over the training clients and the held-out sample. */
  trainOovRate: number;
  testOovRate: number;
}

function oovRate(targets: Int32Array): number {
  let words = 0;
  let unknown = 0;
  for (const id of targets) {
    if (id === EOS_ID) continue;
    words += 1;
    if (id === UNK_ID) unknown += 1;
  }
  return words > 0 ? unknown / words : Number.NaN;
}

export type DataConfig = Pick<
  SimulationConfig,
  | 'corpus'
  | 'partition'
  | 'unit'
  | 'alpha'
  | 'testFraction'
  | 'clients'
  | 'maxTestExamples'
  | 'model'
  | 'hiddenUnits'
  | 'embeddingDim'
  | 'dropout'
  | 'seed'
  | 'splitSeed'
>;

/** The preset named by --model, with the sizes the flags override. */
export function modelSpecFor(config: Pick<DataConfig, 'model' | 'hiddenUnits' | 'embeddingDim' | 'dropout'>): ModelSpec {
  return parseModelSpec({
    ...MODEL_PRESETS[config.model],
    ...(config.hiddenUnits !== undefined ? { hiddenUnits: config.hiddenUnits } : {}),
    ...(config.embeddingDim !== undefined ? { embeddingDim: config.embeddingDim } : {}),
    ...(config.dropout !== undefined ? { dropout: config.dropout } : {}),
  });
}

/** Loads and partitions the corpus and splits off the held-out clients, deterministically from the flags. */
export function prepareData(config: DataConfig): PreparedData {
  const spec = modelSpecFor(config);
  const vocabulary = createVocabulary({ size: spec.vocabularySize });
  const splitSeed = config.splitSeed ?? config.seed;
  const random = createSeededRandom(splitSeed);
  const documents = loadCorpus(config.corpus);
  const clients = partitionClients(documents, partitionOptions(config));
  const { train, test } = splitHeldOut(clients, { testFraction: config.testFraction, seed: splitSeed });
  if (config.clients !== undefined && config.clients > train.length) {
    throw new Error(`--clients ${config.clients} exceeds the ${train.length} training clients this partition has`);
  }
  const chosen = train
    .slice(0, config.clients ?? train.length)
    .map((client) => ({ client, examples: textToExamples(client.texts, vocabulary, spec.contextLength) }))
    .filter(({ examples }) => examples.count > 0);
  const population: VirtualClient[] = chosen.map(({ client, examples }) => ({ id: client.id, examples }));
  // The simulation's own stream, first draw: the held-out sample (kept as it was before this split out).
  const testExamples = sampleExamples(
    concatExamples(test.map((client) => textToExamples(client.texts, vocabulary, spec.contextLength))),
    config.maxTestExamples,
    random.fork(),
  );
  const pooled = concatExamples(population.map((c) => c.examples));
  return {
    spec,
    vocabulary,
    population,
    trainTexts: chosen.map(({ client }) => client.texts),
    testClients: test.length,
    testExamples,
    pooled,
    trainOovRate: oovRate(pooled.targets),
    testOovRate: oovRate(testExamples.targets),
  };
}

/** The flags that define a run's trajectory; a checkpoint resumes only under the same ones. */
function checkpointKey(config: SimulationConfig): string {
  const { rounds, centralEpochs, patience, checkpoint, out, quiet, saveModel: _saveModel, noBaselines, evalEvery, centralEvalEvery, ...rest } = config;
  return JSON.stringify(rest);
}

interface FederatedMeta {
  round: number;
  records: RoundRecord[];
  optimizer: Omit<ServerOptimizerState, 'm' | 'v'>;
}

interface CentralMeta {
  processed: number;
  curve: CentralEvaluation[];
  seconds: number;
  optimizer: { name: string; shape: number[] }[];
}

/** Loads and partitions the corpus, runs the federated rounds (or --central-only), optionally the central baseline. */
export async function runSimulation(config: SimulationConfig, hooks: SimulationHooks = {}): Promise<SimulationReport> {
  await useNodeBackend(config.backend);
  hooks.onPhase?.('data', 1);
  const data = prepareData(config);
  const { spec, population, testExamples, pooled } = data;
  // The training stream; its first fork is skipped, as prepareData's (seeded alike by default)
  // drew the held-out sample with it.
  const random = createSeededRandom(config.seed);
  random.fork();
  if (!config.centralOnly && config.perRound > population.length) {
    throw new Error(`--per-round ${config.perRound} exceeds the ${population.length} training clients with examples`);
  }
  hooks.onProgress?.(1, {});

  let baselines: Pick<SimulationReport, 'baselines' | 'baselineCounting'> = {};
  if (!config.noBaselines) {
    hooks.onPhase?.('baselines', 1);
    const result = runNgramBaselines({ trainExamples: pooled, testExamples, vocabularySize: spec.vocabularySize, orders: [2, 3, 4] });
    const [kn2, kn3, kn4] = result.baselines.map(({ order, test: metrics, discounts, seconds }) => ({ ...metrics, order, discounts, seconds }));
    if (!kn2 || !kn3 || !kn4) throw new Error(`runSimulation: expected 3 baselines, got ${result.baselines.length}`);
    baselines = { baselines: { kn2, kn3, kn4 }, baselineCounting: { trainExamples: result.trainPositions, seconds: result.countSeconds } };
    hooks.onProgress?.(1, {});
  }

  const model = buildModel(spec, { seed: config.seed });
  const initialWeights = config.initModel
    ? loadWarmStart(config.initModel, { spec, vocabularyFingerprint: data.vocabulary.fingerprint, data: config })
    : getFlatWeights(model);
  // What central training shares between --central-only and the same-budget --central.
  const centralCommon = {
    model,
    initialWeights,
    trainExamples: pooled,
    testExamples,
    batchSize: config.batchSize,
    learningRate: config.centralLr ?? config.lr,
    optimizer: config.centralOptimizer,
    targets: config.targets,
    ...(config.sampledSoftmax !== undefined ? { sampledSoftmax: config.sampledSoftmax } : {}),
  };
  const trainPool = config.targets === 'every' ? everyPositionWindows(pooled).count : pooled.count;
  const reportConfig = {
    ...config,
    trainPool,
    parameters: parameterCount(spec),
    trainClients: population.length,
    testClients: data.testClients,
    testExamples: testExamples.count,
    vocabularyFingerprint: data.vocabulary.fingerprint,
    trainOovRate: data.trainOovRate,
    testOovRate: data.testOovRate,
  };
  const key = checkpointKey(config);

  if (config.centralOnly) {
    const stored = config.checkpoint ? loadCheckpoint<CentralMeta>(config.checkpoint, 'central', key, ['centralLr', 'sampledSoftmax']) : null;
    const resume: CentralCheckpoint | undefined = stored
      ? {
          weights: stored.arrays.weights as Float32Array,
          optimizer: stored.meta.optimizer.map(({ name, shape }, i) => ({ name, shape, values: stored.arrays[`optimizer.${i}`] as Float32Array })),
          processed: stored.meta.processed,
          curve: stored.meta.curve,
          seconds: stored.meta.seconds,
        }
      : undefined;
    const pool = trainPool;
    const budget = Math.round(config.centralEpochs * pool);

    hooks.onPhase?.('central', budget);
    const central = await runCentralTraining({
      ...centralCommon,
      examplesBudget: budget,
      random: random.fork(),
      evaluateEvery: Math.max(1, Math.round(config.centralEvalEvery * pool)),
      ...(config.patience !== undefined ? { patience: config.patience } : {}),
      ...(resume ? { resume } : {}),
      onCheckpoint: (state) => {
        const last = state.curve.at(-1);
        hooks.onProgress?.(state.processed, {
          epochs: (state.processed / pool).toFixed(2),
          top1: last ? (last.test.top1 * 100).toFixed(2) : '…',
          ppl: last ? last.test.perplexity.toFixed(1) : '…',
        });
        if (!config.checkpoint) return;
        const arrays: Record<string, Float32Array> = { weights: state.weights };
        state.optimizer.forEach((slot, i) => (arrays[`optimizer.${i}`] = slot.values));
        const meta: CentralMeta = {
          processed: state.processed,
          curve: state.curve,
          seconds: state.seconds,
          optimizer: state.optimizer.map(({ name, shape }) => ({ name, shape })),
        };
        saveCheckpoint(config.checkpoint, 'central', key, meta, arrays);
      },
      onProgress: (processed, _budget, loss) => hooks.onProgress?.(processed, { loss: loss.toFixed(3) }),
    });
    const report: SimulationReport = {
      mode: 'central',
      config: reportConfig,
      stoppedBy: central.stoppedBy,
      rounds: [],
      model: central.test,
      curve: central.curve,
      ...baselines,
      ...(baselines.baselines ? { comparison: compareWithBest(central.test, baselines.baselines) } : {}),
    };
    if (config.saveModel) saveModel(config.saveModel, { spec, weights: central.weights, summary: summaryForModel(report) });
    model.dispose();
    return report;
  }

  const plan = {
    epochs: config.epochs,
    batchSize: config.batchSize,
    optimizer: config.clientOptimizer,
    ...(config.clientAdamEpsilon !== undefined ? { adamEpsilon: config.clientAdamEpsilon } : {}),
    learningRate: config.lr,
    maxExamples: config.maxExamples,
    timeBudgetMs: 3_600_000,
    targets: config.targets,
    ...(config.sampledSoftmax !== undefined ? { sampledSoftmax: config.sampledSoftmax } : {}),
  };
  // The client and server learning rates may be lowered, and the sampled softmax changed or dropped
  // (a final full-softmax phase), when a run is resumed, as an operator would change the plan; each
  // round records all three. Every other flag must match.
  const stored = config.checkpoint ? loadCheckpoint<FederatedMeta>(config.checkpoint, 'federated', key, ['lr', 'serverLr', 'sampledSoftmax']) : null;
  const resume: FederatedCheckpoint | undefined = stored
    ? {
        round: stored.meta.round,
        weights: stored.arrays.weights as Float32Array,
        optimizer: { ...stored.meta.optimizer, ...(stored.arrays.m ? { m: stored.arrays.m } : {}), ...(stored.arrays.v ? { v: stored.arrays.v } : {}) },
        records: stored.meta.records,
      }
    : undefined;

  hooks.onPhase?.('federated', config.rounds);
  if (resume) hooks.onProgress?.(resume.round, { resumed: `from round ${resume.round}` });
  const federated = await runFederatedSimulation({
    model,
    initialWeights,
    clients: population,
    testExamples,
    rounds: config.rounds,
    clientsPerRound: config.perRound,
    plan,
    optimizer: { name: config.optimizer, ...(config.serverLr ? { learningRate: config.serverLr } : {}) },
    weighting: config.weighting,
    random: random.fork(),
    evaluateEvery: config.evalEvery,
    ...(config.patience !== undefined ? { patience: config.patience } : {}),
    ...(resume ? { resume } : {}),
    ...(config.dp !== 'off' ? { privacy: simulationPrivacy(config) } : {}),
    onRound: (record) => {
      hooks.onRound?.(record);
      hooks.onProgress?.(record.round, {
        trainLoss: record.trainLoss.toFixed(3),
        top1: record.test ? (record.test.top1 * 100).toFixed(1) : '…',
        ...(record.privacy ? { epsilon: record.privacy.epsilon.toFixed(2) } : {}),
      });
    },
    ...(config.checkpoint
      ? {
          onCheckpoint: (state: FederatedCheckpoint) => {
            const { m, v, ...optimizer } = state.optimizer;
            const arrays: Record<string, Float32Array> = { weights: state.weights, ...(m ? { m } : {}), ...(v ? { v } : {}) };
            saveCheckpoint<FederatedMeta>(config.checkpoint as string, 'federated', key, { round: state.round, records: state.records, optimizer }, arrays);
          },
        }
      : {}),
  });

  // The simulation always evaluates after the last round.
  const finalTest = federated.rounds.at(-1)?.test;
  if (!finalTest) throw new Error('runSimulation: the last round has no evaluation');
  const report: SimulationReport = {
    mode: 'federated',
    config: reportConfig,
    stoppedBy: federated.stoppedBy === 'patience' ? 'patience' : 'budget',
    rounds: federated.rounds.map((r) => ({
      round: r.round,
      trainLoss: r.trainLoss,
      learningRate: r.learningRate ?? null,
      sampledSoftmax: r.sampledSoftmax ?? null,
      serverLearningRate: r.serverLearningRate ?? null,
      testLoss: r.test?.loss ?? null,
      top1: r.test?.top1 ?? null,
      top3: r.test?.top3 ?? null,
      top1Interval: r.test?.top1Interval ?? null,
      top3Interval: r.test?.top3Interval ?? null,
      perplexity: r.test?.perplexity ?? null,
      perplexityInterval: r.test?.perplexityInterval ?? null,
      examples: r.examples,
      examplesProcessed: r.examplesProcessed,
      seconds: r.seconds,
      ...(r.privacy ? { epsilon: r.privacy.epsilon, clipNorm: r.privacy.clipNorm, cohort: r.privacy.cohortSize } : {}),
    })),
    model: finalTest,
    ...baselines,
    ...(baselines.baselines ? { comparison: compareWithBest(finalTest, baselines.baselines) } : {}),
  };

  if (config.central) {
    const budget = federated.rounds.reduce((sum, r) => sum + r.examplesProcessed, 0);
    hooks.onPhase?.('central', budget);
    const central = await runCentralTraining({
      ...centralCommon,
      examplesBudget: budget,
      random: random.fork(),
      onProgress: (processed) => hooks.onProgress?.(processed, {}),
    });
    const finalTop1 = report.rounds.at(-1)?.top1 ?? Number.NaN;
    report.central = {
      testLoss: central.test.loss,
      top1: central.test.top1,
      top3: central.test.top3,
      top1Interval: central.test.top1Interval,
      top3Interval: central.test.top3Interval,
      perplexity: central.test.perplexity,
      perplexityInterval: central.test.perplexityInterval,
      examplesProcessed: central.examplesProcessed,
      seconds: central.seconds,
      top1Ratio: finalTop1 / central.test.top1,
    };
  }
  if (config.saveModel) saveModel(config.saveModel, { spec, weights: federated.weights, summary: summaryForModel(report) });
  model.dispose();
  return report;
}

/** What a saved model records about how it was made and how it scored. */
function summaryForModel(report: SimulationReport) {
  return { mode: report.mode, config: report.config, phases: trainingPhases(report), model: report.model };
}

/**
 * A resumed run may have changed its rates or softmax, so the final config alone does not say how
 * the model was trained: the stretches of rounds (or epochs) that shared one setting.
 */
export function trainingPhases(
  report: SimulationReport,
): { from: number; to: number; learningRate: number | null; serverLearningRate: number | null; sampledSoftmax: number | null }[] {
  const steps =
    report.mode === 'federated'
      ? report.rounds.map((r) => ({ at: r.round, learningRate: r.learningRate, serverLearningRate: r.serverLearningRate, sampledSoftmax: r.sampledSoftmax }))
      : (report.curve ?? []).map((point) => ({
          at: point.epochs,
          learningRate: point.learningRate ?? null,
          serverLearningRate: null,
          sampledSoftmax: point.sampledSoftmax ?? null,
        }));
  const phases: ReturnType<typeof trainingPhases> = [];
  let previous = 0;
  for (const { at, ...setting } of steps) {
    const last = phases.at(-1);
    const same =
      last !== undefined &&
      last.learningRate === setting.learningRate &&
      last.serverLearningRate === setting.serverLearningRate &&
      last.sampledSoftmax === setting.sampledSoftmax;
    if (same) last.to = at;
    else phases.push({ from: previous, to: at, ...setting });
    previous = at;
  }
  return phases;
}

function compareWithBest(model: EvaluationMetrics, baselines: Record<BaselineName, BaselineReport>): NonNullable<SimulationReport['comparison']> {
  const names = Object.keys(baselines) as BaselineName[];
  const best = names.reduce((a, b) => (baselines[b].top1 > baselines[a].top1 ? b : a));
  const baseline = baselines[best];
  return {
    best,
    top1Ratio: model.top1 / baseline.top1,
    top3Ratio: model.top3 / baseline.top3,
    perplexityRatio: model.perplexity / baseline.perplexity,
  };
}
