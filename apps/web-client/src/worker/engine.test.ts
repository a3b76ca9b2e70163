import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildModel, encodeModelPayload, getFlatWeights, TINY_SPEC, type ModelSpec } from '@murmur/fl-core';
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
    const first = await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: [...calibration.candidates] }, cached: null }, 'calibrated').answer;
    if (first.type !== 'calibrated') throw new Error(first.message);
    expect(first.result).toMatchObject({ backend: 'cpu', fromCache: false, key: calibrationKey('node-test', SMALL) });
    const byBackend = Object.fromEntries(first.result.measurements.map((m) => [m.backend, m]));
    expect(byBackend.cpu?.examplesPerSecond).toBeGreaterThan(0);
    expect(byBackend.webgpu).toMatchObject({ examplesPerSecond: null, error: 'not available in this browser' });
    expect(first.result.reason).toMatch(/^fastest in calibration: cpu [\d.]+ ex\/s; webgpu failed/);

    const { fromCache: _, ...stored } = first.result;
    const again = await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: ['cpu'] }, cached: stored }, 'calibrated').answer;
    expect(again).toMatchObject({ type: 'calibrated', result: { fromCache: true, backend: 'cpu', measuredAt: first.result.measuredAt } });
    const otherModel = await send({ type: 'calibrate', spec: { ...SMALL, hiddenUnits: 9 }, options: { ...calibration, candidates: ['cpu'] }, cached: stored }, 'calibrated').answer;
    expect(otherModel).toMatchObject({ type: 'calibrated', result: { fromCache: false } });
  });

  it('suggests from the loaded model, changes with a new version, and derives examples', async () => {
    const { send } = harness();
    expect(await send({ type: 'suggest', text: 'hello ' }, 'suggestions').answer).toMatchObject({ type: 'error', code: 'NO_MODEL' });
    await send({ type: 'calibrate', spec: SMALL, options: { ...calibration, candidates: ['cpu'] }, cached: null }, 'calibrated').answer;
    expect(await send({ type: 'loadModel', payload: payload(SMALL, 3, 1) }, 'modelLoaded').answer).toMatchObject({ type: 'modelLoaded', version: 3, spec: SMALL });

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

    const derived = await send({ type: 'derive', textId: 't1', body: 'We the people. Of the United States.', vocabularySize: 200, contextLength: 4 }, 'derived').answer;
    if (derived.type !== 'derived') throw new Error(derived.message);
    expect(derived.examples.count).toBe(3 + 1 + 4 + 1);
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
