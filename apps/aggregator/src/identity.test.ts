import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  base64UrlDecode,
  base64UrlEncode,
  CertificateError,
  generateSigningKeyPair,
  issueCertificate,
  signHandshakeProof,
  verifyCertificate,
  type DeviceIdentity,
} from '@murmur/fl-core/identity';
import { handshakeAuth } from '@murmur/fl-core/participant';
import { ENROLLMENT_PATHS, PROTOCOL_VERSION, ROUTING_BUCKETS, routingBucketOf, type Handshake } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import { startAggregator, type RunningAggregator } from './aggregator';
import { stateOfTheUnionClients } from './demo-data';
import { enrollmentConfigSchema } from './enrollment/config';
import { startEnrollmentServer, startWithEnrollment, type HostedAggregator, type RunningEnrollment } from './enrollment/host';
import { EnrollmentService, ISSUER_FILE, ISSUER_KEY_FILE } from './enrollment/service';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';
import { enroll, startVirtualClients } from './virtual-clients';

/**
 * Device identities at the Socket.IO handshake: a certificate the enrollment service signed and a
 * fresh proof of possession, or no connection. Real HTTP and Socket.IO on 127.0.0.1.
 */
const DAY_MS = 86_400_000;
const data = tempDataDir();
let aggregator: HostedAggregator;
const sockets: Socket[] = [];

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(testConfig(data.dir, { limits: { handshakeSkewMs: 30_000 } }), { logger: testLogger() });
});
afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await aggregator.close();
  data.remove();
});

type Auth = Handshake | Record<string, unknown> | ((callback: (data: object) => void) => void);

/** 'welcome' when the handshake was admitted, else the connect_error's code. */
function outcome(auth: Auth, url = aggregator.url, query?: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const socket = io(url, { auth, transports: ['websocket'], reconnection: false, ...(query ? { query } : {}) });
    sockets.push(socket);
    socket.on('welcome', () => {
      socket.disconnect();
      resolve('welcome');
    });
    socket.on('connect_error', (error: Error & { data?: { code: string } }) => resolve(error.data?.code ?? `none: ${error.message}`));
  });
}

async function signed(identity: Pick<DeviceIdentity, 'certificate' | 'privateKey'>, atMs = Date.now()): Promise<Handshake> {
  return {
    protocolVersion: PROTOCOL_VERSION,
    certificate: identity.certificate,
    proof: await signHandshakeProof(identity.privateKey, identity.certificate, atMs),
  };
}

/** The same enrollment key on another clock: issues certificates of the right issuer, outside their validity now. */
async function skewedService(offsetMs: number, validityMs: number): Promise<EnrollmentService> {
  return EnrollmentService.open({
    dataDir: join(data.dir, 'enrollment'),
    issuerName: aggregator.issuer.name,
    certificateValidityMs: validityMs,
    challengeTtlMs: 60_000,
    maxPendingChallenges: 10,
    now: () => Date.now() + offsetMs,
  });
}

async function enrollWith(service: EnrollmentService): Promise<{ certificate: string; privateKey: CryptoKey }> {
  const { signEnrollmentProof } = await import('@murmur/fl-core/identity');
  const device = await generateSigningKeyPair();
  const challenge = service.challenge();
  if (!challenge.ok) throw new Error(challenge.error.message);
  const signature = await signEnrollmentProof(device.privateKey, challenge.value.challenge, device.publicKey);
  const enrolled = await service.enroll({ challenge: challenge.value.challenge, publicKey: base64UrlEncode(device.publicKey), signature });
  if (!enrolled.ok) throw new Error(enrolled.error.message);
  return { certificate: enrolled.value.certificate, privateKey: device.privateKey };
}

