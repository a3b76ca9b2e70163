import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { packSecAgg, payloadBytes, type RoundPlan, type ServerEventPayload } from '@murmur/fl-core/protocol';
import { afterThisTest, DIMENSION, endings, gauge, harness, SPEC, UPDATE } from './coordinator-harness';
import { planAggregatorRound, roundStateFromJSON, roundStateToJSON, type RoundState } from './round-state';
import { DataStore } from './store';
import { eventually, tempDataDir, testConfig, testLogger } from './test-helpers';

/**
 * The coordinator's transitions without sockets or browsers (coordinator-harness.ts): in-process
 * SecAgg clients, fixed updates, so the sum, the mean and the ledger can be computed by hand.
 */

describe('RoundCoordinator transitions (no sockets)', () => {
  it('refuses to reveal a sum of fewer than minReports masked inputs although every SecAgg+ neighbourhood still has t holders', async () => {
    // n = 12, δ = 0.1%: a Harary graph of degree 10, threshold 6. Two clients leave before masking,
    // so each of the 10 left has ≥ 8 live share holders and SecAgg alone would unmask their sum;
    // the noise was calibrated to minReports = 11, so the round must abort instead.
    const { firstReport, store, refusals } = await harness(
      12,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'encryptedShares' } },
      { round: { target: 12, minReports: 11, secAggPlusFrom: 8, dropoutRate: 0.001 } },
    );
    const report = await firstReport();
    expect(refusals).toEqual([]);
    expect(report.secagg).toMatchObject({ graph: 'harary', degree: 10, threshold: 6 });
    expect(report.status).toBe('aborted');
    expect(report.abort).toEqual({ code: 'BELOW_THRESHOLD', message: 'round 1: 10 masked inputs, need minReports 11' });
    expect(report.cohort).toMatchObject({ selected: 12, masked: 10, unmasked: 0 });
    expect(report.privacy.recordedNoiseMultiplier).toBeNull();
    expect(store.ledger.entries).toHaveLength(0);
    expect(store.modelVersion).toBe(0);
  });

  it("records the survivors' noise in the ledger and divides the sum by the planned m, not by the reports", async () => {
    // 7 selected of 7 (q = 1, m = 7), minReports 4: each client adds σC/√4. Client 0 leaves before
    // masking, client 1 after: its input is still in the sum of 6, which carries σC·√(6/4).
    const { firstReport, store } = await harness(
      7,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'unmaskRequest' } },
      { round: { target: 7, minReports: 4 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1 } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    // The commit's head.json holds the ledger now: the release record written at unmasking is gone.
    expect(existsSync(join(store.dir, 'released.json'))).toBe(false);
    expect(report.cohort).toMatchObject({ selected: 7, masked: 6, unmasked: 5 });
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(Math.sqrt(6 / 4), 12);
    const independent = new PrivacyLedger();
    independent.record({ round: 1, samplingRate: 1, noiseMultiplier: Math.sqrt(6 / 4) });
    expect(report.privacy.epsilon).toBeCloseTo(independent.epsilon(1e-5).epsilon, 9);
    expect(store.ledger.entries).toEqual([{ round: 1, samplingRate: 1, noiseMultiplier: report.privacy.recordedNoiseMultiplier, steps: 1 }]);
    // FedAvg at learning rate 1 from zero weights: 6 inputs of 0.01 over m = 7 (0.008571…), not over 6 (0.01).
    // Stochastic rounding moves the sum by under 6/scale per coordinate.
    for (const w of store.weights) expect(w).toBeCloseTo((6 * UPDATE) / 7, 5);
  });

  it('keeps the ledger entry of a sum refused after unmasking (REJECTED_SUM): it was released all the same', async () => {
    // Client 2 sends coordinates of 0.9 (norm 0.9·√530 ≈ 20.7 > C = 1, each within the encoding's range): the decoded mean leaves the bounds.
    const { firstReport, store } = await harness(5, { 2: { update: 0.9 } }, { round: { target: 5, minReports: 4 } });
    const report = await firstReport();
    expect(report.status).toBe('aborted');
    expect(report.abort?.code).toBe('REJECTED_SUM');
    expect(report.abort?.message).toMatch(/^round 1: .+/);
    expect(report.cohort).toMatchObject({ masked: 5, unmasked: 5 });
    expect(store.modelVersion).toBe(0);
    // 5 inputs, k_min = 4: σ·√(5/4) with σ = 0.02.
    expect(store.ledger.entries).toEqual([{ round: 1, samplingRate: 1, noiseMultiplier: report.privacy.recordedNoiseMultiplier, steps: 1 }]);
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(0.02 * Math.sqrt(5 / 4), 12);
  });

  it('keeps the ledger entry when the commit fails after unmasking (an exception), and leaves the model', async () => {
    const { firstReport, store, logs } = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { failingGate: true });
    const report = await firstReport();
    expect(report.status).toBe('aborted');
    expect(report.abort).toEqual({ code: 'INTERNAL', message: 'round 1: disk full while writing the release state' });
    // The operator's log names it as unexpected, with the error.
    expect(logs.filter((line) => line['msg'] === 'round failed unexpectedly; model untouched')).toEqual([
      expect.objectContaining({ level: 50, err: expect.objectContaining({ message: 'disk full while writing the release state' }) }),
    ]);
    expect(store.modelVersion).toBe(0);
    expect(store.ledger.entries).toHaveLength(1);
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(0.02 * Math.sqrt(5 / 4), 12);
  });

  it('keeps the ledger entry of a sum unmasked just before the process was killed: the restart records the round as INTERRUPTED', async () => {
    const snapshot = tempDataDir();
    afterThisTest(() => snapshot.remove());
    const { firstReport } = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { crashSnapshot: snapshot.dir });
    await firstReport();
    // The disk as the kill left it: no round record, head.json from before the round.
    expect(existsSync(join(snapshot.dir, 'rounds', '00000001.json'))).toBe(false);
    const restarted = DataStore.open(
      snapshot.dir,
      () => {
        throw new Error('the data directory exists');
      },
      testLogger(),
    );
    expect(restarted.nextRound).toBe(2);
    expect(restarted.modelVersion).toBe(0);
    const [record] = restarted.rounds;
    expect(record).toMatchObject({
      round: 1,
      status: 'aborted',
      abort: { code: 'INTERRUPTED', message: 'round 1: the aggregator stopped after unmasking the sum' },
    });
    // 5 inputs were unmasked, k_min = 4: the same entry a finished round would have written.
    expect(restarted.ledger.entries).toEqual([{ round: 1, samplingRate: 1, noiseMultiplier: record?.privacy.recordedNoiseMultiplier, steps: 1 }]);
    expect(record?.privacy.recordedNoiseMultiplier).toBeCloseTo(0.02 * Math.sqrt(5 / 4), 12);
    expect(existsSync(join(snapshot.dir, 'released.json'))).toBe(false);
    // Opened again: recorded once, not twice.
    const again = DataStore.open(
      snapshot.dir,
      () => {
        throw new Error('the data directory exists');
      },
      testLogger(),
    );
    expect(again.ledger.entries).toHaveLength(1);
    expect(again.rounds).toHaveLength(1);
  });

  it('keeps its per-round state as plain data: every phase of a running round survives a JSON round trip', async () => {
    const { firstReport, states, coordinator } = await harness(
      12,
      {},
      { round: { target: 12, minReports: 8, secAggPlusFrom: 8, dropoutRate: 0.001 }, privacy: { adaptiveClipping: {} } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(coordinator.roundState).toBeNull();
    // One snapshot per phase change inside the round, each decoded from JSON text by roundStateFromJSON.
    expect(states.length).toBeGreaterThanOrEqual(5);
    const last = states.at(-1) as RoundState;
    expect(last.plan.secagg.graph.kind).toBe('harary');
    expect(last.plan.privacy.clipIndicatorNoiseStdDev).toBeDefined();
    expect(last.members).toHaveLength(12);
    expect(last.funnel).toEqual({ eligible: 12, selected: 12, advertised: 12, shared: 12, masked: 12, unmasked: 12 });
  });
});

