import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import {
  base64UrlEncode,
  checkProofOfWork,
  enrollDevice,
  EnrollmentFailure,
  generateSigningKeyPair,
  issuerFromText,
  sameIssuer,
  signEnrollmentProof,
  solveProofOfWork,
  verifyCertificate,
} from '@murmur/fl-core/identity';
import { ENROLLMENT_PATHS, enrollmentChallengeSchema, enrollmentIssuerSchema, enrollmentResponseSchema } from '@murmur/fl-core/protocol';
import { tempDataDir, testLogger } from '../test-helpers';
import { enrollmentConfigSchema, enrollmentHelpText, ENROLLMENT_FLAGS, loadEnrollmentConfig, type EnrollmentConfigInput } from './config';
import { startEnrollmentServer, type RunningEnrollment } from './host';
import { ISSUER_FILE, ISSUER_KEY_FILE } from './service';

const ADMIN = 'enrollment-admin-token-0123456789';
const data = tempDataDir();
let service: RunningEnrollment;

function start(overrides: EnrollmentConfigInput = {}, dir = data.dir): Promise<RunningEnrollment> {
  // No proof of work and generous network and global limits unless a test asks: each test below is about one thing.
  const config = {
    port: 0,
    dataDir: dir,
    adminToken: ADMIN,
    enrollPerMinute: 1000,
    enrollPerMinutePerNetwork: 1000,
    enrollPerMinuteGlobal: 1000,
    proofOfWorkBits: 0,
  };
  return startEnrollmentServer(enrollmentConfigSchema.parse({ ...config, ...overrides }), testLogger());
}

