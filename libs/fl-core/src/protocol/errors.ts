import { z } from 'zod';
import type { SecAggErrorCode } from '../secagg/errors';

/**
 * Codes of the errors the aggregator sends back (`protocolError` events, Socket.IO `connect_error`
 * data, HTTP bodies). Errors are values: `{ code, message }`, the message naming where, what was
 * expected and what arrived. The secure-aggregation machines' own codes pass through unchanged.
 */
export const TRANSPORT_ERROR_CODES = [
  /** The client speaks another protocol version. */
  'UNSUPPORTED_PROTOCOL',
  /**
   * A device certificate that does not verify against the configured enrollment issuer: malformed,
   * signed by another key or issuer, expired, or not valid yet. Enroll again.
   */
  'UNKNOWN_IDENTITY',
  /** A certificate whose client id was revoked (by an operator or the enrollment service). */
  'REVOKED_IDENTITY',
  /**
   * The handshake's proof of possession failed: a signature not made with the certified key, a
   * time outside the clock-skew bound, or a nonce already used (a replayed handshake).
   */
  'BAD_PROOF',
  /** A payload above its size bound (or above the transport's buffer limit). */
  'TOO_LARGE',
  /** A number that is NaN or ±Infinity where a finite number belongs. */
  'NON_FINITE',
  /** Too many events from this connection; the event was dropped. */
  'RATE_LIMITED',
  /** The check-in was refused: no consent, too few examples, or the aggregator is paused. */
  'NOT_ELIGIBLE',
  /** A round message from a client that is not in the round's cohort. */
  'NOT_IN_COHORT',
  /** A round message while no round is collecting messages. */
  'NO_ROUND',
  /** An event name this protocol does not have. */
  'UNKNOWN_EVENT',
  /** The local contribution could not be computed (training, privacy or encoding failed). */
  'CONTRIBUTION_FAILED',
  /** The server sent something this client cannot use (e.g. a model whose hash does not match). */
  'BAD_SERVER_MESSAGE',
  /** HTTP: missing or wrong admin token. */
  'UNAUTHORIZED',
  /** HTTP: this peer may not have the resource at all (e.g. /metrics from a non-loopback address without a metrics token). */
  'FORBIDDEN',
  /** HTTP: no such resource. */
  'NOT_FOUND',
  /** HTTP: wrong method for the resource. */
  'METHOD_NOT_ALLOWED',
  /** A requested change is outside the bounds the operator configured. */
  'OUT_OF_BOUNDS',
  /** HTTP: the request contradicts the current state (e.g. release a version older than the released one). */
  'CONFLICT',
  /** The aggregator is shutting down. */
  'SHUTTING_DOWN',
  /** An unexpected failure inside the aggregator (logged there). */
  'INTERNAL',
  /** The server step produced non-finite weights; the round is dropped and the model kept. */
  'DIVERGED',
  /**
   * The decoded sum is not one honest clients can produce (a count out of range, an update norm
   * past C plus the noise margin): some input was bogus. The round is dropped and the model kept.
   */
  'REJECTED_SUM',
  /**
   * The aggregator stopped after a round's sum was unmasked and before the round's record: on
   * restart the round is recorded as aborted, with the released sum's ledger entry.
   */
  'INTERRUPTED',
  /** The check-in was refused for a while: this client was selected and went silent, or sat in rejected sums. */
  'BENCHED',
  /**
   * Distributed mode: the aggregators lost their coordination store (Redis) or their record
   * (PostgreSQL) during the round; the round is aborted, the model kept, and the next round runs
   * once the store is back.
   */
  'COORDINATION_UNAVAILABLE',
] as const;

export type TransportErrorCode = (typeof TRANSPORT_ERROR_CODES)[number];
export type ProtocolErrorCode = TransportErrorCode | SecAggErrorCode;

export interface ProtocolError {
  readonly code: ProtocolErrorCode;
  readonly message: string;
}

export function protocolError(code: ProtocolErrorCode, message: string): ProtocolError {
  return Object.freeze({ code, message });
}

export type ProtocolResult<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

export function protocolFailure(code: ProtocolErrorCode, message: string): { ok: false; error: ProtocolError } {
  return { ok: false, error: protocolError(code, message) };
}

/** Wire shape of an error; codes stay open strings on the wire so an old client can read a new code. */
export const errorSchema = z
  .object({
    code: z.string().min(1).max(64),
    message: z.string().max(2000),
  })
  .strict();
