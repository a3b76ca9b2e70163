import { chacha20 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import type { RandomBytes } from '../random/index';
import { l2Norm } from './clip';
import {
  addCentralNoise,
  clientNoiseShare,
  honestReportsOf,
  parsePrivacyConfig,
  PrivacyConfigError,
  privatizeClientUpdate,
  roundNoiseMultiplier,
  validatePrivacyConfig,
  type ClientPrivacyOptions,
  type PrivacyMode,
} from './modes';

/** Reproducible bytes for tests only (ChaCha20 keystream, fresh nonce per call). */
function seededRandomBytes(seed: number): RandomBytes {
  const key = new Uint8Array(32);
  new DataView(key.buffer).setUint32(0, seed);
  let call = 0;
  return (out) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(0, call++);
    out.fill(0);
    chacha20(key, nonce, out, out);
    return out;
  };
}

/** Root mean square: the empirical standard deviation of zero-mean noise. */
function rms(values: Float32Array | Float64Array): number {
  return l2Norm(values) / Math.sqrt(values.length);
}

/**
 * For n draws of N(0, s²), the sample RMS has relative standard error ≈ 1/√(2n); six of those
 * bound a correct implementation's deviation with probability ~1 − 2e−9.
 */
function expectStdDev(values: Float32Array | Float64Array, expected: number): void {
  expect(Math.abs(rms(values) / expected - 1)).toBeLessThan(6 / Math.sqrt(2 * values.length));
}

