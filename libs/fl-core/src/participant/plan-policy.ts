/**
 * The device's own floor under a round's privacy (docs/privacy.md, "What your device checks, and
 * your own ε"): the aggregator chooses every plan, so a client that applied any plan as sent would
 * let the server switch the noise off, shrink it, or unmask a sum of one person's update. The
 * participant checks each plan against pinned minimums before it trains and declines the round
 * when one fails; the aggregator sees a client that never advertised keys (a normal dropout).
 */
import { z } from 'zod';
import { PRIVACY_MODES } from '../privacy/modes';
import { planNoiseMultiplier } from '../privacy/device-epsilon';
import { ddgEquivalentNoiseMultiplier } from '../privacy/ddg-accountant';
import { parameterCount } from '../model/spec';
import type { RoundPlan } from '../protocol/schemas';
import { discreteLedgerMechanism, discreteParamsOf } from '../round/discrete';

export const planPolicySchema = z
  .object({
    /**
     * Modes this device trains under. 'off' adds no noise and 'central' only the aggregator's,
     * which does not protect against the aggregator; a build may allow 'off' for a demo only when
     * configured to at build time.
     */
    allowedModes: z.array(z.enum(PRIVACY_MODES)).min(1).max(PRIVACY_MODES.length),
    /** Floor of the plan's σ (with adaptive clipping, the update and indicator queries combined). */
    minNoiseMultiplier: z.number().nonnegative().max(100),
    /**
     * Floor of both k_min (minSurvivors, the fewest reports a round may commit with) and the
     * secure-aggregation threshold t: no sum of fewer than this many masked inputs can be unmasked.
     */
    minCohort: z.number().int().min(2).max(100_000),
    /** Ceiling of the clip norm C. */
    maxClipNorm: z.number().positive().max(1e6),
    /** c: other clients in a round that may be fake or collude with the aggregator (the device's own ε). */
    assumedColluders: z.number().int().nonnegative().max(100_000),
  })
  .strict();
export type PlanPolicy = z.output<typeof planPolicySchema>;

/**
 * The pinned minimums. σ ≥ 0.05, k_min ≥ 3 and C ≤ 100 are the aggregator's shipped defaults
 * (σ 0.05, minReports 3) and 100× its C = 1: a server cannot take a device below the configuration
 * it shipped with. σ = 0.05 is a floor against switching noise off, not a strong guarantee; the
 * device's own ε says how strong, and raising the shipped σ should raise this floor with it.
 * assumedColluders 0: the other reports in a sum are taken to be genuine devices (stated next to
 * the device's own ε).
 */
export const DEFAULT_PLAN_POLICY: PlanPolicy = Object.freeze({
  allowedModes: Object.freeze(['local', 'distributed']) as PlanPolicy['allowedModes'],
  minNoiseMultiplier: 0.05,
  minCohort: 3,
  maxClipNorm: 100,
  assumedColluders: 0,
});

/**
 * The policy for a server whose operator turned privacy off (`--dp off`: the demo, tests of
 * training without noise): DEFAULT_PLAN_POLICY that also accepts mode 'off'. Every other minimum
 * stays, and a round in mode 'off' gives the device no guarantee (its own ε is then ∞). Only for
 * clients whose owner chose it ahead of time (a demo build, the aggregator's own simulated
 * clients), never for anything a server can ask for at run time.
 */
export const PRIVACY_OFF_PLAN_POLICY: PlanPolicy = Object.freeze({
  ...DEFAULT_PLAN_POLICY,
  allowedModes: Object.freeze(['off', ...DEFAULT_PLAN_POLICY.allowedModes]) as PlanPolicy['allowedModes'],
});

/** Relative slack of the σ check: far above float64 rounding, far below any real change of σ. */
const SIGMA_ROUNDING = 1e-9;

/**
 * With discrete noise the σ checked is the Gaussian-equivalent multiplier of the rounded mechanism
 * (rounding raises the sensitivity from C·scale to Δ₂). A plan at the floor loses a little to
 * rounding at any scale; this much (0.1%) is accepted, a coarser scale that loses more is refused.
 */
export const DISCRETE_ROUNDING_SLACK = 1e-3;

export type PlanRefusalCode =
  'MODE_NOT_ALLOWED' | 'NOISE_TOO_LOW' | 'COHORT_TOO_SMALL' | 'THRESHOLD_TOO_LOW' | 'CLIP_NORM_TOO_HIGH' | 'COLLUDERS_TOO_MANY' | 'DISCRETE_PLAN_INVALID';

