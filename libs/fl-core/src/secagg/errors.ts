/**
 * Errors are values: every rejection names the code, where it happened, what was expected and
 * what arrived. A rejected message leaves the machine's state as it was.
 */
export type SecAggErrorCode =
  /** The message belongs to another round. */
  | 'STALE_ROUND'
  /** A valid message type, but not the one this stage accepts. */
  | 'WRONG_PHASE'
  /** Not a message of this protocol (shape, types, duplicates, unknown fields). */
  | 'MALFORMED'
  /** This sender already sent this stage's message (or the client already answered). */
  | 'REPLAY'
  /** A binary field of the wrong size (keys, ciphertexts, shares, the masked vector). */
  | 'WRONG_LENGTH'
  /** A number outside its domain: client id ≥ n, a word ≥ 2^k, a share ≥ p. */
  | 'OUT_OF_RANGE'
  /** A client that is not part of this stage (not in the cohort, dropped, not a neighbour). */
  | 'UNKNOWN_CLIENT'
  /** A public key that is reused or of low order. */
  | 'INVALID_KEY'
  /** A share ciphertext that does not authenticate under the pair's key and associated data. */
  | 'DECRYPTION_FAILED'
  /** Shares of the wrong kind for a client: the server must never hold both b and s for one. */
  | 'SHARE_KIND_CONFLICT'
  /** Too few clients (or shares) left to continue: the round aborts, revealing nothing. */
  | 'BELOW_THRESHOLD'
  /** Shares that reconstruct to something inconsistent (e.g. a key that is not the advertised one). */
  | 'RECONSTRUCTION_FAILED'
  /** A peer's certificate does not verify against the enrollment issuer, or is missing or reused. */
  | 'BAD_CERTIFICATE'
  /** A signature (key advertisement, masking claim, consistency) that does not verify. */
  | 'BAD_SIGNATURE'
  /** ConsistencyCheck: too few signatures on one survivor set, or a set outside this client's view. */
  | 'INCONSISTENT_VIEW'
  /** The signed masking relation leaves a group of survivors smaller than t that the server could unmask alone. */
  | 'ISOLATED_GROUP'
  /** A round configuration or option that cannot work. */
  | 'INVALID_CONFIG'
  /** The round was aborted earlier; nothing more is accepted. */
  | 'ABORTED';

export interface SecAggError {
  readonly code: SecAggErrorCode;
  readonly message: string;
}

export function secAggError(code: SecAggErrorCode, message: string): SecAggError {
  return Object.freeze({ code, message });
}

export type Rejection = { ok: false; error: SecAggError };

export function reject(code: SecAggErrorCode, message: string): Rejection {
  return { ok: false, error: secAggError(code, message) };
}
