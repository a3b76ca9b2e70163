import { describe, expect, it } from 'vitest';
import { protocolFailure, type ProtocolResult } from '../protocol/errors';
import { parseClientEvent } from '../protocol/events';
import { PROTOCOL_VERSION, type RoundPlan } from '../protocol/schemas';
import { connectParticipant, type ParticipantEvent, type ParticipantSocket } from './connect';
import { DEFAULT_PLAN_POLICY } from './plan-policy';
import { testPlan } from './test-plan';

/** A socket that records what the participant sends and lets the test play the server. */
function fakeServer() {
  const listeners = new Map<string, (payload: unknown) => void>();
  const sent: string[] = [];
  const payloads: { event: string; payload: unknown }[] = [];
  const socket: ParticipantSocket = {
    on: (event, listener) => listeners.set(event, listener),
    off: (event) => listeners.delete(event),
    emit: (event, payload) => {
      payloads.push({ event, payload });
      return sent.push(event);
    },
  };
  const deliver = (event: string, payload: unknown) => listeners.get(event)?.(payload);
  return { socket, sent, payloads, deliver };
}

const welcome = {
  protocolVersion: PROTOCOL_VERSION,
  modelVersion: 3,
  paused: false,
  cohortRoundId: null,
  serverTime: '2026-12-04T00:00:00.000Z',
  minExamples: 10,
};
const eligibility = { consent: true, exampleCount: 50, idle: true, backend: 'wasm' };
/** Lets the participant's queued work (contribute, the machine) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

async function joinRound(plan: RoundPlan) {
  const server = fakeServer();
  const events: ParticipantEvent[] = [];
  const trained: string[] = [];
  const connection = connectParticipant(server.socket, {
    eligibility: () => eligibility,
    contribute: (p): Promise<ProtocolResult<Uint32Array>> => {
      trained.push(p.roundId);
      // Stops before secure aggregation: these tests are about whether training starts at all.
      return Promise.resolve(protocolFailure('CONTRIBUTION_FAILED', 'test: no training here'));
    },
    onEvent: (event) => events.push(event),
    planPolicy: DEFAULT_PLAN_POLICY,
  });
  server.deliver('welcome', welcome);
  server.deliver('roundPlan', plan);
  await settle();
  return { server, events, trained, connection };
}

describe('a participant with a plan policy', () => {
  it("refuses a plan with mode 'off': it does not train and sends nothing for the round", async () => {
    const { server, events, trained, connection } = await joinRound(testPlan(4, { privacy: { mode: 'off', noiseMultiplier: 0 } }));
    expect(trained).toEqual([]);
    expect(server.sent).toEqual(['checkIn']);
    const refused = events.find((e) => e.type === 'refused');
    expect(refused?.type === 'refused' && refused.reasons.map((r) => r.code)).toEqual(['MODE_NOT_ALLOWED']);
    expect(connection.roundId).toBe('round-7');
    connection.stop();
  });

  it('refuses a plan with σ below its minimum: it does not train and sends nothing for the round', async () => {
    const { server, events, trained, connection } = await joinRound(testPlan(4, { privacy: { noiseMultiplier: 0.01 } }));
    expect(trained).toEqual([]);
    expect(server.sent).toEqual(['checkIn']);
    const refused = events.find((e) => e.type === 'refused');
    expect(refused?.type === 'refused' && refused.reasons.map((r) => r.code)).toEqual(['NOISE_TOO_LOW']);
    connection.stop();
  });

  it('trains on a plan that meets the policy (the refusals above are the policy, not the fixture)', async () => {
    const { events, trained, connection } = await joinRound(testPlan(4));
    expect(trained).toEqual(['round-7']);
    expect(events.some((e) => e.type === 'refused')).toBe(false);
    connection.stop();
  });

  it('declines cleanly: a re-sent plan is not refused twice, and the device checks in again when the round ends', async () => {
    const plan = testPlan(4, { privacy: { mode: 'off', noiseMultiplier: 0 } });
    const { server, events, connection } = await joinRound(plan);
    server.deliver('roundPlan', plan);
    await settle();
    expect(events.filter((e) => e.type === 'refused')).toHaveLength(1);
    server.deliver('roundEnd', { roundId: plan.roundId, round: plan.round, status: 'aborted', modelVersion: 3 });
    await settle();
    expect(server.sent).toEqual(['checkIn', 'checkIn']);
    expect(connection.roundId).toBeNull();
    connection.stop();
  });
});

describe('the check-in', () => {
  const connect = (examples: () => number) => {
    const server = fakeServer();
    const events: ParticipantEvent[] = [];
    const connection = connectParticipant(server.socket, {
      eligibility: () => ({ ...eligibility, exampleCount: examples() }),
      contribute: () => Promise.resolve(protocolFailure('CONTRIBUTION_FAILED', 'test: no training here')),
      onEvent: (event) => events.push(event),
      planPolicy: DEFAULT_PLAN_POLICY,
      recheckMs: 20,
    });
    return { server, events, connection };
  };

  it('never carries the example count: only consent, the conditions and the backend, which the strict schema accepts', () => {
    const { server, connection } = connect(() => 5_000);
    server.deliver('welcome', welcome);
    expect(server.payloads).toEqual([{ event: 'checkIn', payload: { eligibility: { consent: true, idle: true, backend: 'wasm' } } }]);
    expect(JSON.stringify(server.payloads)).not.toMatch(/exampleCount|5000/);
    expect(parseClientEvent('checkIn', server.payloads[0]?.payload, { maxBytes: 4096 }).ok).toBe(true);
    connection.stop();
  });

  it("below the aggregator's minExamples the device sends nothing, and checks in once it has enough", async () => {
    let examples = 9;
    const { server, events, connection } = connect(() => examples);
    server.deliver('welcome', welcome);
    expect(server.sent).toEqual([]);
    expect(events).toContainEqual({ type: 'belowMinimum', exampleCount: 9, minExamples: 10 });
    examples = 10;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(server.sent).toEqual(['checkIn']);
    connection.stop();
  });

  it('told to come back later (pace steering), checks in again once retryAfterMs has passed, not before', async () => {
    const { server, events, connection } = connect(() => 100);
    server.deliver('welcome', welcome);
    expect(server.sent).toEqual(['checkIn']);
    server.deliver('checkInResult', { status: 'later', retryAfterMs: 80 });
    expect(events).toContainEqual({ type: 'checkedIn', status: 'later', retryAfterMs: 80 });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(server.sent).toEqual(['checkIn']);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(server.sent).toEqual(['checkIn', 'checkIn']);
    connection.stop();
  });

  it('does not check in before a welcome has named the minimum', async () => {
    const { server, events, connection } = connect(() => 100);
    server.deliver('roundEnd', { roundId: 'r', round: 1, status: 'aborted', modelVersion: 3 });
    await settle();
    expect(events.map((e) => e.type)).toEqual(['roundEnd']);
    expect(server.sent).toEqual([]);
    connection.stop();
  });
});
