import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateSigningKeyPair } from '@murmur/fl-core/identity';
import { TINY_SPEC } from '@murmur/fl-core/model';
import { LocalStore } from '../storage/db';
import { MEGABYTE, type ContributionRecord, type ParticipationRecord } from '../storage/schema';
import { UploadLedger } from '../storage/upload-ledger';
import type { DeviceSnapshot } from '../scheduler/environment';
import { estimateRoundUploadBytes } from '../scheduler/upload-budget';
import { WorkerClient } from '../worker/client';
import type { CalibrationResult, ParticipationEvent, ToWorker } from '../worker/protocol';
import { initialState, RuntimeCore, type LoadedModelInfo } from './core';
import { Participation } from './participation';
import { ScriptedWorker } from './scripted-worker';

const MODEL: LoadedModelInfo = { version: 3, hash: 'c'.repeat(64), parameters: 100, spec: TINY_SPEC, vocabularyFingerprint: 'a'.repeat(64), source: 'network' };
const MODEL_BYTES = estimateRoundUploadBytes(TINY_SPEC);
const CALIBRATION: CalibrationResult = {
  key: 'k',
  backend: 'wasm',
  reason: 'fastest',
  measurements: [{ backend: 'wasm', examplesPerSecond: 50, error: null }],
  wasmThreads: 0,
  measuredAt: 1,
  fromCache: false,
};
const EXAMPLES = { contexts: new Int32Array(2 * TINY_SPEC.contextLength), targets: new Int32Array(2), count: 2, contextLength: TINY_SPEC.contextLength };

const contribution: ContributionRecord = {
  at: 10,
  roundId: 'r1',
  modelVersion: 3,
  status: 'contributed',
  reason: null,
  bytesSent: 12_345,
  bytesReceived: 6_789,
  epsilon: 1.25,
  delta: 1e-5,
  backend: 'wasm',
  durationMs: 4_200,
  numExamples: 256,
};
const participated: ParticipationRecord = {
  roundId: 'r1',
  round: 1,
  at: 10,
  mode: 'distributed',
  noiseMultiplier: 1,
  clipIndicatorNoiseStdDev: null,
  minSurvivors: 3,
  threshold: 3,
  colluders: 0,
  discrete: null,
};

let counter = 0;
const stores: LocalStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

/** Ready, with a model and enough examples: eligible as soon as the person consents. */
async function setup() {
  const core = new RuntimeCore({ ...initialState({ defaultConsent: false, seed: null }), phase: 'ready', model: MODEL, examples: 10 });
  const store = await LocalStore.open({ name: `participation-test-${++counter}`, defaultConsent: false });
  stores.push(store);
  core.store = store;
  const device = { current: { lastInputAt: null, charging: null, metered: null, online: true } as DeviceSnapshot, idleForMs: () => Number.POSITIVE_INFINITY };
  const refreshModel = vi.fn(() => Promise.resolve());
  const onStored = vi.fn(() => Promise.resolve());
  const trainingSet = vi.fn(() => Promise.resolve(EXAMPLES));
  const participation = new Participation(core, {
    origin: 'http://127.0.0.1:1',
    policy: { minExamples: 5, idleMs: 0 },
    enrollment: { baseUrl: 'http://127.0.0.1:1', issuer: null },
    device,
    trainingSet,
    refreshModel,
    onStored,
  });
  core.set(await participation.open(store));
  const event = (e: ParticipationEvent) => participation.onEvent(e);
  return { core, store, device, participation, refreshModel, onStored, trainingSet, event };
}

/** A worker that accepts a participation session, and a stored identity good for a day more than the renewal margin. */
async function withSession(core: RuntimeCore, store: LocalStore) {
  const worker = new ScriptedWorker((r: ToWorker) => (r.type === 'participate' ? { type: 'participating' } : null));
  core.worker = new WorkerClient(worker);
  core.set({ calibration: CALIBRATION });
  const device = await generateSigningKeyPair();
  const service = await generateSigningKeyPair();
  await store.putIdentity({
    clientId: 'A'.repeat(22),
    certificate: 'mc1.e30.AA',
    privateKey: device.privateKey,
    publicKey: device.publicKey,
    issuer: { name: 'murmur-enrollment', publicKey: service.publicKey },
    issuerSource: 'first-use',
    enrolledAt: 1,
    expiresAtMs: Date.now() + 2 * 86_400_000,
  });
  const sent = (type: ToWorker['type']) => worker.requests.filter((r) => r.type === type);
  return { worker, sent };
}

