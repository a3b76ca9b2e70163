import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel } from '../model/build';
import { getFlatWeights } from '../model/weights';
import type { ModelSpec } from '../model/spec';
import { createSeededRandom } from '../random/index';
import type { ExampleSet } from '../text/index';
import { trainLocal } from '../train/local';
import { runFederatedSimulation, type VirtualClient } from './federated';
import { runCentralTraining } from './central';

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 24, contextLength: 2, embeddingDim: 8, hiddenUnits: 16 };

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
      model, initialWeights: initial, clients: [client], testExamples: client.examples, rounds: 1, clientsPerRound: 1,
      plan, optimizer: { name: 'fedavg', learningRate: 1 }, random: createSeededRandom(9),
    });
    // Replay the same random streams: the simulation forks the cohort sampler once per client.
    const replay = createSeededRandom(9);
    replay.sampleIndices(1, 1);
    const alone = await trainLocal(model, initial, client.examples, plan, { random: replay.fork() });
    alone.delta.forEach((d, i) => expect(simulated.weights[i]).toBeCloseTo((initial[i] as number) + d, 5));
    model.dispose();
  });

  it('learns across non-IID clients: held-out accuracy rises over rounds, every client record complete', async () => {
    const model = buildModel(SPEC, { seed: 3 });
    const clients = Array.from({ length: 12 }, (_, k) => ({ id: `c${k}`, examples: clientExamples(k, 6) }));
    const test = clientExamples(12, 6);
    const seen: number[] = [];
    const result = await runFederatedSimulation({
      model, initialWeights: getFlatWeights(model), clients, testExamples: test, rounds: 12, clientsPerRound: 4,
      plan: { epochs: 2, batchSize: 8, learningRate: 0.5 }, optimizer: { name: 'fedadam', learningRate: 0.05 },
      random: createSeededRandom(4), evaluateEvery: 4, onRound: (r) => seen.push(r.round),
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

  it('rejects a cohort larger than the population', async () => {
    const model = buildModel(SPEC);
    await expect(runFederatedSimulation({
      model, initialWeights: getFlatWeights(model), clients: [{ id: 'a', examples: clientExamples(0, 1) }],
      testExamples: clientExamples(1, 1), rounds: 1, clientsPerRound: 2, plan: {}, optimizer: { name: 'fedavg' }, random: createSeededRandom(1),
    })).rejects.toThrow(/clientsPerRound must be in \[1, 1\]/);
    model.dispose();
  });
});

describe('runCentralTraining', () => {
  it('processes exactly its example budget and improves the model', async () => {
    const model = buildModel(SPEC, { seed: 5 });
    const pooled = clientExamples(3, 40);
    const initial = getFlatWeights(model);
    const progress: number[] = [];
    const result = await runCentralTraining({
      model, initialWeights: initial, trainExamples: pooled, testExamples: pooled, examplesBudget: 500,
      batchSize: 8, learningRate: 0.5, random: createSeededRandom(6), chunkSize: 96, onProgress: (p) => progress.push(p),
    });
    expect(result.examplesProcessed).toBe(500);
    expect(progress.at(-1)).toBe(500);
    expect(result.test.top1).toBeGreaterThan(0.5);
    model.dispose();
  });
});
