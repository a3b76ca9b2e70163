// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { TINY_SPEC } from '@murmur/fl-core/model';
import { LocalStore } from '../storage/db';
import { WorkerClient } from '../worker/client';
import { calibrationKey, type ToWorker } from '../worker/protocol';
import { initialState, RuntimeCore, type LoadedModelInfo } from './core';
import { ModelService, tokenizationChanged } from './model-service';
import { ScriptedWorker, type ScriptedReply } from './scripted-worker';

/**
 * A model payload here is three bytes, [version, vocabulary, size], which the scripted worker
 * "verifies" into the header it would report; version 255 fails verification. The hash (the
 * aggregator's ETag) is the version byte repeated.
 */
const payload = (version: number, vocabulary = 1, size = 1) => new Uint8Array([version, vocabulary, size]);
const hex = (byte: number) => byte.toString(16).padStart(2, '0').repeat(32);

function answer(request: ToWorker): ScriptedReply | null {
  switch (request.type) {
    case 'loadModel': {
      const [version = 0, vocabulary = 0, size = 0] = request.payload;
      if (version === 255) return { type: 'error', code: 'BAD_MODEL_PAYLOAD', message: 'hash mismatch' };
      return { type: 'modelLoaded', version, hash: hex(version), parameters: 100 * size, spec: TINY_SPEC, vocabularyFingerprint: hex(vocabulary) };
    }
    case 'calibrate':
      return {
        type: 'calibrated',
        result: request.cached
          ? { ...request.cached, fromCache: true }
          : {
              key: calibrationKey('scripted', request.spec),
              backend: 'wasm',
              reason: 'fastest',
              measurements: [{ backend: 'wasm', examplesPerSecond: 50, error: null }],
              wasmThreads: 0,
              measuredAt: 1,
              fromCache: false,
            },
      };
    case 'suggest':
      return { type: 'suggestions', words: ['the', 'a'], completing: false, modelVersion: 3 };
    default:
      return null;
  }
}

/** The aggregator's released model: what it serves, and the requests it saw. */
const aggregator = { served: payload(1), status: 200, requests: [] as { ifNoneMatch: string | null }[] };
let server: Server;
let origin: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url !== '/api/model/released') return void res.writeHead(404).end();
    const ifNoneMatch = req.headers['if-none-match'] ?? null;
    aggregator.requests.push({ ifNoneMatch });
    const etag = `"${hex(aggregator.served[0]!)}"`;
    if (aggregator.status !== 200) return void res.writeHead(aggregator.status).end();
    if (ifNoneMatch === etag) return void res.writeHead(304).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', etag }).end(aggregator.served);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  Object.assign(aggregator, { served: payload(1), status: 200, requests: [] });
});

let counter = 0;
const stores: LocalStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

async function setup() {
  const core = new RuntimeCore(initialState({ defaultConsent: false, seed: null }));
  const store = await LocalStore.open({ name: `model-service-test-${++counter}`, defaultConsent: false });
  stores.push(store);
  const worker = new ScriptedWorker(answer);
  core.store = store;
  core.worker = new WorkerClient(worker);
  const onReplace = vi.fn<(previous: LoadedModelInfo | null, next: LoadedModelInfo) => void>();
  const onTokenizationChange = vi.fn(() => Promise.resolve());
  const calibration = { candidates: ['wasm' as const], batches: 1, batchSize: 8, budgetMsPerBackend: 1_000 };
  const models = new ModelService(core, { origin, calibration, onReplace, onTokenizationChange });
  const loads = () => worker.requests.filter((r) => r.type === 'loadModel').length;
  /** Loaded and the runtime ready, as after start-up. */
  const ready = async () => {
    await models.load();
    core.set({ phase: 'ready' });
  };
  return { core, store, worker, models, onReplace, onTokenizationChange, loads, ready };
}

const cache = (store: LocalStore, version: number) => store.putModel({ version, spec: TINY_SPEC, hash: hex(version), payload: payload(version), fetchedAt: 1 });

describe('tokenizationChanged', () => {
  it('is true when the vocabulary or the context length differs, not for new weights', () => {
    const model: LoadedModelInfo = { version: 1, hash: hex(1), parameters: 100, spec: TINY_SPEC, vocabularyFingerprint: hex(1), source: 'cache' };
    expect(tokenizationChanged(model, { ...model, version: 2, hash: hex(2), source: 'network' })).toBe(false);
    expect(tokenizationChanged(model, { ...model, vocabularyFingerprint: hex(2) })).toBe(true);
    expect(tokenizationChanged(model, { ...model, spec: { ...TINY_SPEC, contextLength: TINY_SPEC.contextLength + 1 } })).toBe(true);
  });
});