describe('roundStateToJSON / roundStateFromJSON', () => {
  it('round-trips a state with a SecAgg+ seed exactly, and refuses a malformed one by field', () => {
    const data = tempDataDir();
    afterThisTest(() => data.remove());
    const config = testConfig(data.dir, { round: { secAggPlusFrom: 8, dropoutRate: 0.001 }, privacy: { adaptiveClipping: {} } });
    const live = { target: 12, overSelection: 1, minReports: 8, pauseMs: 50, checkinMs: 300, training: config.training, clipNorm: 1, noiseMultiplier: 0.5 };
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const plan = planAggregatorRound({
      config,
      live,
      round: 4,
      roundId: 'r4-0a0b0c0d',
      base: { version: 3, hash: 'ab'.repeat(32), weights: { length: DIMENSION } },
      spec: SPEC,
      clientCount: 12,
      samplingRate: 0.5,
      population: 24,
      graphSeed: seed,
      authenticated: true,
    });
    const state: RoundState = {
      round: 4,
      roundId: 'r4-0a0b0c0d',
      startedAt: '2026-12-04T15:00:00.000Z',
      plan,
      live,
      planRevision: 2,
      base: { version: 3, hash: 'ab'.repeat(32) },
      members: Array.from({ length: 12 }, (_, i) => ({ tokenId: `t${i}`, backend: 'wasm' })),
      eligible: 24,
      samplingRate: 0.5,
      funnel: { eligible: 24, selected: 12, advertised: 12, shared: 11, masked: 0, unmasked: 0 },
      dropouts: { shareKeys: { silent: 1, disconnected: 0 } },
      bytes: { received: 1234, sent: 5678 },
      durationsMs: { advertiseKeys: 12.5 },
      backends: { wasm: 12 },
    };
    const text = JSON.stringify(roundStateToJSON(state));
    expect(text).toContain(Buffer.from(seed).toString('hex'));
    expect(roundStateFromJSON(JSON.parse(text))).toEqual(state);
    expect(() => roundStateFromJSON({ ...JSON.parse(text), samplingRate: 2 })).toThrow(/samplingRate/);
    // The seed is exactly 32 bytes of lowercase hex: anything around, short of or beside that is refused.
    const hex = Buffer.from(seed).toString('hex');
    const withSeed = (value: string) => {
      const json = JSON.parse(text) as { plan: { secagg: { graph: Record<string, unknown> } } };
      json.plan.secagg.graph['seed'] = value;
      return json;
    };
    for (const bad of [`0${hex}`, `${hex}0`, hex.slice(2), hex.toUpperCase(), `zz${hex.slice(2)}`, '']) {
      expect(() => roundStateFromJSON(withSeed(bad))).toThrow(/seed/);
    }
    expect(roundStateFromJSON(withSeed(hex))).toEqual(state);
  });

  it('plans what every member is sent: the base model to download, how to train, the deadlines, and participant 0 as the template', () => {
    const data = tempDataDir();
    afterThisTest(() => data.remove());
    const config = testConfig(data.dir, { round: { evaluationFraction: 0.25 } });
    const live = { target: 6, overSelection: 1, minReports: 4, pauseMs: 50, checkinMs: 300, training: config.training, clipNorm: 1, noiseMultiplier: 0.5 };
    const plan = planAggregatorRound({
      config,
      live,
      round: 9,
      roundId: 'r9-01020304',
      base: { version: 7, hash: 'cd'.repeat(32), weights: { length: DIMENSION } },
      spec: SPEC,
      clientCount: 6,
      samplingRate: 1,
      population: 6,
      graphSeed: new Uint8Array(32),
      authenticated: false,
    });
    expect(plan).toMatchObject({
      roundId: 'r9-01020304',
      round: 9,
      model: { version: 7, hash: 'cd'.repeat(32), url: '/api/model/7', spec: SPEC },
      participantId: 0,
      training: config.training,
      evaluationFraction: 0.25,
      deadlines: config.round.deadlines,
    });
    expect(plan.secagg.clientCount).toBe(6);
  });
});

