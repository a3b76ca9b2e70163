/**
 * The ε one device can compute for itself, against the aggregator, from the rounds it took part
 * in (docs/privacy.md, "What your device checks, and your own ε"). It differs from the population
 * ε the aggregator's ledger reports in three ways, each because the aggregator is the adversary:
 *
 * - No amplification by sampling: the aggregator knows who took part, so every round this device
 *   joined is the plain Gaussian mechanism (q = 1), and rounds it skipped cost nothing.
 * - Replace-one adjacency: what is protected is the person's data, not whether they took part (the
 *   aggregator knows that). Any two clipped updates differ by up to 2C, and any two clip indicators
 *   by 1, twice the add/remove sensitivities; the same convention as the 'local' mode's guarantee
 *   against the aggregator in docs/privacy.md.
 * - Only noise the device can rely on: its own in 'local' mode; in 'distributed' mode the shares of
 *   the honest reports in the revealed sum. Secure aggregation cannot unmask a sum of fewer than t
 *   masked inputs (each survivor's self-mask needs t shares from clients that sent theirs), so the
 *   sum holds at least t shares of σC/√(k_min − c_plan), of which at most c = max(assumedColluders,
 *   c_plan) may be missing (fake clients or clients that give their noise to the server); this
 *   device's own share always counts.
 * - Discrete noise (the plan's discrete block): the replace-one shift of a rounded vector is at most
 *   2Δ₂ in integer units, and the h honest shares of N_Z(0, σ_Z²) give, without sampling, RDP at
 *   most (α/2)(2Δ₂/(√h·σ_Z) + τ√d)² (Kairouz, Liu & Steinke 2021, Theorem 1): exactly the Gaussian
 *   mechanism's α/(2z²) at z = 1/(2Δ₂/(√h·σ_Z) + τ√d), so rounding is inside the figure.
 */
import { ddgEquivalentNoiseMultiplier } from './ddg-accountant';
import { computeRdp, DEFAULT_RDP_ORDERS, rdpToEpsilon, type EpsilonConversion } from './rdp';
import type { PrivacyMode } from './modes';
import { assertDelta, assertNonNegativeInteger, assertPositiveFinite, assertPositiveInteger } from './validate';

/**
 * δ of the device's own ε. Pinned here, not taken from the server (a server could name a large δ
 * to make ε look small); far below one over any population Murmur runs with.
 */
export const DEVICE_EPSILON_DELTA = 1e-6;

/** What one round's plan said about noise, as the device recorded it when it took part. */
export interface DeviceParticipation {
  mode: PrivacyMode;
  /** σ_Δ of the plan: the update's noise multiplier (sum noise σ_Δ·C in total). */
  noiseMultiplier: number;
  /** σ_b of adaptive clipping's indicator sum when the round had one, else null. */
  clipIndicatorNoiseStdDev: number | null;
  /** k_min: 'distributed' clients each add σC/√k_min. */
  minSurvivors: number;
  /** t: the secure-aggregation threshold of the round. */
  threshold: number;
  /** c of the plan: honest shares were calibrated to k_min − c. @default 0 (records written before) */
  colluders?: number;
  /** The plan's discrete noise, when it had any: C, scale, Δ₂ and the padded dimension. */
  discrete?: { clipNorm: number; scale: number; roundedNormBound: number; paddedDimension: number } | null;
}

export interface DeviceEpsilonOptions {
  /** c: clients in a round that may collude with the aggregator or be fake. */
  assumedColluders: number;
  /** @default DEVICE_EPSILON_DELTA */
  delta?: number;
  /** @default 'improved' */
  conversion?: EpsilonConversion;
  /** @default DEFAULT_RDP_ORDERS */
  orders?: readonly number[];
}

/**
 * The noise multiplier a plan promises for its round's release under add/remove adjacency:
 * σ_Δ alone, or combined with the indicator query as (σ_Δ⁻² + (2σ_b)⁻²)^(−1/2) (Andrew et al. 2021,
 * Section 3; the combination roundNoiseMultiplier records). The number the device's σ floor is
 * checked against. 0 for a plan without noise.
 */
