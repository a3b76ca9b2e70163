import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '@murmur/fl-core/identity';
import { parameterCount, TINY_SPEC } from '@murmur/fl-core/model';
import { contributionMetricsSpec, PROTOCOL_VERSION, type Eligibility, type RoundPlan } from '@murmur/fl-core/protocol';
import { parseTrainingPlan } from '@murmur/fl-core/train';
import { PACED_DISCONNECT_MS, ParticipationSession, UploadMeter, type ContributionHost } from './participation';
import type { ParticipationEvent } from './protocol';

/** A plan in mode 'off', as an aggregator started with `--dp off` sends it to a cohort of 3. */
function planWithoutNoise(): RoundPlan {
  const training = parseTrainingPlan({ epochs: 1, batchSize: 8, learningRate: 0.5, maxExamples: 64 });
  const metrics = contributionMetricsSpec(training);
  return {
    protocolVersion: PROTOCOL_VERSION,
    roundId: 'round-1-off',
    round: 1,
    model: { version: 0, hash: '0'.repeat(64), url: '/api/model/0', spec: TINY_SPEC },
    participantId: 0,
    secagg: {
      roundId: 'round-1-off',
      clientCount: 3,
      threshold: 3,
      vectorLength: parameterCount(TINY_SPEC) + Object.keys(metrics).length,
      modulusBits: 32,
      graph: { kind: 'full' },
    },
    training,
    evaluationFraction: 0.25,
    privacy: { mode: 'off', clipNorm: 1, noiseMultiplier: 0, expectedCohortSize: 3, minSurvivors: 3 },
    encoding: { clipRange: 1, modulusBits: 32, maxClients: 3 },
    metrics,
    deadlines: { advertiseKeysMs: 60_000, shareKeysMs: 15_000, maskedInputMs: 15_000, unmaskingMs: 15_000 },
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What a fresh aggregator greets a device with: minimum 10 examples, no round running. */
function welcome() {
  return { protocolVersion: PROTOCOL_VERSION, modelVersion: 0, paused: false, cohortRoundId: null, serverTime: new Date().toISOString(), minExamples: 10 };
}

/** A Socket.IO server that plays the aggregator: welcome, then a plan for every check-in. */
async function fakeAggregator(plan: RoundPlan) {
  const http = createServer();
  const io = new Server(http);
  const received: string[] = [];
  io.on('connection', (socket) => {
    socket.onAny((event: string) => received.push(event));
    socket.on('checkIn', () => socket.emit('roundPlan', plan));
    socket.emit('welcome', welcome());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => io.close(() => resolve())));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, received };
}

describe('the worker’s participation session', () => {
  it("refuses a plan in mode 'off': never trains, sends nothing for the round, and logs why in words", async () => {
    const aggregator = await fakeAggregator(planWithoutNoise());
    const device = await generateSigningKeyPair();
    const issuer = await generateSigningKeyPair();
    const trained: string[] = [];
    const host: ContributionHost = {
      trainerFor: (plan) => {
        trained.push(plan.roundId);
        throw new Error('a refused plan must not reach training');
      },
      backendName: () => 'wasm',
    };
    const reports: ParticipationEvent[] = [];
    const eligibility: Eligibility = { consent: true, idle: true, backend: 'wasm' };
    const examples = { contexts: new Int32Array(40), targets: new Int32Array(10), count: 10, contextLength: 4 };
    const session = new ParticipationSession(
      aggregator.url,
      { certificate: 'mc1.e30.AA', privateKey: device.privateKey, issuer: { name: 'test-issuer', publicKey: issuer.publicKey } },
      { eligibility, examples },
      host,
      (event) => reports.push(event),
      new UploadMeter(),
    );
    cleanups.push(() => session.stop());

    await expect.poll(() => reports.find((r) => r.kind === 'contribution'), { timeout: 10_000 }).toBeTruthy();
    const refused = reports.find((r) => r.kind === 'refused');
    expect(refused).toEqual({
      kind: 'refused',
      roundId: 'round-1-off',
      reasons: ['the server asked to train without any privacy noise (privacy mode off), which this device does not accept'],
    });
    const logged = reports.find((r) => r.kind === 'contribution');
    expect(logged?.kind === 'contribution' && logged.record).toMatchObject({ roundId: 'round-1-off', status: 'refused', epsilon: null });
    expect(logged?.kind === 'contribution' && logged.record.reason).toMatch(/privacy mode off/);
    expect(trained).toEqual([]);
    expect(reports.some((r) => r.kind === 'participated' || r.kind === 'trained')).toBe(false);
    expect(aggregator.received).toEqual(['checkIn']);
  });

  it('connects with its routing bucket, and spends a long pace-steering wait without a connection', async () => {
    const http = createServer();
    const io = new Server(http);
    const seen: { bucket: unknown; disconnected: boolean }[] = [];
    io.on('connection', (socket) => {
      const visit = { bucket: socket.handshake.query.bucket, disconnected: false };
      seen.push(visit);
      socket.on('disconnect', () => {
        visit.disconnected = true;
      });
      socket.on('checkIn', () => socket.emit('checkInResult', { status: 'later', retryAfterMs: 10 * PACED_DISCONNECT_MS }));
      socket.emit('welcome', welcome());
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => io.close(() => resolve())));
    const device = await generateSigningKeyPair();
    const issuer = await generateSigningKeyPair();
    const reports: ParticipationEvent[] = [];
    const session = new ParticipationSession(
      `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      { certificate: 'mc1.e30.AA', privateKey: device.privateKey, issuer: { name: 'test-issuer', publicKey: issuer.publicKey } },
      {
        eligibility: { consent: true, idle: true, backend: 'wasm' },
        examples: { contexts: new Int32Array(40), targets: new Int32Array(10), count: 10, contextLength: 4 },
      },
      {
        trainerFor: () => {
          throw new Error('not selected in this test');
        },
        backendName: () => 'wasm',
      },
      (event) => reports.push(event),
      new UploadMeter(),
      77,
    );
    cleanups.push(() => session.stop());
    await expect.poll(() => seen[0]?.disconnected, { timeout: 10_000 }).toBe(true);
    expect(seen[0]?.bucket).toBe('77');
    expect(reports).toContainEqual({ kind: 'checkedIn', status: 'later', retryAfterMs: 10 * PACED_DISCONNECT_MS });
    // It stays away: no second connection while the wait lasts.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toHaveLength(1);
  });
});
