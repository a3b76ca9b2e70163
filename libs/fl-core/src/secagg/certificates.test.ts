import { describe, expect, it } from 'vitest';
import { issueCertificate } from '../identity/certificate';
import { generateSigningKeyPair } from '../identity/signing';
import { concatBytes } from './bytes';
import {
  acknowledgeCertificates,
  certificateRef,
  certificatesHeld,
  createCertificateLedger,
  createPeerCertificateCache,
  MAX_CACHED_CERTIFICATES,
  resolveCertificates,
  startCacheRound,
} from './certificates';

async function issuer(name = 'murmur-enrollment-test') {
  const keys = await generateSigningKeyPair();
  const now = Date.now();
  const certify = async (clientId: string, validMs = 3_600_000) => {
    const device = await generateSigningKeyPair();
    const certificate = await issueCertificate(keys.privateKey, {
      clientId,
      publicKey: device.publicKey,
      issuer: name,
      issuedAtMs: now - 1000,
      expiresAtMs: now + validMs,
    });
    return { certificate, publicKey: device.publicKey };
  };
  return { issuer: { name, publicKey: keys.publicKey }, certify };
}

describe('certificate references and the peer certificate cache', () => {
  it('resolves sent certificates, caches them, and then resolves the references alone', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const b = await certify('b');
    const refs = concatBytes(certificateRef(a.certificate), certificateRef(b.certificate));
    const cache = createPeerCertificateCache();
    const first = await resolveCertificates(refs, [b.certificate, a.certificate], pinned, Date.now(), cache);
    expect(first).toEqual({ ok: true, identities: [expect.objectContaining({ subject: 'a' }), expect.objectContaining({ subject: 'b' })] });
    const again = await resolveCertificates(refs, [], pinned, Date.now(), cache);
    expect(again.ok && again.identities.map((i) => [i.subject, i.publicKey])).toEqual([
      ['a', a.publicKey],
      ['b', b.publicKey],
    ]);
  });

  it('refuses a reference nothing resolves, a cached certificate under another issuer or past its expiry, and stray certificates', async () => {
    const { issuer: pinned, certify } = await issuer();
    const short = await certify('short-lived', 50);
    const a = await certify('a');
    const cache = createPeerCertificateCache();
    const refs = concatBytes(certificateRef(a.certificate), certificateRef(short.certificate));
    expect((await resolveCertificates(refs, [a.certificate, short.certificate], pinned, Date.now(), cache)).ok).toBe(true);
    // Never verified by this client: a name alone proves nothing.
    const stranger = await certify('stranger');
    expect(await resolveCertificates(certificateRef(stranger.certificate), [], pinned, Date.now(), cache)).toMatchObject({
      ok: false,
      code: 'BAD_CERTIFICATE',
      index: 0,
    });
    // Another issuer of the same name (an aggregator's own enrollment service): the cache is not its.
    const { issuer: rogue } = await issuer();
    expect(await resolveCertificates(certificateRef(a.certificate), [], rogue, Date.now(), cache)).toMatchObject({ ok: false, code: 'BAD_CERTIFICATE' });
    // Validity is checked at every use, not only when cached.
    expect(await resolveCertificates(refs, [], pinned, Date.now() + 60_000, cache)).toMatchObject({ ok: false, code: 'BAD_CERTIFICATE', index: 1 });
    // A certificate no reference names, or one sent twice, is malformed.
    expect(await resolveCertificates(certificateRef(a.certificate), [a.certificate, stranger.certificate], pinned, Date.now(), cache)).toMatchObject({
      ok: false,
      code: 'MALFORMED',
    });
    expect(await resolveCertificates(certificateRef(a.certificate), [a.certificate, a.certificate], pinned, Date.now(), cache)).toMatchObject({
      ok: false,
      code: 'MALFORMED',
    });
  });

  it('a full cache starts over under a new id at the next round', () => {
    const cache = createPeerCertificateCache();
    const id = startCacheRound(cache);
    expect(id).toEqual(cache.id);
    for (let i = 0; i < MAX_CACHED_CERTIFICATES; i++) {
      cache.entries.set(String(i), { subject: '', publicKey: new Uint8Array(), issuedAtMs: 0, expiresAtMs: 0, issuerName: '', issuerKey: new Uint8Array() });
    }
    expect(startCacheRound(cache)).not.toEqual(id);
    expect(cache.entries.size).toBe(0);
  });
});

describe('the server ledger', () => {
  it('remembers per subject and cache id, forgets the least recently active client first', () => {
    const ledger = createCertificateLedger({ maxClients: 2 });
    acknowledgeCertificates(ledger, 'a', 'cache-1', ['r1', 'r2']);
    acknowledgeCertificates(ledger, 'b', 'cache-2', ['r1']);
    acknowledgeCertificates(ledger, 'a', 'cache-1', ['r3']);
    expect([...(certificatesHeld(ledger, 'a', 'cache-1') ?? [])]).toEqual(['r1', 'r2', 'r3']);
    // Another cache id (the client started over, or another subject claims it) holds nothing.
    expect(certificatesHeld(ledger, 'a', 'cache-2')).toBeUndefined();
    expect(certificatesHeld(ledger, 'c', 'cache-1')).toBeUndefined();
    acknowledgeCertificates(ledger, 'c', 'cache-3', ['r9']);
    expect(certificatesHeld(ledger, 'b', 'cache-2')).toBeUndefined();
    expect(certificatesHeld(ledger, 'a', 'cache-1')?.size).toBe(3);
  });

  it('forgets the least recently named certificates of a client past its bound', () => {
    const ledger = createCertificateLedger({ maxPerClient: 3 });
    acknowledgeCertificates(ledger, 'a', 'cache-1', ['r1', 'r2', 'r3']);
    acknowledgeCertificates(ledger, 'a', 'cache-1', ['r1', 'r4']);
    expect([...(certificatesHeld(ledger, 'a', 'cache-1') ?? [])]).toEqual(['r3', 'r1', 'r4']);
  });
});