export function planNoiseMultiplier(privacy: { noiseMultiplier: number; clipIndicatorNoiseStdDev?: number | null | undefined }): number {
  const sigma = privacy.noiseMultiplier;
  const indicator = privacy.clipIndicatorNoiseStdDev;
  if (!(sigma > 0)) return 0;
  if (indicator === undefined || indicator === null) return sigma;
  if (!(indicator > 0)) return 0;
  return (sigma ** -2 + (2 * indicator) ** -2) ** -0.5;
}

/**
 * One round's noise multiplier against the aggregator, per unit of the replace-one sensitivity,
 * counting only the noise this device can rely on (see the file comment); null when the device
 * relies on no noise at all ('off'; 'central', where only the aggregator would add it; σ = 0).
 */
export function deviceRoundNoiseMultiplier(participation: DeviceParticipation, assumedColluders: number): number | null {
  const where = 'deviceRoundNoiseMultiplier';
  assertNonNegativeInteger(where, 'assumedColluders', assumedColluders);
  const { mode, minSurvivors, threshold, discrete } = participation;
  const sigma = planNoiseMultiplier(participation);
  if (mode === 'off' || mode === 'central' || sigma === 0) return null;
  assertPositiveFinite(where, 'noise multiplier', sigma);
  assertPositiveInteger(where, 'minSurvivors', minSurvivors);
  assertPositiveInteger(where, 'threshold', threshold);
  const planColluders = participation.colluders ?? 0;
  assertNonNegativeInteger(where, 'colluders', planColluders);
  if (planColluders >= minSurvivors) throw new RangeError(`${where}: colluders must be < minSurvivors (${minSurvivors}), got ${planColluders}`);
  // Doubling both sensitivities halves the combined add/remove multiplier.
  const replace = sigma / 2;
  if (mode === 'local') return replace;
  const honestShares = Math.max(1, threshold - Math.max(assumedColluders, planColluders));
  const calibratedShares = minSurvivors - planColluders;
  if (discrete === undefined || discrete === null) return replace * Math.sqrt(honestShares / calibratedShares);
  // Discrete rounds plan no adaptive clipping; a record claiming both relies on nothing proven.
  if (participation.clipIndicatorNoiseStdDev !== null) return null;
  const shareStdDev = (participation.noiseMultiplier * discrete.clipNorm * discrete.scale) / Math.sqrt(calibratedShares);
  return ddgEquivalentNoiseMultiplier({
    l2Sensitivity: 2 * discrete.roundedNormBound,
    noiseStdDev: shareStdDev,
    clients: honestShares,
    dimension: discrete.paddedDimension,
  });
}

export interface DeviceEpsilon {
  /** +∞ when any round relied on no noise. */
  epsilon: number;
  delta: number;
  /** Rounds composed. */
  rounds: number;
  /** Of those, rounds without any noise this device could rely on. */
  roundsWithoutNoise: number;
}

/**
 * ε at δ for every round this device took part in, composed without sampling: per round the
 * Gaussian mechanism's RDP α/(2σ²) at each order (computeRdp with q = 1), summed over rounds
 * (Mironov 2017, Proposition 1), converted once (rdpToEpsilon). Zero rounds: ε = 0.
 */
export function deviceEpsilon(participations: readonly DeviceParticipation[], options: DeviceEpsilonOptions): DeviceEpsilon {
  const { assumedColluders, delta = DEVICE_EPSILON_DELTA, conversion = 'improved', orders = DEFAULT_RDP_ORDERS } = options;
  assertDelta('deviceEpsilon', delta);
  const rdp = orders.map(() => 0);
  let roundsWithoutNoise = 0;
  for (const participation of participations) {
    const sigma = deviceRoundNoiseMultiplier(participation, assumedColluders);
    if (sigma === null) {
      roundsWithoutNoise++;
      continue;
    }
    computeRdp({ samplingRate: 1, noiseMultiplier: sigma, steps: 1, orders }).forEach((value, index) => {
      rdp[index] = (rdp[index] as number) + value;
    });
  }
  const rounds = participations.length;
  if (roundsWithoutNoise > 0) return { epsilon: Infinity, delta, rounds, roundsWithoutNoise };
  if (rounds === 0) return { epsilon: 0, delta, rounds, roundsWithoutNoise };
  return { epsilon: rdpToEpsilon({ orders, rdp, delta, conversion }).epsilon, delta, rounds, roundsWithoutNoise };
}
