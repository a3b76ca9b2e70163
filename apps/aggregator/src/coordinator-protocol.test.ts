import { describe, expect, it } from 'vitest';
import { packSecAgg, payloadBytes, type RoundPlan } from '@murmur/fl-core/protocol';
import { defaultSuite, secAggServerStep, type SecAggServerState, type SecAggServerStepResult } from '@murmur/fl-core/secagg';
import { endings, gauge, harness } from './coordinator-harness';
import { eventually } from './test-helpers';

/**
 * The coordinator's side of the SecAgg protocol that coordinator.test.ts does not drive: the
 * authenticated protocol (an enrollment issuer, Round 3), a SecAgg server that aborts a round on its
 * own, the off-thread unmasking close, a message that waited on the lock while its round ended,
 * and members who reconnect.
 */

const LONG = { advertiseKeysMs: 600_000, shareKeysMs: 600_000, maskedInputMs: 600_000, unmaskingMs: 600_000 };

describe('RoundCoordinator and the SecAgg protocol', () => {
  it('runs the authenticated protocol with an enrollment issuer: Round 3 runs, is timed and logged, and the round commits', async () => {
    const { firstReport, sentTo, tokens, logs, phases, metrics } = await harness(
      5,
      {},
      { round: { target: 5, minReports: 4, deadlines: LONG }, privacy: { mode: 'off', noiseMultiplier: 0 } },
      { enrolled: true },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    for (const token of tokens) {
      const [plan] = sentTo(token, 'roundPlan') as RoundPlan[];
      expect(plan?.secagg.authenticated).toBe(true);
      expect(endings(sentTo, token).secaggTypes).toContain('consistencyRequest');
    }
    expect(Object.keys(report.durationsMs).sort()).toEqual(['advertiseKeys', 'aggregate', 'consistencyCheck', 'maskedInput', 'shareKeys', 'unmasking']);
    expect(report.cohort).toEqual({ eligible: 5, selected: 5, advertised: 5, shared: 5, masked: 5, unmasked: 5 });
    expect(logs.filter((line) => line['msg'] === 'consistency check closed')).toEqual([expect.objectContaining({ round: 1, signed: 5, survivors: 5 })]);
    expect(phases.map((event) => event.phase)).toEqual([
      'checkin',
      'advertiseKeys',
      'shareKeys',
      'maskedInput',
      'consistencyCheck',
      'unmasking',
      'aggregate',
      'commit',
      'idle',
    ]);
    // Round 3 adds no funnel field: the funnel counts each of the other stages once.
    expect(await gauge(metrics.funnel, { stage: 'unmasked' })).toBe(5);
  });

  it('sends each certificate once per member across authenticated rounds: the second round carries references, not certificates', async () => {
    const { firstReport, coordinator, tokens, store, logs } = await harness(5, {}, { round: { target: 5, minReports: 4, pauseMs: 50 } }, { enrolled: true });
    const first = await firstReport();
    expect(first.status).toBe('committed');
    for (const token of tokens) coordinator.checkIn(token, { consent: true, backend: 'cpu' });
    // The stored record: the published one withholds bytes.
    const second = await eventually(() => store.rounds[1], 60_000, "round 2's record");
    expect(second.status).toBe('committed');
    // Round 1 sends every member the other four certificates (about 350 bytes each); round 2 only their cache references.
    expect(second.bytes.sent).toBeLessThan(first.bytes.sent - 5 * 4 * 100);
    // With privacy on, Round 3's exact counts stay out of the log.
    expect(logs.filter((line) => line['msg'] === 'consistency check closed')).toEqual([]);
  });

  it('closes a stage on the deadline learnt from honest answers, not the configured ceiling', async () => {
    // Round 1: five answers to each stage teach the pace; round 2: token-00 never advertises.
    const adaptiveDeadlines = { enabled: true, multiplier: 2, slackMs: 200, minSamples: 5, window: 256 };
    const { firstReport, coordinator, tokens, reports, logs } = await harness(
      5,
      { 0: { muteOn: 'roundPlan', muteInRounds: [2] } },
      // Privacy off: the log line names the deadline (with noise it withholds exact counts).
      { round: { target: 5, minReports: 4, pauseMs: 50, deadlines: LONG, adaptiveDeadlines }, privacy: { mode: 'off', noiseMultiplier: 0 } },
    );
    const first = await firstReport();
    expect(first.status).toBe('committed');
    for (const token of tokens) coordinator.checkIn(token, { consent: true, backend: 'cpu' });
    const second = await eventually(() => reports[1], 30_000, "round 2's record");
    expect(second.status).toBe('committed');
    const [closed] = logs.filter((line) => line['msg'] === 'phase closed without some clients; they sit out a while');
    expect(closed).toMatchObject({ round: 2, stage: 'advertiseKeys', silent: 1 });
    // Every round-1 answer came within that stage's duration, so the learnt deadline is at most 2 × it + 200 ms.
    expect(closed?.['deadlineMs']).toBeLessThanOrEqual(2 * (first.durationsMs.advertiseKeys ?? Infinity) + 200 + 50);
    expect(second.durationsMs.advertiseKeys).toBeLessThan(LONG.advertiseKeysMs);
  });

  it('relays the SecAgg server aborting a round on its own: its reason ends the round, and nobody is told twice', async () => {
    // 3 of 5 leave on receiving their plan: the server's AdvertiseKeys close finds 2 < t and aborts by itself.
    const { firstReport, sentTo, tokens, metrics } = await harness(
      5,
      { 0: { dropOn: 'roundPlan' }, 1: { dropOn: 'roundPlan' }, 2: { dropOn: 'roundPlan' } },
      { round: { target: 5, minReports: 4, deadlines: LONG } },
    );
    const report = await firstReport();
    const [plan] = sentTo('token-03', 'roundPlan') as RoundPlan[];
    const reason = { code: 'BELOW_THRESHOLD', message: `AdvertiseKeys: 2 clients sent keys, need threshold ${plan?.secagg.threshold}` };
    expect(report.status).toBe('aborted');
    expect(report.abort).toEqual(reason);
    expect(report.dropouts).toEqual({ advertiseKeys: { silent: 0, disconnected: 3 } });
    expect(Object.keys(report.durationsMs)).toEqual(['advertiseKeys']);
    for (const token of tokens) {
      const { roundEnd, aborts } = endings(sentTo, token);
      expect(roundEnd).toEqual([{ roundId: report.roundId, round: 1, status: 'aborted', modelVersion: 0, reason }]);
      // The server's own abort went to those who advertised; the coordinator sends no second one.
      expect(aborts).toEqual(['token-03', 'token-04'].includes(token) ? [{ type: 'abort', roundId: report.roundId, reason }] : []);
    }
    expect(await gauge(metrics.rounds, { status: 'aborted' })).toBe(1);
    expect(await gauge(metrics.funnel, { stage: 'advertised' })).toBe(2);
  });

  it('closes the unmasking stage off-thread when that is available, and on this thread when it is not (null)', async () => {
    const suite = await defaultSuite();
    const calls: string[] = [];
    const offThread = {
      closeUnmasking(state: SecAggServerState): Promise<SecAggServerStepResult> | null {
        calls.push(state.stage);
        return secAggServerStep(state, { type: 'closeStage', stage: 'unmasking' }, { suite });
      },
    };
    const used = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { unmasking: offThread });
    expect((await used.firstReport()).status).toBe('committed');
    expect(calls).toEqual(['unmasking']);

    const unavailable = { closeUnmasking: (state: SecAggServerState) => (calls.push(`null:${state.stage}`), null) };
    const fallback = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { unmasking: unavailable });
    expect((await fallback.firstReport()).status).toBe('committed');
    expect(calls).toEqual(['unmasking', 'null:unmasking']);
  });

  it('aborts (ABORTED) a round whose SecAgg did not finish without a reason of its own, and tells every member', async () => {
    // An unmasking close that leaves the machine where it was: no sum, no abort of its own.
    const stuck = { closeUnmasking: (state: SecAggServerState) => Promise.resolve({ ok: true, state, outbound: [] } as SecAggServerStepResult) };
    const { firstReport, sentTo, tokens } = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { unmasking: stuck });
    const report = await firstReport();
    const reason = { code: 'ABORTED', message: 'round 1: secure aggregation did not finish' };
    expect(report).toMatchObject({ status: 'aborted', abort: reason });
    for (const token of tokens) {
      expect(endings(sentTo, token).aborts).toEqual([{ type: 'abort', roundId: report.roundId, reason }]);
      expect(sentTo(token, 'roundEnd')).toEqual([{ roundId: report.roundId, round: 1, status: 'aborted', modelVersion: 0, reason }]);
    }
  });

  it('answers STALE_ROUND to a message that waited on the lock while its round ended, and records the close failure', async () => {
    let release: (result: SecAggServerStepResult) => void = () => undefined;
    let closing: SecAggServerState | null = null;
    const held = {
      closeUnmasking(state: SecAggServerState): Promise<SecAggServerStepResult> {
        closing = state;
        return new Promise((resolve) => (release = resolve));
      },
    };
    const { coordinator, accepted, store, reports, sentTo, tokens } = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { unmasking: held });
    await eventually(() => closing ?? undefined, 30_000, 'the unmasking close');
    const last = accepted.at(-1);
    if (!last) throw new Error('no message was accepted');
    // A replayed message of a member: it passes the checks outside the lock, then waits for the close.
    const answer = coordinator.handleSecAgg(last.tokenId, last.message, payloadBytes(packSecAgg(last.message)));
    const failure = { code: 'INTERNAL', message: 'unmask thread: worker exited' };
    release({ ok: false, error: failure } as SecAggServerStepResult);
    expect(await answer).toEqual({ code: 'STALE_ROUND', message: `secagg ${last.message.type}: round 1 is over` });
    await eventually(() => reports[0], 30_000, 'the round record');
    expect(store.rounds[0]).toMatchObject({ status: 'aborted', abort: failure });
    for (const token of tokens) expect(endings(sentTo, token).aborts).toEqual([{ type: 'abort', roundId: reports[0]?.roundId, reason: failure }]);
  });
});