describe('messages and edges', () => {
  const base = { clipNorm: 1, noiseMultiplier: 1.1, expectedCohortSize: 100 };
  /** A RandomBytes that fails the test if anything asks it for randomness. */
  const noRandomness = () => {
    throw new Error('randomness drawn');
  };

  it('words every config issue for a person reading the plan file', () => {
    expect(validatePrivacyConfig({ ...base, mode: 'local', secureAggregation: false, clipNorm: -1 })).toMatchObject({
      ok: false,
      issues: [{ code: 'INVALID_FIELD', path: 'clipNorm', message: expect.stringMatching(/^privacy config clipNorm: ./) }],
    });
    expect(validatePrivacyConfig(null)).toMatchObject({
      ok: false,
      issues: [{ code: 'INVALID_FIELD', path: '', message: expect.stringMatching(/^privacy config \(root\): ./) }],
    });
    expect(validatePrivacyConfig({ ...base, mode: 'central', noiseMultiplier: 0, secureAggregation: false })).toEqual({
      ok: false,
      issues: [
        {
          code: 'NOISE_REQUIRED',
          path: 'noiseMultiplier',
          message: "privacy config noiseMultiplier: mode 'central' needs noiseMultiplier > 0, got 0 (use mode 'off' for no noise)",
        },
      ],
    });
    expect(validatePrivacyConfig({ ...base, mode: 'local', minSurvivors: 4, colluders: 4, secureAggregation: false })).toEqual({
      ok: false,
      issues: [
        {
          code: 'COLLUDERS_NOT_BELOW_MIN_SURVIVORS',
          path: 'colluders',
          message: 'privacy config colluders: must be < minSurvivors (4): a sum of k_min reports must hold at least one honest noise share, got 4',
        },
      ],
    });
    expect(validatePrivacyConfig({ ...base, mode: 'central', secureAggregation: true })).toEqual({
      ok: false,
      issues: [
        {
          code: 'CENTRAL_WITH_SECURE_AGGREGATION',
          path: 'mode',
          message:
            "privacy config mode: 'central' cannot be combined with secureAggregation: central noise is added by the aggregator after it has seen " +
            "the exact sum, which secure aggregation exists to keep from it; use 'distributed'",
        },
      ],
    });
    expect(validatePrivacyConfig({ ...base, mode: 'distributed', secureAggregation: false })).toEqual({
      ok: false,
      issues: [
        {
          code: 'DISTRIBUTED_WITHOUT_SECURE_AGGREGATION',
          path: 'mode',
          message:
            "privacy config mode: 'distributed' requires secureAggregation: without it the aggregator sees each update with only " +
            "1/sqrt(minSurvivors) of the noise; use 'local' or 'central', or turn secure aggregation on",
        },
      ],
    });
  });

  it('keeps colluders out of the config when not given, and accepts minSurvivors equal to the cohort', () => {
    const result = validatePrivacyConfig({ ...base, mode: 'local', minSurvivors: 100, secureAggregation: false });
    expect(result.ok).toBe(true);
    if (result.ok) expect('colluders' in result.config).toBe(false);
  });

  it('PrivacyConfigError is named and joins the issues with "; "', () => {
    const error = new PrivacyConfigError([
      { code: 'NOISE_REQUIRED', path: 'noiseMultiplier', message: 'a' },
      { code: 'INVALID_FIELD', path: '', message: 'b' },
    ]);
    expect(error.name).toBe('PrivacyConfigError');
    expect(error.message).toBe('[NOISE_REQUIRED] a; [INVALID_FIELD] b');
  });

  it('names the function and field in cohort errors', () => {
    const options: ClientPrivacyOptions = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: 8 };
    expect(() => privatizeClientUpdate(new Float32Array(2), { ...options, minSurvivors: 0 })).toThrow(
      'privatizeClientUpdate: minSurvivors must be an integer >= 1, got 0',
    );
    expect(() => honestReportsOf('here', 0, 0)).toThrow('here: minSurvivors must be an integer >= 1, got 0');
    expect(() => honestReportsOf('here', 4, 1.5)).toThrow('here: colluders must be an integer in [0, minSurvivors = 4), got 1.5');
    expect(() => clientNoiseShare('distributed', 2, 6, 6)).toThrow('clientNoiseShare: colluders must be an integer in [0, minSurvivors = 6), got 6');
    expect(clientNoiseShare('off', 2, 6)).toBe(0);
    expect(() => clientNoiseShare('shuffle' as PrivacyMode, 2, 6)).toThrow(new RangeError('unknown privacy mode shuffle'));
  });

  it("'off' clips without asking for a noise multiplier or any randomness", () => {
    const delta = Float32Array.of(3, 4);
    const result = privatizeClientUpdate(delta, { mode: 'off', clipNorm: 1, noiseMultiplier: 0, expectedCohortSize: 0 }, noRandomness);
    expect(result.noiseStdDev).toBe(0);
    expect(result.norm).toBe(5);
    expect(result.wasClipped).toBe(true);
    expect(result.update[0]).toBeCloseTo(0.6, 6);
    expect(result.update[1]).toBeCloseTo(0.8, 6);
    expect(l2Norm(result.update)).toBeLessThanOrEqual(1);
  });

  it('addCentralNoise refuses anything but a float array and names clipNorm', () => {
    expect(() => addCentralNoise([1, 2] as unknown as Float64Array, { clipNorm: 1, noiseMultiplier: 1 })).toThrow(
      new TypeError('addCentralNoise: sum must be a Float32Array or Float64Array, got object'),
    );
    expect(() => addCentralNoise(new Int32Array(2) as unknown as Float64Array, { clipNorm: 1, noiseMultiplier: 1 })).toThrow(TypeError);
    expect(() => addCentralNoise(new Float64Array(1), { clipNorm: 0, noiseMultiplier: 1 })).toThrow(
      'addCentralNoise: clipNorm must be a finite number > 0, got 0',
    );
  });

  it('roundNoiseMultiplier: central needs no honest survivor, and each field is named', () => {
    const round = { noiseMultiplier: 1, expectedCohortSize: 10, minSurvivors: 6, colluders: 2 };
    expect(roundNoiseMultiplier({ ...round, mode: 'central', survivors: 2 })).toBe(1);
    expect(() => roundNoiseMultiplier({ ...round, mode: 'distributed', survivors: 2 })).toThrow(
      'roundNoiseMultiplier: survivors must exceed colluders (2) for any honest noise to be in the sum, got 2',
    );
    expect(roundNoiseMultiplier({ ...round, mode: 'distributed', survivors: 3 })).toBeCloseTo(Math.sqrt(1 / 4), 15);
    expect(() => roundNoiseMultiplier({ ...round, mode: 'central', survivors: 5, noiseMultiplier: 0 })).toThrow(
      'roundNoiseMultiplier: noiseMultiplier must be a finite number > 0, got 0',
    );
    expect(() => roundNoiseMultiplier({ ...round, mode: 'central', survivors: 5, indicatorNoiseStdDev: 0 })).toThrow(
      'roundNoiseMultiplier: indicatorNoiseStdDev must be a finite number > 0, got 0',
    );
  });
});

