import { describe, expect, it } from 'vitest';
import { privatizeClipIndicator } from './adaptive-clipping';
import { clientNoiseShare, honestReportsOf, privatizeClientUpdate, roundNoiseMultiplier, validatePrivacyConfig } from './modes';
import { keystreamRandomBytes } from './test-random';

/** c fake or colluding reports per cohort: shares calibrated to k_min − c, only k − c reports credited. */
describe('colluders in the noise calibration and the ledger σ', () => {
  it('each distributed share is σC/√(k_min − c); local and central shares do not depend on c', () => {
    expect(clientNoiseShare('distributed', 2, 6, 2)).toBe(1);
    expect(clientNoiseShare('distributed', 2, 6)).toBeCloseTo(2 / Math.sqrt(6), 15);
    expect(clientNoiseShare('local', 2, 6, 2)).toBe(2);
    expect(clientNoiseShare('central', 2, 6, 2)).toBe(0);
    expect(() => clientNoiseShare('distributed', 2, 6, 6)).toThrow(/colluders/);
    expect(() => honestReportsOf('test', 6, -1)).toThrow(/colluders/);
    expect(honestReportsOf('test', 6, undefined)).toBe(6);
  });

  it('privatizeClientUpdate and privatizeClipIndicator add the c-calibrated share', () => {
    const options = { mode: 'distributed' as const, clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: 8, minSurvivors: 5, colluders: 1 };
    expect(privatizeClientUpdate(new Float32Array(4), options, keystreamRandomBytes(1)).noiseStdDev).toBe(0.5);
    const indicator = privatizeClipIndicator(
      1,
      { mode: 'distributed', indicatorNoiseStdDev: 2, expectedCohortSize: 8, minSurvivors: 5, colluders: 1 },
      keystreamRandomBytes(2),
    );
    expect(indicator.noiseStdDev).toBe(1);
  });

  it('the ledger σ counts only the k − c honest reports: σ·√((k − c)/(k_min − c)), σ√(k − c) in local', () => {
    const base = { noiseMultiplier: 1, expectedCohortSize: 10, minSurvivors: 6, colluders: 2 };
    expect(roundNoiseMultiplier({ ...base, mode: 'distributed', survivors: 6 })).toBe(1);
    expect(roundNoiseMultiplier({ ...base, mode: 'distributed', survivors: 10 })).toBeCloseTo(Math.sqrt(8 / 4), 15);
    expect(roundNoiseMultiplier({ ...base, mode: 'local', survivors: 6 })).toBe(2);
    expect(roundNoiseMultiplier({ ...base, mode: 'central', survivors: 6 })).toBe(1);
    // Without c: as before.
    expect(roundNoiseMultiplier({ ...base, colluders: 0, mode: 'distributed', survivors: 10 })).toBeCloseTo(Math.sqrt(10 / 6), 15);
    expect(() => roundNoiseMultiplier({ ...base, mode: 'local', survivors: 2 })).toThrow(/exceed colluders/);
  });

  it('validatePrivacyConfig refuses c ≥ k_min with its own code', () => {
    const config = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: 10, minSurvivors: 4, secureAggregation: true };
    expect(validatePrivacyConfig({ ...config, colluders: 3 })).toMatchObject({ ok: true, config: { colluders: 3 } });
    const refused = validatePrivacyConfig({ ...config, colluders: 4 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.issues.map((issue) => issue.code)).toEqual(['COLLUDERS_NOT_BELOW_MIN_SURVIVORS']);
  });
});
