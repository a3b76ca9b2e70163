import { afterAll, describe, expect, it } from 'vitest';
import { DistributedError, isDistributedError } from './errors';
import type { TaskHead } from './record-store';
import { commitNext, initialModel, stores, until } from './testing/fixtures';
import { expectInvariants as invariantsHold, holdHeadRow, useHolders, useStore } from './testing/suite';

/**
 * PostgreSQL restarted (pg_ctl restart through stores.sh) while rounds commit: a commit caught
 * mid-transaction leaves nothing behind, every commit that was acknowledged is there after
 * recovery (fsync is on), the invariants hold, and the processes carry on without crashing.
 */
const D = 16;
const suite = useStore('pgrestart');
const spawn = useHolders();
// A failed run must not leave PostgreSQL down for the next file.
afterAll(() => stores('pg-start'));

/** Retries while the store is still coming back (the pool may hold a connection from before the restart). */
async function whenUp<T>(run: () => Promise<T>): Promise<T> {
  return until('PostgreSQL to accept the call', async () => {
    try {
      return await run();
    } catch (error) {
      if (isDistributedError(error, 'STORE_UNAVAILABLE')) return undefined;
      throw error;
    }
  });
}

describe('PostgreSQL restarted during commits', () => {
  it('a commit in flight when the server restarts is not committed in part', async () => {
    const taskId = 'inflight';
    await suite.store.createTask({ taskId, population: 'pop', initial: initialModel(D) });
    const grant = await suite.store.leases.acquire(taskId, 'holder', 60_000);
    await commitNext(suite.store, taskId, grant, D);
    const before = await suite.store.head(taskId);

    // Hold the head row so the commit stops after its inserts, then restart the server under it.
    const head = await holdHeadRow(suite.store, taskId);
    const commit = commitNext(suite.store, taskId, grant, D).then(
      () => null,
      (e: unknown) => e,
    );
    await head.blockedCommit();
    stores('pg-restart', 'fast');
    const error = await commit;
    expect(error).toBeInstanceOf(DistributedError);
    expect((error as DistributedError).code).toBe('STORE_UNAVAILABLE');
    await head.release();

    const after = await whenUp(() => suite.store.head(taskId));
    expect({ ...after, updatedAt: null }).toEqual({ ...before, updatedAt: null });
    expect(await suite.store.findRound(taskId, 2)).toBeNull();
    expect(await suite.store.modelVersion(taskId, 2)).toBeNull();
    await invariantsHold(suite.store, taskId);
    // The same round commits once the server is back (the lease row survived the restart).
    await whenUp(() => commitNext(suite.store, taskId, grant, D));
    expect(await suite.store.head(taskId)).toMatchObject({ modelVersion: 2, nextRound: 3 });
    await invariantsHold(suite.store, taskId);
  });

  it('a holder committing round after round through two crash restarts (immediate): acknowledged commits survive, nothing partial, no crash', async () => {
    const taskId = 'loop';
    await suite.store.createTask({ taskId, population: 'pop', initial: initialModel(D) });
    const child = spawn({ schema: suite.store.schema, taskId, holder: `loop-${process.pid}`, ttlMs: 8000, renewMs: 1000, d: D });
    await child.next((e) => e.event === 'acquired');
    // Paced so that the loop is still running through both restarts (each takes a second or more).
    const rounds = 30;
    child.send(`loop ${rounds} 100`);
    const committed = (n: number) => child.events.filter((e) => e.event === 'committed').length >= n;
    await until('3 commits', () => (committed(3) ? true : undefined));
    stores('pg-restart', 'immediate');
    const mark = child.events.filter((e) => e.event === 'committed').length;
    await until('2 more commits after the restart', () => (committed(mark + 2) ? true : undefined), 60_000);
    stores('pg-restart', 'immediate');
    await child.next((e) => e.event === 'loop-done', 90_000);

    const acknowledged = child.events.filter((e) => e.event === 'committed').map((e) => e.round as number);
    const head: TaskHead = await whenUp(() => suite.store.head(taskId));
    expect(head.modelVersion).toBe(rounds);
    for (const round of acknowledged) expect((await suite.store.findRound(taskId, round))?.status).toBe('committed');
    // The restarts hit the holder mid-work, and every failure it saw was typed (retried, or an unknown outcome it looked up).
    expect(child.events.some((e) => e.event === 'retry' || e.event === 'outcome-unknown')).toBe(true);
    for (const e of child.events.filter((x) => x.event === 'retry')) expect(['STORE_UNAVAILABLE', 'STALE_ROUND']).toContain(e.code);
    await invariantsHold(suite.store, taskId);
    child.send('exit');
    expect(await child.exited).toMatchObject({ code: 0 });
    expect(child.events.some((e) => e.event === 'crash')).toBe(false);
  });
});
