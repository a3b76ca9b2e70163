import { describe, expect, it } from 'vitest';
import { DEFAULT_DEVICE_CONTROLS, MEGABYTE } from '../storage/schema';
import { decideEligibility, DEFAULT_POLICY, isMetered, type DeviceConditions } from './eligibility';

const good: DeviceConditions = {
  consent: true,
  examples: 500,
  idleForMs: 60_000,
  charging: true,
  metered: false,
  online: true,
  ready: true,
  upload: { usedBytes: 0, nextRoundBytes: 700_000 },
};

describe('decideEligibility', () => {
  it('is eligible when every condition holds', () => {
    expect(decideEligibility(good)).toMatchObject({ state: 'eligible' });
  });

  it('is off without consent, whatever else holds', () => {
    expect(decideEligibility({ ...good, consent: false })).toMatchObject({ state: 'off', reason: expect.stringMatching(/^off:/) });
  });

  it.each([
    [{ ready: false }, 'not-ready', 'waiting: preparing the model on this device'],
    [{ online: false }, 'offline', 'waiting: offline'],
    [{ examples: 12 }, 'examples', 'waiting: 12 of 50 examples needed — keep writing'],
    [{ idleForMs: 21_500 }, 'typing', 'waiting: you are typing (idle for 9 s more)'],
    [{ charging: false }, 'battery', 'waiting: on battery'],
    [{ metered: true }, 'metered', 'waiting: on a metered network'],
  ] as const)('waits when %o, saying why', (change, blocker, reason) => {
    expect(decideEligibility({ ...good, ...change })).toEqual({ state: 'waiting', blocker, reason });
  });

  it('reports the first blocker in order: examples before battery', () => {
    expect(decideEligibility({ ...good, examples: 0, charging: false })).toMatchObject({ blocker: 'examples' });
  });

  it('does not block on what the browser cannot tell', () => {
    expect(decideEligibility({ ...good, charging: null, metered: null })).toMatchObject({ state: 'eligible' });
  });

  it("follows the person's choices: battery and metered allowed when they said so; thresholds configurable", () => {
    const relaxed = { ...DEFAULT_POLICY, minExamples: 1, idleMs: 0 };
    const anyPowerAnyNetwork = { ...DEFAULT_DEVICE_CONTROLS, onlyWhileCharging: false, onlyUnmetered: false };
    expect(decideEligibility({ ...good, charging: false, metered: true, examples: 1, idleForMs: 0 }, relaxed, anyPowerAnyNetwork)).toMatchObject({
      state: 'eligible',
    });
    // Each choice on its own: the other one still holds the device back.
    expect(decideEligibility({ ...good, charging: false, metered: true }, DEFAULT_POLICY, { ...anyPowerAnyNetwork, onlyUnmetered: true })).toMatchObject({
      blocker: 'metered',
    });
    expect(decideEligibility({ ...good, charging: false, metered: true }, DEFAULT_POLICY, { ...anyPowerAnyNetwork, onlyWhileCharging: true })).toMatchObject({
      blocker: 'battery',
    });
  });

  it('defaults to Wi-Fi only and charging only', () => {
    expect(decideEligibility({ ...good, charging: false })).toMatchObject({ blocker: 'battery' });
    expect(decideEligibility({ ...good, metered: true })).toMatchObject({ blocker: 'metered' });
  });
});

describe('the monthly upload budget', () => {
  const budget = (monthlyUploadBudgetBytes: number | null) => ({ ...DEFAULT_DEVICE_CONTROLS, monthlyUploadBudgetBytes });

  it('waits, in words with the numbers, when the budget is used up', () => {
    const decided = decideEligibility({ ...good, upload: { usedBytes: 50 * MEGABYTE, nextRoundBytes: 700_000 } }, DEFAULT_POLICY, budget(50 * MEGABYTE));
    expect(decided).toEqual({
      state: 'waiting',
      blocker: 'budget',
      reason: "waiting: this month's upload budget is used (50 of 50 MB)",
      upload: { usedBytes: 50 * MEGABYTE, nextRoundBytes: 700_000, budgetBytes: 50 * MEGABYTE },
    });
  });

  it('waits when the next round would go over, even with some budget left', () => {
    const decided = decideEligibility({ ...good, upload: { usedBytes: 48_300_000, nextRoundBytes: 5_100_001 } }, DEFAULT_POLICY, budget(50 * MEGABYTE));
    expect(decided).toMatchObject({ state: 'waiting', blocker: 'budget' });
    expect(decided.reason).toBe("waiting: this month's upload budget has no room for another round (48 of 50 MB used; a round uploads up to 5.2 MB)");
  });

  it('lets a round that exactly fills the budget go ahead, and not one byte more', () => {
    const controls = budget(10 * MEGABYTE);
    expect(decideEligibility({ ...good, upload: { usedBytes: 9 * MEGABYTE, nextRoundBytes: MEGABYTE } }, DEFAULT_POLICY, controls)).toMatchObject({
      state: 'eligible',
    });
    expect(decideEligibility({ ...good, upload: { usedBytes: 9 * MEGABYTE + 1, nextRoundBytes: MEGABYTE } }, DEFAULT_POLICY, controls)).toMatchObject({
      blocker: 'budget',
    });
  });

  it('never blocks when unlimited', () => {
    expect(decideEligibility({ ...good, upload: { usedBytes: 10 ** 12, nextRoundBytes: 10 ** 9 } }, DEFAULT_POLICY, budget(null))).toMatchObject({
      state: 'eligible',
    });
  });

  it('comes after "keep writing" but before the passing reasons (typing, battery, network)', () => {
    const spent = { usedBytes: 50 * MEGABYTE, nextRoundBytes: 1 };
    expect(decideEligibility({ ...good, examples: 3, upload: spent })).toMatchObject({ blocker: 'examples' });
    expect(decideEligibility({ ...good, idleForMs: 0, charging: false, metered: true, upload: spent })).toMatchObject({ blocker: 'budget' });
  });
});

describe('isMetered', () => {
  it('reads the Network Information API', () => {
    expect(isMetered(undefined)).toBeNull();
    expect(isMetered({})).toBeNull();
    expect(isMetered({ type: 'cellular' })).toBe(true);
    expect(isMetered({ type: 'wifi', saveData: true })).toBe(true);
    expect(isMetered({ type: 'wifi' })).toBe(false);
    expect(isMetered({ type: 'ethernet' })).toBe(false);
  });
});
