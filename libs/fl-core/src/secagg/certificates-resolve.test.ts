import { describe, expect, it } from 'vitest';
import { issueCertificate } from '../identity/certificate';
import { generateSigningKeyPair } from '../identity/signing';
import { concatBytes, toHex } from './bytes';
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

/**
 * resolveCertificates, the cache and the ledger at their edges: fixed validity windows (so the
 * boundaries are exact), every refusal's code, index and reason, references by SHA-256 computed in
 * python3, and the copies that keep a cache independent of its caller's buffers.
 */

const ISSUED = 1_000_000;
const EXPIRES = 2_000_000;

async function issuer(name = 'murmur-enrollment-test') {
  const keys = await generateSigningKeyPair();
  const certify = async (clientId: string, issuedAtMs = ISSUED, expiresAtMs = EXPIRES) => {
    const device = await generateSigningKeyPair();
    const certificate = await issueCertificate(keys.privateKey, { clientId, publicKey: device.publicKey, issuer: name, issuedAtMs, expiresAtMs });
    return { certificate, publicKey: device.publicKey };
  };
  return { issuer: { name, publicKey: keys.publicKey }, certify };
}

/** A deterministic CSPRNG stand-in: fills with `value` and records each request's length. */
function countingRandom(value: number) {
  const requests: number[] = [];
  return {
    requests,
    randomBytes: (out: Uint8Array) => {
      requests.push(out.length);
      return out.fill(value);
    },
  };
}

describe('certificate references', () => {
  it('are the first 8 bytes of SHA-256 over the UTF-8 text (python3 hashlib)', () => {
    // python3: hashlib.sha256('mc1.payload.signature'.encode()).hexdigest()[:16], and the same for 'café'.
    expect(toHex(certificateRef('mc1.payload.signature'))).toBe('3c80ab8611e883ee');
    expect(toHex(certificateRef('café'))).toBe('850f7dc43910ff89');
  });
});

describe('the peer certificate cache', () => {
  it('is created empty under 8 bytes from the CSPRNG', () => {
    const random = countingRandom(0xab);
    const cache = createPeerCertificateCache(random.randomBytes);
    expect(random.requests).toEqual([8]);
    expect(toHex(cache.id)).toBe('abababababababab');
    expect(cache.entries.size).toBe(0);
    // The default source gives 8 bytes too.
    expect(createPeerCertificateCache().id).toHaveLength(8);
  });

  it('keeps its id and entries below the bound, and hands out a copy of the id', () => {
    const random = countingRandom(0x11);
    const cache = createPeerCertificateCache(random.randomBytes);
    cache.entries.set('x', { subject: 's', publicKey: new Uint8Array(), issuedAtMs: 0, expiresAtMs: 1, issuerName: 'i', issuerKey: new Uint8Array() });
    for (let i = 1; i < MAX_CACHED_CERTIFICATES - 1; i++) cache.entries.set(String(i), cache.entries.get('x') as never);
    // MAX − 1 entries: not full.
    const id = startCacheRound(cache, random.randomBytes);
    expect(random.requests).toEqual([8]);
    expect(toHex(id)).toBe('1111111111111111');
    expect(cache.entries.size).toBe(MAX_CACHED_CERTIFICATES - 1);
    id.fill(0);
    expect(toHex(cache.id)).toBe('1111111111111111');
    // MAX entries: starts over under 8 fresh bytes.
    cache.entries.set('last', cache.entries.get('x') as never);
    const fresh = countingRandom(0x22);
    expect(toHex(startCacheRound(cache, fresh.randomBytes))).toBe('2222222222222222');
    expect(fresh.requests).toEqual([8]);
    expect(cache.entries.size).toBe(0);
    expect(toHex(cache.id)).toBe('2222222222222222');
  });
});

