import * as tf from '@tensorflow/tfjs';
import { registerFastWasmMatMul } from '../kernels/batch-mat-mul';
import { registerFastWasmExp } from '../kernels/exp';
import { registerFastSegmentSum } from '../kernels/unsorted-segment-sum';

export const NODE_BACKENDS = ['wasm', 'cpu'] as const;
export type NodeBackendName = (typeof NODE_BACKENDS)[number];

export interface NodeBackendOptions {
  /** Keep tfjs's stock UnsortedSegmentSum, BatchMatMul and Exp (for benchmarks that measure the difference). */
  stockKernels?: boolean;
}

/**
 * Selects a TensorFlow.js backend for Node. @tensorflow/tfjs-node cannot be installed here (it
 * downloads a native library), so Node runs the pure-JS `cpu` or the `wasm` backend; both get the
 * direct UnsortedSegmentSum kernel, and wasm the untransposing BatchMatMul and the SIMD Exp, unless
 * `stockKernels` is set.
 */
export async function useNodeBackend(name: NodeBackendName, options: NodeBackendOptions = {}): Promise<void> {
  if (!NODE_BACKENDS.includes(name)) {
    throw new RangeError(`backend must be one of ${NODE_BACKENDS.join(', ')}, got ${JSON.stringify(name)}`);
  }
  if (!options.stockKernels) registerFastSegmentSum();
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!options.stockKernels) {
      registerFastWasmMatMul();
      registerFastWasmExp();
    }
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend "${name}" failed to initialize`);
  await tf.ready();
}
