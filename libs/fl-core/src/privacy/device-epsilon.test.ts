import { describe, expect, it } from 'vitest';
import { DEVICE_EPSILON_DELTA, deviceEpsilon, deviceRoundNoiseMultiplier, planNoiseMultiplier, type DeviceParticipation } from './device-epsilon';
import { gaussianMechanismEpsilon } from './rdp';
import { normalCdf } from './special';

const distributed = (change: Partial<DeviceParticipation> = {}): DeviceParticipation => ({
  mode: 'distributed',
  noiseMultiplier: 1,
  clipIndicatorNoiseStdDev: null,
  minSurvivors: 3,
  threshold: 3,
  ...change,
});
const times = <T>(n: number, value: T): T[] => Array.from({ length: n }, () => value);

/**
 * δ(ε) of T compositions of the Gaussian mechanism with noise s per unit sensitivity, exactly: the
 * analytic Gaussian mechanism (Balle & Wang 2018, Theorem 8), T rounds being one Gaussian with s/√T.
 * A different formula from RDP: at the ε the device reports, the true δ must not exceed the stated δ.
 */
function exactDelta(s: number, rounds: number, epsilon: number): number {
  const t = s / Math.sqrt(rounds);
  return normalCdf(1 / (2 * t) - epsilon * t) - Math.exp(epsilon) * normalCdf(-1 / (2 * t) - epsilon * t);
}

describe('deviceRoundNoiseMultiplier', () => {
  it("halves σ for the replace-one sensitivity 2C, and in 'local' mode counts the device's own noise", () => {
    expect(deviceRoundNoiseMultiplier(distributed({ mode: 'local', noiseMultiplier: 2 }), 0)).toBe(1);
    // t = k_min, no colluders: the sum carries k_min honest shares of σC/√k_min, i.e. σC.
    expect(deviceRoundNoiseMultiplier(distributed(), 0)).toBe(0.5);
  });

  it('counts only the honest shares t − c, never fewer than its own', () => {
    expect(deviceRoundNoiseMultiplier(distributed({ minSurvivors: 4, threshold: 4 }), 2)).toBeCloseTo(0.5 * Math.sqrt(2 / 4), 15);
    expect(deviceRoundNoiseMultiplier(distributed({ minSurvivors: 4, threshold: 4 }), 10)).toBeCloseTo(0.5 * Math.sqrt(1 / 4), 15);
    // A threshold above k_min guarantees more shares in any unmasked sum.
    expect(deviceRoundNoiseMultiplier(distributed({ minSurvivors: 3, threshold: 12 }), 0)).toBeCloseTo(0.5 * Math.sqrt(12 / 3), 15);
    // A threshold below k_min guarantees fewer: the device does not take the server's k_min on trust.
    expect(deviceRoundNoiseMultiplier(distributed({ minSurvivors: 12, threshold: 3 }), 0)).toBeCloseTo(0.5 * Math.sqrt(3 / 12), 15);
  });

  it('combines the adaptive-clipping indicator query with the update', () => {
    // Add/remove: (σ_Δ⁻² + (2σ_b)⁻²)^(−1/2); σ_Δ = 1, σ_b = 0.5 gives 1/√2.
    expect(planNoiseMultiplier({ noiseMultiplier: 1, clipIndicatorNoiseStdDev: 0.5 })).toBeCloseTo(Math.SQRT1_2, 15);
    expect(deviceRoundNoiseMultiplier(distributed({ clipIndicatorNoiseStdDev: 0.5 }), 0)).toBeCloseTo(Math.SQRT1_2 / 2, 15);
  });

  it("relies on no noise in mode 'off' or 'central', or with σ = 0", () => {
    expect(deviceRoundNoiseMultiplier(distributed({ mode: 'off', noiseMultiplier: 0 }), 0)).toBeNull();
    expect(deviceRoundNoiseMultiplier(distributed({ mode: 'central' }), 0)).toBeNull();
    expect(deviceRoundNoiseMultiplier(distributed({ noiseMultiplier: 0 }), 0)).toBeNull();
    expect(() => deviceRoundNoiseMultiplier(distributed(), -1)).toThrow(/assumedColluders/);
  });
});

