import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { buildModel, CIFG_SPEC, encodeModelPayload, getFlatWeights, parameterCount, TINY_SPEC, type ModelSpec } from '@murmur/fl-core/model';
import { explainChoice, TrainingEngine, type BackendEnvironment } from './engine';
import { calibrationKey, fromWorkerSchema, type FromWorker, type WorkerRequest } from './protocol';

/** The real engine on tfjs's cpu backend, the one Node has without native code. */
const cpuOnly: BackendEnvironment = {
  available: () => ['cpu'],
  activate: async (name) => ((await tf.setBackend(name)) ? null : `${name} failed`),
  wasmThreads: () => 1,
};

const SMALL: ModelSpec = { ...TINY_SPEC, vocabularySize: 200, embeddingDim: 8, hiddenUnits: 8, contextLength: 4 };

function harness() {
  const outbox: FromWorker[] = [];
  const waiters: { match: (m: FromWorker) => boolean; resolve: (m: FromWorker) => void }[] = [];
  const engine = new TrainingEngine(cpuOnly, 'node-test', (message) => {
    // What goes out must satisfy the schema the UI parses it with.
    const parsed = fromWorkerSchema.parse(message);
    outbox.push(parsed);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(parsed)) waiter.resolve(parsed);
      else waiters.push(waiter);
    }
  });
  let nextId = 1;
  const send = <T extends FromWorker['type']>(request: WorkerRequest, answer: T | 'error') => {
    const id = nextId++;
    const promise = new Promise<FromWorker>((resolve) => {
      const match = (m: FromWorker) => 'id' in m && m.id === id && (m.type === answer || m.type === 'error');
      const done = outbox.find(match);
      if (done) resolve(done);
      else waiters.push({ match, resolve });
    });
    engine.handle({ ...request, id });
    return { id, answer: promise as Promise<Extract<FromWorker, { type: T | 'error' }>> };
  };
  return { engine, outbox, send };
}

function payload(spec: ModelSpec, version: number, seed: number): Uint8Array {
  const model = buildModel(spec, { seed });
  const weights = getFlatWeights(model);
  model.dispose();
  return encodeModelPayload({ version, spec, weights });
}

const calibration = { candidates: ['webgpu', 'webgl', 'wasm', 'cpu'] as const, batches: 2, batchSize: 8, budgetMsPerBackend: 10_000 };