describe('validatePrivacyConfig', () => {
  const base = { clipNorm: 1, noiseMultiplier: 1.1, expectedCohortSize: 100 };

  it.each([
    { mode: 'local', secureAggregation: false },
    { mode: 'local', secureAggregation: true },
    { mode: 'distributed', secureAggregation: true },
    { mode: 'central', secureAggregation: false },
    { mode: 'off', secureAggregation: true },
    { mode: 'off', secureAggregation: false, noiseMultiplier: 0 },
  ])('accepts %j and fills minSurvivors', (override) => {
    const result = validatePrivacyConfig({ ...base, ...override });
    expect(result).toEqual({ ok: true, config: { ...base, ...override, minSurvivors: 100 } });
  });

  it('refuses central noise with secure aggregation', () => {
    const result = validatePrivacyConfig({ ...base, mode: 'central', secureAggregation: true });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ code: 'CENTRAL_WITH_SECURE_AGGREGATION', path: 'mode' });
    expect(result.issues[0]?.message).toContain("'central' cannot be combined with secureAggregation");
    expect(() => parsePrivacyConfig({ ...base, mode: 'central', secureAggregation: true })).toThrow(PrivacyConfigError);
  });

  it('refuses distributed noise without secure aggregation', () => {
    const result = validatePrivacyConfig({ ...base, mode: 'distributed', secureAggregation: false });
    expect(result).toMatchObject({ ok: false, issues: [{ code: 'DISTRIBUTED_WITHOUT_SECURE_AGGREGATION' }] });
  });

  it('refuses a noisy mode without noise and minSurvivors above the cohort, reporting both', () => {
    const result = validatePrivacyConfig({
      ...base,
      mode: 'local',
      noiseMultiplier: 0,
      minSurvivors: 101,
      secureAggregation: false,
    });
    expect(result).toMatchObject({
      ok: false,
      issues: [
        { code: 'NOISE_REQUIRED', path: 'noiseMultiplier' },
        {
          code: 'MIN_SURVIVORS_ABOVE_COHORT',
          path: 'minSurvivors',
          message: 'privacy config minSurvivors: must be <= expectedCohortSize (100), got 101',
        },
      ],
    });
  });

  it.each([
    [{ clipNorm: -1 }, 'clipNorm'],
    [{ clipNorm: Infinity }, 'clipNorm'],
    [{ noiseMultiplier: -0.5 }, 'noiseMultiplier'],
    [{ expectedCohortSize: 10.5 }, 'expectedCohortSize'],
    [{ mode: 'shuffle' }, 'mode'],
    [{ secureAggregation: 'yes' }, 'secureAggregation'],
  ])('reports shape errors as INVALID_FIELD: %j', (override, path) => {
    const result = validatePrivacyConfig({ ...base, mode: 'local', secureAggregation: false, ...override });
    expect(result).toMatchObject({ ok: false, issues: [{ code: 'INVALID_FIELD', path }] });
  });

  it('rejects unknown keys and non-objects', () => {
    expect(validatePrivacyConfig({ ...base, mode: 'local', secureAggregation: false, sigma: 2 })).toMatchObject({
      ok: false,
      issues: [{ code: 'INVALID_FIELD' }],
    });
    expect(validatePrivacyConfig(null)).toMatchObject({ ok: false, issues: [{ code: 'INVALID_FIELD', path: '' }] });
  });

  it('parsePrivacyConfig lists every issue in its message', () => {
    try {
      parsePrivacyConfig({ ...base, mode: 'central', noiseMultiplier: 0, secureAggregation: true });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PrivacyConfigError);
      expect((error as PrivacyConfigError).issues.map((issue) => issue.code)).toEqual(['NOISE_REQUIRED', 'CENTRAL_WITH_SECURE_AGGREGATION']);
      expect((error as Error).message).toContain('[NOISE_REQUIRED]');
      expect((error as Error).message).toContain('[CENTRAL_WITH_SECURE_AGGREGATION]');
    }
  });
});