describe('deviceEpsilon', () => {
  // Independent values: mpmath at 40 digits, RDP T·α/(2s²) per order of DEFAULT_RDP_ORDERS,
  // ε = RDP + log(1 − 1/α) − log(δα)/(α − 1), minimised over the orders, δ = 1e−6.
  const vectors: [string, DeviceParticipation[], number, number][] = [
    ['one distributed round, σ = 1, t = k_min = 3', [distributed()], 0, 11.688626799166349513],
    ['four such rounds', times(4, distributed()), 0, 27.815877608496237264],
    ['ten local rounds at σ = 2', times(10, distributed({ mode: 'local', noiseMultiplier: 2 })), 0, 20.588654260294088676],
    ['three rounds, k_min = t = 4, two colluders', times(3, distributed({ minSurvivors: 4, threshold: 4 })), 2, 36.429216196844383485],
    [
      'two adaptive-clipping rounds, σ_Δ = 1.005, σ_b = 5',
      times(2, distributed({ noiseMultiplier: 1.005, clipIndicatorNoiseStdDev: 5 })),
      0,
      17.953878063816222866,
    ],
    ['rounds with different σ compose by adding RDP', [distributed(), distributed({ mode: 'local', noiseMultiplier: 2 })], 0, 13.438626799166349513],
  ];

  it.each(vectors)('%s', (_name, participations, assumedColluders, expected) => {
    const result = deviceEpsilon(participations, { assumedColluders });
    expect(result.epsilon).toBeCloseTo(expected, 9);
    expect(result.delta).toBe(DEVICE_EPSILON_DELTA);
    expect(result.rounds).toBe(participations.length);
  });

  it.each([
    [0.5, 1],
    [0.5, 4],
    [1, 10],
    [3, 50],
  ])('at s = %s over %s rounds, stays an upper bound on the exact ε of the Gaussian mechanism, and within 35%% of it', (s, rounds) => {
    const { epsilon } = deviceEpsilon(times(rounds, distributed({ mode: 'local', noiseMultiplier: 2 * s })), { assumedColluders: 0 });
    expect(exactDelta(s, rounds, epsilon)).toBeLessThanOrEqual(DEVICE_EPSILON_DELTA);
    const exact = gaussianMechanismEpsilon({ noiseMultiplier: s, delta: DEVICE_EPSILON_DELTA, steps: rounds });
    expect(epsilon).toBeGreaterThanOrEqual(exact);
    expect(epsilon).toBeLessThan(1.35 * exact);
  });

  it('matches the classic conversion computed here from the closed form α/(2s²)', () => {
    const s = 0.8;
    const rounds = 7;
    const orders = [1.5, 2, 3, 5, 8, 13, 21, 34];
    const expected = Math.min(...orders.map((a) => (rounds * a) / (2 * s * s) + Math.log(1 / 1e-5) / (a - 1)));
    const result = deviceEpsilon(times(rounds, distributed({ mode: 'local', noiseMultiplier: 2 * s })), {
      assumedColluders: 0,
      delta: 1e-5,
      conversion: 'classic',
      orders,
    });
    expect(result.epsilon).toBeCloseTo(expected, 12);
  });

  it('is 0 before any round, and +∞ once a round had no noise the device could rely on', () => {
    expect(deviceEpsilon([], { assumedColluders: 0 })).toEqual({ epsilon: 0, delta: DEVICE_EPSILON_DELTA, rounds: 0, roundsWithoutNoise: 0 });
    const result = deviceEpsilon([distributed(), distributed({ mode: 'off', noiseMultiplier: 0 })], { assumedColluders: 0 });
    expect(result).toEqual({ epsilon: Infinity, delta: DEVICE_EPSILON_DELTA, rounds: 2, roundsWithoutNoise: 1 });
  });

  it('grows with every colluder assumed', () => {
    const rounds = times(5, distributed({ minSurvivors: 10, threshold: 10 }));
    const epsilons = [0, 3, 6, 9].map((c) => deviceEpsilon(rounds, { assumedColluders: c }).epsilon);
    for (let i = 1; i < epsilons.length; i++) expect(epsilons[i]).toBeGreaterThan(epsilons[i - 1] as number);
  });
});

