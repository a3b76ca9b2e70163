import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  base64UrlEncode,
  ENROLLMENT_PATHS,
  enrollDevice,
  EnrollmentFailure,
  enrollmentChallengeSchema,
  enrollmentIssuerSchema,
  enrollmentResponseSchema,
  generateSigningKeyPair,
  issuerFromText,
  sameIssuer,
  signEnrollmentProof,
  verifyCertificate,
} from '@murmur/fl-core';
import { tempDataDir, testLogger } from '../test-helpers';
import { enrollmentConfigSchema, enrollmentHelpText, ENROLLMENT_FLAGS, loadEnrollmentConfig, type EnrollmentConfigInput } from './config';
import { startEnrollmentServer, type RunningEnrollment } from './host';
import { ISSUER_FILE, ISSUER_KEY_FILE } from './service';

const ADMIN = 'enrollment-admin-token-0123456789';
const data = tempDataDir();
let service: RunningEnrollment;

function start(overrides: EnrollmentConfigInput = {}, dir = data.dir): Promise<RunningEnrollment> {
  return startEnrollmentServer(enrollmentConfigSchema.parse({ port: 0, dataDir: dir, adminToken: ADMIN, enrollPerMinute: 1000, ...overrides }), testLogger());
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
