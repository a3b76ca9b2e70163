import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordination } from './coordination';
import { DistributedError } from './errors';
import { checkInvariants } from './invariants';
import type { RecordStore } from './record-store';
import { expectInvariants as invariantsHold } from './testing/suite';
import {
  dropSchema,
  freshSchema,
  groupSumBytes,
  initialModel,
  openRoundMessage,
  openStore,
  roundThroughRedis,
  sha256Hex,
  stores,
  storesConfig,
  until,
} from './testing/fixtures';

/**
 * Redis as the ephemeral half: pool counts that expire, a control stream per task, group sums as
 * bytes; and Redis shut down in the middle of a round — typed errors within the command timeout,
 * the round aborted durably with its reason, nothing committed lost, and rounds commit again once
 * Redis is back, on the same connections.
 */
const D = 64;
let store: RecordStore;
let coordination: Coordination;
let raw: Redis;

beforeAll(async () => {
  store = await openStore(freshSchema('redis'));
  const config = storesConfig({ poolCountTtlMs: 500, redisCommandTimeoutMs: 500 });
  coordination = new Coordination(config, `proc-${process.pid}`);
  await coordination.connect();
  raw = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  raw.on('error', () => undefined);
  await raw.connect();
  await raw.flushall();
});
afterAll(async () => {
  // A failed run must not leave Redis down for the next file.
  stores('redis-start');
  await coordination.close();
  raw.disconnect();
  await dropSchema(store);
  await store.close();
});

