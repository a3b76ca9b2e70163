/**
 * L2 clipping: bounds each client's contribution to the sum by clipNorm, which is the L2
 * sensitivity every noise scale and the accountant rely on (Abadi et al. 2016, "Deep Learning
 * with Differential Privacy"; McMahan et al. 2018, "Learning Differentially Private Recurrent
 * Language Models", DP-FedAvg).
 */
import { assertPositiveFinite } from './validate';

/** Sum of squares in float64 with four accumulators (faster, and smaller rounding error). */
function sumOfSquares(values: Float32Array | Float64Array): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const n = values.length;
  const end = n - (n % 4);
  for (let i = 0; i < end; i += 4) {
    const x0 = values[i] as number;
    const x1 = values[i + 1] as number;
    const x2 = values[i + 2] as number;
    const x3 = values[i + 3] as number;
    a += x0 * x0;
    b += x1 * x1;
    c += x2 * x2;
    d += x3 * x3;
  }
  for (let i = end; i < n; i++) {
    const x = values[i] as number;
    a += x * x;
  }
  return a + b + c + d;
}

/**
 * The L2 norm in float64. Throws on NaN or ±Infinity, naming the first bad index: a non-finite
 * update must never be clipped into something that looks valid.
 */
export function l2Norm(values: Float32Array | Float64Array, where = 'l2Norm'): number {
  const squares = sumOfSquares(values);
  if (Number.isFinite(squares)) return Math.sqrt(squares);
  const bad = values.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new RangeError(`${where}: update[${bad}] must be finite, got ${values[bad]}`);
  }
  // Finite float64 values whose squares overflow: scale by the largest magnitude first.
  let max = 0;
  for (const x of values) max = Math.max(max, Math.abs(x));
  let scaled = 0;
  for (const x of values) scaled += (x / max) * (x / max);
  return max * Math.sqrt(scaled);
}

export interface ClipResult {
  /** A new array (never the input) with L2 norm ≤ clipNorm, as measured by l2Norm. */
  clipped: Float32Array;
  /** L2 norm of the input, float64. */
  norm: number;
  /** Whether the input was scaled down (norm > clipNorm). */
  wasClipped: boolean;
}

/**
 * Scales `update` to L2 norm clipNorm when its norm exceeds clipNorm; otherwise copies it.
 *
 * Rounding the scaled float64 values to float32 can raise the norm by up to 2^−24 relative, which
 * would break the sensitivity bound the noise is calibrated to. So the float32 result is measured
 * again and, if it exceeds clipNorm, rescaled with a margin that doubles until it fits (one retry
 * in practice).
 */
export function clipL2(update: Float32Array, clipNorm: number): ClipResult {
  if (!(update instanceof Float32Array)) {
    throw new TypeError(`clipL2: update must be a Float32Array, got ${typeof update}`);
  }
  assertPositiveFinite('clipL2', 'clipNorm', clipNorm);
  const norm = l2Norm(update, 'clipL2');
  if (norm <= clipNorm) return { clipped: update.slice(), norm, wasClipped: false };
  const clipped = new Float32Array(update.length);
  let scale = clipNorm / norm;
  for (let margin = 2 ** -24; ; margin *= 2) {
    for (let i = 0; i < update.length; i++) clipped[i] = (update[i] as number) * scale;
    const clippedNorm = Math.sqrt(sumOfSquares(clipped));
    if (clippedNorm <= clipNorm) break;
    scale *= (clipNorm / clippedNorm) * Math.max(0, 1 - margin);
  }
  return { clipped, norm, wasClipped: true };
}