describe('resolveCertificates at its edges', () => {
  it('checks a cached certificate against the validity window at each use: [issuedAtMs, expiresAtMs)', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const ref = certificateRef(a.certificate);
    const cache = createPeerCertificateCache();
    expect(await resolveCertificates(ref, [a.certificate], pinned, ISSUED + 10, cache)).toEqual({
      ok: true,
      identities: [{ subject: 'a', publicKey: a.publicKey }],
    });
    for (const now of [ISSUED, EXPIRES - 1]) {
      expect(await resolveCertificates(ref, [], pinned, now, cache), `now = ${now}`).toEqual({
        ok: true,
        identities: [{ subject: 'a', publicKey: a.publicKey }],
      });
    }
    for (const now of [ISSUED - 1, EXPIRES]) {
      expect(await resolveCertificates(ref, [], pinned, now, cache), `now = ${now}`).toEqual({
        ok: false,
        code: 'BAD_CERTIFICATE',
        index: 0,
        reason: 'the cached certificate is not valid now',
      });
    }
  });

  it('refuses a cached certificate under an issuer of another name or another key, with its index and reason', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const b = await certify('b');
    const refs = concatBytes(certificateRef(a.certificate), certificateRef(b.certificate));
    const cache = createPeerCertificateCache();
    expect((await resolveCertificates(refs, [a.certificate, b.certificate], pinned, ISSUED, cache)).ok).toBe(true);
    const anotherIssuer = { reason: 'the cached certificate is from another issuer', code: 'BAD_CERTIFICATE', ok: false, index: 0 };
    // Same key, another name.
    expect(await resolveCertificates(refs, [], { name: 'another', publicKey: pinned.publicKey }, ISSUED, cache)).toEqual(anotherIssuer);
    // Same name, another key.
    const { issuer: rogue } = await issuer();
    expect(await resolveCertificates(refs, [], rogue, ISSUED, cache)).toEqual(anotherIssuer);
    // A key of another length.
    expect(await resolveCertificates(refs, [], { name: pinned.name, publicKey: pinned.publicKey.subarray(1) }, ISSUED, cache)).toEqual(anotherIssuer);
  });

  it('keeps its own copy of the issuer key: a caller reusing its buffer changes nothing', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const ref = certificateRef(a.certificate);
    const cache = createPeerCertificateCache();
    const buffer = pinned.publicKey.slice();
    expect((await resolveCertificates(ref, [a.certificate], { name: pinned.name, publicKey: buffer }, ISSUED, cache)).ok).toBe(true);
    buffer.fill(0);
    expect(await resolveCertificates(ref, [], pinned, ISSUED, cache)).toEqual({ ok: true, identities: [{ subject: 'a', publicKey: a.publicKey }] });
  });

  it('names the failing reference: a sent certificate that does not verify, or a reference nothing resolves', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const late = await certify('late', ISSUED, ISSUED + 5);
    const refs = concatBytes(certificateRef(a.certificate), certificateRef(late.certificate));
    expect(await resolveCertificates(refs, [late.certificate, a.certificate], pinned, ISSUED + 5, undefined)).toEqual({
      ok: false,
      code: 'BAD_CERTIFICATE',
      index: 1,
      reason: 'certificate expired: certificate has expired',
    });
    const stranger = await certify('stranger');
    const strangerRef = certificateRef(stranger.certificate);
    expect(
      await resolveCertificates(concatBytes(certificateRef(a.certificate), strangerRef), [a.certificate], pinned, ISSUED, createPeerCertificateCache()),
    ).toEqual({
      ok: false,
      code: 'BAD_CERTIFICATE',
      index: 1,
      reason: `no certificate sent, and none verified earlier under reference ${toHex(strangerRef)}`,
    });
  });

  it('works without a cache: sent certificates resolve, references alone do not', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const b = await certify('b');
    const refs = concatBytes(certificateRef(a.certificate), certificateRef(b.certificate));
    expect(await resolveCertificates(refs, [b.certificate, a.certificate], pinned, ISSUED, undefined)).toEqual({
      ok: true,
      identities: [
        { subject: 'a', publicKey: a.publicKey },
        { subject: 'b', publicKey: b.publicKey },
      ],
    });
    expect(await resolveCertificates(refs, [b.certificate], pinned, ISSUED, undefined)).toMatchObject({ ok: false, code: 'BAD_CERTIFICATE', index: 0 });
    expect(await resolveCertificates(new Uint8Array(0), [], pinned, ISSUED, undefined)).toEqual({ ok: true, identities: [] });
  });

  it('gives the reasons of the malformed cases: a certificate sent twice, one no reference names', async () => {
    const { issuer: pinned, certify } = await issuer();
    const a = await certify('a');
    const b = await certify('b');
    const ref = certificateRef(a.certificate);
    expect(await resolveCertificates(ref, [a.certificate, a.certificate], pinned, ISSUED, undefined)).toEqual({
      ok: false,
      code: 'MALFORMED',
      index: null,
      reason: 'the same certificate is sent twice',
    });
    expect(await resolveCertificates(ref, [a.certificate, b.certificate], pinned, ISSUED, undefined)).toEqual({
      ok: false,
      code: 'MALFORMED',
      index: null,
      reason: 'a certificate is sent that no reference names',
    });
  });
});

describe('the server ledger at its defaults and bounds', () => {
  it('defaults to 4096 clients × 2048 references and takes the bounds given', () => {
    expect(createCertificateLedger()).toMatchObject({ maxClients: 4096, maxPerClient: 2048 });
    expect(createCertificateLedger({ maxClients: 3 })).toMatchObject({ maxClients: 3, maxPerClient: 2048 });
    expect(createCertificateLedger({ maxPerClient: 5 })).toMatchObject({ maxClients: 4096, maxPerClient: 5 });
    expect(createCertificateLedger().clients.size).toBe(0);
  });

  it('holds exactly maxPerClient references and maxClients clients, no fewer', () => {
    const ledger = createCertificateLedger({ maxClients: 2, maxPerClient: 2 });
    acknowledgeCertificates(ledger, 'a', 'c1', ['r1', 'r2']);
    acknowledgeCertificates(ledger, 'b', 'c1', ['r1']);
    expect([...(certificatesHeld(ledger, 'a', 'c1') ?? [])]).toEqual(['r1', 'r2']);
    expect([...ledger.clients.keys()]).toEqual(['c1/a', 'c1/b']);
    acknowledgeCertificates(ledger, 'a', 'c1', ['r3']);
    expect([...(certificatesHeld(ledger, 'a', 'c1') ?? [])]).toEqual(['r2', 'r3']);
    expect([...ledger.clients.keys()]).toEqual(['c1/b', 'c1/a']);
    acknowledgeCertificates(ledger, 'a', 'c2', []);
    expect([...ledger.clients.keys()]).toEqual(['c1/a', 'c2/a']);
  });
});
