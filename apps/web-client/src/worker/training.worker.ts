/// <reference lib="webworker" />
import { z } from 'zod';
import { TrainingEngine } from './engine';
import { browserBackends, webgpuAdapterName } from './backends';
import type { FromWorker } from './protocol';

/**
 * The dedicated worker that owns TensorFlow.js: every tensor, backend and model lives here, so
 * training, calibration and inference never run on the UI thread.
 */
declare const self: DedicatedWorkerGlobalScope;

// The aggregator's CSP allows no eval: zod would probe `new Function` once and report a violation.
z.config({ jitless: true });

const post = (message: FromWorker, transfer: Transferable[] = []) => self.postMessage(message, transfer);
// Messages that arrive while the adapter is probed wait here, in order.
const early: unknown[] = [];
self.onmessage = (event: MessageEvent<unknown>) => early.push(event.data);

const webgpuAdapter = await webgpuAdapterName();
const deviceKey = [
  navigator.userAgent,
  `cores=${navigator.hardwareConcurrency}`,
  `isolated=${self.crossOriginIsolated}`,
  `webgpu=${webgpuAdapter ?? 'none'}`,
].join('|');
const engine = new TrainingEngine(browserBackends, deviceKey, post);
self.onmessage = (event: MessageEvent<unknown>) => engine.handle(event.data);
post({ type: 'hello', deviceKey, crossOriginIsolated: self.crossOriginIsolated, webgpuAdapter });
for (const message of early.splice(0)) engine.handle(message);
