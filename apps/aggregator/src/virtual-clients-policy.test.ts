import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PRIVACY_OFF_PLAN_POLICY, type ParticipantEvent } from '@murmur/fl-core/participant';
import { useNodeBackend } from '@murmur/fl-core/node';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientOptions } from './virtual-clients';
import { eventually, tempDataDir, TEST_SPEC, testConfig, testLogger } from './test-helpers';

/**
 * Virtual clients check every plan as a browser does (connectParticipant's planPolicy): by default
 * DEFAULT_PLAN_POLICY, which refuses a server that turned privacy off; only clients told so ahead of
 * time (PRIVACY_OFF_PLAN_POLICY) train for it. Real Socket.IO on 127.0.0.1, certified devices.
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
beforeAll(async () => {
  await useNodeBackend('wasm');
});

/** A server with privacy off and three clients; a round nobody answers ends at the key deadline (training must fit in it). */
async function privacyOffRound(planPolicy: VirtualClientOptions['planPolicy'], advertiseKeysMs: number) {
  const data = tempDataDir();
  cleanups.push(() => data.remove());
  const config = testConfig(data.dir, {
    round: {
      target: 3,
      overSelection: 1,
      minReports: 3,
      checkinMs: 300,
      deadlines: { advertiseKeysMs, shareKeysMs: 5_000, maskedInputMs: 5_000, unmaskingMs: 5_000 },
    },
    privacy: { mode: 'off' },
  });
  const aggregator = await startWithEnrollment(config, { logger: testLogger() });
  cleanups.push(() => aggregator.close());
  const events: ParticipantEvent[][] = [[], [], []];
  const pool = await startVirtualClients({
    url: aggregator.url,
    clients: stateOfTheUnionClients(TEST_SPEC, 3),
    onEvent: (index, event) => events[index]?.push(event),
    ...(planPolicy ? { planPolicy } : {}),
  });
  cleanups.push(() => pool.close());
  return { aggregator, events };
}

describe('virtual clients and a server whose privacy is off', () => {
  it('refuse the plan by default: nothing trained or sent, the round ends without them', async () => {
    const { aggregator, events } = await privacyOffRound(undefined, 3_000);
    const ended = await eventually(() => aggregator.store.rounds.find((r) => r.status === 'aborted'), 60_000, 'the refused round to end');
    for (const own of events) {
      const refused = own.find((e) => e.type === 'refused');
      expect(refused?.type === 'refused' && refused.reasons.map((r) => r.code)).toEqual(['MODE_NOT_ALLOWED']);
      expect(own.some((e) => e.type === 'contributed')).toBe(false);
    }
    expect(ended.cohort).toMatchObject({ selected: 3, advertised: 0 });
    expect(aggregator.store.rounds.filter((r) => r.status === 'committed')).toEqual([]);
  }, 90_000);

  it('train for it with PRIVACY_OFF_PLAN_POLICY (the refusal above is the policy, not the set-up)', async () => {
    const { aggregator, events } = await privacyOffRound(PRIVACY_OFF_PLAN_POLICY, 20_000);
    await eventually(() => aggregator.store.rounds.find((r) => r.status === 'committed'), 60_000, 'a committed round');
    for (const own of events) expect(own.some((e) => e.type === 'refused')).toBe(false);
  }, 90_000);
});
