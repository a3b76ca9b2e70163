import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { checkInvariants } from '../invariants';
import type { RecordStore } from '../record-store';
import { dropSchema, freshSchema, openStore, sha256Hex, storesConfig, until } from './fixtures';
import { spawnHolder, type HolderProcess } from './processes';

/** A record store on a schema of its own for the test file, dropped afterwards. */
export function useStore(prefix: string): { readonly store: RecordStore } {
  let store: RecordStore | undefined;
  beforeAll(async () => {
    store = await openStore(freshSchema(prefix));
  });
  afterAll(async () => {
    if (!store) return;
    await dropSchema(store);
    await store.close();
  });
  return {
    get store(): RecordStore {
      if (!store) throw new Error('useStore: the store opens in beforeAll');
      return store;
    },
  };
}

/** Spawns holder.ts children; any still running after a test is killed. */
export function useHolders(): (args: Parameters<typeof spawnHolder>[0]) => HolderProcess {
  const children: HolderProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
  });
  return (args) => {
    const child = spawnHolder(args);
    children.push(child);
    return child;
  };
}

/** All invariants of the task hold (the stored bytes hash to the stored hashes too). */
export async function expectInvariants(store: RecordStore, taskId: string): Promise<void> {
  expect((await checkInvariants(store.pool, store.schema, taskId, { hashOf: sha256Hex })).violations).toEqual([]);
}

/**
 * Holds a task's head row (SELECT … FOR UPDATE in an open transaction) so that a commit stops at
 * its last statement, the head update, with its version, record and ledger inserts done but not
 * committed. `blockedCommit()` waits until some backend is in exactly that state and returns its pid.
 */
export async function holdHeadRow(
  store: RecordStore,
  taskId: string,
): Promise<{ client: pg.Client; blockedCommit(): Promise<number>; release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: storesConfig().pgUrl });
  client.on('error', () => undefined); // the tests restart the server under it
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT 1 FROM "${store.schema}".task_head WHERE task_id = $1 FOR UPDATE`, [taskId]);
  return {
    client,
    blockedCommit: () =>
      until('a commit waiting on the head row after its inserts', async () => {
        // Blocked by us and holding the ledger insert's lock: every insert ran, the head update waits.
        const { rows } = await client.query<{ pid: number }>(
          `SELECT l.pid FROM pg_locks l
           WHERE pg_backend_pid() = ANY (pg_blocking_pids(l.pid)) AND l.relation = $1::regclass AND l.mode = 'RowExclusiveLock'`,
          [`"${store.schema}".privacy_ledger`],
        );
        return rows[0]?.pid;
      }),
    release: async () => {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
