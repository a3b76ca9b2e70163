import { describe, expect, it } from 'vitest';
import { MAX_CERTIFICATE_LENGTH } from '../identity/certificate';
import { signHandshakeProof } from '../identity/proof';
import { generateSigningKeyPair } from '../identity/signing';
import { enrollmentRequestSchema, enrollmentResponseSchema } from './http';
import { handshakeSchema, PROTOCOL_VERSION } from './schemas';

describe('the handshake carries a certificate and a proof of possession (protocol 5)', () => {
  it('accepts what handshakeAuth sends and refuses the HMAC token it replaced', async () => {
    const keys = await generateSigningKeyPair();
    const certificate = 'mc1.payload.signature';
    const proof = await signHandshakeProof(keys.privateKey, certificate, Date.now());
    const auth = { protocolVersion: PROTOCOL_VERSION, certificate, proof };
    expect(handshakeSchema.safeParse(auth).success).toBe(true);
    // Protocol 4's handshake: a token and nothing to prove.
    expect(handshakeSchema.safeParse({ protocolVersion: PROTOCOL_VERSION, token: 'm1.abc.def' }).success).toBe(false);
    expect(handshakeSchema.safeParse({ protocolVersion: PROTOCOL_VERSION, certificate }).success).toBe(false);
    expect(handshakeSchema.safeParse({ ...auth, token: 'm1.abc.def' }).success).toBe(false);
  });

  it('bounds every field before any signature is checked', async () => {
    const keys = await generateSigningKeyPair();
    const proof = await signHandshakeProof(keys.privateKey, 'mc1.a.b', Date.now());
    const base = { protocolVersion: PROTOCOL_VERSION, certificate: 'mc1.a.b', proof };
    const refused = [
      { ...base, certificate: 'x'.repeat(MAX_CERTIFICATE_LENGTH + 1) },
      { ...base, certificate: '' },
      { ...base, proof: { ...proof, nonce: `${proof.nonce}A` } },
      { ...base, proof: { ...proof, nonce: proof.nonce.replace(/^./, '+') } },
      { ...base, proof: { ...proof, signature: proof.signature.slice(1) } },
      { ...base, proof: { ...proof, atMs: -1 } },
      { ...base, proof: { ...proof, atMs: 1.5 } },
      { ...base, proof: { ...proof, atMs: Number.NaN } },
      { ...base, proof: { ...proof, extra: 1 } },
    ];
    for (const auth of refused) expect(handshakeSchema.safeParse(auth).success, JSON.stringify(auth).slice(0, 120)).toBe(false);
    expect(handshakeSchema.safeParse({ ...base, certificate: 'x'.repeat(MAX_CERTIFICATE_LENGTH) }).success).toBe(true);
  });

  it('fixes the enrollment bodies to their byte lengths', () => {
    const request = { challenge: 'A'.repeat(22), publicKey: 'B'.repeat(87), signature: 'C'.repeat(86) };
    expect(enrollmentRequestSchema.safeParse(request).success).toBe(true);
    for (const [field, value] of [
      ['challenge', 'A'.repeat(23)],
      ['publicKey', 'B'.repeat(88)],
      ['signature', `${'C'.repeat(85)}=`],
    ] as const) {
      expect(enrollmentRequestSchema.safeParse({ ...request, [field]: value }).success, field).toBe(false);
    }
    const response = { clientId: 'D'.repeat(22), certificate: 'mc1.a.b', expiresAtMs: 1, issuer: { name: 'murmur-enrollment', publicKey: 'B'.repeat(87) } };
    expect(enrollmentResponseSchema.safeParse(response).success).toBe(true);
    expect(enrollmentResponseSchema.safeParse({ ...response, issuer: { ...response.issuer, name: 'with space' } }).success).toBe(false);
    expect(enrollmentResponseSchema.safeParse({ ...response, certificate: 'x'.repeat(1025) }).success).toBe(false);
  });
});
