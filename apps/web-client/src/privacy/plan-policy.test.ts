import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN_POLICY } from '@murmur/fl-core/participant';
import { buildPlanPolicy, PLAN_POLICY } from './plan-policy';

describe("the build's plan policy", () => {
  it("is fl-core's pinned default unless the build says otherwise", () => {
    expect(PLAN_POLICY).toBe(DEFAULT_PLAN_POLICY);
    expect(buildPlanPolicy({})).toBe(DEFAULT_PLAN_POLICY);
    expect(buildPlanPolicy({ VITE_ALLOW_PRIVACY_OFF: '1' })).toBe(DEFAULT_PLAN_POLICY);
  });

  it("adds mode 'off' for a demo build made with VITE_ALLOW_PRIVACY_OFF=true, and loosens nothing else", () => {
    const demo = buildPlanPolicy({ VITE_ALLOW_PRIVACY_OFF: 'true' });
    expect(demo).toEqual({ ...DEFAULT_PLAN_POLICY, allowedModes: ['off', 'local', 'distributed'] });
    expect(Object.isFrozen(demo)).toBe(true);
  });
});
