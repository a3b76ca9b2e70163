import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { signHandshakeProof, type DeviceIdentity } from '@murmur/fl-core/identity';
import { handshakeAuth, startParticipant } from '@murmur/fl-core/participant';
import { packBinary, packSecAgg, PROTOCOL_VERSION, type ProtocolErrorEvent, type RoundPlan } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { enroll, startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_ADMIN_TOKEN, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';

let aggregator: RunningAggregator;
let pool: VirtualClientPool;
const data = tempDataDir();
const sockets: Socket[] = [];

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(
    testConfig(data.dir, {
      round: {
        target: 5,
        minReports: 3,
        checkinMs: 4_000,
        deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 1_500, maskedInputMs: 5_000, unmaskingMs: 5_000 },
      },
      limits: { maxHttpBufferSize: 200_000, eventsPerSecond: 20, eventBurst: 40 },
    }),
    { logger: testLogger() },
  );
  pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 4), planPolicy: TEST_PLAN_POLICY });
  // Four enrollments (key pair, challenge, proof) and connections: more than 10 s on a loaded machine.
}, 30_000);
afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await pool.close();
  await aggregator.close();
  data.remove();
});

function connect(auth: unknown): Socket {
  const socket = io(aggregator.url, {
    auth: auth as Record<string, unknown> | ((callback: (data: object) => void) => void),
    transports: ['websocket'],
    reconnection: false,
  });
  sockets.push(socket);
  return socket;
}

function connectError(auth: unknown): Promise<{ code: string; message: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(auth);
    socket.on('connect', () => reject(new Error('connected, expected a refusal')));
    socket.on('connect_error', (error: Error & { data?: { code: string; message: string } }) =>
      resolve(error.data ?? { code: 'none', message: error.message }),
    );
  });
}

async function attacker(): Promise<{ socket: Socket; errors: ProtocolErrorEvent[]; clientId: string; identity: DeviceIdentity }> {
  const identity = await enroll(aggregator.url);
  const socket = connect(handshakeAuth(identity));
  const errors: ProtocolErrorEvent[] = [];
  socket.on('protocolError', (error: ProtocolErrorEvent) => errors.push(error));
  await new Promise<void>((resolve) => socket.on('welcome', () => resolve()));
  return { socket, errors, clientId: identity.clientId, identity };
}

const errorCount = (errors: ProtocolErrorEvent[], n: number) =>
  eventually(() => (errors.length >= n ? errors.slice() : undefined), 10_000, `${n} protocol errors`);