describe('TrainingEngine', () => {
  it('rejects malformed messages with a typed error naming the field', () => {
    const { engine, outbox } = harness();
    engine.handle({ type: 'suggest', id: 4, text: 42 });
    engine.handle('nonsense');
    expect(outbox[0]).toMatchObject({ type: 'error', id: 4, code: 'BAD_MESSAGE' });
    expect(outbox[0]?.type === 'error' && outbox[0].message).toMatch(/text/);
    expect(outbox[1]).toMatchObject({ type: 'error', id: null, code: 'BAD_MESSAGE' });
  });

  it('calibrates over what is available, records why, and reuses a cached choice for the same key', async () => {
    const { send } = harness();
    const first = await send(
      { type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: [...calibration.candidates] }, cached: null },
      'calibrated',
    ).answer;
    if (first.type !== 'calibrated') throw new Error(first.message);
    expect(first.result).toMatchObject({ backend: 'cpu', fromCache: false, key: calibrationKey('node-test', SMALL) });
    const byBackend = Object.fromEntries(first.result.measurements.map((m) => [m.backend, m]));
    expect(byBackend.cpu?.examplesPerSecond).toBeGreaterThan(0);
    expect(byBackend.webgpu).toMatchObject({ examplesPerSecond: null, error: 'not available in this browser' });
    expect(first.result.reason).toMatch(/^fastest in calibration: cpu [\d.]+ ex\/s; webgpu failed/);

    const { fromCache: _, ...stored } = first.result;
    const again = await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: ['cpu'] }, cached: stored }, 'calibrated').answer;
    expect(again).toMatchObject({ type: 'calibrated', result: { fromCache: true, backend: 'cpu', measuredAt: first.result.measuredAt } });
    const otherModel = await send(
      { type: 'calibrate', spec: { ...SMALL, hiddenUnits: 9 }, options: { ...calibration, candidates: ['cpu'] }, cached: stored },
      'calibrated',
    ).answer;
    expect(otherModel).toMatchObject({ type: 'calibrated', result: { fromCache: false } });
  });

  it('does not time a GPU backend that a software rasterizer would run, while a CPU-side one is left', async () => {
    const activated: string[] = [];
    const softwareGpu: BackendEnvironment = {
      available: () => ['webgpu', 'webgl', 'cpu'],
      activate: async (name) => {
        activated.push(name);
        return name === 'cpu' && (await tf.setBackend('cpu')) ? null : `${name} failed`;
      },
      wasmThreads: () => 1,
      softwareRenderer: async (name) => (name === 'webgpu' ? 'google/swiftshader' : null),
    };
    const outbox: FromWorker[] = [];
    const engine = new TrainingEngine(softwareGpu, 'software-gpu', (message) => outbox.push(fromWorkerSchema.parse(message)));
    engine.handle({ type: 'calibrate', id: 1, spec: SMALL, options: { ...calibration, candidates: [...calibration.candidates] }, cached: null });
    await vi.waitFor(() => expect(outbox.find((m) => m.type === 'calibrated' || m.type === 'error')).toBeDefined(), { timeout: 20_000 });
    const answer = outbox.find((m) => m.type === 'calibrated');
    if (answer?.type !== 'calibrated') throw new Error(JSON.stringify(outbox));
    expect(answer.result.backend).toBe('cpu');
    const webgpu = answer.result.measurements.find((m) => m.backend === 'webgpu');
    expect(webgpu).toMatchObject({ examplesPerSecond: null, error: expect.stringMatching(/^software renderer \(google\/swiftshader\): not measured/) });
    // webgl (a hardware renderer here) was tried; the SwiftShader webgpu never was.
    expect(activated).not.toContain('webgpu');
    expect(activated).toContain('webgl');
  });

  it('suggests from the loaded model, changes with a new version, and derives examples', async () => {
    const { send } = harness();
    expect(await send({ type: 'suggest', text: 'hello ' }, 'suggestions').answer).toMatchObject({ type: 'error', code: 'NO_MODEL' });
    await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: ['cpu'] }, cached: null }, 'calibrated').answer;
    expect(await send({ type: 'loadModel', payload: payload(SMALL, 3, 1) }, 'modelLoaded').answer).toMatchObject({
      type: 'modelLoaded',
      version: 3,
      spec: SMALL,
    });

    const first = await send({ type: 'suggest', text: 'we the ' }, 'suggestions').answer;
    if (first.type !== 'suggestions') throw new Error(first.message);
    expect(first.words).toHaveLength(3);
    expect(first).toMatchObject({ modelVersion: 3, completing: false });
    const completing = await send({ type: 'suggest', text: 'we the t' }, 'suggestions').answer;
    if (completing.type !== 'suggestions') throw new Error(completing.message);
    expect(completing.completing).toBe(true);
    for (const word of completing.words) expect(word.toLowerCase().startsWith('t')).toBe(true);

    await send({ type: 'loadModel', payload: payload(SMALL, 4, 99) }, 'modelLoaded').answer;
    const second = await send({ type: 'suggest', text: 'we the ' }, 'suggestions').answer;
    expect(second).toMatchObject({ modelVersion: 4 });
    expect(second.type === 'suggestions' && second.words).not.toEqual(first.words);

    const derived = await send({ type: 'derive', textId: 't1', body: 'We the people. Of the United States.', vocabularySize: 200, contextLength: 4 }, 'derived')
      .answer;
    if (derived.type !== 'derived') throw new Error(derived.message);
    expect(derived.examples.count).toBe(3 + 1 + 4 + 1);
  });

  it('loads the CIFG model the aggregator serves by default and suggests with it', async () => {
    const { send } = harness();
    await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: ['cpu'] }, cached: null }, 'calibrated').answer;
    const bytes = payload(CIFG_SPEC, 7, 3);
    expect(bytes.byteLength).toBeGreaterThan(5_000_000);
    const loaded = await send({ type: 'loadModel', payload: bytes }, 'modelLoaded').answer;
    expect(loaded).toMatchObject({ type: 'modelLoaded', version: 7, spec: CIFG_SPEC, parameters: parameterCount(CIFG_SPEC) });
    const answer = await send({ type: 'suggest', text: 'we the people of the ' }, 'suggestions').answer;
    if (answer.type !== 'suggestions') throw new Error(answer.message);
    expect(answer).toMatchObject({ modelVersion: 7, completing: false });
    expect(answer.words).toHaveLength(3);
    // Derived for the model's own vocabulary and context: the 10,004 words and 10 tokens.
    const derived = await send(
      { type: 'derive', textId: 't', body: 'We the people.', vocabularySize: CIFG_SPEC.vocabularySize, contextLength: CIFG_SPEC.contextLength },
      'derived',
    ).answer;
    expect(derived).toMatchObject({ type: 'derived', examples: { contextLength: 10, count: 4 } });
  }, 30_000);

  it('benchmarks windows and predicted tokens per second, on the last target or on every position', async () => {
    const { send } = harness();
    const last = await send({ type: 'benchmark', backend: 'cpu', spec: SMALL, batches: 2, batchSize: 8 }, 'benchmarked').answer;
    if (last.type !== 'benchmarked') throw new Error(last.message);
    expect(last).toMatchObject({ targets: 'last', measurement: { backend: 'cpu', error: null } });
    expect(last.tokensPerSecond).toBeCloseTo(last.measurement.examplesPerSecond as number, 0);
    const every = await send({ type: 'benchmark', backend: 'cpu', spec: SMALL, batches: 2, batchSize: 8, targets: 'every' }, 'benchmarked').answer;
    if (every.type !== 'benchmarked') throw new Error(every.message);
    expect(every.targets).toBe('every');
    const windows = every.measurement.examplesPerSecond as number;
    expect(windows).toBeGreaterThan(0);
    // Synthetic windows hold no <pad>/<bos>: every position is scored.
    expect(every.tokensPerSecond).toBeCloseTo(windows * SMALL.contextLength, 0);
    const tied = { ...SMALL, architecture: 'cifg' as const, tiedEmbeddings: true };
    const sampled = await send({ type: 'benchmark', backend: 'cpu', spec: tied, batches: 2, batchSize: 8, targets: 'every', sampledSoftmax: 16 }, 'benchmarked')
      .answer;
    expect(sampled).toMatchObject({ type: 'benchmarked', measurement: { error: null } });
    // The full-softmax-only spec cannot take a sampled softmax: the measurement says why.
    const untied = await send({ type: 'benchmark', backend: 'cpu', spec: SMALL, batches: 1, batchSize: 8, targets: 'every', sampledSoftmax: 16 }, 'benchmarked')
      .answer;
    expect(untied).toMatchObject({ type: 'benchmarked', tokensPerSecond: null, measurement: { error: expect.stringContaining('tied-softmax') } });
    const missing = await send({ type: 'benchmark', backend: 'webgl', spec: SMALL, batches: 1, batchSize: 8, targets: 'every' }, 'benchmarked').answer;
    expect(missing).toMatchObject({
      type: 'benchmarked',
      tokensPerSecond: null,
      measurement: { examplesPerSecond: null, error: 'not available in this browser' },
    });
  });

  it('refuses a corrupt model payload', async () => {
    const { send } = harness();
    await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: ['cpu'] }, cached: null }, 'calibrated').answer;
    const bytes = payload(SMALL, 1, 1);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    expect(await send({ type: 'loadModel', payload: bytes }, 'modelLoaded').answer).toMatchObject({ type: 'error', code: 'BAD_MODEL_PAYLOAD' });
  });

  it('fixes the kernels once per worker', async () => {
    const { send } = harness();
    expect(await send({ type: 'configure', kernels: 'direct' }, 'configured').answer).toMatchObject({ type: 'configured' });
    expect(await send({ type: 'configure', kernels: 'stock' }, 'configured').answer).toMatchObject({ type: 'error', code: 'KERNELS_FIXED' });
  });
});

describe('explainChoice', () => {
  it('names the winner, its rate and how much slower the others were', () => {
    const reason = explainChoice({ backend: 'wasm', examplesPerSecond: 170, error: null }, [
      { backend: 'webgpu', examplesPerSecond: 8.5, error: null },
      { backend: 'webgl', examplesPerSecond: 21.25, error: null },
      { backend: 'wasm', examplesPerSecond: 170, error: null },
      { backend: 'cpu', examplesPerSecond: null, error: 'boom' },
    ]);
    expect(reason).toBe('fastest in calibration: wasm 170.0 ex/s; webgpu 8.5 ex/s (20.0× slower), webgl 21.3 ex/s (8.0× slower), cpu failed (boom)');
  });
});
