import { describe, expect, it } from 'vitest';
import { checkPlanAgainstPolicy, DEFAULT_PLAN_POLICY, planPolicySchema, type PlanCheck, type PlanPolicy } from './plan-policy';
import { testPlan } from './test-plan';
import { modelUpdateNoiseMultiplier } from '../privacy/adaptive-clipping';

const codes = (check: PlanCheck) => (check.ok ? [] : check.reasons.map((r) => r.code));
const messages = (check: PlanCheck) => (check.ok ? [] : check.reasons.map((r) => r.message));

describe('checkPlanAgainstPolicy', () => {
  it('accepts the plan the aggregator sends with its shipped defaults (σ 0.05, minReports 3, C = 1)', () => {
    expect(checkPlanAgainstPolicy(testPlan(4, { privacy: { noiseMultiplier: 0.05 } }), DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
    expect(checkPlanAgainstPolicy(testPlan(4, { privacy: { mode: 'local' } }), DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
  });

  it("refuses mode 'off' and 'central', in words", () => {
    const off = checkPlanAgainstPolicy(testPlan(4, { privacy: { mode: 'off', noiseMultiplier: 0 } }), DEFAULT_PLAN_POLICY);
    expect(codes(off)).toEqual(['MODE_NOT_ALLOWED']);
    expect(messages(off)[0]).toBe('the server asked to train without any privacy noise (privacy mode off), which this device does not accept');
    expect(codes(checkPlanAgainstPolicy(testPlan(4, { privacy: { mode: 'central' } }), DEFAULT_PLAN_POLICY))).toEqual(['MODE_NOT_ALLOWED']);
  });

  it("accepts mode 'off' only from a policy that allows it, and then does not ask for σ", () => {
    const demo: PlanPolicy = { ...DEFAULT_PLAN_POLICY, allowedModes: ['off', 'local', 'distributed'] };
    expect(checkPlanAgainstPolicy(testPlan(4, { privacy: { mode: 'off', noiseMultiplier: 0 } }), demo)).toEqual({ ok: true });
    expect(codes(checkPlanAgainstPolicy(testPlan(4, { privacy: { noiseMultiplier: 0.01 } }), demo))).toEqual(['NOISE_TOO_LOW']);
  });

  it('refuses σ below the minimum, at the boundary', () => {
    const low = checkPlanAgainstPolicy(testPlan(4, { privacy: { noiseMultiplier: 0.0499 } }), DEFAULT_PLAN_POLICY);
    expect(codes(low)).toEqual(['NOISE_TOO_LOW']);
    expect(messages(low)[0]).toBe('the privacy noise would be σ = 0.0499, below the σ = 0.05 this device requires');
    expect(codes(checkPlanAgainstPolicy(testPlan(4, { privacy: { noiseMultiplier: 0 } }), DEFAULT_PLAN_POLICY))).toEqual(['NOISE_TOO_LOW']);
  });

  it('checks σ with the adaptive-clipping indicator query combined, not the update part alone', () => {
    // σ_Δ = 0.06 alone passes; with σ_b = 0.03 the round's σ is (0.06⁻² + 0.06⁻²)^(−1/2) = 0.0424.
    const plan = testPlan(4, { privacy: { noiseMultiplier: 0.06, clipIndicatorNoiseStdDev: 0.03 } });
    const check = checkPlanAgainstPolicy(plan, DEFAULT_PLAN_POLICY);
    expect(codes(check)).toEqual(['NOISE_TOO_LOW']);
    expect(messages(check)[0]).toContain('σ = 0.0424');
  });

  it('accepts σ at the floor split by adaptive clipping the way the aggregator splits it', () => {
    // σ_b = n/20 for cohorts of n; at n = 451 and 622 recombining lands one rounding error below 0.05.
    for (const indicatorNoiseStdDev of [0.05, 1, 451 / 20, 622 / 20, 50]) {
      const noiseMultiplier = modelUpdateNoiseMultiplier({ noiseMultiplier: 0.05, indicatorNoiseStdDev });
      const plan = testPlan(4, { privacy: { noiseMultiplier, clipIndicatorNoiseStdDev: indicatorNoiseStdDev } });
      expect(checkPlanAgainstPolicy(plan, DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
    }
  });

  it('refuses a k_min (minSurvivors) below the minimum', () => {
    const check = checkPlanAgainstPolicy(testPlan(4, { privacy: { minSurvivors: 2 } }), DEFAULT_PLAN_POLICY);
    expect(codes(check)).toEqual(['COHORT_TOO_SMALL']);
    expect(messages(check)[0]).toBe("the server would combine as few as 2 devices' updates, fewer than the 3 this device requires");
  });

  it('refuses a full-graph threshold at or below n/2, and one below the cohort floor', () => {
    // n = 8: t must be at least ⌊8/2⌋ + 1 = 5; 4 would let a server that lies about dropouts unmask.
    const half = checkPlanAgainstPolicy(testPlan(8, { secagg: { threshold: 4 } }), DEFAULT_PLAN_POLICY);
    expect(codes(half)).toEqual(['THRESHOLD_TOO_LOW']);
    expect(messages(half)[0]).toBe('secure aggregation would reveal a sum once 4 devices answer, fewer than the 5 this device requires for a round of 8');
    expect(checkPlanAgainstPolicy(testPlan(8, { secagg: { threshold: 5 } }), DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
    // n = 3: a majority is 2, but no sum of fewer than minCohort = 3 inputs may be unmasked.
    expect(codes(checkPlanAgainstPolicy(testPlan(3, { secagg: { threshold: 2 } }), DEFAULT_PLAN_POLICY))).toEqual(['THRESHOLD_TOO_LOW']);
  });

  it("counts a SecAgg+ client's share holders as its neighbours and itself", () => {
    const graph = { kind: 'harary' as const, degree: 10, seed: new Uint8Array(32) };
    expect(codes(checkPlanAgainstPolicy(testPlan(100, { secagg: { threshold: 5, graph } }), DEFAULT_PLAN_POLICY))).toEqual(['THRESHOLD_TOO_LOW']);
    expect(checkPlanAgainstPolicy(testPlan(100, { secagg: { threshold: 6, graph } }), DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
  });

  it('refuses a clip norm above the maximum', () => {
    const check = checkPlanAgainstPolicy(testPlan(4, { privacy: { clipNorm: 101 } }), DEFAULT_PLAN_POLICY);
    expect(codes(check)).toEqual(['CLIP_NORM_TOO_HIGH']);
    expect(messages(check)[0]).toBe('the server would let one update move the model by up to 101, more than the 100 this device allows');
    expect(checkPlanAgainstPolicy(testPlan(4, { privacy: { clipNorm: 100 } }), DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
  });

  it('lists every reason at once', () => {
    const plan = testPlan(4, { privacy: { mode: 'off', noiseMultiplier: 0, minSurvivors: 1, clipNorm: 1000 }, secagg: { threshold: 2 } });
    expect(codes(checkPlanAgainstPolicy(plan, DEFAULT_PLAN_POLICY))).toEqual([
      'MODE_NOT_ALLOWED',
      'COHORT_TOO_SMALL',
      'THRESHOLD_TOO_LOW',
      'CLIP_NORM_TOO_HIGH',
    ]);
  });

  it('pins a default policy that its own schema accepts', () => {
    expect(planPolicySchema.parse(DEFAULT_PLAN_POLICY)).toEqual(DEFAULT_PLAN_POLICY);
    expect(Object.isFrozen(DEFAULT_PLAN_POLICY)).toBe(true);
    expect(planPolicySchema.safeParse({ ...DEFAULT_PLAN_POLICY, minCohort: 1 }).success).toBe(false);
  });
});
