import { DEFAULT_PLAN_POLICY, PRIVACY_OFF_PLAN_POLICY, type PlanPolicy } from '@murmur/fl-core/participant';

/**
 * The plan policy this build pins (fl-core DEFAULT_PLAN_POLICY; docs/privacy.md, "What your
 * device checks, and your own ε"). The person's consent is to training with privacy noise, so a
 * plan in mode 'off' is refused; only a demo build made with VITE_ALLOW_PRIVACY_OFF=true accepts
 * one, and every such round then shows as "no guarantee" in the device's own ε. Nothing at run
 * time (query string, server) can loosen it.
 */
export function buildPlanPolicy(env: { VITE_ALLOW_PRIVACY_OFF?: string }): PlanPolicy {
  return env.VITE_ALLOW_PRIVACY_OFF === 'true' ? PRIVACY_OFF_PLAN_POLICY : DEFAULT_PLAN_POLICY;
}

export const PLAN_POLICY: PlanPolicy = buildPlanPolicy(import.meta.env as { VITE_ALLOW_PRIVACY_OFF?: string });
