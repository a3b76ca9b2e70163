/**
 * Errors of the distributed stores as values with codes (STYLE.md habit 4): each says where it
 * happened, what was expected and what was found, so that the coordinator can switch on `code`
 * and a log line explains itself.
 */
export const DISTRIBUTED_ERROR_CODES = [
  /** The caller's lease epoch is not the task's current one: another process took the lease since (fencing). */
  'STALE_EPOCH',
  /** The lease row names another holder, or none (released). */
  'LEASE_NOT_HELD',
  /** The epoch is current but the lease ran out before this write; re-acquire (a new epoch) first. */
  'LEASE_EXPIRED',
  /** The lease is held by someone else and has not expired (acquire only). */
  'LEASE_BUSY',
  /** The round is not the task's next round (already committed or aborted, or from the future). */
  'STALE_ROUND',
  /** The parent model version or hash is not the task head's. */
  'PARENT_MISMATCH',
  /** The commit's own fields disagree (record vs round, version vs parent, a missing model). */
  'INVALID_COMMIT',
  /** No such task in the record store. */
  'UNKNOWN_TASK',
  /** PostgreSQL could not be reached or dropped the connection before COMMIT: nothing was written. */
  'STORE_UNAVAILABLE',
  /** The connection dropped while COMMIT was in flight: the transaction may or may not have committed (see findRound). */
  'COMMIT_OUTCOME_UNKNOWN',
  /** An applied migration's text differs from the one in this build. */
  'MIGRATION_MISMATCH',
  /** Redis could not be reached, timed out, or refused the command; nothing durable depends on it. */
  'COORDINATION_UNAVAILABLE',
  /** A Redis value did not parse (a control message, a group sum frame). */
  'COORDINATION_CORRUPT',
] as const;
export type DistributedErrorCode = (typeof DISTRIBUTED_ERROR_CODES)[number];

export class DistributedError extends Error {
  readonly code: DistributedErrorCode;
  readonly where: string;

  constructor(code: DistributedErrorCode, where: string, message: string, options?: { cause?: unknown }) {
    super(`${where}: ${message}`, options);
    this.name = 'DistributedError';
    this.code = code;
    this.where = where;
  }

  /** The wire and record shape ({ code, message }), e.g. an abort reason. */
  toJSON(): { code: DistributedErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isDistributedError(error: unknown, code?: DistributedErrorCode): error is DistributedError {
  return error instanceof DistributedError && (code === undefined || error.code === code);
}

/**
 * PostgreSQL errors that mean "the server or the connection went away", not "the statement was
 * wrong": connection exceptions (class 08), operator intervention (57P01 admin shutdown, 57P02
 * crash shutdown, 57P03 cannot connect now), and node's socket errors.
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(error.message);
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
