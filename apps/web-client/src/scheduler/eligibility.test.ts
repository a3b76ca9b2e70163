import { describe, expect, it } from 'vitest';
import { decideEligibility, DEFAULT_POLICY, isMetered, type DeviceConditions } from './eligibility';

const good: DeviceConditions = { consent: true, examples: 500, idleForMs: 60_000, charging: true, metered: false, online: true, ready: true };

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

  it('follows the policy: battery and metered allowed when not required, thresholds configurable', () => {
    const relaxed = { ...DEFAULT_POLICY, requireCharging: false, requireUnmetered: false, minExamples: 1, idleMs: 0 };
    expect(decideEligibility({ ...good, charging: false, metered: true, examples: 1, idleForMs: 0 }, relaxed)).toMatchObject({ state: 'eligible' });
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
