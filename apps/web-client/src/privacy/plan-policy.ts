import { DEFAULT_PLAN_POLICY, type PlanPolicy } from '@murmur/fl-core';

/**
 * The plan policy this build pins (fl-core DEFAULT_PLAN_POLICY; docs/privacy.md, "What your
 * device checks, and your own ε"). The person's consent is to training with privacy noise, so a
 * plan in mode 'off' is refused; only a demo build made with VITE_ALLOW_PRIVACY_OFF=true accepts
 * one, and every such round then shows as "no guarantee" in the device's own ε. Nothing at run
 * time (query string, server) can loosen it.
 */
export function buildPlanPolicy(env: { VITE_ALLOW_PRIVACY_OFF?: string }): PlanPolicy {
  if (env.VITE_ALLOW_PRIVACY_OFF !== 'true') return DEFAULT_PLAN_POLICY;
  return Object.freeze({ ...DEFAULT_PLAN_POLICY, allowedModes: Object.freeze(['off', ...DEFAULT_PLAN_POLICY.allowedModes]) as PlanPolicy['allowedModes'] });
}

export const PLAN_POLICY: PlanPolicy = buildPlanPolicy(import.meta.env as { VITE_ALLOW_PRIVACY_OFF?: string });
