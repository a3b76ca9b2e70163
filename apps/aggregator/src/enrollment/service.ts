import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  base64UrlEncode,
  checkEnrollmentProof,
  checkProofOfWork,
  decodeExact,
  freshNonce,
  issueCertificate,
  issuerToText,
  NONCE_BYTES,
  PUBLIC_KEY_BYTES,
  type EnrollmentIssuer,
} from '@murmur/fl-core/identity';
import { protocolFailure, type EnrollmentRequest, type EnrollmentResponse, type ProtocolResult } from '@murmur/fl-core/protocol';
import { writeFileAtomic } from '../fs-atomic';

/**
 * The enrollment service: the one party that can say "client X holds key K". It is a role of its
 * own, with its own key (the issuer key), so that the aggregator — which sees every round and may
 * deviate — cannot mint clients or swap a client's key: it holds only the issuer's public key
 * (enrollment/host.ts passes nothing else to it) and checks certificates against it.
 *
 * State in its data directory:
 * - issuer-key.json (mode 0600): the issuer's private key as a JWK (the PKCS #8 fields of RFC
 *   7517 §6.2.2: crv, x, y, d) with the issuer name. Loaded as a non-extractable CryptoKey.
 * - issuer.json: the public half, { name, publicKey } (base64url SEC1); what an aggregator is
 *   configured with (--enrollment-issuer FILE) and what devices may pin.
 * - revoked.json: client ids whose certificates no longer count (GET /api/enrollment/revoked).
 *
 * Challenges live in memory only: single-use, expiring, bounded in number. A restart forgets them,
 * which only costs a device one more request.
 */
export const ISSUER_KEY_FILE = 'issuer-key.json';
export const ISSUER_FILE = 'issuer.json';
export const REVOKED_FILE = 'revoked.json';

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const jwkText = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const keyFileSchema = z
  .object({
    version: z.literal(1),
    name: z.string().min(1).max(128),
    jwk: z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: jwkText, y: jwkText, d: jwkText }).loose(),
  })
  .strict();
const revokedSchema = z.object({ version: z.literal(1), revoked: z.array(z.string().regex(/^[A-Za-z0-9_-]{22}$/)).max(1_000_000) }).strict();

export interface EnrollmentServiceOptions {
  dataDir: string;
  /** Names the issuer key in every certificate; fixed when the key is created. @default 'murmur-enrollment' */
  issuerName: string;
  /** How long a certificate is valid. */
  certificateValidityMs: number;
  /** How long a challenge may be answered. */
  challengeTtlMs: number;
  /** Challenges outstanding at once, at most (bounds memory against a flood of requests). */
  maxPendingChallenges: number;
  /**
   * Proof of work asked with every challenge, in leading zero bits of SHA-256 (fl-core
   * identity/pow.ts); kept with the challenge, so the device cannot change it. @default 0 (none)
   */
  proofOfWorkBits?: number;
  /** @default Date.now */
  now?: () => number;
}

export class EnrollmentService {
  readonly issuer: EnrollmentIssuer;
  readonly #privateKey: CryptoKey;
  readonly #options: EnrollmentServiceOptions;
  /** Outstanding challenges: expiry and the difficulty asked. Single-use, so a solved proof cannot be replayed. */
  readonly #challenges = new Map<string, { expiresAtMs: number; difficultyBits: number }>();
  readonly #revoked: Set<string>;
  readonly #now: () => number;

