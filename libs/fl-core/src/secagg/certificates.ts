import { sha256 } from '@noble/hashes/sha2.js';
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { checkCertificate, type SecAggAuth } from './auth';
import { bytesEqual, toHex, utf8 } from './bytes';

/**
 * Certificates are sent once, then named. A certificate is ~330 bytes and every authenticated
 * round needs one per peer (and, in SecAgg+, one per survivor before unmasking): at n = 100 that
 * was ~35 KiB per client per round, more than the rest of the signed protocol together. So a client
 * keeps the peer certificates it has verified (PeerCertificateCache, for as long as it stays
 * connected), and the server remembers which ones each client acknowledged (CertificateLedger): it
 * then sends a short reference instead of the certificate. Nothing is trusted on the server's
 * word: a reference resolves only to a certificate this client itself verified against the
 * issuer it was given out of band, and the peer's signatures must still verify under the key in it.
 */

/** A certificate's name on the wire: the first 8 bytes of SHA-256 over its text. */
export const CERTIFICATE_REF_BYTES = 8;
/** The random id a client's cache is known by; a new one whenever the cache starts over. */
export const CERTIFICATE_CACHE_ID_BYTES = 8;
/** A cache that reaches this many certificates starts over (under a new id) at the next round. */
export const MAX_CACHED_CERTIFICATES = 100_000;

export function certificateRef(certificate: string): Uint8Array {
  return sha256(utf8(certificate)).slice(0, CERTIFICATE_REF_BYTES);
}

/** What a verified certificate established: re-checked for issuer and validity at every use. */
interface CachedCertificate {
  subject: string;
  publicKey: Uint8Array;
  issuedAtMs: number;
  expiresAtMs: number;
  issuerName: string;
  issuerKey: Uint8Array;
}

/** A client's verified peer certificates, by reference (hex). Kept in memory only. */
export interface PeerCertificateCache {
  id: Uint8Array;
  entries: Map<string, CachedCertificate>;
}

export function createPeerCertificateCache(randomBytes: RandomBytes = secureRandomBytes): PeerCertificateCache {
  return { id: randomBytes(new Uint8Array(CERTIFICATE_CACHE_ID_BYTES)), entries: new Map() };
}

/**
 * Called as a round starts: a full cache starts over under a new id, so the server's record of the
 * old one no longer applies. Never mid-round: the server may name any certificate it saw
 * acknowledged under the id this round was advertised with.
 */
export function startCacheRound(cache: PeerCertificateCache, randomBytes: RandomBytes = secureRandomBytes): Uint8Array {
  if (cache.entries.size >= MAX_CACHED_CERTIFICATES) {
    cache.entries.clear();
    cache.id = randomBytes(new Uint8Array(CERTIFICATE_CACHE_ID_BYTES));
  }
  return cache.id.slice();
}

export type ResolvedIdentities =
  | { ok: true; identities: { subject: string; publicKey: Uint8Array }[] }
  | { ok: false; code: 'BAD_CERTIFICATE' | 'MALFORMED'; index: number | null; reason: string };

/**
 * The identities named by `refs` (CERTIFICATE_REF_BYTES each, the caller checked the length): each
 * from a certificate sent in `sent` whose reference it is (verified against the issuer now, then
 * cached), or else from the cache. Every sent certificate must be named. `index` says which ref
 * failed (null: the message as a whole).
 */