describe('Participation', () => {
  it('reads the stored choices, this month’s uploads and the logs', async () => {
    const { store } = await setup();
    await store.putSettings({ consent: true, consentChangedAt: 5 });
    await store.putControls({ onlyUnmetered: false, onlyWhileCharging: true, monthlyUploadBudgetBytes: 10 * MEGABYTE, changedAt: 6 });
    await new UploadLedger(store).record(1_000);
    await store.addContribution(contribution);
    await store.putParticipation(participated);

    const { core, participation } = await setup();
    const opened = await participation.open(store);
    expect(opened.settings).toEqual({ consent: true, consentChangedAt: 5 });
    expect(opened.upload).toMatchObject({ usedBytes: 1_000, budgetBytes: 10 * MEGABYTE, month: core.state.upload.month });
    expect(opened.contributions).toEqual([{ ...contribution, id: 1 }]);
    expect(opened.participations).toEqual([participated]);
  });

  it('stores consent and controls and decides eligibility from them', async () => {
    const { core, store, participation } = await setup();
    participation.recomputeEligibility();
    expect(core.state.eligibility.state).toBe('off');
    await participation.setConsent(true);
    expect((await store.getSettings()).consent).toBe(true);
    expect(core.state.eligibility.state).toBe('eligible');

    await participation.setControls({ monthlyUploadBudgetBytes: 1 });
    expect((await store.getControls()).monthlyUploadBudgetBytes).toBe(1);
    expect(core.state.upload.budgetBytes).toBe(1);
    expect(core.state.eligibility).toMatchObject({ state: 'waiting', blocker: 'budget' });
  });

  it('puts consent back and says so when it cannot be stored', async () => {
    const { core, store, participation } = await setup();
    store.close();
    await participation.setConsent(true);
    expect(core.state.settings.consent).toBe(false);
    expect(core.state.notice).toMatchObject({ source: 'consent' });
  });

  it('bounds the next round’s upload by the largest plan it was sent, until the model changes size', async () => {
    const { core, participation, event } = await setup();
    participation.recomputeEligibility();
    expect(core.state.upload.nextRoundBytes).toBe(MODEL_BYTES);

    await event({ kind: 'selected', roundId: 'r1', round: 1, uploadBytes: MODEL_BYTES + 500 });
    expect(core.state.participation).toMatchObject({ roundId: 'r1', activity: 'Training on this device…' });
    await event({ kind: 'declined', roundId: 'r2', uploadBytes: MODEL_BYTES + 100, remainingBytes: 0 });
    expect(core.state.participation.roundId).toBeNull();
    expect(core.state.upload.nextRoundBytes).toBe(MODEL_BYTES + 500);

    participation.modelReplaced(MODEL, { ...MODEL, version: 4 });
    participation.recomputeEligibility();
    expect(core.state.upload.nextRoundBytes).toBe(MODEL_BYTES + 500);
    participation.modelReplaced(MODEL, { ...MODEL, parameters: 200 });
    participation.recomputeEligibility();
    expect(core.state.upload.nextRoundBytes).toBe(MODEL_BYTES);
  });

  it('shows training progress for the round in progress only', async () => {
    const { core, event } = await setup();
    await event({ kind: 'selected', roundId: 'r1', round: 1, uploadBytes: 0 });
    await event({ kind: 'progress', roundId: 'r0', step: 1, steps: 4 });
    expect(core.state.training).toBeNull();
    await event({ kind: 'progress', roundId: 'r1', step: 2, steps: 4 });
    expect(core.state.training).toEqual({ step: 2, steps: 4 });
    await event({ kind: 'trained', roundId: 'r1', numExamples: 10, seconds: 1.25, wasClipped: true });
    expect(core.state.training).toBeNull();
    expect(core.state.participation.detail).toBe('trained on 10 examples in 1.3 s (update clipped); secure aggregation');
  });

  it('records every uploaded byte in this month’s ledger', async () => {
    const { core, store, event } = await setup();
    await event({ kind: 'uploaded', bytes: 700, totalBytes: 700 });
    await event({ kind: 'uploaded', bytes: 300, totalBytes: 1_000 });
    await vi.waitFor(() => expect(core.state.upload.usedBytes).toBe(1_000));
    expect((await new UploadLedger(store).current()).usedBytes).toBe(1_000);
  });

  it('stores the rounds it trained for and its contributions, and recounts storage', async () => {
    const { core, store, onStored, event } = await setup();
    await event({ kind: 'participated', record: participated });
    await event({ kind: 'contribution', record: contribution });
    expect(core.state.participations).toEqual([participated]);
    expect(core.state.contributions).toEqual([{ ...contribution, id: 1 }]);
    expect(await store.listContributions()).toEqual(core.state.contributions);
    expect(onStored).toHaveBeenCalledTimes(2);
  });

  it('looks for a new model when the server names another one or a round commits', async () => {
    const { refreshModel, event } = await setup();
    await event({ kind: 'welcome', modelVersion: MODEL.version });
    await event({ kind: 'roundEnd', roundId: 'r1', status: 'aborted', modelVersion: MODEL.version });
    expect(refreshModel).not.toHaveBeenCalled();
    await event({ kind: 'welcome', modelVersion: MODEL.version + 1 });
    await event({ kind: 'roundEnd', roundId: 'r1', status: 'committed', modelVersion: MODEL.version + 1 });
    expect(refreshModel).toHaveBeenCalledTimes(2);
  });

  it('connects while the person consents and is eligible, with the examples to train on, and stops when consent goes', async () => {
    const { core, store, participation, trainingSet } = await setup();
    const { sent } = await withSession(core, store);
    await participation.setConsent(true);
    await vi.waitFor(() => expect(sent('participate')).toHaveLength(1));
    expect(sent('participate')[0]).toMatchObject({
      origin: 'http://127.0.0.1:1',
      identity: { certificate: 'mc1.e30.AA' },
      eligibility: { consent: true, idle: true, backend: 'wasm' },
      examples: { count: 2 },
      upload: { remainingBytes: 50 * MEGABYTE, accountedBytes: 0 },
    });
    expect(trainingSet).toHaveBeenCalledTimes(1);
    expect(core.state.participation.connection).toBe('connecting');

    await participation.setConsent(false);
    await vi.waitFor(() => expect(sent('stopParticipating')).toHaveLength(1));
    expect(core.state.participation).toEqual({ connection: 'off', activity: null, detail: null, roundId: null });
  });

  it('tells the session about new examples and a changed network', async () => {
    const { core, store, device, participation, trainingSet } = await setup();
    const { sent } = await withSession(core, store);
    await participation.setConsent(true);
    await vi.waitFor(() => expect(sent('participate')).toHaveLength(1));

    core.set({ examples: 12 });
    participation.recomputeEligibility();
    await vi.waitFor(() => expect(sent('updateParticipation')).toContainEqual(expect.objectContaining({ examples: expect.objectContaining({ count: 2 }) })));
    expect(trainingSet).toHaveBeenCalledTimes(2);

    device.current = { ...device.current, online: false };
    participation.onDeviceChange();
    expect(sent('updateParticipation')).toContainEqual(expect.objectContaining({ online: false }));
  });

  it('enrolls again when the aggregator does not accept the stored identity', async () => {
    const { core, store, participation, event } = await setup();
    const { sent } = await withSession(core, store);
    await participation.setConsent(true);
    await vi.waitFor(() => expect(sent('participate')).toHaveLength(1));

    await event({ kind: 'identityRejected', code: 'UNKNOWN_IDENTITY', message: 'expired' });
    expect(core.state.participation).toMatchObject({ connection: 'disconnected', activity: 'Registering this browser with the server again' });
    // The enrollment service is unreachable here: the stored identity is not reused in its place.
    await vi.waitFor(() =>
      expect(core.state.participation).toMatchObject({ activity: 'Cannot reach the Murmur server to register this browser; trying again shortly' }),
    );
    expect(sent('participate')).toHaveLength(1);
  });

  it('stays out for good once an operator revoked this device, even with a good stored identity', async () => {
    const { core, store, participation, trainingSet, event } = await setup();
    const { sent } = await withSession(core, store);
    await participation.setConsent(true);
    await vi.waitFor(() => expect(sent('participate')).toHaveLength(1));

    await event({ kind: 'identityRejected', code: 'REVOKED_IDENTITY', message: 'revoked by operator' });
    expect(core.state.participation).toMatchObject({ connection: 'off', activity: 'The Murmur server has removed this browser from training' });
    await participation.setConsent(false);
    await participation.setConsent(true);
    await vi.waitFor(() => expect(trainingSet).toHaveBeenCalledTimes(2));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent('participate')).toHaveLength(1);
    expect(sent('stopParticipating')).toHaveLength(0);
  });
});
