import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel } from '../model/build';
import { getFlatWeights } from '../model/weights';
import type { ModelSpec } from '../model/spec';
import { createSeededRandom } from '../random/index';
import type { ExampleSet } from '../text/index';
import { trainLocal } from '../train/local';
import { runFederatedSimulation, type FederatedCheckpoint, type VirtualClient } from './federated';
import { runCentralTraining, type CentralCheckpoint } from './central';

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 24, contextLength: 2, embeddingDim: 8, hiddenUnits: 16 };

/**
 * Held-out targets no client ever has (ids 20–23): as the model learns the clients' words, the
 * held-out loss can only rise after the first evaluation, so patience runs out.
 */
const UNSEEN: ExampleSet = {
  contexts: Int32Array.from([0, 2, 2, 20, 20, 21, 21, 22]),
  targets: Int32Array.from([20, 21, 22, 23]),
  count: 4,
  contextLength: 2,
};

/** Client k speaks phrases of its own "dialect": a deterministic successor rule shared by all. */
function clientExamples(k: number, repeats: number): ExampleSet {
  const contexts: number[] = [];
  const targets: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const tokens = [2, 4 + (k % 5), 10 + ((k + r) % 6), 16 + (k % 4), 3];
    for (let i = 1; i < tokens.length; i++) {
      contexts.push(i >= 2 ? (tokens[i - 2] as number) : 0, tokens[i - 1] as number);
      targets.push(tokens[i] as number);
    }
  }
  return { contexts: Int32Array.from(contexts), targets: Int32Array.from(targets), count: targets.length, contextLength: 2 };
}

beforeAll(async () => {
  await useNodeBackend('wasm');
});

