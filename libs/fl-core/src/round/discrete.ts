/**
 * The distributed discrete Gaussian in a round (Kairouz, Liu & Steinke 2021, "The Distributed
 * Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", Algorithms 1 and 2;
 * the mechanism itself is ../privacy/ddg.ts): what the plan carries, how a client turns its update
 * and metrics into one secure-aggregation vector, and how the server decodes the sum. The plan's
 * `privacy.discrete` block (protocol/schemas.ts) names the scale, β, Δ₂, the padded dimension, the
 * modulus and a fresh round-public rotation seed; every other number is derived from the plan by
 * both sides alike, so a client never takes a noise level from the server that the plan's σ, C,
 * k_min and c do not imply.
 *
 * Vector layout: paddedDimension words of H·D·(scaled, clipped update), rounded and noised, then
 * the metrics (../encode/metrics.ts), all in Z_(2^k). The metrics keep their fixed-point encoding
 * and their own noise rules (adaptive clipping's indicator is not offered with discrete noise).
 */
import { createMetricsLayout, type MetricsLayout } from '../encode/metrics';
import { decodeInto, encodeInto, roundingStream, type EncodingParams } from '../encode/fixed-point';
import {
  ddgChooseScale,
  ddgDecodeSum,
  ddgEncodeUpdate,
  ddgMinModulusBits,
  ddgParams,
  DEFAULT_ROUNDING_BETA,
  hadamardDimension,
  type DdgParams,
} from '../privacy/ddg';
import { ddgEquivalentNoiseMultiplier, ddgMechanism } from '../privacy/ddg-accountant';
import type { DiscreteLedgerMechanism } from '../privacy/ledger';
import { clientNoiseShare } from '../privacy/modes';
import { secureRandomBytes, type RandomBytes } from '../random/index';
import type { DiscretePlan, EncodingPlan, PrivacyPlan } from '../protocol/schemas';

/** P[some coordinate of a round's sum wraps mod 2^k] the scale is chosen for (a utility failure, never a privacy one). */
export const DISCRETE_WRAP_PROBABILITY = 1e-9;

/**
 * The largest scale a plan picks. At C·scale = 2^24 conditional rounding raises the sensitivity by
 * Δ₂/(C·scale) − 1 ≈ d/(8(C·scale)²) + 1/(2C·scale) ≈ 3·10⁻⁸ for C = 1 and d = 2^22 (Theorem 1's
 * bound with β = e^(−1/2)), far inside the devices' 0.1% allowance, while every per-client noise
 * variance stays well inside the sampler's 2^60.
 */
export const MAX_DISCRETE_SCALE = 2 ** 24;

