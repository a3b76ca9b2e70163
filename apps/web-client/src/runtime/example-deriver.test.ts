import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TINY_SPEC } from '@murmur/fl-core/model';
import { LocalStore } from '../storage/db';
import type { ExampleRecord, TextRecord } from '../storage/schema';
import { WorkerClient } from '../worker/client';
import type { ToWorker } from '../worker/protocol';
import { initialState, RuntimeCore, type LoadedModelInfo } from './core';
import { ExampleDeriver, fitsModel, isStale } from './example-deriver';
import { ScriptedWorker, type ScriptedReply } from './scripted-worker';

const FINGERPRINT = 'a'.repeat(64);
const OTHER_FINGERPRINT = 'b'.repeat(64);
const MODEL: LoadedModelInfo = { version: 1, hash: 'c'.repeat(64), parameters: 100, spec: TINY_SPEC, vocabularyFingerprint: FINGERPRINT, source: 'network' };
const SEED = { id: '1790-george-washington', corpus: 'inaugural addresses', texts: ['Fellow citizens.', 'Among the vicissitudes.'] };

let server: Server;
let origin: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === `/seed/${SEED.id}.json`) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(SEED));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

type DeriveRequest = Extract<ToWorker, { type: 'derive' }>;

/** One example per word of the text, as the worker's answer to `derive` (the fingerprint it was asked under). */
function derived(request: DeriveRequest, fingerprint = FINGERPRINT) {
  const count = request.body.split(/\s+/).filter(Boolean).length;
  return {
    type: 'derived' as const,
    textId: request.textId,
    vocabularyFingerprint: fingerprint,
    examples: { contexts: new Int32Array(count * request.contextLength), targets: new Int32Array(count), count, contextLength: request.contextLength },
  };
}

let counter = 0;
const stores: LocalStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

async function setup(answer: (request: ToWorker) => ScriptedReply | null = (r) => (r.type === 'derive' ? derived(r) : null)) {
  const core = new RuntimeCore({ ...initialState({ defaultConsent: false, seed: null }), phase: 'ready', model: MODEL });
  const store = await LocalStore.open({ name: `deriver-test-${++counter}`, defaultConsent: false });
  stores.push(store);
  const worker = new ScriptedWorker(answer);
  core.store = store;
  core.worker = new WorkerClient(worker);
  const onExamplesChange = vi.fn();
  const deriver = new ExampleDeriver(core, { origin, onExamplesChange });
  const derives = () => worker.requests.filter((r): r is DeriveRequest => r.type === 'derive');
  return { core, store, worker, deriver, derives, onExamplesChange };
}

const text = (updatedAt: number): TextRecord => ({ id: 't', body: 'one two', source: 'user', demoPartition: null, createdAt: 0, updatedAt });
const record = (change: Partial<ExampleRecord> = {}): ExampleRecord => ({
  textId: 't',
  vocabularyFingerprint: FINGERPRINT,
  contextLength: TINY_SPEC.contextLength,
  count: 0,
  contexts: new Int32Array(0),
  targets: new Int32Array(0),
  textUpdatedAt: 5,
  ...change,
});

describe('isStale and fitsModel', () => {
  it('keep examples derived from this version of the text under this tokenization, and nothing else', () => {
    expect(isStale(record(), text(5), MODEL)).toBe(false);
    expect(isStale(undefined, text(5), MODEL)).toBe(true);
    expect(isStale(record(), text(6), MODEL)).toBe(true);
    expect(isStale(record({ vocabularyFingerprint: OTHER_FINGERPRINT }), text(5), MODEL)).toBe(true);
    expect(isStale(record({ contextLength: TINY_SPEC.contextLength + 1 }), text(5), MODEL)).toBe(true);
    expect(fitsModel(record(), MODEL)).toBe(true);
    expect(fitsModel(record(), { ...MODEL, spec: { ...TINY_SPEC, contextLength: TINY_SPEC.contextLength + 1 } })).toBe(false);
  });
});

