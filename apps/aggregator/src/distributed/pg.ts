import pg from 'pg';
import { DistributedError, describe, isConnectionError } from './errors';

/**
 * A PostgreSQL pool whose failures never crash the process: an idle client that loses its server
 * (a restart, a failover) emits 'error' on the pool, which node would otherwise throw as an
 * unhandled 'error' event. The next query then gets a fresh connection or a typed error.
 */
export function createPool(url: string, size: number, onError: (error: Error) => void = () => undefined): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: size, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
  pool.on('error', onError);
  return pool;
}

/**
 * Runs `body` in one transaction on one connection: BEGIN, body, COMMIT. Errors come back typed:
 * a DistributedError from the body as it is (after ROLLBACK); a lost connection before COMMIT as
 * STORE_UNAVAILABLE (the server rolls back an open transaction whose connection dies, so nothing
 * was written); a lost connection during COMMIT as COMMIT_OUTCOME_UNKNOWN (the COMMIT may have
 * reached the server: look the write up before retrying it). SQL errors pass through unchanged.
 */
export async function withTransaction<T>(pool: pg.Pool, where: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new DistributedError('STORE_UNAVAILABLE', where, `cannot connect to PostgreSQL: ${describe(error)}`, { cause: error });
  }
  // A checked-out client that loses its server also emits 'error'; the failing query reports it.
  const ignore = () => undefined;
  client.on('error', ignore);
  let broken: Error | undefined;
  let committing = false;
  try {
    await client.query('BEGIN');
    const result = await body(client);
    committing = true;
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (isConnectionError(error)) {
      broken = error as Error;
      if (committing) {
        throw new DistributedError('COMMIT_OUTCOME_UNKNOWN', where, `the connection dropped during COMMIT: ${describe(error)}`, { cause: error });
      }
      throw new DistributedError('STORE_UNAVAILABLE', where, `PostgreSQL connection lost, the transaction rolled back: ${describe(error)}`, {
        cause: error,
      });
    }
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError as Error;
    });
    throw error;
  } finally {
    client.off('error', ignore);
    // A broken client is destroyed, not returned to the pool.
    client.release(broken);
  }
}

/** One statement outside a transaction, with the same connection-error mapping. */
export async function query<R extends pg.QueryResultRow>(pool: pg.Pool, where: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values);
  } catch (error) {
    if (isConnectionError(error)) throw new DistributedError('STORE_UNAVAILABLE', where, `PostgreSQL unavailable: ${describe(error)}`, { cause: error });
    throw error;
  }
}
