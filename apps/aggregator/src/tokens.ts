import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Operator and metrics bearer tokens, compared in constant time. (Clients carry no token: they
 * present a device certificate from the enrollment service, checked in client-identity.ts.)
 */

/** HMAC-SHA-256 under a fixed label: equal-length digests, so a comparison leaks nothing of a token's length. */
const digestOf = (token: string): Buffer => createHmac('sha256', 'murmur/admin').update(token).digest();

/** One operator as the HTTP layer checks them: the name the audit log records, the token's digest. */
export interface OperatorKey {
  readonly name: string;
  readonly digest: Buffer;
}

/** Digests computed once at start, not per request. */
export function operatorKeys(operators: readonly { name: string; token: string }[]): OperatorKey[] {
  return operators.map(({ name, token }) => ({ name, digest: digestOf(token) }));
}

/**
 * The operator whose token an `Authorization: Bearer …` header presents, or null. Every operator's
 * digest is compared with timingSafeEqual, none skipped after a match, so the comparison's time
 * says neither which operator's token matched nor how long a matching prefix a guess had.
 */
export function operatorOf(header: string | undefined, operators: readonly OperatorKey[]): string | null {
  const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
  const digest = digestOf(presented);
  let found: string | null = null;
  for (const operator of operators) {
    if (timingSafeEqual(digest, operator.digest) && found === null) found = operator.name;
  }
  return presented.length > 0 ? found : null;
}

/** Constant-time comparison of a presented bearer token with the configured one. */
export function bearerMatches(header: string | undefined, adminToken: string): boolean {
  const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
  // Hash both so the comparison is over equal lengths and leaks nothing about the token's length.
  return presented.length > 0 && timingSafeEqual(digestOf(presented), digestOf(adminToken));
}