describe('coordination in Redis', () => {
  it('pool counts add up across processes and drop out after their TTL', async () => {
    const other = new Coordination(storesConfig({ poolCountTtlMs: 60_000 }), 'proc-other');
    await other.connect();
    try {
      await coordination.reportPool('t-pool', { connected: 100, eligible: 40, busy: 7 });
      await other.reportPool('t-pool', { connected: 50, eligible: 10, busy: 3 });
      expect(await coordination.poolCounts('t-pool')).toMatchObject({ connected: 150, eligible: 50, busy: 10 });
      await new Promise((resolve) => setTimeout(resolve, 700));
      const after = await coordination.poolCounts('t-pool');
      expect(after).toMatchObject({ connected: 50, eligible: 10, busy: 3 });
      expect(after.processes.map((p) => p.processId)).toEqual(['proc-other']);
      expect(await raw.smembers('murmur:{t-pool}:pools')).toEqual(['proc-other']);
    } finally {
      await other.close();
    }
  });

  it('the control stream delivers messages in order, waits for new ones, and reports a corrupt entry without stopping', async () => {
    const open = openRoundMessage(3, 7, { version: 0, hash: 'a'.repeat(64) });
    const first = await coordination.publish('t-ctl', open);
    await raw.xadd('murmur:{t-ctl}:control', '*', 'm', '{"kind":"open-round"}');
    await coordination.publish('t-ctl', { kind: 'abort-round', epoch: 3, round: 7, reason: { code: 'BELOW_THRESHOLD', message: 'x' } });
    const entries = await coordination.read('t-ctl', '0');
    expect(entries.map((e) => ('message' in e ? e.message.kind : e.error.code))).toEqual(['open-round', 'COORDINATION_CORRUPT', 'abort-round']);
    expect(entries[0]).toEqual({ id: first, message: open });
    // A blocking read returns when the next message arrives.
    const last = entries.at(-1)?.id as string;
    const waiting = coordination.read('t-ctl', last, { blockMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await coordination.publish('t-ctl', { kind: 'retry-window', epoch: 3, poolTarget: 40, fromMs: 1000, toMs: 5000 });
    expect((await waiting).map((e) => ('message' in e ? e.message.kind : 'error'))).toEqual(['retry-window']);
    await expect(coordination.publish('t-ctl', { ...open, samplingRate: 2 })).rejects.toThrow(RangeError);
  });

  it('group sums are bytes per group, first write wins, and a round holds groups × d, not clients × d', async () => {
    for (const groups of [2, 4]) {
      const round = groups;
      for (let g = 0; g < groups; g++) {
        expect(await coordination.putGroupSum('t-sums', round, { groupId: `g${g}`, groupReports: [300], bytes: groupSumBytes(round, `g${g}`, D) })).toBe(true);
      }
      expect(await coordination.putGroupSum('t-sums', round, { groupId: 'g0', groupReports: [1], bytes: new Uint8Array(D * 4) })).toBe(false);
      const sums = await coordination.groupSums('t-sums', round);
      expect(sums.map((s) => [s.groupId, s.reports])).toEqual(Array.from({ length: groups }, (_, g) => [`g${g}`, 300]));
      expect(Buffer.from(sums[0]?.bytes ?? []).equals(Buffer.from(groupSumBytes(round, 'g0', D)))).toBe(true);
      // 300 reports per group change nothing: the size is groups × (4d + a 12-byte header + one 4-byte report count).
      expect(await coordination.roundBytes('t-sums', round)).toBe(groups * (4 * D + 16));
      expect(await raw.pttl(`murmur:{t-sums}:round:${round}:sums`)).toBeGreaterThan(0);
      await coordination.dropRound('t-sums', round);
      expect(await coordination.groupSums('t-sums', round)).toEqual([]);
    }
    // A process that ran three SecAgg groups answers once: their summed sum and each group's reports.
    expect(await coordination.putGroupSum('t-sums', 7, { groupId: 'agg0', groupReports: [120, 130, 150], bytes: groupSumBytes(7, 'agg0', D) })).toBe(true);
    expect(await coordination.putGroupSum('t-sums', 7, { groupId: 'agg1', groupReports: [], bytes: new Uint8Array() })).toBe(true);
    expect((await coordination.groupSums('t-sums', 7)).map(({ groupId, groupReports, reports }) => ({ groupId, groupReports, reports }))).toEqual([
      { groupId: 'agg0', groupReports: [120, 130, 150], reports: 400 },
      { groupId: 'agg1', groupReports: [], reports: 0 },
    ]);
    expect(await coordination.roundBytes('t-sums', 7)).toBe(4 * D + 12 + 3 * 4 + 12);
    await expect(coordination.putGroupSum('t-sums', 7, { groupId: 'agg2', groupReports: [5, 0], bytes: new Uint8Array(4) })).rejects.toThrow(
      "putGroupSum(t-sums, round 7, agg2): a group's reports must be a u32 ≥ 1, got 0",
    );
    await raw.hset('murmur:{t-sums}:round:9:sums', 'bad', 'not a frame');
    await expect(coordination.groupSums('t-sums', 9)).rejects.toMatchObject({ code: 'COORDINATION_CORRUPT' });
  });

  it('Redis shut down mid-round: typed errors within the timeout, the round aborts durably, nothing committed is lost, and service resumes when Redis returns', async () => {
    const taskId = 'redis-down';
    await store.createTask({ taskId, population: 'pop', initial: initialModel(D) });
    const fence = await store.leases.acquire(taskId, 'coordinator', 120_000);
    const round = (midRound?: () => void) =>
      roundThroughRedis({ store, coordination, taskId, fence, groups: ['g0', 'g1', 'g2'], reportsPerGroup: 200, d: D, ...(midRound ? { midRound } : {}) });

    expect((await round()).status).toBe('committed');
    const before = await store.head(taskId);
    const v1 = await store.modelVersion(taskId, 1);

    const aborted = await round(() => stores('redis-stop'));
    expect(aborted.status).toBe('aborted');
    if (aborted.status !== 'aborted') return;
    expect(aborted.error.code).toBe('COORDINATION_UNAVAILABLE');
    expect(aborted.head).toMatchObject({ modelVersion: before.modelVersion, modelHash: before.modelHash, nextRound: before.nextRound + 1 });
    expect((await store.findRound(taskId, 2))?.record.abort?.code).toBe('COORDINATION_UNAVAILABLE');
    expect((await store.modelVersion(taskId, 1))?.bytes).toEqual(v1?.bytes);

    // While Redis is down every call fails fast and typed, never hangs.
    for (const call of [
      () => coordination.reportPool(taskId, { connected: 1, eligible: 1, busy: 0 }),
      () => coordination.publish(taskId, { kind: 'close-phase', epoch: fence.epoch, round: 3, phase: 'maskedInput' }),
      () => coordination.groupSums(taskId, 3),
      () => coordination.read(taskId, '0', { blockMs: 200 }),
    ]) {
      const started = Date.now();
      const error = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DistributedError);
      expect((error as DistributedError).code).toBe('COORDINATION_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2000);
    }
    await invariantsHold(store, taskId);

    stores('redis-start');
    await until('the coordination connection to come back', () => (coordination.ready ? true : undefined), 15_000);
    const resumed = await until('a round to commit again', async () => {
      const result = await round();
      return result.status === 'committed' ? result : undefined;
    });
    expect(resumed.head).toMatchObject({ modelVersion: 2 });
    const report = await checkInvariants(store.pool, store.schema, taskId, { hashOf: sha256Hex });
    expect(report).toMatchObject({ ok: true });
    expect(report.counts.committed).toBe(2);
    expect(report.counts.aborts).toBe(report.counts.aborted);
  });
});
