import { describe, expect, it } from 'vitest';
import { clipIndicator, privatizeClipIndicator } from '../privacy/adaptive-clipping';
import { privatizeClientUpdate } from '../privacy/modes';
import { keystreamRandomBytes } from '../privacy/test-random';
import { privacyPlanSchema, type PrivacyPlan } from '../protocol/schemas';
import { clientPrivacyOptionsOf, clipIndicatorPrivacyOptionsOf } from './client-privacy';

const PRIVACY: PrivacyPlan = privacyPlanSchema.parse({
  mode: 'distributed',
  clipNorm: 2,
  noiseMultiplier: 1.5,
  expectedCohortSize: 10,
  minSurvivors: 6,
  clipIndicatorNoiseStdDev: 3,
  colluders: 2,
});

describe('clientPrivacyOptionsOf / clipIndicatorPrivacyOptionsOf', () => {
  it('carry every field a client privatizes with, and nothing else', () => {
    expect(clientPrivacyOptionsOf({ privacy: PRIVACY })).toStrictEqual({
      mode: 'distributed',
      clipNorm: 2,
      noiseMultiplier: 1.5,
      expectedCohortSize: 10,
      minSurvivors: 6,
      colluders: 2,
    });
    expect(clipIndicatorPrivacyOptionsOf({ privacy: PRIVACY })).toStrictEqual({
      mode: 'distributed',
      indicatorNoiseStdDev: 3,
      expectedCohortSize: 10,
      minSurvivors: 6,
      colluders: 2,
    });
  });

  it('read a plan without c as c = 0', () => {
    const { colluders: _, ...withoutColluders } = PRIVACY;
    expect(clientPrivacyOptionsOf({ privacy: withoutColluders }).colluders).toBe(0);
    expect(clipIndicatorPrivacyOptionsOf({ privacy: withoutColluders })?.colluders).toBe(0);
  });

  it('give no indicator options when C is fixed (no σ_b in the plan)', () => {
    const { clipIndicatorNoiseStdDev: _, ...fixedClip } = PRIVACY;
    expect(clipIndicatorPrivacyOptionsOf({ privacy: fixedClip })).toBeUndefined();
    // σ_b = 0 is a plan that adapts C with no indicator noise, not a fixed C.
    expect(clipIndicatorPrivacyOptionsOf({ privacy: { ...PRIVACY, clipIndicatorNoiseStdDev: 0 } })?.indicatorNoiseStdDev).toBe(0);
  });

  it("make a 'distributed' client add the plan's c-calibrated shares: σC/√(k_min − c) and σ_b/√(k_min − c)", () => {
    const plan = { privacy: PRIVACY };
    const update = privatizeClientUpdate(new Float32Array(8), clientPrivacyOptionsOf(plan), keystreamRandomBytes(1));
    expect(update.noiseStdDev).toBeCloseTo((1.5 * 2) / Math.sqrt(6 - 2), 15);
    const options = clipIndicatorPrivacyOptionsOf(plan);
    if (options === undefined) throw new Error('expected indicator options');
    expect(privatizeClipIndicator(clipIndicator(update.norm, 2), options, keystreamRandomBytes(2)).noiseStdDev).toBeCloseTo(3 / Math.sqrt(6 - 2), 15);
  });
});