/** POST from a chosen local address (Linux routes all of 127.0.0.0/8 to loopback): distinct addresses and networks on one machine. */
function postFrom(url: string, body: unknown, localAddress: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A challenge from the service, and a fresh device key with its proof over it. */
async function proofFor(base: string) {
  const challenge = enrollmentChallengeSchema.parse((await post(`${base}${ENROLLMENT_PATHS.challenge}`, {})).body);
  const device = await generateSigningKeyPair();
  const signature = await signEnrollmentProof(device.privateKey, challenge.challenge, device.publicKey);
  return { device, request: { challenge: challenge.challenge, publicKey: base64UrlEncode(device.publicKey), signature } };
}

beforeAll(async () => {
  service = await start();
});
afterAll(async () => {
  await service.close();
  data.remove();
});

describe('enrollment service', () => {
  it('certifies a key whose holder signed a fresh challenge, under its own issuer key', async () => {
    const { device, request } = await proofFor(service.url);
    const answer = await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, request);
    expect(answer.status).toBe(201);
    const enrolled = enrollmentResponseSchema.parse(answer.body);
    const issuer = issuerFromText(enrolled.issuer);
    const claims = await verifyCertificate(enrolled.certificate, issuer, Date.now());
    expect(claims.clientId).toBe(enrolled.clientId);
    expect(Array.from(claims.publicKey)).toEqual(Array.from(device.publicKey));
    // 90 days by default.
    expect(claims.expiresAtMs - claims.issuedAtMs).toBe(90 * 86_400_000);
    const published = enrollmentIssuerSchema.parse(await (await fetch(`${service.url}${ENROLLMENT_PATHS.issuer}`)).json());
    expect(sameIssuer(issuerFromText(published), issuer)).toBe(true);
  });

  it('spends a challenge on first use: a replay is refused even with a valid proof', async () => {
    const { request } = await proofFor(service.url);
    expect((await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, request)).status).toBe(201);
    const replay = await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, request);
    expect(replay).toMatchObject({ status: 403, body: { code: 'BAD_PROOF', message: expect.stringContaining('already used') } });
  });

  it('refuses a proof by another key, for another key, over another challenge, or past the challenge’s expiry', async () => {
    const { request } = await proofFor(service.url);
    const other = await generateSigningKeyPair();
    // The signature is over (challenge, key A); the request names key B.
    const swapped = await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, { ...request, publicKey: base64UrlEncode(other.publicKey) });
    expect(swapped).toMatchObject({ status: 403, body: { code: 'BAD_PROOF' } });
    // The challenge was spent by the refused attempt: a wrong proof cannot be retried against it.
    expect(await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, request)).toMatchObject({ status: 403, body: { code: 'BAD_PROOF' } });
    const second = await proofFor(service.url);
    const third = await proofFor(service.url);
    const crossed = await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, { ...second.request, signature: third.request.signature });
    expect(crossed).toMatchObject({ status: 403, body: { code: 'BAD_PROOF' } });
    expect(await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, { ...third.request, challenge: 'A'.repeat(22) })).toMatchObject({
      status: 403,
      body: { code: 'BAD_PROOF', message: expect.stringContaining('unknown') },
    });
    const shortLived = await start({ challengeTtlMs: 1_000 }, join(data.dir, 'short'));
    try {
      const late = await proofFor(shortLived.url);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await post(`${shortLived.url}${ENROLLMENT_PATHS.enroll}`, late.request)).toMatchObject({
        status: 403,
        body: { code: 'BAD_PROOF', message: expect.stringContaining('expired') },
      });
    } finally {
      await shortLived.close();
    }
  });

  it('validates bodies at the edge: shape, sizes, methods', async () => {
    const { request } = await proofFor(service.url);
    for (const body of [{}, { ...request, extra: 1 }, { ...request, publicKey: 'x' }, { ...request, signature: request.signature.slice(1) }]) {
      expect(await post(`${service.url}${ENROLLMENT_PATHS.enroll}`, body)).toMatchObject({ status: 400, body: { code: 'MALFORMED' } });
    }
    const huge = await fetch(`${service.url}${ENROLLMENT_PATHS.enroll}`, { method: 'POST', body: 'x'.repeat(10_000) });
    expect(huge.status).toBe(413);
    expect((await fetch(`${service.url}${ENROLLMENT_PATHS.enroll}`)).status).toBe(405);
    expect((await fetch(`${service.url}/api/enrollment/nothing`)).status).toBe(404);
  });

  it('rate-limits challenges and enrollments per address', async () => {
    const limited = await start({ enrollPerMinute: 3 }, join(data.dir, 'limited'));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await post(`${limited.url}${ENROLLMENT_PATHS.challenge}`, {})).status);
      expect(statuses).toEqual([201, 201, 201, 429, 429]);
      // Enrollments are counted apart from challenges, and refused before their body is read.
      const enrollStatuses: number[] = [];
      for (let i = 0; i < 4; i++) enrollStatuses.push((await post(`${limited.url}${ENROLLMENT_PATHS.enroll}`, {})).status);
      expect(enrollStatuses).toEqual([400, 400, 400, 429]);
    } finally {
      await limited.close();
    }
  });

  it('rate-limits per network and overall: more addresses of one /24 do not buy more enrollments', async () => {
    const limited = await start({ enrollPerMinute: 2, enrollPerMinutePerNetwork: 3, enrollPerMinuteGlobal: 5 }, join(data.dir, 'networks'));
    try {
      const from = async (localAddress: string) => (await postFrom(`${limited.url}${ENROLLMENT_PATHS.challenge}`, {}, localAddress)).status;
      const statuses: number[] = [];
      // 127.0.0.2 and .3 share 127.0.0.0/24: 2 each by address, 3 together by network.
      for (const address of ['127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3']) statuses.push(await from(address));
      expect(statuses).toEqual([201, 201, 429, 201, 429]);
      const refused = await postFrom(`${limited.url}${ENROLLMENT_PATHS.challenge}`, {}, '127.0.0.4');
      expect(refused.body).toMatchObject({ code: 'RATE_LIMITED', message: 'more than 3 challenges a minute from this network (127.0.0.0/24); retry later' });
      // Other networks: the global 5 leaves two.
      const others: number[] = [];
      for (const address of ['127.0.1.2', '127.0.2.2', '127.0.3.2']) others.push(await from(address));
      expect(others).toEqual([201, 201, 429]);
      expect((await postFrom(`${limited.url}${ENROLLMENT_PATHS.challenge}`, {}, '127.0.4.2')).body).toMatchObject({
        message: 'more than 5 challenges a minute from all addresses together; retry later',
      });
    } finally {
      await limited.close();
    }
  });

  it('asks for a proof of work when configured: none, wrong or replayed work is refused; enrollDevice solves it', async () => {
    const pow = await start({ proofOfWorkBits: 12 }, join(data.dir, 'pow'));
    try {
      const challenge = async () => enrollmentChallengeSchema.parse((await post(`${pow.url}${ENROLLMENT_PATHS.challenge}`, {})).body);
      expect((await challenge()).difficultyBits).toBe(12);
      const enroll = (body: unknown) => post(`${pow.url}${ENROLLMENT_PATHS.enroll}`, body);
      const signed = async () => {
        const { challenge: c } = await challenge();
        const device = await generateSigningKeyPair();
        const publicKey = base64UrlEncode(device.publicKey);
        return { challenge: c, publicKey, signature: await signEnrollmentProof(device.privateKey, c, device.publicKey) };
      };
      const none = await enroll(await signed());
      expect(none).toMatchObject({ status: 403, body: { code: 'BAD_PROOF', message: expect.stringContaining('expected work, got none') } });
      // Work that does not meet 12 bits for this challenge and key (found by checking), then the right one.
      const request = await signed();
      let wrong = 0;
      while (checkProofOfWork(request.challenge, request.publicKey, String(wrong), 12)) wrong++;
      expect(await enroll({ ...request, work: String(wrong) })).toMatchObject({
        status: 403,
        body: { message: expect.stringContaining('does not meet 12 bits') },
      });
      const fresh = await signed();
      const { work } = await solveProofOfWork({ challenge: fresh.challenge, publicKey: fresh.publicKey, difficultyBits: 12 });
      // Work solved for another key is worthless here (the same counter fails for it unless by 1/4096 chance).
      const other = await signed();
      if (!checkProofOfWork(other.challenge, other.publicKey, work, 12)) expect((await enroll({ ...other, work })).status).toBe(403);
      expect((await enroll({ ...fresh, work })).status).toBe(201);
      expect(await enroll({ ...fresh, work })).toMatchObject({ status: 403, body: { message: expect.stringContaining('already used') } });
      const progress: { difficultyBits: number; attempts?: number }[] = [];
      const identity = await enrollDevice({ baseUrl: pow.url, onProofOfWork: (p) => progress.push(p) });
      expect(identity.clientId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(progress[0]).toEqual({ difficultyBits: 12 });
      expect(progress[1]?.attempts).toBeGreaterThan(0);
    } finally {
      await pow.close();
    }
  });

  it('bounds outstanding challenges', async () => {
    const bounded = await start({ maxPendingChallenges: 2 }, join(data.dir, 'bounded'));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await post(`${bounded.url}${ENROLLMENT_PATHS.challenge}`, {})).status);
      expect(statuses).toEqual([201, 201, 429]);
    } finally {
      await bounded.close();
    }
  });

  it('keeps its issuer key (a 0600 file) and revocations across a restart; certificates stay valid', async () => {
    const dir = join(data.dir, 'restart');
    const first = await start({}, dir);
    const identity = await enrollDevice({ baseUrl: first.url });
    const revokedOne = await enrollDevice({ baseUrl: first.url });
    expect(
      await post(`${first.url}${ENROLLMENT_PATHS.revoke}`, { clientId: revokedOne.clientId }, { authorization: 'Bearer wrong-token-0123456789' }),
    ).toMatchObject({
      status: 401,
    });
    expect(await post(`${first.url}${ENROLLMENT_PATHS.revoke}`, { clientId: revokedOne.clientId }, { authorization: `Bearer ${ADMIN}` })).toMatchObject({
      status: 200,
    });
    await first.close();
    expect(statSync(join(dir, ISSUER_KEY_FILE)).mode & 0o777).toBe(0o600);
    const second = await start({}, dir);
    try {
      expect(sameIssuer(second.service.issuer, first.service.issuer)).toBe(true);
      expect(sameIssuer(issuerFromText(enrollmentIssuerSchema.parse(JSON.parse(readFileSync(join(dir, ISSUER_FILE), 'utf8')))), first.service.issuer)).toBe(
        true,
      );
      expect((await verifyCertificate(identity.certificate, second.service.issuer, Date.now())).clientId).toBe(identity.clientId);
      const list = (await (await fetch(`${second.url}${ENROLLMENT_PATHS.revoked}`)).json()) as { revoked: string[] };
      expect(list.revoked).toEqual([revokedOne.clientId]);
      // A device that pinned the first key refuses a service with another (a fresh data directory).
      const fresh = await start({}, join(dir, 'fresh'));
      try {
        await expect(enrollDevice({ baseUrl: fresh.url, pinnedIssuer: identity.issuer })).rejects.toMatchObject({ code: 'ISSUER_CHANGED' });
        await expect(enrollDevice({ baseUrl: fresh.url, pinnedIssuer: identity.issuer })).rejects.toBeInstanceOf(EnrollmentFailure);
      } finally {
        await fresh.close();
      }
    } finally {
      await second.close();
    }
    await expect(start({ issuerName: 'another-name' }, dir)).rejects.toThrow(/created as issuer "murmur-enrollment"/);
  });

  it('documents every flag and reads flags over env', () => {
    const help = enrollmentHelpText();
    for (const flag of ENROLLMENT_FLAGS) {
      expect(help).toContain(`--${flag.flag}`);
      expect(help).toContain(flag.env);
    }
    const loaded = loadEnrollmentConfig(
      ['--port', '9001', '--validity-days', '7'],
      { MURMUR_ENROLLMENT_PORT: '9000', MURMUR_ENROLLMENT_PER_MINUTE: '5' },
      '/srv',
    );
    expect(loaded).toMatchObject({ ok: true, config: { port: 9001, certificateValidityDays: 7, enrollPerMinute: 5, dataDir: '/srv/data/enrollment' } });
    expect(loadEnrollmentConfig(['--port', 'x'], {}, '/')).toMatchObject({ ok: false, message: expect.stringContaining('--port') });
    expect(loadEnrollmentConfig(['--issuer-name', 'a b'], {}, '/')).toMatchObject({ ok: false });
  });
});
