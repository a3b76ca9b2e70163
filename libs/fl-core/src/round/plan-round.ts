/**
 * Round planning, the one place it happens: the aggregator's coordinator and the simulator both
 * derive a round's privacy (noise shares, σ_b, σ_Δ), encoding range, metrics layout and SecAgg
 * parameters here. Pure: randomness (the SecAgg+ graph seed) comes in as an input, and nothing here
 * reads a clock or does I/O.
 */
import { ADAPTIVE_CLIPPING_DEFAULTS, modelUpdateNoiseMultiplier } from '../privacy/adaptive-clipping';
import { clientNoiseShare, honestReportsOf, type PrivacyMode } from '../privacy/modes';
import { planDiscrete } from './discrete';
import { contributionMetricsSpec } from '../protocol/events';
import type { EncodingPlan, PrivacyPlan } from '../protocol/schemas';
import type { RoundConfig } from '../secagg/messages';
import { secAggPlusParameters } from '../secagg/params';
import type { MetricsSpec } from '../encode/metrics';
import type { TrainingPlan } from '../train/plan';

/**
 * Client noise is clamped by the encoding beyond this many of its standard deviations: a Gaussian
 * coordinate exceeds 6σ with probability ~2·10⁻⁹, so clamping touches one coordinate in ~5·10⁸.
 */
export const ENCODING_NOISE_STDDEVS = 6;

export interface RoundPrivacyInput {
  mode: PrivacyMode;
  /** C: the L2 bound each client clips its update to. */
  clipNorm: number;
  /** σ: the noise multiplier the round as a whole must carry (what the ledger records at k = k_min). */
  noiseMultiplier: number;
  /** m: clients expected per round (q·N); the fixed denominator of the mean and of adaptive clipping. */
  expectedCohortSize: number;
  /** k_min: the fewest reports a round may commit with; 'distributed' clients calibrate their share to it. */
  minSurvivors: number;
  /** Whether the round adapts C (Andrew et al. 2021): clients then also report a noised clip indicator. */
  adaptiveClipping: boolean;
  /**
   * c: reports per cohort that may be fake or collude with the aggregator; 'distributed' shares are
   * calibrated to k_min − c (clientNoiseShare). Must be < k_min. @default 0
   */
  colluders?: number;
  /**
   * Present for the distributed discrete Gaussian ('distributed' mode, fixed C): what the plan's
   * discrete block is chosen for (planDiscrete). Absent: continuous Gaussian noise.
   */
  discrete?: DiscreteRoundInput;
}

/** The round facts a discrete plan depends on, beyond the privacy settings. */
export interface DiscreteRoundInput {
  /** d: the model's parameter count. */
  dimension: number;
  /** n: clients selected (the most inputs a sum may hold). */
  clientCount: number;
  /** k: the secure aggregation's modulus bits. */
  modulusBits: number;
  /** 32 fresh random bytes, drawn by the server for this round after its model is fixed. */
  rotationSeed: Uint8Array;
}

export interface RoundPrivacyPlan {
  /** What every client is told (RoundPlan.privacy); noiseMultiplier is σ_Δ when C adapts. */
  privacy: PrivacyPlan;
  /** Standard deviation one client adds to each coordinate of its clipped update. */
  clientNoiseStdDev: number;
  /** Standard deviation one client adds to its centred clip indicator (0 without adaptive clipping). */
  clientIndicatorNoiseStdDev: number;
}

function assertPositiveInteger(where: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${where}: ${name} must be a positive integer, got ${value}`);
}

function assertPositiveFinite(where: string, name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${where}: ${name} must be a positive finite number, got ${value}`);
}

/**
 * m = q·N rounded, at least 1: the cohort the Poisson draw is planned to give. The draw itself
 * varies around it; the mean divides by m whatever it gave (McMahan et al. 2018, the
 * fixed-denominator estimator), so the number of reports is never part of the release.
 */
