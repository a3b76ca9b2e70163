/**
 * What a client of a round privatizes with, read off the round plan's privacy block. The device
 * (participant/contribution.ts), the simulator (sim/private-round.ts) and the tests that stand in for
 * honest clients all take it from here, so the noise share a client adds follows the plan in one place.
 */
import type { ClipIndicatorPrivacyOptions } from '../privacy/adaptive-clipping';
import type { ClientPrivacyOptions } from '../privacy/modes';
import type { PrivacyPlan } from '../protocol/schemas';

/** Anything that carries a round's privacy block: a RoundPlan, a RoundPrivacyPlan, a BoundsPlan. */
export interface PlanWithPrivacy {
  readonly privacy: PrivacyPlan;
}

/**
 * privatizeClientUpdate's options for `plan`: its mode, C, σ (σ_Δ when C adapts), m, k_min and c
 * (absent in the plan: 0).
 */
export function clientPrivacyOptionsOf(plan: PlanWithPrivacy): ClientPrivacyOptions {
  const { privacy } = plan;
  return {
    mode: privacy.mode,
    clipNorm: privacy.clipNorm,
    noiseMultiplier: privacy.noiseMultiplier,
    expectedCohortSize: privacy.expectedCohortSize,
    minSurvivors: privacy.minSurvivors,
    colluders: privacy.colluders ?? 0,
  };
}

/**
 * privatizeClipIndicator's options for `plan` when it adapts C (it names σ_b, Andrew et al. 2021);
 * undefined when C is fixed and clients send no indicator.
 */
export function clipIndicatorPrivacyOptionsOf(plan: PlanWithPrivacy): ClipIndicatorPrivacyOptions | undefined {
  const { privacy } = plan;
  if (privacy.clipIndicatorNoiseStdDev === undefined) return undefined;
  return {
    mode: privacy.mode,
    indicatorNoiseStdDev: privacy.clipIndicatorNoiseStdDev,
    expectedCohortSize: privacy.expectedCohortSize,
    minSurvivors: privacy.minSurvivors,
    colluders: privacy.colluders ?? 0,
  };
}
