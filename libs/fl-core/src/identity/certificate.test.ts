import { describe, expect, it } from 'vitest';
import { CertificateError, base64UrlDecode, base64UrlEncode, issueCertificate, verifyCertificate } from './certificate';
import { generateSigningKeyPair } from './signing';

const HOUR = 3_600_000;

async function setup() {
  const service = await generateSigningKeyPair();
  const device = await generateSigningKeyPair();
  const issuer = { name: 'enroll-2026-12', publicKey: service.publicKey };
  const claims = { clientId: 'c-42', publicKey: device.publicKey, issuer: issuer.name, issuedAtMs: 1_000 * HOUR, expiresAtMs: 1_024 * HOUR };
  return { service, device, issuer, claims, certificate: await issueCertificate(service.privateKey, claims) };
}

async function reason(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CertificateError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('device certificates', () => {
  it('round-trips base64url like RFC 4648 §5', () => {
    expect(base64UrlEncode(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe('-_-_');
    expect(base64UrlEncode(new TextEncoder().encode('fo'))).toBe('Zm8');
    expect(Array.from(base64UrlDecode('-_-_'))).toEqual([0xfb, 0xff, 0xbf]);
  });

  it('verifies the claims the service signed', async () => {
    const { issuer, claims, certificate } = await setup();
    expect(certificate).toMatch(/^mc1\.[\w-]+\.[\w-]+$/);
    const verified = await verifyCertificate(certificate, issuer, 1_001 * HOUR);
    expect(verified.clientId).toBe('c-42');
    expect(Array.from(verified.publicKey)).toEqual(Array.from(claims.publicKey));
  });

  it('refuses a certificate the aggregator minted with its own key, a swapped device key, or out of its validity', async () => {
    const { issuer, claims, certificate } = await setup();
    const aggregator = await generateSigningKeyPair();
    expect(await reason(verifyCertificate(await issueCertificate(aggregator.privateKey, claims), issuer, 1_001 * HOUR))).toBe('bad-signature');
    const [prefix, payload, signature] = certificate.split('.') as [string, string, string];
    const decoded = JSON.parse(new TextDecoder().decode(base64UrlDecode(payload))) as Record<string, unknown>;
    decoded['key'] = base64UrlEncode((await generateSigningKeyPair()).publicKey);
    const swapped = `${prefix}.${base64UrlEncode(new TextEncoder().encode(JSON.stringify(decoded)))}.${signature}`;
    expect(await reason(verifyCertificate(swapped, issuer, 1_001 * HOUR))).toBe('bad-signature');
    expect(await reason(verifyCertificate(certificate, issuer, 1_024 * HOUR))).toBe('expired');
    expect(await reason(verifyCertificate(certificate, issuer, 999 * HOUR))).toBe('not-yet-valid');
    expect(await reason(verifyCertificate(certificate, { ...issuer, name: 'other' }, 1_001 * HOUR))).toBe('wrong-issuer');
  });

  it('calls garbage malformed', async () => {
    const { issuer } = await setup();
    for (const junk of ['', 'mc1', 'mc1.a.b.c', 'jwt.e30.AA', 'mc1.!!!.AA', 'mc1.e30.AA', 'x'.repeat(5000)]) {
      expect(await reason(verifyCertificate(junk, issuer, 0))).toBe('malformed');
    }
  });
});