describe('deviceRoundNoiseMultiplier: edges and discrete rounds', () => {
  it('reads a plan without usable noise as 0: σ ≤ 0 or NaN, or an indicator σ_b ≤ 0 or NaN', () => {
    expect(planNoiseMultiplier({ noiseMultiplier: Number.NaN })).toBe(0);
    expect(planNoiseMultiplier({ noiseMultiplier: -1 })).toBe(0);
    expect(planNoiseMultiplier({ noiseMultiplier: -1, clipIndicatorNoiseStdDev: 0.5 })).toBe(0);
    expect(planNoiseMultiplier({ noiseMultiplier: 1, clipIndicatorNoiseStdDev: -1 })).toBe(0);
    expect(planNoiseMultiplier({ noiseMultiplier: 1, clipIndicatorNoiseStdDev: Number.NaN })).toBe(0);
    expect(planNoiseMultiplier({ noiseMultiplier: 2, clipIndicatorNoiseStdDev: undefined })).toBe(2);
  });

  it("relies on nothing in mode 'off' even when the record names a σ", () => {
    expect(deviceRoundNoiseMultiplier(distributed({ mode: 'off' }), 0)).toBeNull();
  });

  it("'local' counts its own noise whatever the threshold and colluders", () => {
    expect(deviceRoundNoiseMultiplier(distributed({ mode: 'local', noiseMultiplier: 2, minSurvivors: 9, threshold: 2, colluders: 3 }), 5)).toBe(1);
  });

  it("counts honest shares of σC/√(k_min − c) with the plan's own colluders c", () => {
    // k_min = t = 10, plan c = 2: shares of σC/√8, and at least 8 honest ones: σC in all.
    expect(deviceRoundNoiseMultiplier(distributed({ minSurvivors: 10, threshold: 10, colluders: 2 }), 0)).toBeCloseTo(0.5, 15);
    // Assuming more colluders (5) than the plan (2) leaves 5 honest shares of σC/√8.
    expect(deviceRoundNoiseMultiplier(distributed({ minSurvivors: 10, threshold: 10, colluders: 2 }), 5)).toBeCloseTo(0.5 * Math.sqrt(5 / 8), 15);
  });

  it('refuses records it cannot read, naming the field', () => {
    const call = (change: Partial<DeviceParticipation>) => () => deviceRoundNoiseMultiplier(distributed(change), 0);
    expect(call({ colluders: 3 })).toThrow('deviceRoundNoiseMultiplier: colluders must be < minSurvivors (3), got 3');
    expect(call({ colluders: -1 })).toThrow('deviceRoundNoiseMultiplier: colluders must be an integer >= 0, got -1');
    expect(call({ minSurvivors: 0 })).toThrow('deviceRoundNoiseMultiplier: minSurvivors must be an integer >= 1, got 0');
    expect(call({ threshold: 1.5 })).toThrow('deviceRoundNoiseMultiplier: threshold must be an integer >= 1, got 1.5');
    expect(call({ noiseMultiplier: Infinity })).toThrow('deviceRoundNoiseMultiplier: noise multiplier must be a finite number > 0, got Infinity');
    expect(() => deviceEpsilon([], { assumedColluders: 0, delta: 0 })).toThrow('deviceEpsilon: delta must be in (0, 1), got 0');
  });

  describe('discrete rounds', () => {
    // σ_Z = σ·C·scale/√(k_min − c) = 1·0.5·200/√4 = 50 integer units per share, so τ = 10·Σ e^(−2π²·2500·k/(k+1))
    // underflows to 0 and the multiplier is exactly 1/(2Δ₂/(√h·σ_Z)) with h honest shares.
    const discrete = { clipNorm: 0.5, scale: 200, roundedNormBound: 120, paddedDimension: 1024 };
    const round = (change: Partial<DeviceParticipation> = {}) => distributed({ minSurvivors: 4, threshold: 4, discrete, ...change });

    it('is √h·σ_Z/(2Δ₂) once τ vanishes', () => {
      expect(deviceRoundNoiseMultiplier(round(), 0)).toBeCloseTo((2 * 50) / 240, 15);
      // One assumed colluder: h = 3 of the 4 shares.
      expect(deviceRoundNoiseMultiplier(round(), 1)).toBeCloseTo((Math.sqrt(3) * 50) / 240, 15);
      // The plan's c = 1 makes each share σC·scale/√3 and leaves h = 3.
      expect(deviceRoundNoiseMultiplier(round({ colluders: 1 }), 0)).toBeCloseTo((Math.sqrt(3) * (100 / Math.sqrt(3))) / 240, 15);
    });

    it('relies on nothing when a discrete record also claims adaptive clipping', () => {
      expect(deviceRoundNoiseMultiplier(round({ clipIndicatorNoiseStdDev: 0.5 }), 0)).toBeNull();
    });

    it('is treated as continuous when discrete is null', () => {
      expect(deviceRoundNoiseMultiplier(round({ discrete: null }), 0)).toBeCloseTo(0.5, 15);
    });
  });
});
