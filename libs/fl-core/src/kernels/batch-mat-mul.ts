import * as tf from '@tensorflow/tfjs';

/**
 * A faster BatchMatMul for tfjs-backend-wasm when an operand is transposed.
 *
 * Why: tfjs-backend-wasm 4.22 multiplies untransposed operands with XNNPACK but falls back to a
 * plain loop when `transposeA` or `transposeB` is set — and every matmul in a layer's backward
 * pass is transposed (dW = xᵀ·dy, dx = dy·Wᵀ). Profiled on the reference model (batch 32, Node,
 * wasm): BatchMatMul took 123 of 168 ms per training step, 20 ms each for the two Dense-layer
 * gradients (32×5000·(128×5000)ᵀ). Transposing the operand explicitly (a memory copy) and
 * multiplying untransposed gives the same numbers in a fraction of the time. Registered by the
 * browser's training worker and by useNodeBackend('wasm').
 */
const BACKEND = 'wasm';

let original: tf.KernelFunc | null = null;

const untransposing: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const multiply = original as tf.KernelFunc;
  if (!transposeA && !transposeB) return multiply(args);
  const transpose = tf.getKernel(tf.Transpose, BACKEND)?.kernelFunc;
  if (!transpose) return multiply(args);
  const swapLast = (x: tf.TensorInfo): tf.TensorInfo => {
    const rank = x.shape.length;
    const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
    return transpose({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
  };
  const temporaries: tf.TensorInfo[] = [];
  const left = transposeA ? swapLast(a) : a;
  const right = transposeB ? swapLast(b) : b;
  if (transposeA) temporaries.push(left);
  if (transposeB) temporaries.push(right);
  try {
    return multiply({ inputs: { a: left, b: right }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
  } finally {
    for (const temporary of temporaries) (backend as tf.KernelBackend).disposeData(temporary.dataId);
  }
};

/** Wraps wasm's BatchMatMul with the explicit-transpose path. Idempotent; call after importing the wasm backend. */
export function registerFastWasmMatMul(): void {
  const existing = tf.getKernel(tf.BatchMatMul, BACKEND);
  if (!existing || existing.kernelFunc === untransposing) return;
  original = existing.kernelFunc;
  tf.unregisterKernel(tf.BatchMatMul, BACKEND);
  tf.registerKernel({
    kernelName: tf.BatchMatMul,
    backendName: BACKEND,
    kernelFunc: untransposing,
    ...(existing.setupFunc ? { setupFunc: existing.setupFunc } : {}),
    ...(existing.disposeFunc ? { disposeFunc: existing.disposeFunc } : {}),
  });
}
