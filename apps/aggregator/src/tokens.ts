import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { protocolFailure, type ProtocolResult } from '@murmur/fl-core';
import { writeFileAtomic } from './fs-atomic';

/**
 * Anonymous enrollment tokens: `m1.<id>.<tag>`, id = 16 random bytes, tag = HMAC-SHA-256 of the id
 * under a key that never leaves the data directory. A token says nothing about its holder; it lets
 * the aggregator refuse strangers, rate-limit per device and revoke one device (by id) without a
 * user database. Verification is a constant-time comparison of tags.
 */
const PREFIX = 'm1';
const ID_BYTES = 16;
const KEY_FILE = 'enrollment.key';
const REVOKED_FILE = 'revoked.json';
const revokedSchema = z.object({ version: z.literal(1), revoked: z.array(z.string().max(64)).max(10_000_000) }).strict();

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

export class EnrollmentAuthority {
  readonly #key: Buffer;
  readonly #revoked: Set<string>;
  readonly #dir: string;

  private constructor(dir: string, key: Buffer, revoked: Set<string>) {
    this.#dir = dir;
    this.#key = key;
    this.#revoked = revoked;
  }

  /** Loads (or creates, from the CSPRNG) the signing key and the revocation list in `dir`. */
  static open(dir: string): EnrollmentAuthority {
    const keyPath = join(dir, KEY_FILE);
    if (!existsSync(keyPath)) writeFileAtomic(keyPath, crypto.getRandomValues(new Uint8Array(32)), 0o600);
    const key = readFileSync(keyPath);
    if (key.length !== 32) throw new Error(`${keyPath}: expected a 32-byte key, got ${key.length} bytes`);
    const revokedPath = join(dir, REVOKED_FILE);
    const revoked = existsSync(revokedPath) ? revokedSchema.parse(JSON.parse(readFileSync(revokedPath, 'utf8'))).revoked : [];
    return new EnrollmentAuthority(dir, key, new Set(revoked));
  }

  #tag(id: string): Buffer {
    return createHmac('sha256', this.#key).update(`murmur/enroll/v1|${id}`).digest();
  }

  issue(): { token: string; tokenId: string } {
    const tokenId = b64(crypto.getRandomValues(new Uint8Array(ID_BYTES)));
    return { token: `${PREFIX}.${tokenId}.${b64(this.#tag(tokenId))}`, tokenId };
  }

  verify(token: string): ProtocolResult<string> {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX)
      return protocolFailure('UNKNOWN_TOKEN', 'enrollment token: expected m1.<id>.<tag>; enroll with POST /api/enroll');
    const [, tokenId, tag] = parts as [string, string, string];
    const given = Buffer.from(tag, 'base64url');
    const expected = this.#tag(tokenId);
    // base64url decoding ignores a last character's unused low bits: accept only the canonical
    // spelling, so that one token has exactly one string.
    const canonical = b64(given) === tag;
    if (!canonical || Buffer.from(tokenId, 'base64url').length !== ID_BYTES || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return protocolFailure('UNKNOWN_TOKEN', 'enrollment token: not issued by this aggregator; enroll with POST /api/enroll');
    }
    if (this.#revoked.has(tokenId)) return protocolFailure('REVOKED_TOKEN', `enrollment token ${tokenId.slice(0, 6)}…: revoked`);
    return { ok: true, value: tokenId };
  }

  /** Revokes durably (the list is written before this returns). */
  revoke(tokenId: string): void {
    this.#revoked.add(tokenId);
    writeFileAtomic(join(this.#dir, REVOKED_FILE), JSON.stringify({ version: 1, revoked: [...this.#revoked] }));
  }

  isRevoked(tokenId: string): boolean {
    return this.#revoked.has(tokenId);
  }
}

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
