import { encodingParams } from '../encode/fixed-point';
import { createMetricsLayout } from '../encode/metrics';
import { clientNoiseShare } from '../privacy/modes';
import { protocolFailure, type ProtocolResult } from '../protocol/errors';
import { MAX_LOSS_PER_EXAMPLE } from '../protocol/events';
import type { RoundPlan } from '../protocol/schemas';

/**
 * What an honest cohort's decoded sum can look like, checked before anything is committed.
 *
 * Secure aggregation hides each input, so one client may send any vector in Z_(2^k) and nothing
 * per client can be checked. The sum still has to be a sum of `count` honest contributions: each
 * an update clipped to L2 norm C plus Gaussian noise, encoded to integers in [−L, L], followed by
 * counts and loss sums bounded by the plan. A decoded sum outside those bounds has a dishonest
 * input in it; the round must then abort and leave the model alone. (This bounds what a bad sum
 * can do; it cannot tell a client that lies *within* the bounds: that needs per-client proofs.)
 *
 * Margins: the noise on the sum is N(0, s²·I_d) with s = s_c·√count (s_c: one client's share for
 * the plan's privacy mode). Gaussian concentration (a 1-Lipschitz function of a standard normal
 * vector exceeds its mean by t with probability ≤ e^(−t²/2)) gives ‖noise‖ ≤ s·(√d + t) except with
 * probability e^(−t²/2); with t = 8 that is 1.3·10⁻¹⁴ per round. Stochastic rounding moves each
 * summed coordinate by less than count/scale. Clamping at the encoding's clip range (beyond 6
 * client σ) only happens where the noise is large and moves a coordinate by less than its noise.
 */
export const SUM_TAIL_STDDEVS = 8;

export type BoundsPlan = Pick<RoundPlan, 'privacy' | 'encoding' | 'metrics' | 'training'>;

export interface DecodedRoundSum {
  /** The decoded sum of the model updates (length d). */
  values: Float32Array;
  /** Decoded cohort totals of the plan's metrics. */
  metrics: Readonly<Record<string, number>>;
  /** How many inputs the sum holds. */
  count: number;
}

export interface SumBounds {
  /** Largest L2 norm the mean update of `count` honest clients reaches (except with probability e^(−t²/2)). */
  meanNormBound: number;
  /** Largest |coordinate| of the decoded update sum: count·L/scale. */
  coordinateBound: number;
  /** Closed interval of each metric total that involves no other metric. */
  metrics: Record<string, { min: number; max: number }>;
}

export function sumBounds(plan: BoundsPlan, count: number, dimension: number): SumBounds {
  const { privacy, encoding, training } = plan;
  const params = encodingParams(encoding);
  const colluders = privacy.colluders ?? 0;
  const clientStdDev = clientNoiseShare(privacy.mode, privacy.noiseMultiplier * privacy.clipNorm, privacy.minSurvivors, colluders);
  const sqrtD = Math.sqrt(dimension);
  // Discrete noise: each client's rotated vector is rounded to L2 norm ≤ Δ₂ (conditional rounding),
  // so rounding adds at most Δ₂/scale − C per client; the discrete Gaussian is σ_Z²-sub-Gaussian
  // (Canonne, Kamath & Steinke 2020), so the same concentration margin holds over the padded d.
  const discrete = privacy.discrete;
  const noiseNorm = clientStdDev * Math.sqrt(count) * (Math.sqrt(discrete?.paddedDimension ?? dimension) + SUM_TAIL_STDDEVS);
  const roundingNorm = discrete ? count * Math.max(0, discrete.roundedNormBound / discrete.scale - privacy.clipNorm) : (sqrtD * count) / params.scale;
  const layout = createMetricsLayout(plan.metrics, { maxClients: encoding.maxClients, modulusBits: encoding.modulusBits });
  const metrics: SumBounds['metrics'] = {};
  layout.names.forEach((name, index) => {
    const metricParams = layout.params[index] as (typeof layout.params)[number];
    const rounding = count / metricParams.scale;
    const encodable = (count * metricParams.maxMagnitude) / metricParams.scale;
    const perClient = training.maxExamples;
    switch (name) {
      case 'examples':
      case 'evalCount':
      case 'evalTop1':
      case 'evalTop3':
        metrics[name] = { min: 0, max: count * perClient };
        break;
      case 'trainLossSum':
      case 'evalLossSum':
        metrics[name] = { min: -rounding, max: count * perClient * MAX_LOSS_PER_EXAMPLE + rounding };
        break;
      case 'unclipped': {
        // Each client sends b − 1/2 ∈ {−1/2, 1/2} plus its share of σ_b.
        const share = clientNoiseShare(privacy.mode, privacy.clipIndicatorNoiseStdDev ?? 0, privacy.minSurvivors, colluders);
        const half = count / 2 + SUM_TAIL_STDDEVS * share * Math.sqrt(count) + rounding;
        metrics[name] = { min: -half, max: half };
        break;
      }
      default:
        metrics[name] = { min: -encodable, max: encodable };
    }
  });
  const meanNormBound = privacy.clipNorm + (noiseNorm + roundingNorm) / count;
  return {
    meanNormBound,
    // A coordinate is at most the vector's norm; the discrete words have no per-coordinate clamp.
    coordinateBound: discrete ? count * meanNormBound : (count * params.maxMagnitude) / params.scale,
    metrics,
  };
}

