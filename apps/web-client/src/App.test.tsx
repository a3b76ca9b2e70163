// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, encodeModelPayload, getFlatWeights, type ModelSpec } from '@murmur/fl-core/model';
import { App } from './App';
import { MurmurRuntime } from './runtime';
import { DEFAULT_POLICY } from './scheduler/eligibility';
import { RuntimeContext } from './ui/use-runtime';
import { TrainingEngine, type BackendEnvironment } from './worker/engine';
import type { WorkerLike } from './worker/client';

/**
 * The whole client in one process: React, the runtime, IndexedDB (fake-indexeddb) and the real
 * training engine on tfjs's cpu backend behind a structured-clone message channel, the way the
 * Web Worker runs it. The model comes over real HTTP.
 */
const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 300, contextLength: 4, embeddingDim: 8, hiddenUnits: 8 };

const cpuOnly: BackendEnvironment = {
  available: () => ['cpu'],
  activate: async (name) => ((await tf.setBackend(name)) ? null : `${name} failed`),
  wasmThreads: () => 0,
};

/** A dedicated worker without the thread: same messages, same cloning, same asynchrony. */
class InProcessWorker implements WorkerLike {
  private readonly listeners: ((event: MessageEvent<unknown>) => void)[] = [];
  private readonly engine = new TrainingEngine(cpuOnly, 'jsdom-test', (message) => this.deliver(message));
  constructor() {
    setTimeout(() => this.deliver({ type: 'hello', deviceKey: 'jsdom-test', crossOriginIsolated: false, webgpuAdapter: null }));
  }
  private deliver(data: unknown): void {
    const cloned = structuredClone(data);
    setTimeout(() => {
      for (const listener of this.listeners) listener({ data: cloned } as MessageEvent<unknown>);
    });
  }
  postMessage(message: unknown): void {
    const cloned = structuredClone(message);
    setTimeout(() => this.engine.handle(cloned));
  }
  addEventListener(type: 'message' | 'error', listener: ((event: MessageEvent<unknown>) => void) | ((event: ErrorEvent) => void)): void {
    if (type === 'message') this.listeners.push(listener as (event: MessageEvent<unknown>) => void);
  }
  terminate(): void {}
}

let server: Server;
let origin: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  const model = buildModel(SPEC, { seed: 5 });
  const payload = encodeModelPayload({ version: 2, spec: SPEC, weights: getFlatWeights(model) });
  model.dispose();
  server = createServer((req, res) => {
    if (req.url?.startsWith('/api/model/')) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(payload);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(cleanup);

function startRuntime(): MurmurRuntime {
  return new MurmurRuntime({
    origin,
    seed: null,
    policy: { ...DEFAULT_POLICY, minExamples: 5, idleMs: 0 },
    defaultConsent: false,
    calibration: { candidates: ['webgpu', 'webgl', 'wasm', 'cpu'], batches: 1, batchSize: 8, budgetMsPerBackend: 5_000 },
    modelRefreshMs: 600_000,
    enrollment: { baseUrl: origin, issuer: null },
    createWorker: () => new InProcessWorker(),
  });
}

describe('the web client, end to end in one process', () => {
  it('loads and caches the model, picks a backend, saves text into examples, suggests, asks for consent and deletes everything', async () => {
    const runtime = startRuntime();
    render(
      <RuntimeContext.Provider value={runtime}>
        <App />
      </RuntimeContext.Provider>,
    );
    await act(() => runtime.start());
    expect(runtime.getState().notice).toBeNull();
    expect(runtime.getState().phase).toBe('ready');
    expect(screen.getByTestId('model-version').textContent).toMatch(/^model v2 /);
    expect(screen.getByTestId('backend').textContent).toBe('cpu');
    expect(screen.getByTestId('backend').getAttribute('title')).toMatch(/^fastest in calibration: cpu .*webgpu failed \(not available in this browser\)/);
    expect(screen.getByTestId('eligibility').dataset.state).toBe('off');

    const editor = screen.getByTestId('composer') as HTMLTextAreaElement;
    fireEvent.change(editor, { target: { value: 'We the people of the United States. We hold these truths. The ' } });
    await waitFor(() => expect(screen.getAllByTestId('suggestion')).toHaveLength(3), { timeout: 10_000 });
    await waitFor(() => expect(runtime.getState().examples).toBeGreaterThan(5), { timeout: 10_000 });
    expect(runtime.getState().texts).toHaveLength(1);
    expect(runtime.getState().storage?.models).toEqual([{ version: 2, bytes: expect.any(Number) }]);

    await act(() => runtime.setConsent(true));
    expect(screen.getByTestId('eligibility').dataset.state).toBe('eligible');

    await act(() => runtime.deleteEverything());
    const names = (await indexedDB.databases()).map((d) => d.name);
    expect(names).not.toContain('murmur');
    expect(runtime.getState()).toMatchObject({ phase: 'deleted', texts: [], examples: 0, contributions: [] });
  });
});