  private constructor(options: EnrollmentServiceOptions, privateKey: CryptoKey, issuer: EnrollmentIssuer, revoked: Set<string>) {
    this.#options = options;
    this.#privateKey = privateKey;
    this.issuer = Object.freeze({ name: issuer.name, publicKey: issuer.publicKey.slice() });
    this.#revoked = revoked;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Loads the issuer key from the data directory, or creates it there (P-256 from WebCrypto, written
   * 0600 before it is used). The key is re-imported non-extractable: nothing in this process can
   * read it back out.
   */
  static async open(options: EnrollmentServiceOptions): Promise<EnrollmentService> {
    mkdirSync(options.dataDir, { recursive: true });
    const keyPath = join(options.dataDir, ISSUER_KEY_FILE);
    if (!existsSync(keyPath)) {
      const pair = await crypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
      const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
      writeFileAtomic(keyPath, JSON.stringify({ version: 1, name: options.issuerName, jwk }), 0o600);
    }
    // A key file someone loosened is tightened again: it is the service's whole authority.
    chmodSync(keyPath, 0o600);
    let file: z.output<typeof keyFileSchema>;
    try {
      file = keyFileSchema.parse(JSON.parse(readFileSync(keyPath, 'utf8')));
    } catch (error) {
      throw new Error(`${keyPath}: expected { version: 1, name, jwk: a P-256 private JWK }: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (file.name !== options.issuerName) {
      throw new Error(
        `${keyPath}: this key was created as issuer "${file.name}", but the configured issuer name is "${options.issuerName}"; a new name needs a new key (another data directory)`,
      );
    }
    const { kty, crv, x, y, d } = file.jwk;
    const privateKey = await crypto.subtle.importKey('jwk', { kty, crv, x, y, d }, ECDSA, false, ['sign']);
    const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', await crypto.subtle.importKey('jwk', { kty, crv, x, y }, ECDSA, true, ['verify'])));
    const issuer = { name: file.name, publicKey };
    writeFileAtomic(join(options.dataDir, ISSUER_FILE), `${JSON.stringify(issuerToText(issuer), null, 2)}\n`);
    const revokedPath = join(options.dataDir, REVOKED_FILE);
    const revoked = existsSync(revokedPath) ? revokedSchema.parse(JSON.parse(readFileSync(revokedPath, 'utf8'))).revoked : [];
    return new EnrollmentService(options, privateKey, issuer, new Set(revoked));
  }

  get pendingChallenges(): number {
    return this.#challenges.size;
  }

  /** A fresh single-use challenge (with the proof of work asked, if any), or RATE_LIMITED when too many are outstanding. */
  challenge(): ProtocolResult<{ challenge: string; expiresAtMs: number; difficultyBits?: number }> {
    const now = this.#now();
    // Insertion order is expiry order (one TTL for all): drop from the front while expired.
    for (const [challenge, { expiresAtMs }] of this.#challenges) {
      if (expiresAtMs > now) break;
      this.#challenges.delete(challenge);
    }
    if (this.#challenges.size >= this.#options.maxPendingChallenges) {
      return protocolFailure('RATE_LIMITED', `enrollment: ${this.#challenges.size} challenges outstanding (the most at once); retry shortly`);
    }
    const challenge = freshNonce();
    const expiresAtMs = now + this.#options.challengeTtlMs;
    const difficultyBits = this.#options.proofOfWorkBits ?? 0;
    this.#challenges.set(challenge, { expiresAtMs, difficultyBits });
    return { ok: true, value: { challenge, expiresAtMs, ...(difficultyBits > 0 ? { difficultyBits } : {}) } };
  }

  /**
   * Certifies `publicKey` for a new client id when `signature` is its holder's signature over a
   * challenge this service gave out, not yet used and not expired, and, when the challenge asked
   * for it, `work` meets its difficulty for this challenge and key. The challenge is spent whatever
   * the outcome, so a wrong proof (or work) cannot be retried against it, nor a right one replayed.
   */
  async enroll(request: EnrollmentRequest): Promise<ProtocolResult<EnrollmentResponse>> {
    const now = this.#now();
    const issued = this.#challenges.get(request.challenge);
    this.#challenges.delete(request.challenge);
    // A challenge that is not fresh proves nothing about possession now: BAD_PROOF, as a wrong signature.
    if (issued === undefined) return protocolFailure('BAD_PROOF', 'enrollment: unknown or already used challenge; ask for a new one');
    if (now >= issued.expiresAtMs) return protocolFailure('BAD_PROOF', 'enrollment: the challenge expired; ask for a new one');
    // The cheap check first: the work is one hash, the signature an ECDSA verification.
    if (issued.difficultyBits > 0) {
      if (request.work === undefined) {
        return protocolFailure('BAD_PROOF', `enrollment: this challenge asks for a proof of work of ${issued.difficultyBits} bits; expected work, got none`);
      }
      if (!checkProofOfWork(request.challenge, request.publicKey, request.work, issued.difficultyBits)) {
        return protocolFailure('BAD_PROOF', `enrollment: work ${request.work} does not meet ${issued.difficultyBits} bits for this challenge and key`);
      }
    }
    const publicKey = decodeExact(request.publicKey, PUBLIC_KEY_BYTES);
    if (publicKey === null || publicKey[0] !== 0x04)
      return protocolFailure('MALFORMED', 'enrollment: publicKey: expected an uncompressed P-256 point (65 bytes, base64url)');
    if (!(await checkEnrollmentProof(request.challenge, publicKey, request.signature))) {
      return protocolFailure('BAD_PROOF', 'enrollment: the signature is not the holder of publicKey signing this challenge');
    }
    const clientId = base64UrlEncode(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
    const certificateExpiresAtMs = now + this.#options.certificateValidityMs;
    const certificate = await issueCertificate(this.#privateKey, {
      clientId,
      publicKey,
      issuer: this.issuer.name,
      issuedAtMs: now,
      expiresAtMs: certificateExpiresAtMs,
    });
    return { ok: true, value: { clientId, certificate, expiresAtMs: certificateExpiresAtMs, issuer: issuerToText(this.issuer) } };
  }

  /** Revokes durably (written before this returns). */
  revoke(clientId: string): void {
    this.#revoked.add(clientId);
    writeFileAtomic(join(this.#options.dataDir, REVOKED_FILE), JSON.stringify({ version: 1, revoked: [...this.#revoked] }));
  }

  isRevoked(clientId: string): boolean {
    return this.#revoked.has(clientId);
  }

  get revoked(): readonly string[] {
    return [...this.#revoked];
  }
}