describe('bad input never breaks a round or the server', () => {
  it('refuses garbage, old enrollment tokens, revoked identities and other protocol versions at the handshake', async () => {
    const identity = await enroll(aggregator.url);
    const proof = await signHandshakeProof(identity.privateKey, identity.certificate, Date.now());
    expect(await connectError({ protocolVersion: PROTOCOL_VERSION, certificate: 'hello', proof })).toMatchObject({ code: 'UNKNOWN_IDENTITY' });
    // A protocol-4 client's HMAC token is neither a certificate nor this protocol.
    expect(await connectError({ protocolVersion: 4, token: 'm1.abc.def' })).toMatchObject({ code: 'UNSUPPORTED_PROTOCOL' });
    expect(await connectError({ protocolVersion: PROTOCOL_VERSION, token: 'm1.abc.def' })).toMatchObject({ code: 'MALFORMED' });
    expect(await connectError({ protocolVersion: PROTOCOL_VERSION + 1, certificate: identity.certificate, proof })).toMatchObject({
      code: 'UNSUPPORTED_PROTOCOL',
    });
    expect(await connectError({})).toMatchObject({ code: 'MALFORMED' });
    const revoke = await fetch(`${aggregator.url}/api/admin/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: identity.clientId }),
    });
    expect(revoke.status).toBe(200);
    expect(await connectError(handshakeAuth(identity))).toMatchObject({ code: 'REVOKED_IDENTITY' });
  });

  it('answers malformed, NaN/Infinity, oversized and unknown events with a clear error each', async () => {
    const { socket, errors } = await attacker();
    socket.emit('checkIn', 'hello');
    socket.emit('checkIn', { eligibility: { consent: true, backend: 'wasm', name: 'Alice' } });
    // A version-7 check-in: the example count (the size of the person's text) is no field of protocol 8.
    socket.emit('checkIn', { eligibility: { consent: true, exampleCount: 50, backend: 'wasm' } });
    // JSON has no NaN or Infinity: Socket.IO sends both as null, which the schema refuses.
    socket.emit('checkIn', { eligibility: { consent: true, idle: Number.NaN, backend: 'wasm' } });
    socket.emit('checkIn', { eligibility: { consent: true, idle: Infinity, backend: 'wasm' } });
    socket.emit('checkIn', { eligibility: { consent: true, backend: 'x'.repeat(10_000) } });
    socket.emit('steal-model', { please: true });
    socket.emit('secagg', { type: 'maskedInput', roundId: 'r1', maskedInput: [1, 2, 3] });
    const got = await errorCount(errors, 8);
    // Each event is answered on its own; the answers' order is not part of the contract.
    expect(got.map((e) => [e.event, e.code]).sort()).toEqual([
      ['checkIn', 'MALFORMED'],
      ['checkIn', 'MALFORMED'],
      ['checkIn', 'MALFORMED'],
      ['checkIn', 'MALFORMED'],
      ['checkIn', 'MALFORMED'],
      ['checkIn', 'TOO_LARGE'],
      ['secagg', 'MALFORMED'],
      ['steal-model', 'UNKNOWN_EVENT'],
    ]);
    expect(got.filter((e) => /exampleCount/.test(e.message))).toHaveLength(1);
    expect(got.filter((e) => /idle/.test(e.message))).toHaveLength(2);
    expect(socket.connected).toBe(true);
  });

  it("serves a client that starts on HTTP long-polling (socket.io-client's default) without the HTTP API answering too", async () => {
    const identity = await enroll(aggregator.url);
    const socket = io(aggregator.url, { auth: handshakeAuth(identity), transports: ['polling'], reconnection: false });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.on('welcome', () => resolve());
      socket.on('connect_error', reject);
    });
    expect(socket.io.engine.transport.name).toBe('polling');
    expect((await fetch(`${aggregator.url}/healthz`)).status).toBe(200);
  });

  it('closes a connection whose frame exceeds maxHttpBufferSize and keeps serving everyone else', async () => {
    const { socket } = await attacker();
    const closed = new Promise<string>((resolve) => socket.on('disconnect', (reason) => resolve(reason)));
    socket.emit('secagg', packBinary({ type: 'maskedInput', roundId: 'r1', maskedInput: new Uint8Array(400_000) }));
    expect(await closed).toBe('transport close');
    const health = await fetch(`${aggregator.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('rate-limits a flooding client without disconnecting honest ones', async () => {
    const { socket, errors } = await attacker();
    for (let i = 0; i < 80; i++) socket.emit('checkIn', { eligibility: { consent: false, backend: 'wasm' } });
    await eventually(() => (errors.some((e) => e.code === 'RATE_LIMITED') ? true : undefined), 10_000, 'a RATE_LIMITED error');
    socket.disconnect();
  });

  it('refuses replayed, wrong-round, wrong-phase and out-of-cohort secure-aggregation messages while the round commits', async () => {
    const outsider = await attacker();
    const insider = await attacker();
    const planned = new Promise<RoundPlan>((resolve) => insider.socket.on('roundPlan', (p: RoundPlan) => resolve(p)));
    insider.socket.emit('checkIn', { eligibility: { consent: true, backend: 'wasm' } });
    const plan = await planned;
    const { roundId, round } = plan;
    const keys = () => ({ encryptionPublicKey: crypto.getRandomValues(new Uint8Array(32)), maskingPublicKey: crypto.getRandomValues(new Uint8Array(32)) });
    // Certified clients run the authenticated protocol: the insider's advertisement is a real one,
    // signed with its certified key over this plan, so that only the replays are wrong.
    const started = await startParticipant(plan, new Uint32Array(plan.secagg.vectorLength), {
      identity: insider.identity,
      enrollmentIssuer: aggregator.issuer,
    });
    if (!started.ok || started.value.outbound?.type !== 'advertiseKeys') throw new Error(`insider: no signed advertisement: ${JSON.stringify(started)}`);
    const advertise = started.value.outbound;
    insider.socket.emit('secagg', packSecAgg({ ...advertise, roundId: 'r0-00000000' }));
    insider.socket.emit('secagg', packSecAgg({ type: 'shareKeys', roundId, ciphertexts: new Uint8Array(0) }));
    insider.socket.emit('secagg', packSecAgg(advertise));
    insider.socket.emit('secagg', packSecAgg(advertise));
    insider.socket.emit('secagg', packSecAgg({ type: 'advertiseKeys', roundId, encryptionPublicKey: new Uint8Array(5), maskingPublicKey: new Uint8Array(32) }));
    outsider.socket.emit('secagg', packSecAgg({ ...advertise, ...keys() }));
    const got = await errorCount(insider.errors, 4);
    expect(got.map((e) => e.code)).toEqual(['STALE_ROUND', 'WRONG_PHASE', 'REPLAY', 'REPLAY']);
    expect((await errorCount(outsider.errors, 1))[0]).toMatchObject({ code: 'NOT_IN_COHORT', event: 'secagg' });
    // The insider now goes silent; the honest clients carry the round.
    const report = await eventually(() => aggregator.store.rounds.find((r) => r.round === round), 60_000, `round ${round}`);
    expect(report).toMatchObject({ status: 'committed', cohort: { advertised: 5, shared: 4 } });
    const later = await eventually(() => aggregator.store.rounds.find((r) => r.round === round + 1 && r.status === 'committed'), 60_000, 'the next round');
    expect(later.cohort.unmasked).toBe(4);
  });

  it('refuses admin calls without the right bearer token, and plan changes out of bounds', async () => {
    const url = `${aggregator.url}/api/admin/pause`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(401);
    const wrong = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await fetch(`${aggregator.url}/api/admin/plan`, { method: 'POST', body: '{"target":3}' })).status).toBe(401);
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const lower = await fetch(`${aggregator.url}/api/admin/plan`, { method: 'POST', headers: auth, body: JSON.stringify({ noiseMultiplier: 0.001 }) });
    expect(lower.status).toBe(400);
    expect(await lower.json()).toMatchObject({ code: 'OUT_OF_BOUNDS' });
    const change = await fetch(`${aggregator.url}/api/admin/plan`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ pauseMs: 100, training: { epochs: 2 } }),
    });
    expect(change.status).toBe(200);
    // Saved before it applies, and the answer says so.
    expect(await change.json()).toMatchObject({
      plan: { pauseMs: 100, training: { epochs: 2, batchSize: 16, targets: 'last' } },
      revision: 1,
      persisted: true,
      message: expect.stringMatching(/survives a restart/),
      audit: { action: 'plan', actor: 'admin', revision: 1, after: { pauseMs: 100 } },
    });
    const every = await fetch(`${aggregator.url}/api/admin/plan`, { method: 'POST', headers: auth, body: JSON.stringify({ training: { targets: 'every' } }) });
    expect(every.status).toBe(200);
    expect(await every.json()).toMatchObject({ plan: { pauseMs: 100, training: { epochs: 2, batchSize: 16, targets: 'every' } }, revision: 2 });
    const adam = await fetch(`${aggregator.url}/api/admin/plan`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ training: { optimizer: 'adam', learningRate: 0.004 } }),
    });
    expect(await adam.json()).toMatchObject({ plan: { training: { epochs: 2, targets: 'every', optimizer: 'adam', learningRate: 0.004 } } });
    const sampled = await fetch(`${aggregator.url}/api/admin/plan`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ training: { sampledSoftmax: 256 } }),
    });
    expect(await sampled.json()).toMatchObject({ plan: { training: { optimizer: 'adam', sampledSoftmax: 256 } } });
    const noCandidates = await fetch(`${aggregator.url}/api/admin/plan`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ training: { sampledSoftmax: 0 } }),
    });
    expect(await noCandidates.json()).toMatchObject({ code: 'OUT_OF_BOUNDS', message: expect.stringContaining('sampledSoftmax') });
    const unknownOptimizer = await fetch(`${aggregator.url}/api/admin/plan`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ training: { optimizer: 'lion' } }),
    });
    expect(await unknownOptimizer.json()).toMatchObject({ code: 'OUT_OF_BOUNDS', message: expect.stringContaining('optimizer') });
    const unknownTargets = await fetch(`${aggregator.url}/api/admin/plan`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ training: { targets: 'some' } }),
    });
    expect(unknownTargets.status).toBe(400);
    expect(await unknownTargets.json()).toMatchObject({ code: 'OUT_OF_BOUNDS', message: expect.stringContaining('targets') });
    expect((await fetch(url, { method: 'POST', headers: auth })).status).toBe(200);
    await eventually(() => (aggregator.coordinator.phase === 'paused' ? true : undefined), 60_000, 'the pause');
    const status = (await (await fetch(`${aggregator.url}/api/status`)).json()) as { paused: boolean; phase: string };
    expect(status).toMatchObject({ paused: true, phase: 'paused' });
    // Paused: no round runs, so a secagg message has nowhere to go.
    const { socket, errors } = await attacker();
    socket.emit(
      'secagg',
      packSecAgg({ type: 'advertiseKeys', roundId: 'r9-00000000', encryptionPublicKey: new Uint8Array(32), maskingPublicKey: new Uint8Array(32) }),
    );
    expect((await errorCount(errors, 1))[0]).toMatchObject({ code: 'NO_ROUND' });
    expect((await fetch(`${aggregator.url}/api/admin/resume`, { method: 'POST', headers: auth })).status).toBe(200);
    // The HMAC-token endpoint is gone.
    expect((await fetch(`${aggregator.url}/api/enroll`)).status).toBe(404);
    expect((await fetch(`${aggregator.url}/api/enrollment/enroll`)).status).toBe(405);
    expect((await fetch(`${aggregator.url}/healthz`)).status).toBe(200);
  });
});