export interface DiscretePlanInput {
  /** C. */
  clipNorm: number;
  /** Each client's share of the noise in model units: σ_Δ·C/√(k_min − c) (clientNoiseShare). */
  clientNoiseStdDev: number;
  /** d: the model's parameter count (before padding). */
  dimension: number;
  /** n: the most clients whose words may be summed (the selected cohort). */
  clientCount: number;
  /** k: the secure aggregation's modulus bits. */
  modulusBits: number;
  /** 32 fresh bytes drawn by the server for this round, after its model is fixed. */
  rotationSeed: Uint8Array;
  /** @default DEFAULT_ROUNDING_BETA */
  beta?: number;
  /** @default DISCRETE_WRAP_PROBABILITY */
  wrapProbability?: number;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The rotation seed of a plan as bytes. */
export function rotationSeedOf(discrete: Pick<DiscretePlan, 'rotationSeed'>): Uint8Array {
  const hex = discrete.rotationSeed;
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError(`rotationSeedOf: rotationSeed must be 64 lowercase hex characters, got ${JSON.stringify(hex)}`);
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/**
 * The plan's discrete block: the largest scale (capped at MAX_DISCRETE_SCALE) at which a sum of
 * `clientCount` honest inputs wraps with probability ≤ wrapProbability (ddgChooseScale), checked
 * against ddgMinModulusBits at that scale, and Δ₂ for it.
 */
export function planDiscrete(input: DiscretePlanInput): DiscretePlan {
  const where = 'planDiscrete';
  const { clipNorm, clientNoiseStdDev, dimension, clientCount, modulusBits, rotationSeed } = input;
  const beta = input.beta ?? DEFAULT_ROUNDING_BETA;
  const wrapProbability = input.wrapProbability ?? DISCRETE_WRAP_PROBABILITY;
  if (!(rotationSeed instanceof Uint8Array) || rotationSeed.length !== 32) {
    throw new RangeError(`${where}: rotationSeed must be 32 bytes, got ${rotationSeed instanceof Uint8Array ? rotationSeed.length : typeof rotationSeed}`);
  }
  const chosen = ddgChooseScale({ dimension, clipNorm, localNoiseStdDev: clientNoiseStdDev, clients: clientCount, modulusBits, beta, wrapProbability });
  const scale = Math.min(chosen, MAX_DISCRETE_SCALE);
  const params = { dimension, clipNorm, scale, localNoiseStdDev: clientNoiseStdDev, beta };
  const needed = ddgMinModulusBits({ params, clients: clientCount, wrapProbability });
  if (needed > modulusBits) throw new RangeError(`${where}: scale ${scale} needs ${needed} modulus bits, the round has ${modulusBits}`);
  const ddg = ddgParams({ ...params, modulusBits });
  return {
    scale,
    beta,
    roundedNormBound: ddg.roundedNormBound,
    paddedDimension: ddg.paddedDimension,
    modulusBits,
    rotationSeed: toHex(rotationSeed),
  };
}

/** Relative slack when a client compares the plan's Δ₂ with its own: float64 formatting only. */
const NORM_BOUND_SLACK = 1e-12;

/**
 * The DdgParams a discrete plan implies for a model of `dimension` parameters: σ_Z = σ_Δ·C/√(k_min − c)
 * from the plan's own σ, C, k_min and c. Throws (RangeError, saying what and why) when the plan's Δ₂
 * or padded dimension is not what those imply, when adaptive clipping is asked for, or when the
 * noise is not a valid discrete Gaussian (σ_Z·scale < 1).
 */
export function discreteParamsOf(privacy: PrivacyPlan, dimension: number): DdgParams {
  const where = 'discreteParamsOf';
  const discrete = privacy.discrete;
  if (discrete === undefined) throw new RangeError(`${where}: the plan has no discrete block`);
  if (privacy.mode !== 'distributed') throw new RangeError(`${where}: discrete noise needs mode 'distributed', got '${privacy.mode}'`);
  if (privacy.clipIndicatorNoiseStdDev !== undefined) throw new RangeError(`${where}: adaptive clipping is not offered with discrete noise`);
  const localNoiseStdDev = clientNoiseShare('distributed', privacy.noiseMultiplier * privacy.clipNorm, privacy.minSurvivors, privacy.colluders ?? 0);
  const params = ddgParams({
    dimension,
    clipNorm: privacy.clipNorm,
    scale: discrete.scale,
    localNoiseStdDev,
    modulusBits: discrete.modulusBits,
    beta: discrete.beta,
  });
  if (params.paddedDimension !== discrete.paddedDimension || hadamardDimension(dimension) !== discrete.paddedDimension) {
    throw new RangeError(`${where}: paddedDimension must be ${params.paddedDimension} for ${dimension} parameters, got ${discrete.paddedDimension}`);
  }
  if (Math.abs(params.roundedNormBound - discrete.roundedNormBound) > NORM_BOUND_SLACK * params.roundedNormBound) {
    throw new RangeError(`${where}: roundedNormBound must be ${params.roundedNormBound} (Δ₂ for C·scale, d and β), got ${discrete.roundedNormBound}`);
  }
  return params;
}

/**
 * What the ledger records for a sum of `survivors` reports of which up to c are fake: n = survivors − c
 * honest noise shares of σ_Z each, sensitivity Δ₂ (integer units); with the Gaussian-equivalent σ
 * for display.
 */
export function discreteLedgerMechanism(params: DdgParams, honestShares: number): { discrete: DiscreteLedgerMechanism; noiseMultiplier: number } {
  const mechanism = ddgMechanism(params, honestShares);
  const discrete = { l2Sensitivity: mechanism.l2Sensitivity, noiseStdDev: mechanism.noiseStdDev, clients: mechanism.clients, dimension: mechanism.dimension };
  return { discrete, noiseMultiplier: ddgEquivalentNoiseMultiplier(discrete) };
}

function metricsLayoutOf(metrics: Readonly<Record<string, { clipRange: number; scale?: number | undefined }>>, encoding: EncodingPlan): MetricsLayout {
  return createMetricsLayout(metrics, { maxClients: encoding.maxClients, modulusBits: encoding.modulusBits });
}

export interface DiscreteContribution {
  /** paddedDimension noised words, then the metrics: the secure aggregation's input. */
  input: Uint32Array;
  wasClipped: boolean;
  roundingAttempts: number;
  /** σ_Z/scale: the standard deviation of the discrete noise in model units. */
  noiseStdDev: number;
}

/**
 * The client's side (Algorithm 1): clip, scale, rotate, round conditionally, add N_Z(0, σ_Z²) and
 * reduce mod 2^k (ddgEncodeUpdate), then the metrics in their fixed-point encoding after them.
 */
export function encodeDiscreteContribution(
  update: Float32Array,
  metrics: Readonly<Record<string, number>>,
  plan: { privacy: PrivacyPlan; encoding: EncodingPlan; metrics: Readonly<Record<string, { clipRange: number; scale?: number | undefined }>> },
  randomBytes: RandomBytes = secureRandomBytes,
): DiscreteContribution {
  const where = 'encodeDiscreteContribution';
  const params = discreteParamsOf(plan.privacy, update.length);
  const seed = rotationSeedOf(plan.privacy.discrete as DiscretePlan);
  const encoded = ddgEncodeUpdate(update, params, seed, randomBytes);
  const layout = metricsLayoutOf(plan.metrics, plan.encoding);
  const extra = Object.keys(metrics).filter((name) => !layout.names.includes(name));
  if (extra.length > 0) throw new RangeError(`${where}: unknown metrics ${extra.join(', ')}; the plan has ${layout.names.join(', ')}`);
  const d = params.paddedDimension;
  const input = new Uint32Array(d + layout.names.length);
  input.set(encoded.words);
  const uniforms = roundingStream(layout.names.length, randomBytes);
  layout.names.forEach((name, index) => {
    const value = metrics[name];
    if (value === undefined) throw new RangeError(`${where}: metric "${name}" is missing`);
    encodeInto([value], layout.params[index] as EncodingParams, input, d + index, uniforms, index, `${where}(${name})`);
  });
  return { input, wasClipped: encoded.wasClipped, roundingAttempts: encoded.roundingAttempts, noiseStdDev: params.localNoiseStdDev };
}

/**
 * The server's side (Algorithm 2): the first paddedDimension words of the modular sum decoded by
 * ddgDecodeSum (centred, rotated back, divided by scale; the first `dimension` coordinates), the
 * metrics after them by their fixed-point encoding.
 */
export function decodeDiscreteSum(
  sum: Uint32Array,
  plan: { privacy: PrivacyPlan; encoding: EncodingPlan; metrics: Readonly<Record<string, { clipRange: number; scale?: number | undefined }>> },
  dimension: number,
  count: number,
): { values: Float32Array; metrics: Record<string, number> } {
  const where = 'decodeDiscreteSum';
  const params = discreteParamsOf(plan.privacy, dimension);
  const layout = metricsLayoutOf(plan.metrics, plan.encoding);
  const d = params.paddedDimension;
  if (sum.length !== d + layout.names.length) {
    throw new RangeError(`${where}: sum has ${sum.length} words, expected ${d} + ${layout.names.length} metrics`);
  }
  const values = ddgDecodeSum(sum.subarray(0, d), params, rotationSeedOf(plan.privacy.discrete as DiscretePlan));
  const metrics: Record<string, number> = {};
  layout.names.forEach((name, index) => {
    const one = [0];
    decodeInto(sum, d + index, 1, layout.params[index] as EncodingParams, count, one, `${where}(${name})`);
    metrics[name] = one[0] as number;
  });
  return { values, metrics };
}