describe('privatizeClientUpdate', () => {
  const n = 2 ** 18;
  const zero = new Float32Array(n);
  const options: ClientPrivacyOptions = { mode: 'local', clipNorm: 0.5, noiseMultiplier: 1.2, expectedCohortSize: 64 };

  it("'local': each client adds σ·C", () => {
    const result = privatizeClientUpdate(zero, options, seededRandomBytes(1));
    expect(result.noiseStdDev).toBeCloseTo(0.6, 15);
    expectStdDev(result.update, 0.6);
  });

  it("'distributed': each client adds σ·C/√m, or σ·C/√minSurvivors", () => {
    const result = privatizeClientUpdate(zero, { ...options, mode: 'distributed' }, seededRandomBytes(2));
    expect(result.noiseStdDev).toBeCloseTo(0.6 / 8, 15);
    expectStdDev(result.update, 0.6 / 8);
    const compensated = privatizeClientUpdate(zero, { ...options, mode: 'distributed', minSurvivors: 36 }, seededRandomBytes(3));
    expect(compensated.noiseStdDev).toBeCloseTo(0.6 / 6, 15);
    expectStdDev(compensated.update, 0.6 / 6);
  });

  it("'distributed': the sum of m clients carries σ·C", () => {
    const m = 16;
    const length = 2 ** 16;
    const sum = new Float64Array(length);
    for (let client = 0; client < m; client++) {
      const { update } = privatizeClientUpdate(
        new Float32Array(length),
        { ...options, mode: 'distributed', expectedCohortSize: m },
        seededRandomBytes(100 + client),
      );
      update.forEach((x, i) => (sum[i] = (sum[i] as number) + x));
    }
    expectStdDev(sum, 0.6);
  });

  it("'central' and 'off': clients add nothing", () => {
    const delta = Float32Array.of(0.1, -0.2, 0.3);
    for (const mode of ['central', 'off'] as const) {
      const result = privatizeClientUpdate(delta, { ...options, mode });
      expect(result).toEqual({ update: delta, norm: l2Norm(delta), wasClipped: false, noiseStdDev: 0 });
      expect(result.update).not.toBe(delta);
    }
  });

  it('clips before adding noise and reports the pre-clip norm', () => {
    const delta = new Float32Array(1000).fill(1); // norm √1000 ≈ 31.6
    const off = privatizeClientUpdate(delta, { ...options, mode: 'off' });
    expect(off.wasClipped).toBe(true);
    expect(off.norm).toBeCloseTo(Math.sqrt(1000), 12);
    expect(l2Norm(off.update)).toBeLessThanOrEqual(0.5);
    const local = privatizeClientUpdate(delta, { ...options, noiseMultiplier: 0.001 }, seededRandomBytes(4));
    // Clipped to 0.5 (≈ 0.0158 per coordinate), then noise of std 0.0005.
    expect(Math.abs((local.update[0] as number) - 0.5 / Math.sqrt(1000))).toBeLessThan(0.003);
  });

  it('rejects bad options with the name, the expectation and the value', () => {
    expect(() => privatizeClientUpdate(zero, { ...options, mode: 'shuffle' as 'local' })).toThrow(
      'privatizeClientUpdate: mode must be one of off, local, distributed, central, got shuffle',
    );
    expect(() => privatizeClientUpdate(zero, { ...options, clipNorm: 0 })).toThrow('privatizeClientUpdate: clipNorm must be a finite number > 0, got 0');
    expect(() => privatizeClientUpdate(zero, { ...options, noiseMultiplier: 0 })).toThrow(
      'privatizeClientUpdate: noiseMultiplier must be a finite number > 0, got 0',
    );
    expect(() => privatizeClientUpdate(zero, { ...options, mode: 'distributed', minSurvivors: 65 })).toThrow(
      'privatizeClientUpdate: minSurvivors must be <= expectedCohortSize (64), got 65',
    );
    expect(() => privatizeClientUpdate(zero, { ...options, expectedCohortSize: 0 })).toThrow(
      'privatizeClientUpdate: expectedCohortSize must be an integer >= 1, got 0',
    );
    expect(() => privatizeClientUpdate(Float32Array.of(Number.NaN), options)).toThrow('update[0] must be finite, got NaN');
  });
});

