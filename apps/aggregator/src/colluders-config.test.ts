import { describe, expect, it } from 'vitest';
import { loadConfig, makeConfig } from './config';
import { planChangeSchema } from './plan';

/** privacy.noise and privacy.colluders: the flags, their defaults and the rules checked at start-up and on admin plan changes. */
describe('discrete noise and colluders in the configuration', () => {
  it('defaults to continuous noise and no colluders; the flags and environment set them', () => {
    expect(makeConfig({}).privacy).toMatchObject({ noise: 'continuous', colluders: 0 });
    const loaded = loadConfig(['--noise', 'discrete', '--colluders', '3'], {});
    expect(loaded).toMatchObject({ ok: true, config: { privacy: { noise: 'discrete', colluders: 3 } } });
    expect(loadConfig([], { MURMUR_NOISE: 'discrete', MURMUR_COLLUDERS: '2' })).toMatchObject({
      ok: true,
      config: { privacy: { noise: 'discrete', colluders: 2 } },
    });
  });

  it('refuses c ≥ minReports, discrete noise outside distributed mode, and discrete noise with adaptive clipping', () => {
    expect(loadConfig(['--colluders', '10'], {})).toMatchObject({ ok: false, message: expect.stringContaining('privacy.colluders') });
    expect(loadConfig(['--noise', 'discrete', '--dp', 'local'], {})).toMatchObject({ ok: false, message: expect.stringContaining("mode 'distributed'") });
    expect(() => makeConfig({ privacy: { noise: 'discrete', adaptiveClipping: {} } })).toThrow(/fixed clip norm/);
    expect(loadConfig(['--noise', 'gaussian'], {})).toMatchObject({ ok: false });
  });

  it('an admin plan change may not take minReports to c or below', () => {
    const schema = planChangeSchema(makeConfig({ privacy: { colluders: 3 } }));
    expect(schema.safeParse({ minReports: 3 }).success).toBe(false);
    expect(schema.safeParse({ minReports: 4 }).success).toBe(true);
    expect(schema.safeParse({}).success).toBe(true);
  });
});