export function expectedCohortSizeOf(samplingRate: number, population: number): number {
  const where = 'expectedCohortSizeOf';
  if (!(samplingRate > 0 && samplingRate <= 1)) throw new RangeError(`${where}: samplingRate must be in (0, 1], got ${samplingRate}`);
  assertPositiveInteger(where, 'population', population);
  return Math.max(1, Math.round(samplingRate * population));
}

/**
 * σ_b of adaptive clipping's indicator sum: max(m/20, σ). m/20 is the paper's default (Andrew et
 * al. 2021, Section 3: for large cohorts the indicator query then costs almost nothing, m = 100,
 * σ = 1 gives σ_Δ ≈ 1.005). The floor σ is what makes small cohorts work at all: the split
 * σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2) needs 2σ_b > σ, which m/20 alone breaks for m ≤ 20σ (m = 10, σ = 1:
 * 2σ_b = 1 = σ, no budget left for the update). With σ_b ≥ σ the update never needs more than
 * σ_Δ = σ·(1 − 1/4)^(−1/2) ≈ 1.155σ.
 */
export function indicatorNoiseStdDevOf(expectedCohortSize: number, noiseMultiplier: number): number {
  assertPositiveInteger('indicatorNoiseStdDevOf', 'expectedCohortSize', expectedCohortSize);
  return Math.max(expectedCohortSize / ADAPTIVE_CLIPPING_DEFAULTS.indicatorNoiseDivisor, noiseMultiplier);
}

/**
 * The round's noise: σ_b for the indicator query when C adapts, σ_Δ for the update so the two
 * compose to σ (modelUpdateNoiseMultiplier), and each client's share of both for the mode
 * (clientNoiseShare: all of it in 'local', 1/√k_min in 'distributed', none in 'central'/'off').
 * Mode 'off' plans no noise; with adaptive clipping it still sends σ_b = 0 so clients report the
 * (un-noised) indicator.
 */
export function planRoundPrivacy(input: RoundPrivacyInput): RoundPrivacyPlan {
  const where = 'planRoundPrivacy';
  const { mode, clipNorm, noiseMultiplier, expectedCohortSize, minSurvivors, adaptiveClipping, discrete } = input;
  const colluders = input.colluders ?? 0;
  assertPositiveFinite(where, 'clipNorm', clipNorm);
  assertPositiveInteger(where, 'expectedCohortSize', expectedCohortSize);
  assertPositiveInteger(where, 'minSurvivors', minSurvivors);
  if (minSurvivors > expectedCohortSize) {
    throw new RangeError(`${where}: minSurvivors must be <= expectedCohortSize (${expectedCohortSize}), got ${minSurvivors}`);
  }
  honestReportsOf(where, minSurvivors, colluders);
  if (mode !== 'off') assertPositiveFinite(where, 'noiseMultiplier', noiseMultiplier);
  if (discrete !== undefined && (mode !== 'distributed' || adaptiveClipping)) {
    throw new RangeError(
      `${where}: discrete noise needs mode 'distributed' and a fixed clip norm, got mode '${mode}'${adaptiveClipping ? ' with adaptive clipping' : ''}`,
    );
  }
  const indicatorNoiseStdDev = adaptiveClipping ? (mode === 'off' ? 0 : indicatorNoiseStdDevOf(expectedCohortSize, noiseMultiplier)) : undefined;
  const updateNoiseMultiplier =
    mode === 'off' ? 0 : indicatorNoiseStdDev !== undefined ? modelUpdateNoiseMultiplier({ noiseMultiplier, indicatorNoiseStdDev }) : noiseMultiplier;
  const clientNoiseStdDev = clientNoiseShare(mode, updateNoiseMultiplier * clipNorm, minSurvivors, colluders);
  return {
    privacy: {
      mode,
      clipNorm,
      noiseMultiplier: updateNoiseMultiplier,
      expectedCohortSize,
      minSurvivors,
      ...(indicatorNoiseStdDev !== undefined ? { clipIndicatorNoiseStdDev: indicatorNoiseStdDev } : {}),
      // Absent when 0, so plans without colluders or discrete noise stay as they were.
      ...(colluders > 0 ? { colluders } : {}),
      ...(discrete !== undefined ? { discrete: planDiscrete({ clipNorm, clientNoiseStdDev, ...discrete }) } : {}),
    },
    clientNoiseStdDev,
    clientIndicatorNoiseStdDev: clientNoiseShare(mode, indicatorNoiseStdDev ?? 0, minSurvivors, colluders),
  };
}

