import {
  buildModel,
  concatExamples,
  createSeededRandom,
  createVocabulary,
  getFlatWeights,
  MODEL_PRESETS,
  parameterCount,
  partitionClients,
  runCentralTraining,
  runFederatedSimulation,
  runNgramBaselines,
  sampleExamples,
  splitHeldOut,
  textToExamples,
  type EvaluationMetrics,
  type ExampleSet,
  type Interval,
  type KneserNeyDiscounts,
  type PartitionOptions,
  type SimulationPrivacy,
  type RoundRecord,
  type VirtualClient,
} from '@murmur/fl-core';
import { loadCorpus, useNodeBackend } from '@murmur/fl-core/node';
import type { SimulationConfig } from './config';

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
  config: SimulationConfig & { parameters: number; trainClients: number; testClients: number; testExamples: number };
  rounds: {
    round: number;
    trainLoss: number;
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
  /** The federated model after the last round, on the held-out examples: every metric, with intervals. */
  model: EvaluationMetrics;
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

function partitionOptions(config: SimulationConfig): PartitionOptions {
  switch (config.partition) {
    case 'natural':
      return { scheme: 'natural', unit: config.unit };
    case 'iid':
      return { scheme: 'iid', unit: config.unit, seed: config.seed };
    case 'dirichlet':
      return { scheme: 'dirichlet', unit: config.unit, seed: config.seed, alpha: config.alpha };
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

/** Loads and partitions the corpus, runs the federated rounds, optionally the central baseline. */
export async function runSimulation(config: SimulationConfig, hooks: SimulationHooks = {}): Promise<SimulationReport> {
  await useNodeBackend(config.backend);
  const spec = MODEL_PRESETS[config.model];
  const vocabulary = createVocabulary({ size: spec.vocabularySize });
  const random = createSeededRandom(config.seed);

  hooks.onPhase?.('data', 1);
  const documents = loadCorpus(config.corpus);
  const clients = partitionClients(documents, partitionOptions(config));
  const { train, test } = splitHeldOut(clients, { testFraction: config.testFraction, seed: config.seed });
  if (config.clients !== undefined && config.clients > train.length) {
    throw new Error(`--clients ${config.clients} exceeds the ${train.length} training clients this partition has`);
  }
  const population: VirtualClient[] = train
    .slice(0, config.clients ?? train.length)
    .map((client) => ({ id: client.id, examples: textToExamples(client.texts, vocabulary, spec.contextLength) }))
    .filter((client) => client.examples.count > 0);
  if (config.perRound > population.length) {
    throw new Error(`--per-round ${config.perRound} exceeds the ${population.length} training clients with examples`);
  }
  const testExamples = sampleExamples(
    concatExamples(test.map((client) => textToExamples(client.texts, vocabulary, spec.contextLength))),
    config.maxTestExamples,
    random.fork(),
  );
  hooks.onProgress?.(1, {});
  const pooled = concatExamples(population.map((c) => c.examples));

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
  const initialWeights = getFlatWeights(model);
  const plan = { epochs: config.epochs, batchSize: config.batchSize, learningRate: config.lr, maxExamples: config.maxExamples, timeBudgetMs: 3_600_000, targets: config.targets };

  hooks.onPhase?.('federated', config.rounds);
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
    ...(config.dp !== 'off' ? { privacy: simulationPrivacy(config) } : {}),
    onRound: (record) => {
      hooks.onRound?.(record);
      hooks.onProgress?.(record.round, {
        trainLoss: record.trainLoss.toFixed(3),
        top1: record.test ? (record.test.top1 * 100).toFixed(1) : '…',
        ...(record.privacy ? { epsilon: record.privacy.epsilon.toFixed(2) } : {}),
      });
    },
  });

  // The simulation always evaluates after the last round.
  const finalTest = federated.rounds.at(-1)?.test;
  if (!finalTest) throw new Error('runSimulation: the last round has no evaluation');
  const report: SimulationReport = {
    config: {
      ...config,
      parameters: parameterCount(spec),
      trainClients: population.length,
      testClients: test.length,
      testExamples: testExamples.count,
    },
    rounds: federated.rounds.map((r) => ({
      round: r.round,
      trainLoss: r.trainLoss,
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
      model,
      initialWeights,
      trainExamples: pooled,
      testExamples,
      examplesBudget: budget,
      batchSize: config.batchSize,
      learningRate: config.lr,
      targets: config.targets,
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
  model.dispose();
  return report;
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