describe('runFederatedSimulation', () => {
  it('with one client and FedAvg at η = 1 equals that client training alone', async () => {
    const model = buildModel(SPEC, { seed: 2 });
    const initial = getFlatWeights(model);
    const client: VirtualClient = { id: 'only', examples: clientExamples(0, 6) };
    const plan = { epochs: 2, batchSize: 4, learningRate: 0.3 };
    const simulated = await runFederatedSimulation({
      model,
      initialWeights: initial,
      clients: [client],
      testExamples: client.examples,
      rounds: 1,
      clientsPerRound: 1,
      plan,
      optimizer: { name: 'fedavg', learningRate: 1 },
      random: createSeededRandom(9),
    });
    // Replay the same random streams: one fork per round, which samples the cohort and forks once per client.
    const round = createSeededRandom(9).fork();
    round.sampleIndices(1, 1);
    const alone = await trainLocal(model, initial, client.examples, plan, { random: round.fork() });
    alone.delta.forEach((d, i) => expect(simulated.weights[i]).toBeCloseTo((initial[i] as number) + d, 5));
    model.dispose();
  });

  it('learns across non-IID clients: held-out accuracy rises over rounds, every client record complete', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const clients = Array.from({ length: 12 }, (_, k) => ({ id: `c${k}`, examples: clientExamples(k, 6) }));
    const test = clientExamples(12, 6);
    const seen: number[] = [];
    const result = await runFederatedSimulation({
      model,
      initialWeights: getFlatWeights(model),
      clients,
      testExamples: test,
      rounds: 12,
      clientsPerRound: 4,
      plan: { epochs: 2, batchSize: 8, learningRate: 0.5 },
      optimizer: { name: 'fedadam', learningRate: 0.05 },
      random: createSeededRandom(4),
      evaluateEvery: 4,
      onRound: (r) => seen.push(r.round),
    });
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const evaluated = result.rounds.filter((r) => r.test);
    expect(evaluated.map((r) => r.round)).toEqual([4, 8, 12]);
    expect(result.rounds[0]?.participants).toHaveLength(4);
    expect(new Set(result.rounds[0]?.participants).size).toBe(4);
    const last = evaluated.at(-1)?.test;
    expect(last?.loss).toBeLessThan((evaluated[0]?.test?.loss ?? 0) * 0.9);
    expect(result.rounds.at(-1)?.trainLoss).toBeLessThan(result.rounds[0]?.trainLoss ?? 0);
    model.dispose();
  });

  it('resumes from a checkpoint to the same cohorts and weights as an unbroken run', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const initialWeights = getFlatWeights(model);
    const clients = Array.from({ length: 10 }, (_, k) => ({ id: `c${k}`, examples: clientExamples(k, 3) }));
    const common = {
      model,
      initialWeights,
      clients,
      testExamples: clientExamples(11, 2),
      clientsPerRound: 3,
      plan: { epochs: 1, batchSize: 4, learningRate: 0.5 },
      optimizer: { name: 'fedadam' as const, learningRate: 0.05 },
      evaluateEvery: 2,
    };
    const unbroken = await runFederatedSimulation({ ...common, rounds: 6, random: createSeededRandom(8) });
    const checkpoints: FederatedCheckpoint[] = [];
    await runFederatedSimulation({ ...common, rounds: 4, random: createSeededRandom(8), onCheckpoint: (c) => void checkpoints.push(c) });
    expect(checkpoints.map((c) => c.round)).toEqual([2, 4]);
    const resumed = await runFederatedSimulation({ ...common, rounds: 6, random: createSeededRandom(8), resume: checkpoints[0] as FederatedCheckpoint });
    expect(resumed.rounds.map((r) => r.participants)).toEqual(unbroken.rounds.map((r) => r.participants));
    resumed.weights.forEach((w, i) => expect(w).toBeCloseTo(unbroken.weights[i] as number, 5));
    model.dispose();
  });

  it('stops once the held-out loss has not improved for `patience` evaluations', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const clients = Array.from({ length: 4 }, (_, k) => ({ id: `c${k}`, examples: clientExamples(k, 3) }));
    const result = await runFederatedSimulation({
      model,
      initialWeights: getFlatWeights(model),
      clients,
      testExamples: UNSEEN,
      rounds: 50,
      clientsPerRound: 2,
      plan: { epochs: 1, batchSize: 4, learningRate: 0.5 },
      optimizer: { name: 'fedavg', learningRate: 1 },
      random: createSeededRandom(2),
      patience: 2,
    });
    expect(result.stoppedBy).toBe('patience');
    expect(result.rounds.length).toBeLessThan(50);
    const losses = result.rounds.map((r) => r.test?.loss as number);
    const best = Math.min(...losses);
    expect(losses.slice(-2).every((loss) => loss >= best)).toBe(true);
    model.dispose();
  });

  it("records each round's client learning rate, and gives a run resumed at a lower rate its full patience", async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const clients = Array.from({ length: 4 }, (_, k) => ({ id: `c${k}`, examples: clientExamples(k, 3) }));
    const common = {
      model,
      initialWeights: getFlatWeights(model),
      clients,
      testExamples: UNSEEN,
      rounds: 50,
      clientsPerRound: 2,
      optimizer: { name: 'fedavg' as const, learningRate: 1 },
      patience: 2,
    };
    const checkpoints: FederatedCheckpoint[] = [];
    const first = await runFederatedSimulation({
      ...common,
      plan: { batchSize: 4, learningRate: 0.5 },
      random: createSeededRandom(2),
      onCheckpoint: (c) => void checkpoints.push(c),
    });
    expect(first.stoppedBy).toBe('patience');
    expect(first.rounds.every((r) => r.learningRate === 0.5)).toBe(true);
    const stalled = checkpoints.at(-1) as FederatedCheckpoint;
    // The same rate again: patience is already spent, so the first evaluation stops it.
    const same = await runFederatedSimulation({ ...common, plan: { batchSize: 4, learningRate: 0.5 }, random: createSeededRandom(2), resume: stalled });
    expect(same.rounds.length).toBe(stalled.round + 1);
    // A lower rate: a fresh wait of `patience` evaluations under it, each round recording 0.1.
    const lower = await runFederatedSimulation({ ...common, plan: { batchSize: 4, learningRate: 0.1 }, random: createSeededRandom(2), resume: stalled });
    expect(lower.rounds.length).toBeGreaterThanOrEqual(stalled.round + 2);
    expect(lower.rounds.slice(stalled.round).every((r) => r.learningRate === 0.1)).toBe(true);
    // A lower server rate: applied to the stored optimizer, recorded, and given its full patience.
    const decayed = await runFederatedSimulation({
      ...common,
      optimizer: { name: 'fedavg', learningRate: 0.5 },
      plan: { batchSize: 4, learningRate: 0.5 },
      random: createSeededRandom(2),
      resume: stalled,
    });
    expect(decayed.rounds.length).toBeGreaterThanOrEqual(stalled.round + 2);
    expect(first.rounds.every((r) => r.serverLearningRate === 1)).toBe(true);
    expect(decayed.rounds.slice(stalled.round).every((r) => r.serverLearningRate === 0.5)).toBe(true);
    model.dispose();
  });

  it('steps a resumed server optimizer at the rate it is given now, keeping its moments', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const clients = [{ id: 'solo', examples: clientExamples(0, 3) }];
    const common = {
      model,
      clients,
      testExamples: UNSEEN,
      clientsPerRound: 1,
      plan: { batchSize: 4, learningRate: 0.5 },
    };
    const checkpoints: FederatedCheckpoint[] = [];
    await runFederatedSimulation({
      ...common,
      random: createSeededRandom(2),
      initialWeights: getFlatWeights(model),
      rounds: 1,
      optimizer: { name: 'fedavgm', learningRate: 1 },
      onCheckpoint: (c) => void checkpoints.push(c),
    });
    const start = checkpoints[0] as FederatedCheckpoint;
    const step = async (learningRate: number) => {
      const result = await runFederatedSimulation({
        ...common,
        random: createSeededRandom(2),
        initialWeights: start.weights,
        rounds: 2,
        optimizer: { name: 'fedavgm', learningRate },
        resume: start,
      });
      return result.weights.map((w, i) => w - (start.weights[i] as number));
    };
    // One client, same data order: the server step is proportional to its rate.
    const [full, half] = [await step(1), await step(0.5)];
    const moved = full.findIndex((d) => Math.abs(d) > 1e-4);
    expect(moved).toBeGreaterThanOrEqual(0);
    expect((half[moved] as number) / (full[moved] as number)).toBeCloseTo(0.5, 3);
    model.dispose();
  });

  it('rejects a cohort larger than the population', async () => {
    const model = buildModel(SPEC);
    await expect(
      runFederatedSimulation({
        model,
        initialWeights: getFlatWeights(model),
        clients: [{ id: 'a', examples: clientExamples(0, 1) }],
        testExamples: clientExamples(1, 1),
        rounds: 1,
        clientsPerRound: 2,
        plan: {},
        optimizer: { name: 'fedavg' },
        random: createSeededRandom(1),
      }),
    ).rejects.toThrow(/clientsPerRound must be in \[1, 1\]/);
    model.dispose();
  });
});

