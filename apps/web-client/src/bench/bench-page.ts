import { MODEL_PRESETS, type ModelPresetName } from '@murmur/fl-core/model';
import { trainingPlanSchema, trainingTargetsSchema } from '@murmur/fl-core/train';
import { WorkerClient } from '../worker/client';
import { backendSchema, kernelsSchema, type FromWorker } from '../worker/protocol';

/**
 * The page bench/browser-train.bench.ts opens once per case: a fresh training worker (kernels are
 * fixed per worker), one benchmark request, the result in `window.murmurBench` and in #result.
 * Query: backend, kernels, model (tiny | reference | cifg), batches, batchSize, targets (last | every),
 * sampledSoftmax (candidates per step; absent: the full softmax).
 */
declare global {
  interface Window {
    murmurBench?:
      | { ok: true; result: Extract<FromWorker, { type: 'benchmarked' }>; crossOriginIsolated: boolean; webgpuAdapter: string | null }
      | { ok: false; error: string };
  }
}

const params = new URLSearchParams(window.location.search);
const output = document.getElementById('result');

async function run(): Promise<void> {
  const backend = backendSchema.parse(params.get('backend'));
  const kernels = kernelsSchema.parse(params.get('kernels') ?? 'direct');
  const model = (params.get('model') ?? 'reference') as ModelPresetName;
  if (!(model in MODEL_PRESETS)) throw new Error(`model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}`);
  const batches = Number(params.get('batches') ?? '20');
  const batchSize = Number(params.get('batchSize') ?? '32');
  const targets = trainingTargetsSchema.parse(params.get('targets') ?? 'last');
  const sampled = params.get('sampledSoftmax');
  const sampledSoftmax = sampled === null ? undefined : trainingPlanSchema.shape.sampledSoftmax.parse(Number(sampled));
  const worker = new WorkerClient(new Worker(new URL('../worker/training.worker.ts', import.meta.url), { type: 'module' }));
  const hello = await worker.hello;
  await worker.request({ type: 'configure', kernels }).response;
  const result = await worker.request({
    type: 'benchmark',
    backend,
    spec: MODEL_PRESETS[model],
    batches,
    batchSize,
    targets,
    ...(sampledSoftmax !== undefined ? { sampledSoftmax } : {}),
  }).response;
  window.murmurBench = { ok: true, result, crossOriginIsolated: hello.crossOriginIsolated, webgpuAdapter: hello.webgpuAdapter };
  // The worker stays until the bench closes the page: it reads the worker thread's CPU time first.
}

run()
  .catch((error: unknown) => {
    window.murmurBench = { ok: false, error: error instanceof Error ? error.message : String(error) };
  })
  .finally(() => {
    if (output) output.textContent = JSON.stringify(window.murmurBench, null, 2);
  });