describe('addCentralNoise', () => {
  it('adds σ·C to a copy of the sum, keeping its type', () => {
    const sum = new Float64Array(2 ** 18).fill(3);
    const result = addCentralNoise(sum, { clipNorm: 2, noiseMultiplier: 0.7 }, seededRandomBytes(5));
    expect(result.noiseStdDev).toBeCloseTo(1.4, 15);
    expect(result.sum).toBeInstanceOf(Float64Array);
    expect(sum.every((x) => x === 3)).toBe(true);
    expectStdDev(
      result.sum.map((x) => x - 3),
      1.4,
    );
    expect(addCentralNoise(new Float32Array(4), { clipNorm: 1, noiseMultiplier: 1 }).sum).toBeInstanceOf(Float32Array);
  });

  it('rejects a missing noise multiplier', () => {
    expect(() => addCentralNoise(new Float32Array(1), { clipNorm: 1, noiseMultiplier: 0 })).toThrow(
      'addCentralNoise: noiseMultiplier must be a finite number > 0, got 0',
    );
  });
});

describe('roundNoiseMultiplier', () => {
  const round = { noiseMultiplier: 1.2, expectedCohortSize: 100 };

  it("'central' keeps σ whatever the number of reports", () => {
    expect(roundNoiseMultiplier({ ...round, mode: 'central', survivors: 37 })).toBe(1.2);
  });

  it("'distributed' loses σ·√(k/m) to dropouts unless calibrated to minSurvivors", () => {
    expect(roundNoiseMultiplier({ ...round, mode: 'distributed', survivors: 100 })).toBeCloseTo(1.2, 15);
    expect(roundNoiseMultiplier({ ...round, mode: 'distributed', survivors: 64 })).toBeCloseTo(1.2 * 0.8, 15);
    expect(roundNoiseMultiplier({ ...round, mode: 'distributed', minSurvivors: 64, survivors: 64 })).toBeCloseTo(1.2, 15);
    expect(roundNoiseMultiplier({ ...round, mode: 'distributed', minSurvivors: 64, survivors: 100 })).toBeCloseTo(1.5, 15);
  });

  it("'local' counts every survivor's noise in the released sum", () => {
    expect(roundNoiseMultiplier({ ...round, mode: 'local', survivors: 25 })).toBeCloseTo(6, 15);
  });

  it('composes the update and the clipping indicator queries', () => {
    // σ_Δ = 2, σ_b = 1.5 (indicator multiplier 3): (2^−2 + 3^−2)^−1/2 = 6/√13.
    expect(roundNoiseMultiplier({ ...round, noiseMultiplier: 2, mode: 'central', survivors: 100, indicatorNoiseStdDev: 1.5 })).toBeCloseTo(
      6 / Math.sqrt(13),
      15,
    );
  });

  it("refuses 'off' and bad survivors", () => {
    expect(() => roundNoiseMultiplier({ ...round, mode: 'off', survivors: 10 })).toThrow("roundNoiseMultiplier: mode 'off' adds no noise");
    expect(() => roundNoiseMultiplier({ ...round, mode: 'central', survivors: 0 })).toThrow('roundNoiseMultiplier: survivors must be an integer >= 1, got 0');
  });
});
