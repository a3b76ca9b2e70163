import { describe, expect, it } from 'vitest';
import { parameterCount } from '../model/spec';
import { ddgTau } from '../privacy/ddg-accountant';
import { roundedL2NormBound } from '../privacy/ddg';
import { deviceEpsilon, deviceRoundNoiseMultiplier, type DeviceParticipation } from '../privacy/device-epsilon';
import type { RoundPlan } from '../protocol/schemas';
import { planDiscrete } from '../round/discrete';
import { checkPlanAgainstPolicy, DEFAULT_PLAN_POLICY } from './plan-policy';
import { TEST_SPEC, testPlan } from './test-plan';

/**
 * The device's side of discrete noise and colluders: it refuses a discrete plan whose numbers do
 * not add up or whose rounding eats into the σ floor, and its own ε counts only the noise it can
 * rely on (honest shares calibrated to k_min − c, rounding inside the bound).
 */

const D = parameterCount(TEST_SPEC);

/** testPlan(4) (σ = 1, k_min = 3) with discrete noise planned as the aggregator plans it. */
function discretePlan(change: { noiseMultiplier?: number; colluders?: number; scale?: number } = {}): RoundPlan {
  const base = testPlan(4, { privacy: { noiseMultiplier: change.noiseMultiplier ?? 1, ...(change.colluders ? { colluders: change.colluders } : {}) } });
  const k = base.privacy.minSurvivors - (change.colluders ?? 0);
  let discrete = planDiscrete({
    clipNorm: 1,
    clientNoiseStdDev: (change.noiseMultiplier ?? 1) / Math.sqrt(k),
    dimension: D,
    clientCount: 4,
    modulusBits: 32,
    rotationSeed: new Uint8Array(32).fill(3),
  });
  if (change.scale !== undefined)
    discrete = { ...discrete, scale: change.scale, roundedNormBound: roundedL2NormBound(change.scale, discrete.paddedDimension, discrete.beta) };
  return {
    ...base,
    privacy: { ...base.privacy, discrete },
    secagg: { ...base.secagg, vectorLength: discrete.paddedDimension + Object.keys(base.metrics).length },
  };
}

const codes = (plan: RoundPlan) => {
  const verdict = checkPlanAgainstPolicy(plan, DEFAULT_PLAN_POLICY);
  return verdict.ok ? [] : verdict.reasons.map((r) => r.code);
};

describe('plan policy: discrete plans', () => {
  it('accepts a discrete plan as the aggregator makes it, at σ = 1 and at the floor σ = 0.05', () => {
    expect(codes(discretePlan())).toEqual([]);
    expect(codes(discretePlan({ noiseMultiplier: 0.05 }))).toEqual([]);
    expect(codes(discretePlan({ colluders: 2 }))).toEqual([]);
  });

  it('refuses a Δ₂ below what C·scale, d and β imply (the device would be told less rounding than it does)', () => {
    const plan = discretePlan();
    const discrete = plan.privacy.discrete as NonNullable<RoundPlan['privacy']['discrete']>;
    expect(codes({ ...plan, privacy: { ...plan.privacy, discrete: { ...discrete, roundedNormBound: discrete.roundedNormBound / 2 } } })).toEqual([
      'DISCRETE_PLAN_INVALID',
    ]);
  });

  it('refuses a scale so coarse that rounding takes the noise below the floor (NOISE_TOO_LOW), not at σ well above it', () => {
    // σ_Z = 0.05/√3 · 60 ≈ 1.7 ≥ 1, but Δ₂ ≫ C·scale at d = 2^k ≈ this model's size.
    expect(codes(discretePlan({ noiseMultiplier: 0.05, scale: 60 }))).toEqual(['NOISE_TOO_LOW']);
    expect(codes(discretePlan({ noiseMultiplier: 1, scale: 60 }))).toEqual([]);
  });

  it('refuses discrete noise with adaptive clipping, a noise below one integer unit, and c ≥ k_min', () => {
    const plan = discretePlan();
    expect(codes({ ...plan, privacy: { ...plan.privacy, clipIndicatorNoiseStdDev: 1 } })).toContain('DISCRETE_PLAN_INVALID');
    expect(codes(discretePlan({ noiseMultiplier: 1, scale: 0.5 }))).toContain('DISCRETE_PLAN_INVALID');
    expect(codes({ ...plan, privacy: { ...plan.privacy, colluders: 3 } })).toContain('COLLUDERS_TOO_MANY');
  });
});

describe("device ε: the plan's colluders and discrete noise", () => {
  const base: DeviceParticipation = { mode: 'distributed', noiseMultiplier: 1, clipIndicatorNoiseStdDev: null, minSurvivors: 6, threshold: 5 };

  it('continuous: shares of σC/√(k_min − c), and max(c_device, c_plan) honest shares missing', () => {
    // c_plan = 2: h = t − 2 = 3 shares of σC/√4.
    expect(deviceRoundNoiseMultiplier({ ...base, colluders: 2 }, 0)).toBeCloseTo(0.5 * Math.sqrt(3 / 4), 15);
    // The device's own assumption may be larger: h = t − 4 = 1.
    expect(deviceRoundNoiseMultiplier({ ...base, colluders: 2 }, 4)).toBeCloseTo(0.5 * Math.sqrt(1 / 4), 15);
    // Records without the field: c_plan = 0, as before.
    expect(deviceRoundNoiseMultiplier(base, 1)).toBeCloseTo(0.5 * Math.sqrt(4 / 6), 15);
  });

  it('discrete: z = 1/(2Δ₂/(√h·σ_Z) + τ√d), just below the continuous value, so ε is just above', () => {
    const scale = 2 ** 20;
    const paddedDimension = 8192;
    const roundedNormBound = roundedL2NormBound(scale, paddedDimension, Math.exp(-0.5));
    const discrete = { clipNorm: 1, scale, roundedNormBound, paddedDimension };
    const participation: DeviceParticipation = { ...base, colluders: 2, discrete };
    const sigmaZ = scale / Math.sqrt(4);
    const h = 3;
    const expected = 1 / ((2 * roundedNormBound) / (Math.sqrt(h) * sigmaZ) + ddgTau(h, sigmaZ) * Math.sqrt(paddedDimension));
    const z = deviceRoundNoiseMultiplier(participation, 0) as number;
    expect(z).toBeCloseTo(expected, 15);
    const continuous = deviceRoundNoiseMultiplier({ ...base, colluders: 2 }, 0) as number;
    expect(z).toBeLessThan(continuous);
    expect(z).toBeGreaterThan(continuous * (1 - 1e-4));
    const options = { assumedColluders: 0 };
    expect(deviceEpsilon([participation, participation], options).epsilon).toBeGreaterThan(
      deviceEpsilon(
        [
          { ...base, colluders: 2 },
          { ...base, colluders: 2 },
        ],
        options,
      ).epsilon,
    );
    // A discrete record that also claims adaptive clipping relies on nothing proven.
    expect(deviceRoundNoiseMultiplier({ ...participation, clipIndicatorNoiseStdDev: 2 }, 0)).toBeNull();
  });
});