describe('RoundCoordinator decisions: what members are told, what the record says', () => {
  it('tells every member of a refused (BELOW_THRESHOLD) round that it ended, unmasks nothing and benches those who left', async () => {
    const { firstReport, sentTo, tokens, coordinator, metrics } = await harness(
      12,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'encryptedShares' } },
      { round: { target: 12, minReports: 11, secAggPlusFrom: 8, dropoutRate: 0.001 } },
    );
    const report = await firstReport();
    const reason = { code: 'BELOW_THRESHOLD', message: 'round 1: 10 masked inputs, need minReports 11' };
    // Both left after the keys were shared: the masked-input stage closed without them, disconnected.
    expect(report.dropouts).toEqual({
      advertiseKeys: { silent: 0, disconnected: 0 },
      shareKeys: { silent: 0, disconnected: 0 },
      maskedInput: { silent: 0, disconnected: 2 },
    });
    expect(report.modelVersion).toEqual({ from: 0, to: 0 });
    expect(Object.keys(report.durationsMs).sort()).toEqual(['advertiseKeys', 'maskedInput', 'shareKeys']);
    expect(report.planRevision).toBe(0);
    expect(report.backends).toEqual({ cpu: 12 });
    for (const token of tokens) {
      const { roundEnd, secaggTypes, aborts } = endings(sentTo, token);
      expect(roundEnd).toEqual([{ roundId: report.roundId, round: 1, status: 'aborted', modelVersion: 0, reason }]);
      // Nobody is asked to unmask a sum the round refused; each is told in SecAgg's own terms.
      expect(secaggTypes).not.toContain('unmaskRequest');
      expect(aborts).toEqual([{ type: 'abort', roundId: report.roundId, reason }]);
      expect(sentTo(token, 'roundPlan')).toHaveLength(1);
    }
    expect(await gauge(metrics.rounds, { status: 'aborted' })).toBe(1);
    expect(await gauge(metrics.dropouts, { phase: 'maskedInput', reason: 'disconnected' })).toBe(2);
    expect(await gauge(metrics.dropouts, { phase: 'maskedInput', reason: 'silent' })).toBeUndefined();
    // The two who left sit out the next selections; the others may check in again at once.
    for (const token of ['token-00', 'token-01']) {
      const answer = coordinator.checkIn(token, { consent: true, backend: 'cpu' });
      expect(answer).toMatchObject({
        status: 'ineligible',
        reason: { code: 'BENCHED', message: 'checkIn: selected and silent in maskedInput; not selected for another 60 s' },
      });
      expect(answer.retryAfterMs).toBeGreaterThan(59_000);
      expect(answer.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    expect(coordinator.checkIn('token-02', { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
  });

  it('tells every member of a committed round the new version, and records who went silent apart from who disconnected', async () => {
    const testStarted = Date.now();
    const { firstReport, sentTo, sent, accepted, tokens, store, coordinator, metrics } = await harness(
      6,
      { 0: { muteOn: 'encryptedShares' } },
      {
        // minReports 5: the 5 masked inputs are exactly enough.
        round: {
          target: 6,
          minReports: 5,
          deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 3_000, unmaskingMs: 5_000 },
        },
      },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(report.modelVersion).toEqual({ from: 0, to: 1 });
    expect(store.modelVersion).toBe(1);
    // Client 0 stayed connected but never masked: silent, not disconnected (the refused round above had both leave).
    expect(report.dropouts).toEqual({
      advertiseKeys: { silent: 0, disconnected: 0 },
      shareKeys: { silent: 0, disconnected: 0 },
      maskedInput: { silent: 1, disconnected: 0 },
      unmasking: { silent: 0, disconnected: 0 },
    });
    expect(report.cohort).toEqual({ eligible: 6, selected: 6, advertised: 6, shared: 6, masked: 5, unmasked: 5 });
    // Below secAggPlusFrom: every member holds a share of every other's secrets; the record says what members were told.
    const [plan] = sentTo('token-05', 'roundPlan') as RoundPlan[];
    expect(report.secagg).toEqual({ graph: 'full', degree: 5, threshold: plan?.secagg.threshold, modulusBits: 32, vectorLength: plan?.secagg.vectorLength });
    // The base is version 0 (its hash is the one of the zero weights the store opened with).
    expect(plan?.model).toEqual({ version: 0, hash: expect.stringMatching(/^[0-9a-f]{64}$/), url: '/api/model/0', spec: SPEC });
    expect(plan?.participantId).toBe(5);
    expect(Object.keys(report.durationsMs).sort()).toEqual(['advertiseKeys', 'aggregate', 'maskedInput', 'shareKeys', 'unmasking']);
    // Each stage's duration is a part of the round's own wall time; the aggregate step ends after endedAt is taken.
    const elapsed = Date.now() - testStarted;
    for (const [stage, ms] of Object.entries(report.durationsMs)) {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(stage === 'aggregate' ? elapsed : Date.parse(report.endedAt) - Date.parse(report.startedAt) + 1);
    }
    // Bytes as the transport counts them: every accepted message in, every message out before the record (all but roundEnd).
    const received = accepted.reduce((total, { message }) => total + payloadBytes(packSecAgg(message)), 0);
    const sentBytes = sent.filter((s) => s.event !== 'roundEnd').reduce((total, s) => total + payloadBytes(s.payload as ServerEventPayload<'secagg'>), 0);
    expect(report.bytes).toEqual({ received, sent: sentBytes });
    for (const token of tokens) {
      const { roundEnd, aborts } = endings(sentTo, token);
      expect(roundEnd).toEqual([{ roundId: report.roundId, round: 1, status: 'committed', modelVersion: 1 }]);
      expect(aborts).toEqual([]);
    }
    // Only the members whose input is in the sum were asked to unmask.
    expect(tokens.filter((token) => endings(sentTo, token).secaggTypes.includes('unmaskRequest'))).toEqual(tokens.slice(1));
    expect(await gauge(metrics.rounds, { status: 'committed' })).toBe(1);
    expect(await gauge(metrics.dropouts, { phase: 'maskedInput', reason: 'silent' })).toBe(1);
    expect(await gauge(metrics.dropouts, { phase: 'maskedInput', reason: 'disconnected' })).toBeUndefined();
    expect(await gauge(metrics.funnel, { stage: 'masked' })).toBe(5);
    expect(await gauge(metrics.funnel, { stage: 'selected' })).toBe(6);
    expect(await gauge(metrics.modelVersion)).toBe(1);
    expect(coordinator.checkIn('token-00', { consent: true, backend: 'cpu' })).toMatchObject({
      status: 'ineligible',
      reason: { code: 'BENCHED', message: 'checkIn: selected and silent in maskedInput; not selected for another 60 s' },
    });
    expect(coordinator.checkIn('token-05', { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
  });

  it('answers check-ins: no consent leaves the pool, a paused aggregator says so, and a resumed one takes them again', async () => {
    const { firstReport, coordinator, metrics } = await harness(5, {}, { round: { target: 5, minReports: 4 } });
    await firstReport();
    const size = coordinator.poolSize;
    expect(coordinator.checkIn('late', { consent: true, backend: 'wasm' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    expect(coordinator.poolSize).toBe(size + 1);
    expect(coordinator.checkIn('late', { consent: false, backend: 'wasm' })).toEqual({
      status: 'ineligible',
      reason: { code: 'NOT_ELIGIBLE', message: 'checkIn: no consent' },
      retryAfterMs: 60_000,
    });
    expect(coordinator.poolSize).toBe(size);
    coordinator.pause();
    expect(coordinator.paused).toBe(true);
    expect(coordinator.checkIn('late', { consent: true, backend: 'wasm' })).toEqual({ status: 'paused', retryAfterMs: 5_000 });
    expect(coordinator.poolSize).toBe(size);
    coordinator.resume();
    expect(coordinator.paused).toBe(false);
    expect(coordinator.checkIn('late', { consent: true, backend: 'wasm' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    // Counted as checked in: the 5 of the round, then 'late' twice (not the refused or paused answers).
    expect(await gauge(metrics.funnel, { stage: 'checked_in' })).toBe(7);
    await coordinator.stop();
    expect(coordinator.checkIn('later', { consent: true, backend: 'wasm' })).toEqual({ status: 'paused', retryAfterMs: 5_000 });
  });

  it('steers the pace: beyond poolFactor × the wanted cohort, check-ins are told to come back at a CSPRNG-uniform time', async () => {
    // Wanted 5 and minReports 5 with 4 clients: no round opens, so the pool only grows by check-ins.
    const pace = { poolFactor: 1, fromMs: 1_000, toMs: 3_000 };
    const { coordinator, metrics } = await harness(4, {}, { round: { target: 5, overSelection: 1, minReports: 5, paceSteering: pace } });
    expect(coordinator.checkIn('fifth', { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    const later = Array.from({ length: 300 }, (_, i) => coordinator.checkIn(`extra-${i}`, { consent: true, backend: 'cpu' }));
    expect(new Set(later.map((answer) => answer.status))).toEqual(new Set(['later']));
    const delays = later.map((answer) => answer.retryAfterMs);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(3_000);
    // Spread over the window, not one time for all: every quarter of it is used.
    for (let quarter = 0; quarter < 4; quarter++) expect(delays.some((ms) => ms >= 1_000 + quarter * 500 && ms < 1_500 + quarter * 500)).toBe(true);
    expect(coordinator.poolSize).toBe(5);
    // A client already waiting keeps its place.
    expect(coordinator.checkIn('token-00', { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    expect(await gauge(metrics.paced)).toBe(300);
  });

  it('sizes the pace-steering pool on the over-selected cohort: poolFactor × ⌈target × overSelection⌉; a window of one instant is that time', async () => {
    // ⌈3 × 2⌉ = 6 waiting clients before `later`; minReports 7 keeps any round from opening.
    const pace = { poolFactor: 1, fromMs: 2_000, toMs: 2_000 };
    const { coordinator } = await harness(4, {}, { round: { target: 3, overSelection: 2, minReports: 7, paceSteering: pace } });
    expect(coordinator.checkIn('fifth', { consent: true, backend: 'cpu' }).status).toBe('waiting');
    expect(coordinator.checkIn('sixth', { consent: true, backend: 'cpu' }).status).toBe('waiting');
    expect(coordinator.checkIn('seventh', { consent: true, backend: 'cpu' })).toEqual({ status: 'later', retryAfterMs: 2_000 });
    expect(coordinator.poolSize).toBe(6);
  });

  it('pools every check-in with pace steering off (poolFactor 0)', async () => {
    const { coordinator } = await harness(4, {}, { round: { target: 5, overSelection: 1, minReports: 5, paceSteering: { poolFactor: 0 } } });
    for (let i = 0; i < 20; i++) expect(coordinator.checkIn(`extra-${i}`, { consent: true, backend: 'cpu' }).status).toBe('waiting');
    expect(coordinator.poolSize).toBe(24);
  });

  it('aborts a round it is stopped in (SHUTTING_DOWN), without waiting for its deadlines, and tells the members', async () => {
    // Deadlines of 10 minutes: stages close because every member answered (or on stop), never on time.
    const long = { advertiseKeysMs: 600_000, shareKeysMs: 600_000, maskedInputMs: 600_000, unmaskingMs: 600_000 };
    const { coordinator, sentTo, store, tokens } = await harness(
      5,
      { 0: { muteOn: 'encryptedShares' } },
      { round: { target: 5, minReports: 4, deadlines: long } },
    );
    await eventually(() => (coordinator.phase === 'maskedInput' ? true : undefined), 30_000, 'the masked-input stage');
    await coordinator.stop();
    const [record] = store.rounds;
    expect(record).toMatchObject({ status: 'aborted', abort: { code: 'SHUTTING_DOWN', message: 'round 1: the aggregator is shutting down' } });
    expect(record?.cohort).toMatchObject({ advertised: 5, shared: 5 });
    for (const token of tokens) expect(sentTo(token, 'roundEnd')).toMatchObject([{ status: 'aborted', reason: { code: 'SHUTTING_DOWN' } }]);
  });

  it('answers a member that checks in again during its round "waiting", without putting it back in the pool', async () => {
    const { firstReport, memberCheckIns, coordinator } = await harness(4, { 2: { checkInOnPlan: true } }, { round: { target: 4, minReports: 4 } });
    const report = await firstReport();
    // 4 clients, minReports 4: a draw of exactly minReports opens the round.
    expect(report.status).toBe('committed');
    expect(memberCheckIns).toEqual([{ answer: { status: 'waiting', retryAfterMs: 0 }, poolSize: 0 }]);
    expect(coordinator.poolSize).toBe(0);
  });

  it('refuses SecAgg messages from outside the cohort, for a finished round and with no round running', async () => {
    const { firstReport, refusals, refusalErrors, accepted, coordinator } = await harness(
      5,
      { 3: { echoAs: 'stranger' } },
      { round: { target: 5, minReports: 4 } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(refusals).toEqual(['stranger: NOT_IN_COHORT']);
    expect(refusalErrors).toEqual([{ code: 'NOT_IN_COHORT', message: "secagg advertiseKeys: this client is not in round 1's cohort" }]);
    const first = accepted[0];
    if (!first) throw new Error('no message was accepted');
    const bytes = payloadBytes(packSecAgg(first.message));
    expect(await coordinator.handleSecAgg(first.tokenId, first.message, bytes)).toEqual({
      code: 'STALE_ROUND',
      message: `secagg ${first.message.type}: round ${report.roundId} is over`,
    });
    const unknownRound = { ...first.message, roundId: 'r9-00000000' };
    expect(await coordinator.handleSecAgg(first.tokenId, unknownRound, bytes)).toEqual({
      code: 'NO_ROUND',
      message: `secagg ${first.message.type}: no round is running`,
    });
  });

  it('opens no round that could pass the ε budget: nobody is drawn or told, check-ins are paused until the budget or the plan changes', async () => {
    const { firstReport, coordinator, sent, store, metrics, reports } = await harness(
      5,
      {},
      { round: { target: 5, minReports: 4, pauseMs: 50 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.02, epsilonBudget: 1 } },
    );
    await eventually(() => (coordinator.budgetExhausted ? true : undefined), 30_000, 'the budget hold');
    await eventually(() => (coordinator.phase === 'paused' ? true : undefined), 30_000, 'the paused phase');
    expect(sent).toEqual([]);
    expect(reports).toEqual([]);
    expect(store.ledger.entries).toEqual([]);
    expect(coordinator.poolSize).toBe(5);
    expect(coordinator.checkIn('late', { consent: true, backend: 'cpu' })).toEqual({ status: 'paused', retryAfterMs: 5_000 });
    expect(await gauge(metrics.budgetExhausted)).toBe(1);
    expect(await gauge(metrics.budgetRefusals)).toBe(1);
    const projection = coordinator.budgetProjection();
    expect(projection.allowed).toBe(false);
    expect(projection.next).toBeGreaterThan(1);
    // A budget still too small changes nothing but the count of refusals.
    coordinator.setEpsilonBudget(2);
    await eventually(async () => ((await gauge(metrics.budgetRefusals)) === 2 ? true : undefined), 30_000, 'the second refusal');
    expect(coordinator.budgetExhausted).toBe(true);
    expect(sent).toEqual([]);
    // σ = 50 costs ε ≈ 0.1 for one round at q = 1: the plan fits, the same clients are drawn, and the record names the revision.
    coordinator.setPlan({ ...coordinator.plan, noiseMultiplier: 50 }, 3);
    expect(coordinator.budgetExhausted).toBe(false);
    expect(await gauge(metrics.budgetExhausted)).toBe(0);
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(report.planRevision).toBe(3);
    expect(report.privacy.epsilon).toBeLessThan(2);
    expect(store.ledger.entries).toHaveLength(1);
  });
});

describe('RoundCoordinator selection and what its log may say', () => {
  it('draws at q = expected cohort / N from the configured population: the unselected keep waiting, the ledger records q', async () => {
    const { firstReport, coordinator, sentTo, tokens, store } = await harness(
      12,
      {},
      {
        round: { target: 12, minReports: 4, secAggPlusFrom: 100, pauseMs: 50 },
        privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.02, population: 24 },
      },
    );
    const report = await firstReport();
    const drawn = tokens.filter((token) => sentTo(token, 'roundPlan').length > 0);
    expect(report.cohort.eligible).toBe(12);
    expect(report.cohort.selected).toBe(drawn.length);
    expect(drawn.length).toBeGreaterThanOrEqual(4);
    expect(coordinator.poolSize).toBe(12 - drawn.length);
    expect(store.ledger.entries[0]?.samplingRate).toBe(0.5);
    expect(report.privacy.samplingRate).toBe(0.5);
  });

  it('after a rejected sum, samples at most participation.rejectedSamplingCap of the candidates (and the ledger records that q)', async () => {
    const { firstReport, coordinator, tokens, store, reports } = await harness(
      12,
      { 2: { update: 0.9 } },
      { round: { target: 12, minReports: 4, secAggPlusFrom: 100, pauseMs: 50 }, participation: { rejectedSamplingCap: 0.5 } },
    );
    const first = await firstReport();
    expect(first.abort?.code).toBe('REJECTED_SUM');
    expect(store.ledger.entries[0]?.samplingRate).toBe(1);
    for (const token of tokens) expect(coordinator.checkIn(token, { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    await eventually(() => reports[1], 60_000, 'the second round record');
    expect(store.ledger.entries[1]?.samplingRate).toBe(0.5);
  });

  it('a diverged server step aborts (DIVERGED) with its ledger entry, but is no rejected sum: the next round still samples every candidate', async () => {
    // Infinite base weights: any step from them is non-finite.
    const { firstReport, coordinator, tokens, store, reports } = await harness(
      6,
      {},
      { round: { target: 6, minReports: 4, pauseMs: 50 }, participation: { rejectedSamplingCap: 0.5 } },
      { initialWeight: Number.POSITIVE_INFINITY },
    );
    const first = await firstReport();
    expect(first.abort).toEqual({ code: 'DIVERGED', message: 'round 1: the server step produced non-finite weights' });
    expect(store.ledger.entries).toHaveLength(1);
    for (const token of tokens) expect(coordinator.checkIn(token, { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    await eventually(() => reports[1], 60_000, 'the second round record');
    expect(store.ledger.entries[1]?.samplingRate).toBe(1);
  });

  it("logs exact counts only when privacy is off: the cohort, the silent and the survivors stay out of a noised round's log", async () => {
    const scenario = { 0: { dropOn: 'encryptedShares' as const } };
    const round = { target: 5, minReports: 4 };
    const off = await harness(5, scenario, { round, privacy: { mode: 'off', noiseMultiplier: 0 } });
    const offReport = await off.firstReport();
    expect(offReport.status).toBe('committed');
    const [plan] = off.sentTo('token-01', 'roundPlan') as RoundPlan[];
    const said = (logs: Record<string, unknown>[], msg: string) => logs.filter((line) => line['msg'] === msg);
    expect(said(off.logs, 'round started')).toEqual([
      expect.objectContaining({ round: 1, eligible: 5, selected: 5, threshold: plan?.secagg.threshold, graph: 'full', trainingBase: 0, planRevision: 0 }),
    ]);
    expect(said(off.logs, 'phase closed without some clients; they sit out a while')).toEqual([
      expect.objectContaining({ round: 1, stage: 'maskedInput', silent: 1 }),
    ]);
    expect(said(off.logs, 'round committed')).toEqual([expect.objectContaining({ round: 1, modelVersion: 1, trainedFrom: 0, survivors: 4 })]);

    const noised = await harness(5, scenario, { round });
    expect((await noised.firstReport()).status).toBe('committed');
    const [started] = said(noised.logs, 'round started');
    expect(started).toMatchObject({ round: 1, eligible: 5, graph: 'full' });
    expect(started).not.toHaveProperty('selected');
    expect(started).not.toHaveProperty('threshold');
    expect(said(noised.logs, 'phase closed without some clients; they sit out a while')).toEqual([]);
    const [committed] = said(noised.logs, 'round committed');
    expect(committed).toMatchObject({ round: 1, modelVersion: 1 });
    expect(committed).not.toHaveProperty('survivors');
  });

  it('opens no round when the Poisson draw falls below minReports: nobody is told, the candidates keep waiting', async () => {
    // q = 6/10⁹: the draw is empty (all but surely), so no SecAgg server is ever configured.
    const { coordinator, sent, reports, logs } = await harness(
      6,
      {},
      { round: { target: 6, minReports: 4, pauseMs: 50 }, privacy: { mode: 'off', noiseMultiplier: 0, population: 1_000_000_000 } },
    );
    const said = () => logs.filter((line) => line['msg'] === 'Poisson draw below minReports: no round this time');
    await eventually(() => (said().length >= 2 ? true : undefined), 30_000, 'two empty draws');
    expect(said()[0]).toMatchObject({ round: 1, eligible: 6, selected: 0, minReports: 4 });
    expect(sent).toEqual([]);
    expect(reports).toEqual([]);
    expect(coordinator.poolSize).toBe(6);
  });

  it('caps each network at round.maxPerNetwork: those drawn beyond it keep waiting, and the log says how many', async () => {
    // Wanted 7: the check-in window waits for the three clients of one network to join the four.
    const { firstReport, coordinator, logs, metrics, sentTo } = await harness(
      4,
      {},
      { round: { target: 7, minReports: 4, maxPerNetwork: 2, checkinMs: 5_000 }, privacy: { mode: 'off', noiseMultiplier: 0 } },
    );
    for (const name of ['net-a-1', 'net-a-2', 'net-a-3']) coordinator.checkIn(name, { consent: true, backend: 'cpu' }, '203.0.113.0/24');
    const report = await firstReport();
    expect(report.cohort).toMatchObject({ eligible: 7, selected: 6 });
    expect(['net-a-1', 'net-a-2', 'net-a-3'].filter((name) => sentTo(name, 'roundPlan').length > 0)).toHaveLength(2);
    expect(coordinator.poolSize).toBe(1);
    expect(logs.filter((line) => line['msg'] === 'cohort cap per network: clients drawn beyond it are not selected this round')).toEqual([
      expect.objectContaining({ round: 1, maxPerNetwork: 2, capped: 1 }),
    ]);
    expect(await gauge(metrics.cappedByNetwork)).toBe(1);
  });

  it('closes each stage as soon as every member answered, however long its deadline', async () => {
    const long = { advertiseKeysMs: 600_000, shareKeysMs: 600_000, maskedInputMs: 600_000, unmaskingMs: 600_000 };
    const { firstReport } = await harness(5, {}, { round: { target: 5, minReports: 4, deadlines: long } });
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(Date.parse(report.endedAt) - Date.parse(report.startedAt)).toBeLessThan(60_000);
  });

  it("counts a stage's silent and disconnected members apart when both happen in one stage", async () => {
    const { firstReport, metrics } = await harness(
      6,
      { 0: { muteOn: 'encryptedShares' }, 1: { dropOn: 'encryptedShares' } },
      { round: { target: 6, minReports: 4, deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 3_000, unmaskingMs: 5_000 } } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(report.dropouts?.['maskedInput']).toEqual({ silent: 1, disconnected: 1 });
    expect(await gauge(metrics.dropouts, { phase: 'maskedInput', reason: 'silent' })).toBe(1);
    expect(await gauge(metrics.dropouts, { phase: 'maskedInput', reason: 'disconnected' })).toBe(1);
  });

  it('times the aggregate and commit steps in the phase histogram, and a commit clears the rejected-sum cap for the next round', async () => {
    const testStarted = Date.now();
    const { firstReport, coordinator, tokens, store, reports, metrics } = await harness(
      6,
      {},
      { round: { target: 6, minReports: 4, pauseMs: 50 }, participation: { rejectedSamplingCap: 0.5 } },
    );
    const first = await firstReport();
    expect(first.status).toBe('committed');
    const observed = async (phase: string, suffix: 'count' | 'sum') =>
      (await metrics.phaseSeconds.get()).values.find((v) => v.metricName === `murmur_phase_duration_seconds_${suffix}` && v.labels['phase'] === phase)?.value;
    // Both steps run after the record's endedAt is taken (the aggregate step takes it): bounded by the test's own clock.
    const wall = (Date.now() - testStarted) / 1000;
    for (const phase of ['aggregate', 'commit']) {
      expect(await observed(phase, 'count')).toBe(1);
      expect(await observed(phase, 'sum')).toBeGreaterThan(0);
      expect(await observed(phase, 'sum')).toBeLessThanOrEqual(wall + 0.001);
    }
    expect(await observed('aggregate', 'sum')).toBeCloseTo((first.durationsMs['aggregate'] ?? Number.NaN) / 1000, 9);
    for (const token of tokens) expect(coordinator.checkIn(token, { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    await eventually(() => reports[1], 60_000, 'the second round record');
    expect(store.ledger.entries[1]?.samplingRate).toBe(1);
  });
});
