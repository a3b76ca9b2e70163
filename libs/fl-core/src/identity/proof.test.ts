import { describe, expect, it } from 'vitest';
import { base64UrlEncode } from './certificate';
import {
  checkEnrollmentProof,
  checkHandshakeProof,
  decodeExact,
  freshNonce,
  handshakeProofMessage,
  NONCE_CHARS,
  signEnrollmentProof,
  signHandshakeProof,
} from './proof';
import { generateSigningKeyPair } from './signing';

describe('proofs of possession', () => {
  it('decodes base64url only in its one canonical spelling and exact length', () => {
    const bytes = new Uint8Array(16).fill(0xab);
    const text = base64UrlEncode(bytes);
    expect(Array.from(decodeExact(text, 16) ?? [])).toEqual(Array.from(bytes));
    expect(decodeExact(text, 17)).toBeNull();
    // The last character's unused low bits: another spelling of the same bytes is refused.
    const sibling = text.slice(0, -1) + String.fromCharCode(text.charCodeAt(text.length - 1) + 1);
    expect(decodeExact(sibling, 16)).toBeNull();
    expect(decodeExact('!!', 1)).toBeNull();
    expect(freshNonce()).toMatch(new RegExp(`^[A-Za-z0-9_-]{${NONCE_CHARS}}$`));
    expect(freshNonce()).not.toBe(freshNonce());
  });

  it('binds an enrollment proof to its challenge and to the key being certified', async () => {
    const device = await generateSigningKeyPair();
    const other = await generateSigningKeyPair();
    const challenge = freshNonce();
    const signature = await signEnrollmentProof(device.privateKey, challenge, device.publicKey);
    expect(await checkEnrollmentProof(challenge, device.publicKey, signature)).toBe(true);
    expect(await checkEnrollmentProof(freshNonce(), device.publicKey, signature)).toBe(false);
    expect(await checkEnrollmentProof(challenge, other.publicKey, signature)).toBe(false);
    expect(await checkEnrollmentProof(challenge, device.publicKey, signature.slice(1))).toBe(false);
  });

  it('binds a handshake proof to the certificate, time and nonce, with an injective message', async () => {
    const device = await generateSigningKeyPair();
    const proof = await signHandshakeProof(device.privateKey, 'mc1.a.b', 1_000);
    expect(await checkHandshakeProof(device.publicKey, 'mc1.a.b', proof)).toBe(true);
    expect(await checkHandshakeProof(device.publicKey, 'mc1.a.c', proof)).toBe(false);
    expect(await checkHandshakeProof(device.publicKey, 'mc1.a.b', { ...proof, atMs: 1_001 })).toBe(false);
    expect(await checkHandshakeProof(device.publicKey, 'mc1.a.b', { ...proof, nonce: freshNonce() })).toBe(false);
    expect(await checkHandshakeProof(device.publicKey, 'mc1.a.b', { ...proof, nonce: 'short' })).toBe(false);
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    expect(text(handshakeProofMessage('mc1.a.b', 12, 'n'))).toBe('murmur/participant-socket/v1|12|n|mc1.a.b');
  });
});