describe('ExampleDeriver', () => {
  it('derives each saved text once, counts its examples and tells eligibility', async () => {
    const { core, deriver, derives, onExamplesChange } = await setup();
    await deriver.saveText(null, 'one two three');
    await deriver.saveText(null, 'four five');
    expect(core.state.texts).toHaveLength(2);
    expect(core.state.examples).toBe(5);
    expect(derives()).toHaveLength(2);
    expect(derives()[0]).toMatchObject({ body: 'one two three', vocabularySize: TINY_SPEC.vocabularySize, contextLength: TINY_SPEC.contextLength });
    expect(onExamplesChange).toHaveBeenCalledTimes(2);

    await deriver.deriveMissing();
    expect(derives()).toHaveLength(2);
  });

  it('derives an edited text again, even when the edit lands in the same millisecond', async () => {
    const { core, store, deriver, derives } = await setup();
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000);
    try {
      const id = await deriver.saveText(null, 'one two');
      expect(await deriver.saveText(id, 'one two three four')).toBe(id);
      expect((await store.getText(id))?.updatedAt).toBe(1_001);
    } finally {
      now.mockRestore();
    }
    expect(derives().map((r) => r.body)).toEqual(['one two', 'one two three four']);
    expect(core.state.examples).toBe(4);
  });

  it('derives everything again for a model with another vocabulary and counts only what fits it', async () => {
    let fingerprint = FINGERPRINT;
    const { core, deriver, derives } = await setup((r) => (r.type === 'derive' ? derived(r, fingerprint) : null));
    await deriver.saveText(null, 'one two three');
    fingerprint = OTHER_FINGERPRINT;
    core.set({ model: { ...MODEL, vocabularyFingerprint: OTHER_FINGERPRINT } });
    await deriver.deriveMissing();
    expect(derives()).toHaveLength(2);
    expect(core.state.examples).toBe(3);
  });

  it('stores nothing for a text deleted while the worker tokenized it', async () => {
    const { core, store, worker, deriver, derives } = await setup(() => null);
    await store.putText({ id: 'gone', body: 'one two', source: 'user', demoPartition: null, createdAt: 1, updatedAt: 1 });
    const deriving = deriver.deriveMissing();
    await vi.waitFor(() => expect(derives()).toHaveLength(1));
    await store.deleteText('gone');
    const request = derives()[0]!;
    worker.reply(request.id, derived(request));
    await deriving;
    expect(await store.listExamples()).toEqual([]);
    expect(core.state.examples).toBe(0);
  });

  it('derives again after a failed derivation', async () => {
    let failures = 1;
    const { core, deriver } = await setup((r) => {
      if (r.type !== 'derive') return null;
      if (failures-- > 0) return { type: 'error', code: 'NO_MODEL', message: 'no model loaded' };
      return derived(r);
    });
    await deriver.saveText(null, 'one two');
    expect(core.state.notice).toMatchObject({ source: 'derive' });
    await deriver.saveText(null, 'three four five');
    expect(core.state.examples).toBe(5);
  });

  it('hands training the fitting, non-empty example sets as one', async () => {
    const { store, deriver } = await setup();
    await deriver.saveText(null, 'one two');
    await deriver.saveText(null, 'three');
    await store.putText({ id: 'empty', body: '', source: 'user', demoPartition: null, createdAt: 1, updatedAt: 1 });
    await store.putExamples({ ...record({ textId: 'empty', textUpdatedAt: 1 }) });
    await store.putText({ id: 'old', body: 'x', source: 'user', demoPartition: null, createdAt: 1, updatedAt: 1 });
    await store.putExamples({
      ...record({ textId: 'old', vocabularyFingerprint: OTHER_FINGERPRINT, count: 1, targets: new Int32Array(1), textUpdatedAt: 1 }),
      contexts: new Int32Array(TINY_SPEC.contextLength),
    });
    const set = await deriver.trainingSet();
    expect(set?.count).toBe(3);
    expect(set?.contexts).toHaveLength(3 * TINY_SPEC.contextLength);
  });

  it('has no training set before any text or without a model', async () => {
    const { core, deriver } = await setup();
    expect(await deriver.trainingSet()).toBeNull();
    await deriver.saveText(null, 'one two');
    core.set({ model: null });
    expect(await deriver.trainingSet()).toBeNull();
  });

  it('shows a failed derivation as a notice instead of throwing', async () => {
    const { core, deriver } = await setup((r) => (r.type === 'derive' ? { type: 'error', code: 'NO_MODEL', message: 'no model loaded' } : null));
    await deriver.saveText(null, 'one two');
    expect(core.state.notice).toMatchObject({ source: 'derive', text: 'Could not prepare training examples: no model loaded' });
    expect(core.state.examples).toBe(0);
  });

  it('stores a demo partition as one text, once, and says what it loaded', async () => {
    const { core, store, deriver } = await setup();
    await deriver.loadSeed(SEED.id);
    await deriver.loadSeed(SEED.id);
    expect(core.state.seed).toEqual({ partition: SEED.id, status: 'loaded', message: '2 sentences from inaugural addresses' });
    expect(core.state.texts).toHaveLength(1);
    expect(await store.getText(`demo:${SEED.id}`)).toMatchObject({
      body: 'Fellow citizens.\n\nAmong the vicissitudes.',
      source: 'demo',
      demoPartition: SEED.id,
    });
  });

  it('reports a demo partition it cannot load in `seed`', async () => {
    const { core, deriver } = await setup();
    await deriver.loadSeed('1801-nobody');
    expect(core.state.seed).toMatchObject({ partition: '1801-nobody', status: 'failed', message: expect.stringMatching(/answered 404/) });
    expect(core.state.texts).toEqual([]);
  });
});
