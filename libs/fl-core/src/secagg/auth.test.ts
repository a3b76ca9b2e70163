import { describe, expect, it } from 'vitest';
import { issueCertificate } from '../identity/certificate';
import { generateSigningKeyPair } from '../identity/signing';
import {
  advertiseTranscript,
  checkCertificate,
  consistencyQuorum,
  consistencyTranscript,
  freeGroups,
  maskingTranscript,
  selfMaskCommitment,
  signTranscript,
  verifySignature,
} from './auth';
import { toHex } from './bytes';

/**
 * auth.ts outside the bitsets (those are in wire.test.ts): the signed transcripts and the b
 * commitment byte for byte against python3 (struct, hashlib), signatures, certificate checks,
 * freeGroups on graphs worked out by hand, and the consistency quorum.
 */

// python3 helpers for the expected values below:
//   lp = lambda x: struct.pack('>I', len(x)) + x;  u = lambda i: struct.pack('>I', i);  ph = bytes([0xaa] * 4)
//   t = lambda label, rid, *parts: lp(b'murmur/secagg/v2/' + label) + lp(rid) + lp(ph) + b''.join(lp(p) for p in parts)
const planHash = new Uint8Array(4).fill(0xaa);

describe('signed transcripts', () => {
  it('advertise: label, round, plan hash, u32be(client), encryption key, masking key, each length-prefixed', () => {
    // t(b'advertise', b'round-7', u(5), bytes([1, 2, 3]), bytes([4, 5])).hex()
    expect(toHex(advertiseTranscript('round-7', planHash, 5, Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)))).toBe(
      '0000001a6d75726d75722f7365636167672f76322f61647665727469736500000007726f756e642d3700000004aaaaaaaa000000040000000500000003010203000000020405',
    );
  });

  it('masked-with and consistency: the claim or survivor bitset after u32be(client)', () => {
    // t(b'masked-with', b'round-7', u(258), bytes([0x2a])).hex()
    expect(toHex(maskingTranscript('round-7', planHash, 258, Uint8Array.of(0x2a)))).toBe(
      '0000001c6d75726d75722f7365636167672f76322f6d61736b65642d7769746800000007726f756e642d3700000004aaaaaaaa0000000400000102000000012a',
    );
    // t(b'consistency', b'r', u(1), bytes([0x81, 0x01])).hex()
    expect(toHex(consistencyTranscript('r', planHash, 1, Uint8Array.of(0x81, 0x01)))).toBe(
      '0000001c6d75726d75722f7365636167672f76322f636f6e73697374656e6379000000017200000004aaaaaaaa0000000400000001000000028101',
    );
  });

  it('commits to b as SHA-256(lp("murmur/secagg/v1/b-commitment") ‖ lp(round) ‖ u32be(client) ‖ b)', () => {
    // hashlib.sha256(lp(b'murmur/secagg/v1/b-commitment') + lp(b'round-7') + u(5) + bytes(range(32))).hexdigest()
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(toHex(selfMaskCommitment('round-7', 5, seed))).toBe('cd60b93dca0cc75aa0926ef3d83d7454d9e7132b1859d0d961dda68f426bee23');
  });

  it('signs with the identity key: the signature verifies under its public key, for that message only', async () => {
    const device = await generateSigningKeyPair();
    const auth = { identity: { certificate: 'unused', privateKey: device.privateKey }, enrollmentIssuer: { name: 'x', publicKey: new Uint8Array() }, planHash };
    const message = maskingTranscript('round-7', planHash, 3, Uint8Array.of(1));
    const signature = await signTranscript(auth, message);
    expect(signature).toHaveLength(64);
    expect(await verifySignature(device.publicKey, message, signature)).toBe(true);
    expect(await verifySignature(device.publicKey, maskingTranscript('round-7', planHash, 4, Uint8Array.of(1)), signature)).toBe(false);
  });
});

