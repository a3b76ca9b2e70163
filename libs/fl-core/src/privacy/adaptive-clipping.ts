/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially Private Learning
 * with Adaptive Clipping", NeurIPS), Algorithm 1:
 *
 *   client i:  b_i = 1 if ‖Δ_i‖ ≤ C (the update was NOT clipped), else 0
 *   server:    b̃ = (Σ_i b_i + N(0, σ_b²)) / m
 *              C ← C · exp(−η · (b̃ − γ))
 *
 * so C moves toward the γ-quantile of the update norms: when more than a γ fraction of updates
 * fit under C (b̃ > γ), C shrinks; when fewer fit, it grows. Paper defaults γ = 0.5, η = 0.2,
 * σ_b = m/20.
 *
 * The indicator sum is a second query on the same clients. Following the paper, clients send the
 * centred b_i − 1/2, whose sum has sensitivity 1/2 under add/remove-one-client, and the server
 * divides by the expected cohort size m (a fixed denominator, as DP-FedAvg does, so the count of
 * reports is never released unnoised). That query has noise multiplier 2σ_b; the update then gets
 * σ_Δ = (σ^−2 − (2σ_b)^−2)^−1/2 so the pair composes to the target σ (see
 * modelUpdateNoiseMultiplier and roundNoiseMultiplier).
 *
 * All state is a plain, JSON-serialisable object; every function is pure apart from the injected
 * randomness.
 */
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { gaussianNoise } from './gaussian';
import { assertMode, clientNoiseShare, minSurvivorsOf, type PrivacyMode } from './modes';
import { assertNonNegativeFinite, assertOpenUnitInterval, assertPositiveFinite, assertPositiveInteger } from './validate';

export const ADAPTIVE_CLIPPING_DEFAULTS = Object.freeze({
  /** γ: the fraction of updates meant to be left unclipped (0.5: C tracks the median norm). */
  targetQuantile: 0.5,
  /** η: step size of the geometric update of C. */
  learningRate: 0.2,
  /** σ_b = expectedCohortSize / indicatorNoiseDivisor (the paper's m/20). */
  indicatorNoiseDivisor: 20,
});

export interface AdaptiveClippingState {
  /** C for the next round. */
  clipNorm: number;
  /** γ ∈ (0, 1). */
  targetQuantile: number;
  /** η > 0. */
  learningRate: number;
  /** σ_b ≥ 0: standard deviation of the noise on the round's sum of centred indicators. */
  indicatorNoiseStdDev: number;
}

export interface AdaptiveClippingOptions {
  initialClipNorm: number;
  /** m, used for the default σ_b = m/20. */
  expectedCohortSize: number;
  /** @default 0.5 */
  targetQuantile?: number;
  /** @default 0.2 */
  learningRate?: number;
  /** @default expectedCohortSize / 20 */
  indicatorNoiseStdDev?: number;
}

function assertState(where: string, state: AdaptiveClippingState): void {
  assertPositiveFinite(where, 'state.clipNorm', state.clipNorm);
  assertOpenUnitInterval(where, 'state.targetQuantile', state.targetQuantile);
  assertPositiveFinite(where, 'state.learningRate', state.learningRate);
  assertNonNegativeFinite(where, 'state.indicatorNoiseStdDev', state.indicatorNoiseStdDev);
}

export function createAdaptiveClipping(options: AdaptiveClippingOptions): AdaptiveClippingState {
  const where = 'createAdaptiveClipping';
  assertPositiveInteger(where, 'expectedCohortSize', options.expectedCohortSize);
  const state: AdaptiveClippingState = {
    clipNorm: options.initialClipNorm,
    targetQuantile: options.targetQuantile ?? ADAPTIVE_CLIPPING_DEFAULTS.targetQuantile,
    learningRate: options.learningRate ?? ADAPTIVE_CLIPPING_DEFAULTS.learningRate,
    indicatorNoiseStdDev: options.indicatorNoiseStdDev ?? options.expectedCohortSize / ADAPTIVE_CLIPPING_DEFAULTS.indicatorNoiseDivisor,
  };
  assertState(where, state);
  return state;
}

/** b = 1 when the update fits under C (is not clipped), 0 when it is clipped. */
export function clipIndicator(norm: number, clipNorm: number): 0 | 1 {
  assertNonNegativeFinite('clipIndicator', 'norm', norm);
  assertPositiveFinite('clipIndicator', 'clipNorm', clipNorm);
  return norm <= clipNorm ? 1 : 0;
}

export interface ClipIndicatorPrivacyOptions {
  mode: PrivacyMode;
  /** σ_b of the round's total indicator noise (state.indicatorNoiseStdDev). */
  indicatorNoiseStdDev: number;
  expectedCohortSize: number;
  /** @default expectedCohortSize */
  minSurvivors?: number;
  /** c: fake or colluding reports tolerated (modes.ts, honestReportsOf). @default 0 (also when a plan's optional field reads undefined) */
  colluders?: number | undefined;
}