describe('runCentralTraining', () => {
  it('processes exactly its example budget and improves the model', async () => {
    const model = buildModel(SPEC, { seed: 5 });
    const pooled = clientExamples(3, 40);
    const progress: number[] = [];
    const result = await runCentralTraining({
      model,
      initialWeights: getFlatWeights(model),
      trainExamples: pooled,
      testExamples: pooled,
      examplesBudget: 500,
      batchSize: 8,
      learningRate: 0.5,
      random: createSeededRandom(6),
      onProgress: (p) => progress.push(p),
    });
    expect(result.examplesProcessed).toBe(500);
    expect(progress.at(-1)).toBe(500);
    expect(result.test.top1).toBeGreaterThan(0.5);
    model.dispose();
  });

  it('draws a learning curve with Adam and resumes from a checkpoint to the same weights', async () => {
    const model = buildModel(SPEC, { seed: 5 });
    const initialWeights = getFlatWeights(model);
    const pooled = clientExamples(2, 30);
    const common = {
      model,
      initialWeights,
      trainExamples: pooled,
      testExamples: pooled,
      batchSize: 8,
      learningRate: 0.01,
      optimizer: 'adam' as const,
      evaluateEvery: 40,
    };
    const unbroken = await runCentralTraining({ ...common, examplesBudget: 200, random: createSeededRandom(3) });
    expect(unbroken.curve.map((p) => p.processed)).toEqual([40, 80, 120, 160, 200]);
    expect(unbroken.curve.at(-1)?.test.loss).toBeLessThan((unbroken.curve[0]?.test.loss as number) * 0.8);
    const checkpoints: CentralCheckpoint[] = [];
    await runCentralTraining({ ...common, examplesBudget: 130, random: createSeededRandom(3), onCheckpoint: (c) => void checkpoints.push(c) });
    // Adam's iteration count and both moments of every variable travel with the checkpoint.
    expect(checkpoints[1]?.optimizer.length).toBe(1 + 2 * model.trainableWeights.length);
    const resumed = await runCentralTraining({ ...common, examplesBudget: 200, random: createSeededRandom(3), resume: checkpoints[1] as CentralCheckpoint });
    expect(resumed.curve.map((p) => p.processed)).toEqual([40, 80, 120, 160, 200]);
    resumed.weights.forEach((w, i) => expect(w).toBeCloseTo(unbroken.weights[i] as number, 4));
    model.dispose();
  });

  it('trains windows that tile the sentences with targets "every", epoch after epoch', async () => {
    const model = buildModel(SPEC, { seed: 5 });
    // 40 sentences of 4 targets with 2 tokens of context: 2 windows each, 80 windows an epoch.
    const pooled = clientExamples(1, 40);
    const result = await runCentralTraining({
      model,
      initialWeights: getFlatWeights(model),
      trainExamples: pooled,
      testExamples: pooled,
      examplesBudget: 200,
      batchSize: 16,
      learningRate: 0.01,
      optimizer: 'adam',
      targets: 'every',
      evaluateEvery: 80,
      random: createSeededRandom(1),
    });
    expect(result.curve.map((p) => p.epochs)).toEqual([1, 2, 2.5]);
    // Chance is 1 in 20 suggestable tokens; a third of the targets (the middle word) is unpredictable.
    expect(result.test.top1).toBeGreaterThan(0.4);
    model.dispose();
  });

  it('records its sampled softmax and rate, and gives a run resumed on the full softmax or a lower rate its full patience', async () => {
    const model = buildModel({ ...SPEC, architecture: 'cifg', tiedEmbeddings: true }, { seed: 5 });
    const common = {
      model,
      initialWeights: getFlatWeights(model),
      trainExamples: clientExamples(2, 30),
      testExamples: UNSEEN,
      batchSize: 8,
      learningRate: 0.01,
      optimizer: 'adam' as const,
      targets: 'every' as const,
      evaluateEvery: 16,
      examplesBudget: 2_000,
      patience: 2,
      random: createSeededRandom(3),
    };
    const checkpoints: CentralCheckpoint[] = [];
    const sampled = await runCentralTraining({ ...common, sampledSoftmax: 4, onCheckpoint: (c) => void checkpoints.push(c) });
    expect(sampled.stoppedBy).toBe('patience');
    expect(sampled.curve.every((point) => point.sampledSoftmax === 4)).toBe(true);
    const stalled = checkpoints.at(-1) as CentralCheckpoint;
    // The same softmax again: patience is already spent, so the first evaluation stops it.
    const same = await runCentralTraining({ ...common, sampledSoftmax: 4, resume: stalled });
    expect(same.curve.length).toBe(stalled.curve.length + 1);
    // The full softmax: a fresh wait of `patience` evaluations, each point recording it.
    const full = await runCentralTraining({ ...common, resume: stalled });
    expect(full.curve.length).toBeGreaterThanOrEqual(stalled.curve.length + 2);
    expect(full.curve.slice(stalled.curve.length).every((point) => point.sampledSoftmax === undefined)).toBe(true);
    // A lower learning rate: the same fresh wait, each point recording the rate.
    const lower = await runCentralTraining({ ...common, sampledSoftmax: 4, learningRate: 0.003, resume: stalled });
    expect(lower.curve.length).toBeGreaterThanOrEqual(stalled.curve.length + 2);
    expect(stalled.curve.every((point) => point.learningRate === 0.01)).toBe(true);
    expect(lower.curve.slice(stalled.curve.length).every((point) => point.learningRate === 0.003)).toBe(true);
    model.dispose();
  });
});
