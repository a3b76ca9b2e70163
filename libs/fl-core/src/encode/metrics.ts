import { z } from 'zod';
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { decodeInto, encodeInto, encodingParams, roundingStream, type EncodingParams } from './fixed-point';

/**
 * Small per-client metrics (example count, loss sum, a clipped-or-not bit for adaptive clipping)
 * ride after the model coordinates in the same Z_(2^k) vector, so secure aggregation sums them
 * too and the server learns only cohort totals. Each metric has its own clip range and scale:
 * a count needs scale 1 (exact integers), a loss sum a fractional scale.
 */
export const metricRangeSchema = z
  .object({
    /** The metric is clipped to [−clipRange, clipRange]. */
    clipRange: z.number().positive().finite(),
    /** Integer units per 1.0; 1 sums integers exactly. @default the largest that cannot wrap */
    scale: z.number().positive().finite().optional(),
  })
  .strict();

export type MetricRange = z.input<typeof metricRangeSchema>;
export type MetricsSpec = Record<string, MetricRange>;

export interface MetricsLayout {
  /** Metric names in coordinate order (sorted, so every party derives the same layout). */
  readonly names: readonly string[];
  readonly params: readonly EncodingParams[];
}

const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function createMetricsLayout(spec: MetricsSpec, shared: { maxClients: number; modulusBits?: number }): MetricsLayout {
  const names = Object.keys(spec).sort();
  const params = names.map((name) => {
    if (!METRIC_NAME.test(name)) {
      throw new RangeError(`createMetricsLayout: metric name "${name}" must match ${METRIC_NAME}`);
    }
    const range = metricRangeSchema.safeParse(spec[name]);
    if (!range.success) throw new RangeError(`createMetricsLayout: metric "${name}": ${z.prettifyError(range.error)}`);
    return encodingParams({ ...range.data, ...shared });
  });
  return Object.freeze({ names: Object.freeze(names), params: Object.freeze(params) });
}

function checkModulus(model: EncodingParams, layout: MetricsLayout, label: string): void {
  for (const [index, params] of layout.params.entries()) {
    if (params.modulusBits !== model.modulusBits || params.maxClients !== model.maxClients) {
      throw new RangeError(
        `${label}: metric "${layout.names[index]}" uses 2^${params.modulusBits} for ${params.maxClients} clients, ` +
          `expected the model's 2^${model.modulusBits} for ${model.maxClients}`,
      );
    }
  }
}

/** One client's model update followed by its metrics, as one vector in Z_(2^k). */
export function encodeWithMetrics(
  values: Float32Array,
  metrics: Readonly<Record<string, number>>,
  model: EncodingParams,
  layout: MetricsLayout,
  randomBytes: RandomBytes = secureRandomBytes,
): Uint32Array {
  checkModulus(model, layout, 'encodeWithMetrics');
  const extra = Object.keys(metrics).filter((name) => !layout.names.includes(name));
  if (extra.length > 0) throw new RangeError(`encodeWithMetrics: unknown metrics ${extra.join(', ')}; layout has ${layout.names.join(', ')}`);
  const d = values.length;
  const out = new Uint32Array(d + layout.names.length);
  const uniforms = roundingStream(out.length, randomBytes);
  encodeInto(values, model, out, 0, uniforms, 0, 'encodeWithMetrics');
  layout.names.forEach((name, index) => {
    const value = metrics[name];
    if (value === undefined) throw new RangeError(`encodeWithMetrics: metric "${name}" is missing`);
    encodeInto([value], layout.params[index] as EncodingParams, out, d + index, uniforms, d + index, `encodeWithMetrics(${name})`);
  });
  return out;
}

export interface DecodedSumWithMetrics {
  values: Float32Array;
  /** Cohort totals, as float64 so counts stay exact. */
  metrics: Record<string, number>;
}

export function decodeSumWithMetrics(sum: Uint32Array, model: EncodingParams, layout: MetricsLayout, count: number): DecodedSumWithMetrics {
  checkModulus(model, layout, 'decodeSumWithMetrics');
  const d = sum.length - layout.names.length;
  if (d < 0) throw new RangeError(`decodeSumWithMetrics: sum has ${sum.length} words, fewer than the ${layout.names.length} metrics`);
  const values = new Float32Array(d);
  decodeInto(sum, 0, d, model, count, values, 'decodeSumWithMetrics');
  const metrics: Record<string, number> = {};
  layout.names.forEach((name, index) => {
    const one = [0];
    decodeInto(sum, d + index, 1, layout.params[index] as EncodingParams, count, one, `decodeSumWithMetrics(${name})`);
    metrics[name] = one[0] as number;
  });
  return { values, metrics };
}