describe('certificates at the handshake', () => {
  it('admits a certified device with a fresh proof, on every reconnection', async () => {
    const identity = await enroll(aggregator.url);
    const auth = handshakeAuth(identity);
    expect(await outcome(auth)).toBe('welcome');
    expect(await outcome(auth)).toBe('welcome');
  });

  it("admits a device's own routing bucket and refuses any other, so nobody picks its process (and SecAgg group)", async () => {
    const identity = await enroll(aggregator.url);
    const own = routingBucketOf(identity.clientId);
    expect(await outcome(handshakeAuth(identity), aggregator.url, { bucket: String(own) })).toBe('welcome');
    for (const wrong of [String((own + 1) % ROUTING_BUCKETS), `${own}.0`, ` ${own}`, 'x']) {
      expect(await outcome(handshakeAuth(identity), aggregator.url, { bucket: wrong })).toBe('MALFORMED');
    }
  });

  it('refuses a replayed proof, a proof by another key, and a proof outside the clock-skew bound', async () => {
    const identity = await enroll(aggregator.url);
    const once = await signed(identity);
    expect(await outcome(once)).toBe('welcome');
    expect(await outcome(once), 'the same handshake again').toBe('BAD_PROOF');
    // A stolen certificate without its key.
    const thief = await generateSigningKeyPair();
    expect(await outcome(await signed({ certificate: identity.certificate, privateKey: thief.privateKey }))).toBe('BAD_PROOF');
    expect(await outcome(await signed(identity, Date.now() - 60_000))).toBe('BAD_PROOF');
    expect(await outcome(await signed(identity, Date.now() + 60_000))).toBe('BAD_PROOF');
    // A proof signed for another certificate of the same device key does not carry over.
    const other = await enroll(aggregator.url);
    const crossed = await signed(other);
    expect(await outcome({ ...crossed, certificate: identity.certificate })).toBe('BAD_PROOF');
    // A refused forgery did not burn the honest client's nonce.
    expect(await outcome(crossed)).toBe('welcome');
  });

  it('refuses expired and not-yet-valid certificates of the right issuer', async () => {
    const expired = await enrollWith(await skewedService(-2 * DAY_MS, DAY_MS));
    expect(await outcome(await signed(expired))).toBe('UNKNOWN_IDENTITY');
    const early = await enrollWith(await skewedService(DAY_MS, DAY_MS));
    expect(await outcome(await signed(early))).toBe('UNKNOWN_IDENTITY');
    // The same service on the right clock: admitted (the refusals were about time, not the key).
    expect(await outcome(await signed(await enrollWith(await skewedService(0, DAY_MS))))).toBe('welcome');
  });

  it('refuses certificates of another enrollment service, with the same name or another', async () => {
    const dir = tempDataDir();
    try {
      for (const issuerName of [aggregator.issuer.name, 'someone-else']) {
        const other = await EnrollmentService.open({
          dataDir: join(dir.dir, issuerName),
          issuerName,
          certificateValidityMs: DAY_MS,
          challengeTtlMs: 60_000,
          maxPendingChallenges: 10,
        });
        expect(await outcome(await signed(await enrollWith(other)))).toBe('UNKNOWN_IDENTITY');
      }
    } finally {
      dir.remove();
    }
  });

  it('refuses a client id the enrollment service revoked, and cuts nobody else off', async () => {
    const revoked = await enroll(aggregator.url);
    const kept = await enroll(aggregator.url);
    const response = await fetch(`${aggregator.url}${ENROLLMENT_PATHS.revoke}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aggregator.enrollment.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: revoked.clientId }),
    });
    expect(response.status).toBe(200);
    expect(await outcome(handshakeAuth(revoked))).toBe('REVOKED_IDENTITY');
    expect(await outcome(handshakeAuth(kept))).toBe('welcome');
  });
});

describe('an aggregator that holds only the issuer public key', () => {
  let enrollment: RunningEnrollment;
  let split: RunningAggregator;
  const dirs = { enrollment: tempDataDir(), aggregator: tempDataDir() };

  beforeAll(async () => {
    enrollment = await startEnrollmentServer(
      enrollmentConfigSchema.parse({
        port: 0,
        dataDir: dirs.enrollment.dir,
        enrollPerMinute: 1000,
        enrollPerMinutePerNetwork: 1000,
        proofOfWorkBits: 8,
        adminToken: 'enrollment-admin-token-0123456789',
      }),
      testLogger(),
    );
    // Configured as a separate deployment is: the path of the service's issuer.json, nothing else.
    split = await startAggregator(
      testConfig(dirs.aggregator.dir, {
        enrollmentIssuerFile: join(dirs.enrollment.dir, ISSUER_FILE),
        enrollmentUrl: enrollment.url,
        limits: { revocationPollMs: 200 },
        round: { target: 4, minReports: 3, checkinMs: 300 },
      }),
      { logger: testLogger() },
    );
  });
  afterAll(async () => {
    await split.close();
    await enrollment.close();
    dirs.enrollment.remove();
    dirs.aggregator.remove();
  });

  it('refuses to start without an issuer, or with an issuer file that is not one', async () => {
    const dir = tempDataDir();
    try {
      await expect(startAggregator(testConfig(dir.dir), { logger: testLogger() })).rejects.toThrow(/no enrollment issuer/);
      const bogus = join(dir.dir, 'issuer.json');
      writeFileSync(bogus, JSON.stringify({ name: 'x', publicKey: 'short' }));
      await expect(startAggregator(testConfig(dir.dir, { enrollmentIssuerFile: bogus }), { logger: testLogger() })).rejects.toThrow(/expected \{ "name"/);
      await expect(startAggregator(testConfig(dir.dir, { enrollmentIssuerFile: join(dir.dir, 'missing.json') }), { logger: testLogger() })).rejects.toThrow(
        /missing\.json/,
      );
    } finally {
      dir.remove();
    }
  });

  it('serves no enrollment and keeps no issuer key', () => {
    expect(existsSync(join(dirs.enrollment.dir, ISSUER_KEY_FILE))).toBe(true);
    const everything = readdirSync(dirs.aggregator.dir, { recursive: true }).map(String);
    expect(everything.filter((name) => name.includes(ISSUER_KEY_FILE))).toEqual([]);
    expect(Object.keys(split.issuer).sort()).toEqual(['name', 'publicKey']);
    expect(split.issuer.publicKey).toBeInstanceOf(Uint8Array);
  });

  it('cannot mint a client, swap a client’s key or re-sign a certificate that devices or it accept', async () => {
    const honest = await enroll(enrollment.url);
    // The deviating server's best tries with what it has: its own key under the issuer's name,
    // an honest certificate with its own key swapped in, and the honest signature over a new payload.
    const own = await generateSigningKeyPair();
    const now = Date.now();
    const minted = await issueCertificate(own.privateKey, {
      clientId: 'sybil-1',
      publicKey: own.publicKey,
      issuer: split.issuer.name,
      issuedAtMs: now - 1000,
      expiresAtMs: now + DAY_MS,
    });
    const [prefix, payload, signature] = honest.certificate.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(payload))) as Record<string, unknown>;
    const swapped = `${prefix}.${base64UrlEncode(new TextEncoder().encode(JSON.stringify({ ...claims, key: base64UrlEncode(own.publicKey) })))}.${signature}`;
    for (const forged of [minted, swapped]) {
      // A peer checking with the issuer it pinned (what the participant does with enrollmentIssuer).
      await expect(verifyCertificate(forged, honest.issuer, Date.now())).rejects.toBeInstanceOf(CertificateError);
      // And the aggregator itself, with a valid proof by the forged certificate's key.
      expect(await outcome(await signed({ certificate: forged, privateKey: own.privateKey }), split.url)).toBe('UNKNOWN_IDENTITY');
    }
    expect(await outcome(handshakeAuth(honest), split.url)).toBe('welcome');
  });

  it('honours the separate service’s revocation list: the revoked client is cut off and refused, others stay', async () => {
    const revoked = await enroll(enrollment.url);
    const kept = await enroll(enrollment.url);
    const socket = io(split.url, { auth: handshakeAuth(revoked), transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('welcome', () => resolve());
      socket.once('connect_error', reject);
    });
    const cut = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
    const response = await fetch(`${enrollment.url}${ENROLLMENT_PATHS.revoke}`, {
      method: 'POST',
      headers: { authorization: 'Bearer enrollment-admin-token-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: revoked.clientId }),
    });
    expect(response.status).toBe(200);
    expect(await cut).toBe('io server disconnect');
    expect(await outcome(handshakeAuth(revoked), split.url)).toBe('REVOKED_IDENTITY');
    expect(await outcome(handshakeAuth(kept), split.url)).toBe('welcome');
  });

  it('runs a committed round with devices enrolled at the separate service', async () => {
    const pool = await startVirtualClients({
      url: split.url,
      enrollmentUrl: enrollment.url,
      clients: stateOfTheUnionClients(TEST_SPEC, 4),
      planPolicy: TEST_PLAN_POLICY,
    });
    try {
      const committed = await eventually(() => split.store.rounds.find((r) => r.status === 'committed'), 60_000, 'a committed round');
      expect(committed.cohort.unmasked).toBeGreaterThanOrEqual(3);
    } finally {
      await pool.close();
    }
  }, 90_000);
});
