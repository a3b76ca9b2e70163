import type { RoundPlan } from '@murmur/fl-core/protocol';
import type { ParticipationRecord } from '../storage/schema';

/**
 * What the device keeps of a round it trained for (store `participations`): the plan's noise as
 * fl-core deviceEpsilon needs it, so the device's own ε counts exactly the noise it can rely on:
 * shares of σC/√(k_min − c) with the plan's c, and, with discrete noise, the rounding (Δ₂ from C,
 * the scale, d and β, which checkPlanAgainstPolicy verified before the device trained). Taken from
 * the plan the device trained on, never from anything the server says afterwards.
 */
export function participationRecordOf(plan: RoundPlan, at: number): ParticipationRecord {
  const { privacy, secagg } = plan;
  return {
    roundId: plan.roundId,
    round: plan.round,
    at,
    mode: privacy.mode,
    noiseMultiplier: privacy.noiseMultiplier,
    clipIndicatorNoiseStdDev: privacy.clipIndicatorNoiseStdDev ?? null,
    minSurvivors: privacy.minSurvivors,
    threshold: secagg.threshold,
    colluders: privacy.colluders ?? 0,
    discrete:
      privacy.discrete === undefined
        ? null
        : {
            clipNorm: privacy.clipNorm,
            scale: privacy.discrete.scale,
            roundedNormBound: privacy.discrete.roundedNormBound,
            paddedDimension: privacy.discrete.paddedDimension,
          },
  };
}
