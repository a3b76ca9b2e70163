import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CertificateError, checkHandshakeProof, issuerFromText, verifyCertificate, type EnrollmentIssuer } from '@murmur/fl-core/identity';
import { ENROLLMENT_PATHS, enrollmentIssuerSchema, revocationListSchema, protocolFailure, type Handshake, type ProtocolResult } from '@murmur/fl-core/protocol';
import type { Logger } from 'pino';
import { writeFileAtomic } from './fs-atomic';

/**
 * Who a connecting client is, as the aggregator checks it at the Socket.IO handshake: a device
 * certificate signed by the configured enrollment issuer (whose private key this process never
 * holds), not expired, its client id not revoked, and a proof that the peer holds the certified
 * key — a signature over (purpose, time, nonce, certificate) with a time within the clock-skew
 * bound and a nonce not seen before. The certificate's client id is the client's name everywhere
 * after (rate limits, cohorts, revocation).
 */
const REVOKED_FILE = 'revoked.json';
const revokedSchema = z.object({ version: z.literal(1), revoked: z.array(z.string().max(64)).max(10_000_000) }).strict();
/** Replay-cache entries at most: far above handshakes in one skew window of a busy aggregator. */
const MAX_SEEN_NONCES = 500_000;

/** Reads an issuer file ({ name, publicKey }, as the enrollment service writes <data-dir>/issuer.json). */
export function readIssuerFile(path: string): EnrollmentIssuer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`enrollment issuer file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Reported below with the expected shape.
  }
  const parsed = enrollmentIssuerSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(`enrollment issuer file ${path}: expected { "name": …, "publicKey": 87 base64url characters } (the enrollment service's issuer.json)`);
  return issuerFromText(parsed.data);
}

export interface ClientVerifierOptions {
  dataDir: string;
  issuer: EnrollmentIssuer;
  /** Most a proof's time may differ from this clock. */
  skewMs: number;
  /** A revocation list kept elsewhere (the enrollment service's, when hosted in this process). */
  revokedElsewhere?: (clientId: string) => boolean;
  /** @default Date.now */
  now?: () => number;
}

export class ClientVerifier {
  readonly issuer: EnrollmentIssuer;
  readonly #options: ClientVerifierOptions;
  readonly #revoked: Set<string>;
  /** `clientId|nonce` → when its proof stops being accepted anyway (atMs + skew). */
  readonly #seen = new Map<string, number>();
  readonly #now: () => number;

  private constructor(options: ClientVerifierOptions, revoked: Set<string>) {
    this.#options = options;
    this.issuer = options.issuer;
    this.#revoked = revoked;
    this.#now = options.now ?? Date.now;
  }

  static open(options: ClientVerifierOptions): ClientVerifier {
    const path = join(options.dataDir, REVOKED_FILE);
    const revoked = existsSync(path) ? revokedSchema.parse(JSON.parse(readFileSync(path, 'utf8'))).revoked : [];
    return new ClientVerifier(options, new Set(revoked));
  }

  /** The client id of a handshake that passes every check, or the first check it fails. */
  async verify(handshake: Handshake): Promise<ProtocolResult<string>> {
    const now = this.#now();
    let claims;
    try {
      claims = await verifyCertificate(handshake.certificate, this.issuer, now);
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      return protocolFailure('UNKNOWN_IDENTITY', `handshake: certificate ${error.reason}: ${error.message}; enroll again`);
    }
    const { clientId } = claims;
    if (this.isRevoked(clientId)) return protocolFailure('REVOKED_IDENTITY', `handshake: client ${clientId.slice(0, 6)}… is revoked`);
    const { proof } = handshake;
    const skew = proof.atMs - now;
    if (Math.abs(skew) > this.#options.skewMs) {
      return protocolFailure(
        'BAD_PROOF',
        `handshake: proof time ${new Date(proof.atMs).toISOString()} is ${Math.round(skew / 1000)} s from the aggregator's clock ${new Date(now).toISOString()} (bound ±${this.#options.skewMs / 1000} s)`,
      );
    }
    if (!(await checkHandshakeProof(claims.publicKey, handshake.certificate, proof))) {
      return protocolFailure('BAD_PROOF', 'handshake: the proof is not signed by the certified key');
    }
    // Checked after the signature, so a forger cannot burn an honest client's nonce.
    const key = `${clientId}|${proof.nonce}`;
    if (this.#seen.has(key)) return protocolFailure('BAD_PROOF', 'handshake: this proof was used before (a replayed handshake); sign a fresh one');
    if (this.#seen.size >= MAX_SEEN_NONCES) {
      for (const [entry, until] of this.#seen) if (until < now) this.#seen.delete(entry);
      if (this.#seen.size >= MAX_SEEN_NONCES) return protocolFailure('RATE_LIMITED', 'handshake: too many handshakes in one clock-skew window; retry shortly');
    }
    this.#seen.set(key, proof.atMs + this.#options.skewMs);
    return { ok: true, value: clientId };
  }

  /** Revokes durably (written before this returns). */
  revoke(clientId: string): void {
    this.#revoked.add(clientId);
    writeFileAtomic(join(this.#options.dataDir, REVOKED_FILE), JSON.stringify({ version: 1, revoked: [...this.#revoked] }));
  }

  isRevoked(clientId: string): boolean {
    return this.#revoked.has(clientId) || (this.#options.revokedElsewhere?.(clientId) ?? false);
  }
}

/**
 * The enrollment service's revocation list, fetched from a separately deployed service
 * (GET /api/enrollment/revoked) every `intervalMs`. A fetch that fails keeps the last list (and is
 * logged): a service that is down revokes nothing new, and un-revokes nothing either. A list
 * naming another issuer is refused. `onRevoked` hears of each newly revoked client id.
 */
export class RevocationFeed {
  #revoked = new Set<string>();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly options: {
      enrollmentUrl: string;
      issuerName: string;
      intervalMs: number;
      logger: Logger;
      onRevoked: (clientId: string) => void;
    },
  ) {}

  has(clientId: string): boolean {
    return this.#revoked.has(clientId);
  }

  /** Fetches once now (awaited), then every intervalMs until stop(). */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async refresh(): Promise<void> {
    const url = `${this.options.enrollmentUrl}${ENROLLMENT_PATHS.revoked}`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      if (text.length > 64 * 1024 * 1024) throw new Error('the list is over 64 MiB');
      const list = revocationListSchema.parse(JSON.parse(text));
      if (list.issuer !== this.options.issuerName) throw new Error(`the list is issuer "${list.issuer}"'s, expected "${this.options.issuerName}"`);
      for (const clientId of list.revoked) {
        if (this.#revoked.has(clientId)) continue;
        this.#revoked.add(clientId);
        this.options.onRevoked(clientId);
      }
    } catch (error) {
      this.options.logger.warn({ err: error, url }, 'enrollment revocation list not refreshed; keeping the last one');
    }
  }
}