export async function resolveCertificates(
  refs: Uint8Array,
  sent: readonly string[],
  issuer: SecAggAuth['enrollmentIssuer'],
  nowMs: number,
  cache: PeerCertificateCache | undefined,
): Promise<ResolvedIdentities> {
  const sentByRef = new Map<string, string>();
  for (const certificate of sent) {
    const ref = toHex(certificateRef(certificate));
    if (sentByRef.has(ref)) return { ok: false, code: 'MALFORMED', index: null, reason: 'the same certificate is sent twice' };
    sentByRef.set(ref, certificate);
  }
  const used = new Set<string>();
  const identities: { subject: string; publicKey: Uint8Array }[] = [];
  for (let index = 0; index * CERTIFICATE_REF_BYTES < refs.length; index++) {
    const ref = toHex(refs.subarray(index * CERTIFICATE_REF_BYTES, (index + 1) * CERTIFICATE_REF_BYTES));
    const certificate = sentByRef.get(ref);
    if (certificate !== undefined) {
      used.add(ref);
      const checked = await checkCertificate(certificate, issuer, nowMs);
      if (!checked.ok) return { ok: false, code: 'BAD_CERTIFICATE', index, reason: checked.reason };
      cache?.entries.set(ref, {
        subject: checked.clientId,
        publicKey: checked.publicKey,
        issuedAtMs: checked.issuedAtMs,
        expiresAtMs: checked.expiresAtMs,
        issuerName: issuer.name,
        issuerKey: issuer.publicKey.slice(),
      });
      identities.push({ subject: checked.clientId, publicKey: checked.publicKey });
      continue;
    }
    const cached = cache?.entries.get(ref);
    if (!cached) return { ok: false, code: 'BAD_CERTIFICATE', index, reason: `no certificate sent, and none verified earlier under reference ${ref}` };
    // The same checks verifyCertificate makes, except the issuer signature, verified when cached.
    if (cached.issuerName !== issuer.name || !bytesEqual(cached.issuerKey, issuer.publicKey)) {
      return { ok: false, code: 'BAD_CERTIFICATE', index, reason: 'the cached certificate is from another issuer' };
    }
    if (nowMs < cached.issuedAtMs || nowMs >= cached.expiresAtMs) {
      return { ok: false, code: 'BAD_CERTIFICATE', index, reason: 'the cached certificate is not valid now' };
    }
    identities.push({ subject: cached.subject, publicKey: cached.publicKey });
  }
  if (used.size !== sentByRef.size) return { ok: false, code: 'MALFORMED', index: null, reason: 'a certificate is sent that no reference names' };
  return { ok: true, identities };
}

/**
 * The server's memory of which certificates each client holds: keyed by certificate subject and
 * cache id, filled when a client answers a message that named or carried them (it verified and
 * cached them to answer). It only ever under-estimates what a client holds: forgetting an entry
 * (eviction, a restart) costs bytes, never a round, since the certificate is then sent again.
 */
export interface CertificateLedger {
  /** `${cacheId hex}/${subject}` → references held, least recently acknowledged first (both levels). */
  readonly clients: Map<string, Set<string>>;
  readonly maxClients: number;
  readonly maxPerClient: number;
}

/**
 * Bounded at maxClients × maxPerClient references (~8M at the defaults, a few hundred MB at
 * worst; a cohort of n uses n per client): least recently active clients and, per client, least
 * recently named certificates are forgotten first.
 */
export function createCertificateLedger(options: { maxClients?: number; maxPerClient?: number } = {}): CertificateLedger {
  return { clients: new Map(), maxClients: options.maxClients ?? 4096, maxPerClient: options.maxPerClient ?? 2048 };
}

export function certificatesHeld(ledger: CertificateLedger, subject: string, cacheId: string): ReadonlySet<string> | undefined {
  return ledger.clients.get(`${cacheId}/${subject}`);
}

export function acknowledgeCertificates(ledger: CertificateLedger, subject: string, cacheId: string, refs: Iterable<string>): void {
  const key = `${cacheId}/${subject}`;
  const held = ledger.clients.get(key) ?? new Set<string>();
  ledger.clients.delete(key);
  for (const ref of refs) {
    held.delete(ref);
    held.add(ref);
  }
  for (const oldest of held) {
    if (held.size <= ledger.maxPerClient) break;
    held.delete(oldest);
  }
  ledger.clients.set(key, held);
  for (const oldest of ledger.clients.keys()) {
    if (ledger.clients.size <= ledger.maxClients) break;
    ledger.clients.delete(oldest);
  }
}