/**
 * What a client sends for the indicator: b − 1/2 plus its share of N(0, σ_b²) for the mode (all of
 * it in 'local', 1/√(minSurvivors − colluders) of it in 'distributed', none in 'central' and 'off').
 */
export function privatizeClipIndicator(
  indicator: 0 | 1,
  options: ClipIndicatorPrivacyOptions,
  randomBytes: RandomBytes = secureRandomBytes,
): { value: number; noiseStdDev: number } {
  const where = 'privatizeClipIndicator';
  if (indicator !== 0 && indicator !== 1) {
    throw new RangeError(`${where}: indicator must be 0 or 1, got ${String(indicator)}`);
  }
  assertMode(where, options.mode);
  assertNonNegativeFinite(where, 'indicatorNoiseStdDev', options.indicatorNoiseStdDev);
  const minSurvivors = minSurvivorsOf(where, options.expectedCohortSize, options.minSurvivors);
  const noiseStdDev = clientNoiseShare(options.mode, options.indicatorNoiseStdDev, minSurvivors, options.colluders ?? 0);
  const noise = noiseStdDev > 0 ? (gaussianNoise(1, noiseStdDev, randomBytes)[0] as number) : 0;
  return { value: indicator - 0.5 + noise, noiseStdDev };
}

/** 'central' mode: the aggregator adds N(0, σ_b²) to the sum of centred indicators. */
export function addCentralIndicatorNoise(centeredIndicatorSum: number, indicatorNoiseStdDev: number, randomBytes: RandomBytes = secureRandomBytes): number {
  const where = 'addCentralIndicatorNoise';
  if (!Number.isFinite(centeredIndicatorSum)) {
    throw new RangeError(`${where}: centeredIndicatorSum must be finite, got ${centeredIndicatorSum}`);
  }
  assertNonNegativeFinite(where, 'indicatorNoiseStdDev', indicatorNoiseStdDev);
  return centeredIndicatorSum + (gaussianNoise(1, indicatorNoiseStdDev, randomBytes)[0] as number);
}

export interface ClipNormUpdateInput {
  /** Σ_i (b_i − 1/2) over the round's reports, carrying N(0, σ_b²) in total. */
  noisedCenteredSum: number;
  /** m: the fixed denominator (not the number of reports, which is itself data). */
  expectedCohortSize: number;
}

/**
 * One server step: b̃ = 1/2 + noisedCenteredSum/m, C ← C·exp(−η(b̃ − γ)). Returns the new state
 * and b̃ (the noisy unclipped fraction, which may fall outside [0, 1]).
 */
export function updateClipNorm(state: AdaptiveClippingState, input: ClipNormUpdateInput): { state: AdaptiveClippingState; unclippedFraction: number } {
  const where = 'updateClipNorm';
  assertState(where, state);
  if (!Number.isFinite(input.noisedCenteredSum)) {
    throw new RangeError(`${where}: noisedCenteredSum must be finite, got ${input.noisedCenteredSum}`);
  }
  assertPositiveInteger(where, 'expectedCohortSize', input.expectedCohortSize);
  const unclippedFraction = 0.5 + input.noisedCenteredSum / input.expectedCohortSize;
  const clipNorm = state.clipNorm * Math.exp(-state.learningRate * (unclippedFraction - state.targetQuantile));
  return { state: { ...state, clipNorm }, unclippedFraction };
}

export interface NoiseSplitOptions {
  /** σ: the target noise multiplier of the round as a whole (what the ledger records). */
  noiseMultiplier: number;
  /** σ_b of the indicator sum; must exceed σ/2. */
  indicatorNoiseStdDev: number;
}

/**
 * σ_Δ = (σ^−2 − (2σ_b)^−2)^−1/2 (Andrew et al. 2021, Section 3): the noise multiplier for the model
 * update that leaves room for the indicator query, so that the two together are exactly as private
 * as one Gaussian query with multiplier σ. With σ_b = m/20 the increase is tiny for large cohorts
 * (m = 100, σ = 1: σ_Δ ≈ 1.0051).
 */
export function modelUpdateNoiseMultiplier(options: NoiseSplitOptions): number {
  const where = 'modelUpdateNoiseMultiplier';
  const { noiseMultiplier, indicatorNoiseStdDev } = options;
  assertPositiveFinite(where, 'noiseMultiplier', noiseMultiplier);
  assertPositiveFinite(where, 'indicatorNoiseStdDev', indicatorNoiseStdDev);
  if (!(2 * indicatorNoiseStdDev > noiseMultiplier)) {
    throw new RangeError(
      `${where}: indicatorNoiseStdDev must be > noiseMultiplier/2 = ${noiseMultiplier / 2} so the indicator query ` +
        `leaves privacy budget for the update, got ${indicatorNoiseStdDev}`,
    );
  }
  return (noiseMultiplier ** -2 - (2 * indicatorNoiseStdDev) ** -2) ** -0.5;
}