describe('RoundCoordinator and members who come and go', () => {
  it('re-sends a reconnecting member what the stage still waits on, and nothing to one that already answered', async () => {
    const { coordinator, sent, phases } = await harness(5, { 0: { muteOn: 'encryptedShares' } }, { round: { target: 5, minReports: 4, deadlines: LONG } });
    // The stage waits on token-00 alone once the four others masked.
    await eventually(
      () => (coordinator.phase === 'maskedInput' && coordinator.currentRound?.pending === 1 ? true : undefined),
      30_000,
      'the masked-input stage',
    );
    const count = (token: string) => sent.filter((s) => s.tokenId === token).length;
    const lastTo = (token: string) => sent.filter((s) => s.tokenId === token).at(-1);
    const before = { silent: count('token-00'), answered: count('token-01') };
    coordinator.connected('token-00');
    coordinator.connected('token-01');
    coordinator.connected('stranger');
    expect(count('token-00')).toBe(before.silent + 1);
    expect(sent.at(-1)).toEqual(sent.filter((s) => s.tokenId === 'token-00').at(-2));
    expect(lastTo('token-00')?.event).toBe('secagg');
    expect(count('token-01')).toBe(before.answered);
    // While the stage waits: the running round, its members and what is still pending.
    const state = coordinator.roundState;
    expect(state?.round).toBe(1);
    expect(coordinator.currentRound).toEqual({ round: 1, roundId: state?.roundId, cohort: 5, pending: 1 });
    expect(coordinator.cohortRoundIdOf('token-03')).toBe(state?.roundId);
    expect(coordinator.cohortRoundIdOf('stranger')).toBeNull();
    expect(coordinator.secAggConfigOf('token-03')).toEqual(state?.plan.secagg);
    expect(coordinator.secAggConfigOf('stranger')).toBeNull();
    expect(coordinator.lastPhaseEvent).toEqual(phases.at(-1));
    expect(coordinator.lastPhaseEvent).toMatchObject({ round: 1, roundId: state?.roundId, phase: 'maskedInput' });
  });

  it('re-sends its plan to a member that reconnects before advertising its keys', async () => {
    const { coordinator, sentTo } = await harness(5, { 0: { muteOn: 'roundPlan' } }, { round: { target: 5, minReports: 4, deadlines: LONG } });
    await eventually(
      () => (coordinator.phase === 'advertiseKeys' && coordinator.currentRound?.pending === 1 ? true : undefined),
      30_000,
      'the advertise-keys stage waiting on token-00',
    );
    const [plan] = sentTo('token-00', 'roundPlan');
    coordinator.connected('token-00');
    expect(sentTo('token-00', 'roundPlan')).toEqual([plan, plan]);
    expect(sentTo('token-00', 'secagg')).toEqual([]);
  });

  it('waits out the reconnection grace for a member that disconnected, then closes the stage without it', async () => {
    const { firstReport } = await harness(
      5,
      { 0: { dropOn: 'encryptedShares', reportDisconnect: true } },
      { round: { target: 5, minReports: 4, deadlines: LONG, reconnectGraceMs: 1_000 } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(report.dropouts?.['maskedInput']).toEqual({ silent: 0, disconnected: 1 });
    expect(report.durationsMs['maskedInput']).toBeGreaterThanOrEqual(990);
    expect(Date.parse(report.endedAt) - Date.parse(report.startedAt)).toBeLessThan(60_000);
  });
});
