import { describe, expect, it } from 'vitest';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, generateSigningKeyPair, sign, verify } from './signing';

const hex = (text: string) => Uint8Array.from(text.match(/../g)!.map((byte) => parseInt(byte, 16)));
const utf8 = (text: string) => new TextEncoder().encode(text);

// RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample" (deterministic k; any valid ECDSA verifier accepts it).
const RFC6979_PUBLIC_KEY = hex(
  '04' + '60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6' + '7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299',
);
const RFC6979_SIGNATURE = hex(
  'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' + 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
);

describe('device signing keys (ECDSA P-256, SHA-256)', () => {
  it('accepts the RFC 6979 A.2.5 signature and rejects it on any other message or key', async () => {
    expect(await verify(RFC6979_PUBLIC_KEY, utf8('sample'), RFC6979_SIGNATURE)).toBe(true);
    expect(await verify(RFC6979_PUBLIC_KEY, utf8('test'), RFC6979_SIGNATURE)).toBe(false);
    const flipped = RFC6979_SIGNATURE.slice();
    flipped[40]! ^= 1;
    expect(await verify(RFC6979_PUBLIC_KEY, utf8('sample'), flipped)).toBe(false);
    const { publicKey } = await generateSigningKeyPair();
    expect(await verify(publicKey, utf8('sample'), RFC6979_SIGNATURE)).toBe(false);
  });

  it('signs with a key that cannot be exported and verifies round trip', async () => {
    const pair = await generateSigningKeyPair();
    expect(pair.publicKey).toHaveLength(PUBLIC_KEY_BYTES);
    expect(pair.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', pair.privateKey)).rejects.toThrow();
    const signature = await sign(pair.privateKey, utf8('round 7'));
    expect(signature).toHaveLength(SIGNATURE_BYTES);
    expect(await verify(pair.publicKey, utf8('round 7'), signature)).toBe(true);
    expect(await verify(pair.publicKey, utf8('round 8'), signature)).toBe(false);
  });

  it('treats malformed keys and signatures as invalid rather than throwing', async () => {
    const pair = await generateSigningKeyPair();
    const signature = await sign(pair.privateKey, utf8('x'));
    expect(await verify(new Uint8Array(PUBLIC_KEY_BYTES), utf8('x'), signature)).toBe(false);
    expect(await verify(pair.publicKey.subarray(1), utf8('x'), signature)).toBe(false);
    expect(await verify(pair.publicKey, utf8('x'), signature.subarray(1))).toBe(false);
  });
});