export interface SecAggPlanInput {
  roundId: string;
  /** n: clients selected into the round. */
  clientCount: number;
  /** No round commits below it, so the full graph's threshold never sits under it. */
  minReports: number;
  /** d: words per input (model coordinates plus metrics). */
  vectorLength: number;
  modulusBits: number;
  /** Cohorts of at least this many use SecAgg+ (a Harary graph) when it is sparser than the full graph. */
  secAggPlusFrom: number;
  /** δ: the dropout fraction SecAgg+'s parameters must tolerate. */
  dropoutRate: number;
  /** 32 fresh random bytes, chosen by the server before AdvertiseKeys; used only by a Harary graph. */
  graphSeed: Uint8Array;
  /** Signed advertisements and claims, Round 3 ConsistencyCheck (an enrollment issuer is configured). */
  authenticated: boolean;
}

/** The SecAgg RoundConfig for a cohort: SecAgg+ (Bell et al. 2020) from secAggPlusFrom clients, else the full graph. */
export function planSecAgg(input: SecAggPlanInput): RoundConfig {
  const { roundId, clientCount: n, minReports, vectorLength, modulusBits, secAggPlusFrom, dropoutRate, graphSeed, authenticated } = input;
  const shared = { roundId, clientCount: n, vectorLength, modulusBits, ...(authenticated ? { authenticated: true } : {}) };
  if (n >= secAggPlusFrom) {
    const params = secAggPlusParameters({ clientCount: n, dropoutRate });
    if (!params.full) return { ...shared, threshold: params.threshold, graph: { kind: 'harary', degree: params.degree, seed: graphSeed } };
  }
  // Full graph: t must exceed n/2 (see secagg/config.ts) and no round commits below minReports.
  return { ...shared, threshold: Math.min(n, Math.max(minReports, Math.floor(n / 2) + 1)), graph: { kind: 'full' } };
}

/** What a round's privacy plan follows from: the operator's settings and the sampling the round runs with. */
export interface RoundPrivacySettings {
  mode: PrivacyMode;
  clipNorm: number;
  noiseMultiplier: number;
  adaptiveClipping: boolean;
  /** The fewest masked inputs the round may commit with; k_min = min(minReports, m). */
  minReports: number;
  /** q: each eligible client's chance of selection. */
  samplingRate: number;
  /** N: the population q is drawn over; m = q·N. */
  population: number;
  /** c: fake or colluding reports per cohort the noise tolerates. @default 0 */
  colluders?: number;
  /** @default 'continuous' */
  noise?: 'continuous' | 'discrete';
}

/**
 * The privacy plan of a round before anyone is drawn: m from q·N, k_min = min(minReports, m), then
 * planRoundPrivacy. planRound uses it, and so does the aggregator's budget check, which must see the
 * plan the round would run with before it opens.
 */
export function planPrivacyFor(settings: RoundPrivacySettings, discrete?: DiscreteRoundInput): RoundPrivacyPlan {
  assertPositiveInteger('planPrivacyFor', 'minReports', settings.minReports);
  if ((settings.noise === 'discrete') !== (discrete !== undefined)) {
    throw new RangeError(
      `planPrivacyFor: discrete noise needs the round's dimension, cohort, modulus and rotation seed (and only it does), got noise '${settings.noise ?? 'continuous'}'`,
    );
  }
  const expectedCohortSize = expectedCohortSizeOf(settings.samplingRate, settings.population);
  return planRoundPrivacy({
    mode: settings.mode,
    clipNorm: settings.clipNorm,
    noiseMultiplier: settings.noiseMultiplier,
    expectedCohortSize,
    minSurvivors: Math.min(settings.minReports, expectedCohortSize),
    adaptiveClipping: settings.adaptiveClipping,
    ...(settings.colluders !== undefined ? { colluders: settings.colluders } : {}),
    ...(discrete !== undefined ? { discrete } : {}),
  });
}

