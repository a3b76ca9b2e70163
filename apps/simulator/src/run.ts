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
  sampleExamples,
  splitHeldOut,
  textToExamples,
  type ExampleSet,
  type PartitionOptions,
  type SimulationPrivacy,
  type RoundRecord,
  type VirtualClient,
} from '@murmur/fl-core';
import { loadCorpus, useNodeBackend } from '@murmur/fl-core/node';
import type { SimulationConfig } from './config';

export interface SimulationReport {
  config: SimulationConfig & { parameters: number; trainClients: number; testClients: number; testExamples: number };
  rounds: {
    round: number;
    trainLoss: number;
    testLoss: number | null;
    top1: number | null;
    top3: number | null;
    examples: number;
    examplesProcessed: number;
    seconds: number;
    /** With --dp: ε spent so far at --target-delta, and this round's clip norm. */
    epsilon?: number;
    clipNorm?: number;
    cohort?: number;
  }[];
  central?: { testLoss: number; top1: number; top3: number; examplesProcessed: number; seconds: number; top1Ratio: number };
}

export interface SimulationHooks {
  onPhase?: (phase: 'data' | 'federated' | 'central', total: number) => void;
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

  const model = buildModel(spec, { seed: config.seed });
  const initialWeights = getFlatWeights(model);
  const plan = { epochs: config.epochs, batchSize: config.batchSize, learningRate: config.lr, maxExamples: config.maxExamples, timeBudgetMs: 3_600_000 };

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
      examples: r.examples,
      examplesProcessed: r.examplesProcessed,
      seconds: r.seconds,
      ...(r.privacy ? { epsilon: r.privacy.epsilon, clipNorm: r.privacy.clipNorm, cohort: r.privacy.cohortSize } : {}),
    })),
  };

  if (config.central) {
    const budget = federated.rounds.reduce((sum, r) => sum + r.examplesProcessed, 0);
    hooks.onPhase?.('central', budget);
    const central = await runCentralTraining({
      model,
      initialWeights,
      trainExamples: concatExamples(population.map((c) => c.examples)),
      testExamples,
      examplesBudget: budget,
      batchSize: config.batchSize,
      learningRate: config.lr,
      random: random.fork(),
      onProgress: (processed) => hooks.onProgress?.(processed, {}),
    });
    const finalTop1 = report.rounds.at(-1)?.top1 ?? Number.NaN;
    report.central = {
      testLoss: central.test.loss,
      top1: central.test.top1,
      top3: central.test.top3,
      examplesProcessed: central.examplesProcessed,
      seconds: central.seconds,
      top1Ratio: finalTop1 / central.test.top1,
    };
  }
  model.dispose();
  return report;
}
