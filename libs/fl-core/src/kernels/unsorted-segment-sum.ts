import * as tf from '@tensorflow/tfjs';

/**
 * A direct UnsortedSegmentSum for the CPU-side backends (`cpu`, `wasm`).
 *
 * Why: the gradient of an Embedding layer (Gather) is UnsortedSegmentSum. tfjs-backend-cpu builds
 * it as one equal/multiply/sum pass per segment — O(vocabulary × examples × dim) — and
 * tfjs-backend-wasm has no kernel at all (`Kernel 'UnsortedSegmentSum' not registered`). Adding
 * each row into its segment is O(examples × dim): ~19× faster training on cpu, and it makes wasm
 * train at all (see bench/results/train.md). GPU backends keep their own kernels.
 */

type TypedValues = Float32Array | Int32Array;

/** Backends that keep tensor data in (or readable into) JS memory. */
interface CpuSideBackend {
  readSync(dataId: unknown): unknown;
  /** tfjs-backend-cpu */
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: TypedValues): tf.TensorInfo;
  /** tfjs-backend-wasm: copies `values` onto the wasm heap. */
  makeOutput?(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: TypedValues): tf.TensorInfo;
}

export const FAST_SEGMENT_SUM_BACKENDS = ['cpu', 'wasm'] as const;

/**
 * out[s, j] = Σ_{i : segmentIds[i] = s} x[i, j]; ids outside [0, numSegments) are dropped, as in
 * TensorFlow. segmentIds may have any rank r; it indexes the first r dimensions of x.
 */
export function segmentSumValues(x: TypedValues, segmentIds: Int32Array, numSegments: number, innerSize: number): TypedValues {
  const out = x instanceof Int32Array ? new Int32Array(numSegments * innerSize) : new Float32Array(numSegments * innerSize);
  for (let i = 0; i < segmentIds.length; i++) {
    const segment = segmentIds[i] as number;
    if (segment < 0 || segment >= numSegments) continue;
    const from = i * innerSize;
    const to = segment * innerSize;
    for (let j = 0; j < innerSize; j++) out[to + j] = (out[to + j] as number) + (x[from + j] as number);
  }
  return out;
}

const segmentSumKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as { numSegments: number };
  const cpuBackend = backend as unknown as CpuSideBackend;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new TypeError(`UnsortedSegmentSum: x must be float32 or int32, got ${x.dtype}`);
  }
  const ids = Int32Array.from(cpuBackend.readSync(segmentIds.dataId) as ArrayLike<number>);
  const values = cpuBackend.readSync(x.dataId) as TypedValues;
  const leadingSize = ids.length;
  const innerSize = leadingSize === 0 ? 0 : values.length / leadingSize;
  const out = segmentSumValues(values, ids, numSegments, innerSize);
  const shape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  if (cpuBackend.makeTensorInfo) return cpuBackend.makeTensorInfo(shape, x.dtype, out);
  if (cpuBackend.makeOutput) return cpuBackend.makeOutput(shape, x.dtype, undefined, out);
  throw new Error('UnsortedSegmentSum: backend can neither makeTensorInfo nor makeOutput');
};

/**
 * Replaces UnsortedSegmentSum on `cpu` and `wasm` with the direct kernel. Idempotent. Registries
 * are process-global, so apps call this once at start-up, next to choosing a backend.
 */
export function registerFastSegmentSum(): void {
  for (const backendName of FAST_SEGMENT_SUM_BACKENDS) {
    const existing = tf.getKernel(tf.UnsortedSegmentSum, backendName);
    if (existing?.kernelFunc === segmentSumKernel) continue;
    if (existing) tf.unregisterKernel(tf.UnsortedSegmentSum, backendName);
    tf.registerKernel({ kernelName: tf.UnsortedSegmentSum, backendName, kernelFunc: segmentSumKernel });
  }
}
