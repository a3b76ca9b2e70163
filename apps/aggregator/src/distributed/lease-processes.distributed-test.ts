import { describe, expect, it } from 'vitest';
import { commitNext, initialModel } from './testing/fixtures';
import type { HolderProcess } from './testing/processes';
import { expectInvariants as invariantsHold, holdHeadRow, useHolders, useStore } from './testing/suite';

/**
 * The lease against real processes: a holder killed outright (SIGKILL) is replaced once its lease
 * expires; a holder frozen past its lease (SIGSTOP) and thawed (SIGCONT) is refused by the
 * database when it tries to commit with its old epoch, though it still believes it holds the lease.
 */
const D = 16;
const TTL_MS = 1500;
const RENEW_MS = 300;
const suite = useStore('procs');
const spawn = useHolders();

function holder(taskId: string, name: string): HolderProcess {
  return spawn({ schema: suite.store.schema, taskId, holder: `${name}-${process.pid}`, ttlMs: TTL_MS, renewMs: RENEW_MS, d: D });
}

/** A new task whose holder process `a` has acquired the lease and committed round 1. */
async function taskWithFirstRound(taskId: string): Promise<{ a: HolderProcess; epochA: number }> {
  await suite.store.createTask({ taskId, population: 'pop', initial: initialModel(D) });
  const a = holder(taskId, 'a');
  const acquired = await a.next((e) => e.event === 'acquired');
  a.send('commit');
  expect(await a.next((e) => e.event === 'committed' || e.event === 'refused')).toMatchObject({ event: 'committed', round: 1, version: 1 });
  return { a, epochA: acquired.epoch as number };
}

/** The invariants hold, and the holder exits cleanly (it never crashed along the way). */
async function invariantsHoldAndExit(child: HolderProcess, taskId: string): Promise<void> {
  await invariantsHold(suite.store, taskId);
  child.send('exit');
  expect(await child.exited).toMatchObject({ code: 0 });
}

describe('lease holder processes', () => {
  it('SIGKILL of the holder: another process takes over after the lease expires and the next commit succeeds', async () => {
    const taskId = 'kill';
    const { a, epochA } = await taskWithFirstRound(taskId);

    const b = holder(taskId, 'b');
    await b.next((e) => e.event === 'started');
    // While a renews, b must not get the lease (several renew periods and more than one TTL).
    await new Promise((resolve) => setTimeout(resolve, TTL_MS * 2));
    expect(b.events.filter((e) => e.event === 'acquired')).toEqual([]);

    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    expect(await a.exited).toMatchObject({ signal: 'SIGKILL' });
    const acquiredB = await b.next((e) => e.event === 'acquired', 10_000);
    const failoverMs = Date.now() - killedAt;
    expect(acquiredB.epoch).toBe(epochA + 1);
    // Not before the dead holder's lease ran out (less one renew period of slack for its last renewal).
    expect(failoverMs).toBeGreaterThanOrEqual(TTL_MS - RENEW_MS - 100);

    b.send('commit');
    expect(await b.next((e) => e.event === 'committed' || e.event === 'refused')).toMatchObject({
      event: 'committed',
      round: 2,
      version: 2,
      epoch: acquiredB.epoch,
    });
    expect(await suite.store.head(taskId)).toMatchObject({ modelVersion: 2, nextRound: 3, epoch: acquiredB.epoch });
    await invariantsHoldAndExit(b, taskId);
  });

  it('SIGSTOP past the lease, then SIGCONT: the old holder’s commit is refused by its stale epoch; the new holder commits', async () => {
    const taskId = 'stop';
    const { a, epochA } = await taskWithFirstRound(taskId);
    // a reads the head and computes round 2, as a coordinator would before its commit…
    a.send('prepare');
    expect(await a.next((e) => e.event === 'prepared')).toMatchObject({ round: 2, parentVersion: 1 });
    // …and freezes there (a long GC pause, a stalled VM).
    a.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 500));

    // The lease expired; this test process takes it over (a new epoch) but has not committed yet,
    // so the head still matches a's prepared parent and round: only the epoch can stop a.
    const b = await suite.store.leases.acquire(taskId, 'b', 30_000);
    expect(b.epoch).toBe(epochA + 1);
    const from = a.events.length;
    a.child.kill('SIGCONT');
    a.send('commit-prepared');
    const answer = await a.next((e) => e.event === 'committed' || e.event === 'refused', 10_000, from);
    expect(answer).toMatchObject({ event: 'refused', code: 'STALE_EPOCH' });
    expect(await suite.store.head(taskId)).toMatchObject({ modelVersion: 1, nextRound: 2, epoch: epochA });
    await invariantsHold(suite.store, taskId);

    // The new holder's commit of the same round goes through; a's keeper notices it lost the lease.
    await commitNext(suite.store, taskId, b, D);
    expect(await suite.store.head(taskId)).toMatchObject({ modelVersion: 2, nextRound: 3, epoch: b.epoch });
    await a.next((e) => e.event === 'lost', 10_000, from);
    // And a plain retry by a, now also behind on the round, is still refused.
    a.send('commit');
    expect(await a.next((e) => (e.event === 'committed' || e.event === 'refused') && e !== answer, 10_000, from)).toMatchObject({
      event: 'refused',
      code: 'STALE_EPOCH',
    });
    await invariantsHoldAndExit(a, taskId);
  });

  it('SIGKILL of the holder in the middle of its commit: nothing of that commit lands, even when its transaction could go on', async () => {
    const taskId = 'killmid';
    const { a, epochA } = await taskWithFirstRound(taskId);
    const before = await suite.store.head(taskId);
    const head = await holdHeadRow(suite.store, taskId);
    try {
      a.send('commit');
      await head.blockedCommit();
      a.child.kill('SIGKILL');
      expect(await a.exited).toMatchObject({ signal: 'SIGKILL' });
    } finally {
      // Let the dead holder's backend take the row and run its head update: it then waits for a
      // COMMIT that will never come, finds the client gone, and rolls back.
      await head.release();
    }
    const b = holder(taskId, 'b');
    const acquiredB = await b.next((e) => e.event === 'acquired', 15_000);
    expect(acquiredB.epoch).toBe(epochA + 1);
    expect({ ...(await suite.store.head(taskId)), updatedAt: null }).toEqual({ ...before, updatedAt: null });
    expect(await suite.store.findRound(taskId, 2)).toBeNull();
    b.send('commit');
    expect(await b.next((e) => e.event === 'committed' || e.event === 'refused')).toMatchObject({ event: 'committed', round: 2, epoch: acquiredB.epoch });
    await invariantsHold(suite.store, taskId);
  });

  it('a holder that exits cleanly releases its lease: the next process takes over without waiting for the TTL', async () => {
    const taskId = 'release';
    const { a, epochA } = await taskWithFirstRound(taskId);
    const b = holder(taskId, 'b');
    await b.next((e) => e.event === 'started');
    const from = b.events.length;
    const exitAt = Date.now();
    a.send('exit');
    expect(await a.exited).toMatchObject({ code: 0 });
    const acquiredB = await b.next((e) => e.event === 'acquired', 10_000, from);
    expect(acquiredB.epoch).toBe(epochA + 1);
    // b polls every renew period (300 ms); a released lease is free at once. Had a merely stopped
    // renewing, its lease would run ≥ TTL − renew period = 1200 ms past the exit.
    expect(Date.now() - exitAt).toBeLessThan(1000);
    b.send('commit');
    expect(await b.next((e) => e.event === 'committed' || e.event === 'refused')).toMatchObject({ event: 'committed', round: 2 });
    await invariantsHold(suite.store, taskId);
  });
});