export interface PlanRoundInput extends RoundPrivacySettings {
  roundId: string;
  /** The round's training plan (its maxExamples sizes the metrics). */
  training: TrainingPlan;
  /** n: clients the Poisson draw selected (into this SecAgg group). */
  clientCount: number;
  /**
   * The most inputs the round's decoded sum may hold: n when one SecAgg instance makes the sum;
   * in the distributed mode, where several groups' unmasked sums are added, the round's bound for
   * all groups together. The encoding (and a discrete plan's wrap bound) must not overflow at it.
   * @default clientCount
   */
  sumClients?: number;
  /** Model coordinates (the weights' length); the metrics follow them in the SecAgg vector. */
  modelLength: number;
  secagg: Pick<SecAggPlanInput, 'modulusBits' | 'secAggPlusFrom' | 'dropoutRate' | 'graphSeed' | 'authenticated'>;
  /** With noise 'discrete': 32 fresh random bytes for the rotation, drawn after the model is fixed. */
  rotationSeed?: Uint8Array;
}

/** What planRound decides: the fields of RoundPlan that carry a decision (the rest is who, what and when). */
export interface PlannedRound {
  secagg: RoundConfig;
  privacy: PrivacyPlan;
  encoding: EncodingPlan;
  metrics: MetricsSpec;
}

/**
 * A round's plan from the operator's settings and the cohort the draw gave. The encoding's clip
 * range is C plus ENCODING_NOISE_STDDEVS of one client's noise (a clipped coordinate lies in
 * [−C, C]); the `unclipped` metric's range is 1/2 plus as many of its indicator noise. With
 * discrete noise the model words follow privacy.discrete instead, and the encoding block governs
 * only the metrics.
 */
export function planRound(input: PlanRoundInput): PlannedRound {
  const where = 'planRound';
  assertPositiveInteger(where, 'clientCount', input.clientCount);
  assertPositiveInteger(where, 'minReports', input.minReports);
  assertPositiveInteger(where, 'modelLength', input.modelLength);
  const sumClients = input.sumClients ?? input.clientCount;
  if (!Number.isInteger(sumClients) || sumClients < input.clientCount) {
    throw new RangeError(`${where}: sumClients must be an integer >= clientCount (${input.clientCount}), got ${sumClients}`);
  }
  let discrete: DiscreteRoundInput | undefined;
  if (input.noise === 'discrete') {
    if (input.rotationSeed === undefined) throw new RangeError(`${where}: discrete noise needs a rotationSeed`);
    discrete = { dimension: input.modelLength, clientCount: sumClients, modulusBits: input.secagg.modulusBits, rotationSeed: input.rotationSeed };
  }
  const planned = planPrivacyFor(input, discrete);
  const metrics = contributionMetricsSpec(
    input.training,
    input.adaptiveClipping ? 0.5 + ENCODING_NOISE_STDDEVS * planned.clientIndicatorNoiseStdDev : undefined,
  );
  const secagg = planSecAgg({
    ...input.secagg,
    roundId: input.roundId,
    clientCount: input.clientCount,
    minReports: input.minReports,
    // Discrete noise sends the rotated update, padded to a power of two.
    vectorLength: (planned.privacy.discrete?.paddedDimension ?? input.modelLength) + Object.keys(metrics).length,
  });
  return {
    secagg,
    privacy: planned.privacy,
    encoding: {
      clipRange: input.clipNorm + ENCODING_NOISE_STDDEVS * planned.clientNoiseStdDev,
      modulusBits: secagg.modulusBits,
      maxClients: sumClients,
    },
    metrics,
  };
}