/** Codes every failure REJECTED_SUM; the message names the check, what was expected and what came. */
export function checkDecodedSum(plan: BoundsPlan, sum: DecodedRoundSum): ProtocolResult<{ meanNorm: number; bounds: SumBounds }> {
  const { values, metrics, count } = sum;
  const reject = (message: string) => protocolFailure('REJECTED_SUM', `decoded sum of ${count} inputs: ${message}`);
  if (!Number.isInteger(count) || count < 1) return reject(`expected at least one input, got ${count}`);
  const bounds = sumBounds(plan, count, values.length);
  // float32 rounding of the decoded values (the bound itself is exact in the integer domain).
  const coordinateLimit = bounds.coordinateBound * (1 + 1e-6);
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v) || Math.abs(v) > coordinateLimit) {
      return reject(`update coordinate ${i} is ${v}, expected |x| ≤ ${bounds.coordinateBound} (count × the encoding's clip range)`);
    }
    squares += v * v;
  }
  const meanNorm = Math.sqrt(squares) / count;
  if (meanNorm > bounds.meanNormBound) {
    return reject(
      `mean update has L2 norm ${meanNorm.toPrecision(4)}, expected ≤ ${bounds.meanNormBound.toPrecision(4)} (C = ${plan.privacy.clipNorm} plus noise and rounding margins)`,
    );
  }
  for (const [name, { min, max }] of Object.entries(bounds.metrics)) {
    const value = metrics[name];
    if (value === undefined || !Number.isFinite(value) || value < min || value > max) {
      return reject(`metric ${name} is ${value}, expected a number in [${min}, ${max}]`);
    }
  }
  const { evalCount, evalTop1, evalTop3 } = metrics;
  if (evalCount !== undefined && evalTop1 !== undefined && evalTop3 !== undefined && !(evalTop1 <= evalTop3 && evalTop3 <= evalCount)) {
    return reject(`evaluation hits are top-1 ${evalTop1}, top-3 ${evalTop3} of ${evalCount}, expected top-1 ≤ top-3 ≤ count`);
  }
  const perExample: [string, string][] = [
    ['trainLossSum', 'examples'],
    ['evalLossSum', 'evalCount'],
  ];
  for (const [lossName, countName] of perExample) {
    const loss = metrics[lossName];
    const examples = metrics[countName];
    const range = bounds.metrics[lossName];
    if (loss === undefined || examples === undefined || range === undefined) continue;
    // range.min is minus the rounding slack of this loss sum; the same slack applies above.
    const limit = examples * MAX_LOSS_PER_EXAMPLE + Math.abs(range.min);
    if (loss > limit) return reject(`metric ${lossName} is ${loss}, expected ≤ ${limit} (${MAX_LOSS_PER_EXAMPLE} nats × ${countName} ${examples})`);
  }
  return { ok: true, value: { meanNorm, bounds } };
}