describe('ModelService', () => {
  it('downloads the released model when nothing is cached, and caches it once the worker verified it', async () => {
    const { core, store, models, onReplace } = await setup();
    expect(await models.load()).toEqual({ fromCache: false });
    expect(core.state.model).toMatchObject({ version: 1, hash: hex(1), parameters: 100, source: 'network' });
    const cached = await store.getLatestModel();
    expect(cached).toMatchObject({ version: 1, hash: hex(1) });
    expect([...(cached?.payload ?? [])]).toEqual([...payload(1)]);
    expect(onReplace).toHaveBeenCalledWith(null, core.state.model);
    expect(aggregator.requests).toEqual([{ ifNoneMatch: null }]);
  });

  it('starts from a cached model that still verifies, without asking the network', async () => {
    const { core, store, models } = await setup();
    await cache(store, 4);
    expect(await models.load()).toEqual({ fromCache: true });
    expect(core.state.model).toMatchObject({ version: 4, source: 'cache' });
    expect(aggregator.requests).toEqual([]);
  });

  it('replaces a cached model that no longer verifies with the network’s', async () => {
    const { core, store, models } = await setup();
    await cache(store, 255);
    expect(await models.load()).toEqual({ fromCache: false });
    expect(core.state.model).toMatchObject({ version: 1, source: 'network' });
    expect((await store.getLatestModel())?.version).toBe(255);
  });

  it('costs one 304 to find the model unchanged', async () => {
    const { core, models, loads, ready } = await setup();
    await ready();
    const before = core.state.model;
    await models.refresh();
    expect(aggregator.requests.at(-1)).toEqual({ ifNoneMatch: `"${hex(1)}"` });
    expect(loads()).toBe(1);
    expect(core.state.model).toBe(before);
  });

  it('loads a newer model, and asks for examples again only when it tokenizes differently', async () => {
    const { core, store, models, onReplace, onTokenizationChange, ready } = await setup();
    await ready();
    const first = core.state.model;
    aggregator.served = payload(2, 1, 2);
    await models.refresh();
    expect(core.state.model).toMatchObject({ version: 2, parameters: 200, source: 'network' });
    expect(onReplace).toHaveBeenLastCalledWith(first, core.state.model);
    expect(onTokenizationChange).not.toHaveBeenCalled();
    expect((await store.getLatestModel())?.version).toBe(2);

    aggregator.served = payload(3, 2, 2);
    await models.refresh();
    expect(onTokenizationChange).toHaveBeenCalledTimes(1);
  });

  it('shows a failed refresh as a notice, and clears it once a refresh works', async () => {
    const { core, models, ready } = await setup();
    await ready();
    aggregator.status = 503;
    await models.refresh();
    expect(core.state.notice).toMatchObject({ source: 'model update' });
    aggregator.status = 200;
    await models.refresh();
    expect(core.state.notice).toBeNull();
  });

  it('does not look for a model before the runtime is ready', async () => {
    const { models } = await setup();
    await models.refresh();
    expect(aggregator.requests).toEqual([]);
  });

  it('measures the backends once per device and model, then reuses the stored calibration', async () => {
    const { core, store, worker, models, ready } = await setup();
    await ready();
    await models.calibrate('scripted');
    expect(core.state.calibration).toMatchObject({ backend: 'wasm', fromCache: false });
    const key = calibrationKey('scripted', TINY_SPEC);
    expect(await store.getCalibration(key)).toMatchObject({ key, backend: 'wasm' });

    await models.calibrate('scripted');
    const asked = worker.requests.filter((r) => r.type === 'calibrate');
    expect(asked[1]).toMatchObject({ cached: { key, backend: 'wasm' } });
    expect(core.state.calibration).toMatchObject({ backend: 'wasm', fromCache: true });
  });

  it('asks the worker for suggestions with the loaded model', async () => {
    const { models, ready } = await setup();
    await ready();
    expect(await models.suggest('we the')).toEqual({ words: ['the', 'a'], modelVersion: 3 });
  });
});