export interface PlanRefusal {
  code: PlanRefusalCode;
  /** In words a person understands, with the plan's value and the device's limit. */
  message: string;
}

export type PlanCheck = { ok: true } | { ok: false; reasons: PlanRefusal[] };

const MODE_WORDS: Record<(typeof PRIVACY_MODES)[number], string> = {
  off: 'without any privacy noise (privacy mode off)',
  central: 'with noise added only by the server (privacy mode central), which does not protect you from the server',
  local: 'with noise added on this device (privacy mode local)',
  distributed: 'with noise shared among the devices (privacy mode distributed)',
};

/**
 * Every way `plan` falls below `policy`, or ok. Pure; the secure-aggregation machine re-checks the
 * threshold rule when it starts, this says it in words before anything is trained.
 */
export function checkPlanAgainstPolicy(plan: RoundPlan, policy: PlanPolicy): PlanCheck {
  const reasons: PlanRefusal[] = [];
  const { privacy, secagg } = plan;
  if (!policy.allowedModes.includes(privacy.mode)) {
    reasons.push({ code: 'MODE_NOT_ALLOWED', message: `the server asked to train ${MODE_WORDS[privacy.mode]}, which this device does not accept` });
  }
  let sigma = planNoiseMultiplier(privacy);
  let slack = SIGMA_ROUNDING;
  const colluders = privacy.colluders ?? 0;
  if (privacy.discrete !== undefined) {
    // The device derives its own noise and Δ₂ from σ, C, k_min, c, scale and β; a block that does
    // not add up (or asks for adaptive clipping, or a σ_Z below 1) is refused before training.
    try {
      const params = discreteParamsOf(privacy, parameterCount(plan.model.spec));
      const honest = Math.max(1, privacy.minSurvivors - colluders);
      sigma = ddgEquivalentNoiseMultiplier(discreteLedgerMechanism(params, honest).discrete);
      slack = DISCRETE_ROUNDING_SLACK;
    } catch (error) {
      reasons.push({
        code: 'DISCRETE_PLAN_INVALID',
        message: `the server's integer-noise settings do not add up (${error instanceof Error ? error.message : String(error)}), so this device cannot tell how much noise it would get`,
      });
    }
  }
  if (colluders >= privacy.minSurvivors) {
    reasons.push({
      code: 'COLLUDERS_TOO_MANY',
      message: `the server assumes ${colluders} fake devices in rounds that may combine only ${privacy.minSurvivors}, which leaves no genuine device's noise to rely on`,
    });
  }
  // Mode 'off' has no noise by definition: when a build allows it, σ has nothing to say. With
  // adaptive clipping the aggregator splits σ into σ_Δ and σ_b, and recombining them here can
  // land a rounding error below a σ sent exactly at the floor: that is not a lower σ.
  if (privacy.mode !== 'off' && sigma < policy.minNoiseMultiplier * (1 - slack)) {
    reasons.push({
      code: 'NOISE_TOO_LOW',
      message: `the privacy noise would be σ = ${sigma.toPrecision(3)}, below the σ = ${policy.minNoiseMultiplier} this device requires`,
    });
  }
  if (privacy.minSurvivors < policy.minCohort) {
    reasons.push({
      code: 'COHORT_TOO_SMALL',
      message: `the server would combine as few as ${privacy.minSurvivors} devices' updates, fewer than the ${policy.minCohort} this device requires`,
    });
  }
  // Shares of each client's secrets go to everyone (full graph) or to its neighbours and itself
  // (SecAgg+); a strict majority of them must be needed to unmask, and never fewer than the floor.
  const holders = secagg.graph.kind === 'full' ? secagg.clientCount : secagg.graph.degree + 1;
  const minThreshold = Math.max(Math.floor(holders / 2) + 1, policy.minCohort);
  if (secagg.threshold < minThreshold) {
    reasons.push({
      code: 'THRESHOLD_TOO_LOW',
      message: `secure aggregation would reveal a sum once ${secagg.threshold} devices answer, fewer than the ${minThreshold} this device requires for a round of ${secagg.clientCount}`,
    });
  }
  if (privacy.clipNorm > policy.maxClipNorm) {
    reasons.push({
      code: 'CLIP_NORM_TOO_HIGH',
      message: `the server would let one update move the model by up to ${privacy.clipNorm}, more than the ${policy.maxClipNorm} this device allows`,
    });
  }
  return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
}