describe('checkCertificate', () => {
  it('returns the certified identity and window, or the failure as "certificate <reason>: <message>"', async () => {
    const issuerKeys = await generateSigningKeyPair();
    const device = await generateSigningKeyPair();
    const issuer = { name: 'enrollment', publicKey: issuerKeys.publicKey };
    const certificate = await issueCertificate(issuerKeys.privateKey, {
      clientId: 'client-9',
      publicKey: device.publicKey,
      issuer: 'enrollment',
      issuedAtMs: 1000,
      expiresAtMs: 2000,
    });
    expect(await checkCertificate(certificate, issuer, 1500)).toEqual({
      ok: true,
      clientId: 'client-9',
      publicKey: device.publicKey,
      issuedAtMs: 1000,
      expiresAtMs: 2000,
    });
    expect(await checkCertificate(certificate, issuer, 2000)).toEqual({ ok: false, reason: 'certificate expired: certificate has expired' });
    expect(await checkCertificate(certificate, { ...issuer, name: 'other' }, 1500)).toEqual({
      ok: false,
      reason: 'certificate wrong-issuer: issued by "enrollment", expected "other"',
    });
    expect(await checkCertificate('mc1.x', issuer, 1500)).toEqual({ ok: false, reason: 'certificate malformed: not an mc1 certificate' });
  });

  it('rethrows an error that is not a certificate failure', async () => {
    await expect(checkCertificate(42 as unknown as string, { name: 'x', publicKey: new Uint8Array(65) }, 0)).rejects.toThrow(TypeError);
  });
});

describe('freeGroups (worked out by hand)', () => {
  it('finds the components over mutual edges with no one-way edge to a survivor, smallest first', () => {
    // 1 ↔ 2 mutual: free. 3 → 4 one-way: 3 is tainted. 4 masks with no one: free alone.
    const maskedWith = new Map([
      [1, [2]],
      [2, [1]],
      [3, [4]],
      [4, []],
    ]);
    expect(freeGroups([1, 2, 3, 4], maskedWith)).toEqual([[4], [1, 2]]);
  });

  it('taints a whole component through one member, and unions along chains', () => {
    // 1 ↔ 2 ↔ 3 ↔ 4 is one component; 4 → 5 one-way taints all four. 5 and 6 are free singletons.
    const chain = new Map([
      [1, [2]],
      [2, [1, 3]],
      [3, [2, 4]],
      [4, [3, 5]],
      [5, []],
    ]);
    expect(freeGroups([1, 2, 3, 4, 5, 6], chain)).toEqual([[5], [6]]);
    // Without the one-way edge: one free component of four.
    chain.set(4, [3]);
    expect(freeGroups([1, 2, 3, 4, 5, 6], chain)).toEqual([[5], [6], [1, 2, 3, 4]]);
  });

  it('ignores edges to non-survivors and to oneself, and clients with no claim', () => {
    const maskedWith = new Map([
      [1, [1, 2, 9]],
      [2, [1, 8]],
      [3, [7]],
    ]);
    // 9, 8, 7 dropped: removable. 1 ↔ 2 free; 3 free alone; 4 has no claim at all.
    expect(freeGroups([1, 2, 3, 4], maskedWith)).toEqual([[3], [4], [1, 2]]);
    expect(freeGroups([], maskedWith)).toEqual([]);
  });

  it('sorts by size whatever the order the components come in', () => {
    // Components of sizes 3, 1, 2 in survivor order: 1 ↔ 2 ↔ 3, 4, 5 ↔ 6.
    const maskedWith = new Map([
      [1, [2, 3]],
      [2, [1]],
      [3, [1]],
      [5, [6]],
      [6, [5]],
    ]);
    expect(freeGroups([1, 2, 3, 4, 5, 6], maskedWith)).toEqual([[4], [5, 6], [1, 2, 3]]);
  });
});

describe('consistencyQuorum', () => {
  it('is max(t, ⌊n/2⌋ + 1)', () => {
    expect(consistencyQuorum(10, 3)).toBe(6);
    expect(consistencyQuorum(11, 3)).toBe(6);
    expect(consistencyQuorum(10, 7)).toBe(7);
    expect(consistencyQuorum(10, 6)).toBe(6);
    expect(consistencyQuorum(1, 1)).toBe(1);
  });
});
