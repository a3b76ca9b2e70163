import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { GroupOrder } from '../coordinator';
import type { Coordination, ControlEntry } from './coordination';
import { RedisGroupLink } from './group-link';
import type { StoredRound } from './record-store';
import type { Replica } from './replica';
import { FIXTURE_LIVE_PLAN, openRoundMessage, report } from './testing/fixtures';

/**
 * The group link's verdict (distributed/group-link.ts) when the control stream loses it: a Redis
 * restart or a coordinator that died after writing its record. The record is the truth, so a
 * group waiting on a round the record already holds settles from it within a second or so, not at
 * the order's deadline + OUTCOME_GRACE_MS.
 */
const TASK = 'link-test';

function fakeCoordination(entries: ControlEntry[]): Coordination {
  let served = false;
  return {
    read: async (_task: string, _after: string, options: { blockMs?: number } = {}) => {
      if (!served) {
        served = true;
        return entries;
      }
      await new Promise((resolve) => setTimeout(resolve, options.blockMs ?? 0));
      return [];
    },
    putGroupSum: async () => true,
  } as unknown as Coordination;
}

function fakeReplica(stored: () => StoredRound | null): Replica {
  return {
    sync: async () => 0,
    store: { modelVersion: 4 },
    findRound: async () => stored(),
  } as unknown as Replica;
}

const order: GroupOrder = {
  round: 5,
  roundId: 'r5-fixture',
  samplingRate: 0.01,
  population: 1000,
  maxClients: 100,
  base: { version: 4, hash: '0'.repeat(64) },
  live: FIXTURE_LIVE_PLAN,
  planRevision: 0,
};

describe('RedisGroupLink.outcome without a verdict on the stream', () => {
  let link: RedisGroupLink | undefined;
  afterEach(async () => {
    await link?.stop();
    link = undefined;
  });

  function open(stored: () => StoredRound | null): RedisGroupLink {
    // The open-round message sets the order's deadline (60 s): waiting it out would time the test out.
    const coordination = fakeCoordination([{ id: '1-0', message: openRoundMessage(1, 5, order.base) }]);
    link = new RedisGroupLink({ coordination, replica: fakeReplica(stored), taskId: TASK, groupId: 'g1', groupSize: 500, logger: pino({ level: 'silent' }) });
    link.start();
    return link;
  }

  it('settles from the record once the round is recorded aborted, with its reason', async () => {
    let stored: StoredRound | null = null;
    const started = performance.now();
    const outcome = open(() => stored).outcome(order);
    setTimeout(() => {
      stored = { taskId: TASK, round: 5, status: 'aborted', epoch: 2, record: report(5, 'aborted', 4, { code: 'INTERRUPTED', message: 'round 5: gone' }) };
    }, 300);
    const result = await outcome;
    expect(result).toMatchObject({ status: 'aborted', reason: { code: 'INTERRUPTED', message: 'round 5: gone' } });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('settles committed from the record', async () => {
    const stored: StoredRound = { taskId: TASK, round: 5, status: 'committed', epoch: 2, record: report(5, 'committed', 4) };
    const result = await open(() => stored).outcome(order);
    expect(result).toEqual({ status: 'committed', modelVersion: 4 });
  });
});

describe('RedisGroupLink orders', () => {
  it("hands the round's rotation seed (discrete noise) to every group as the bytes the coordinator drew, and none without one", async () => {
    const seed = '0f'.repeat(16) + 'a5'.repeat(16);
    const links = [
      { ...openRoundMessage(1, 5, order.base), rotationSeed: seed },
      { ...openRoundMessage(1, 6, order.base), roundId: 'r6-fixture' },
    ].map((message, i) => {
      const link = new RedisGroupLink({
        coordination: fakeCoordination([{ id: `${i + 1}-0`, message }]),
        replica: fakeReplica(() => null),
        taskId: TASK,
        groupId: 'g1',
        groupSize: 500,
        logger: pino({ level: 'silent' }),
      });
      link.start();
      return link;
    });
    try {
      const [discrete, continuous] = await Promise.all(links.map((link) => link.nextOrder()));
      expect(discrete?.rotationSeed).toEqual(new Uint8Array([...Array(16).fill(0x0f), ...Array(16).fill(0xa5)]));
      expect(continuous).not.toHaveProperty('rotationSeed');
      expect(continuous?.round).toBe(6);
    } finally {
      await Promise.all(links.map((link) => link.stop()));
    }
  });
});
