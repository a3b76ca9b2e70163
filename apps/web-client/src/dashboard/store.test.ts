import { describe, expect, it } from 'vitest';
import type { PhaseEvent, TaskProgress } from '@murmur/fl-core/protocol';
import {
  applyPhaseEvent,
  applyStatus,
  dashboardReducer,
  funnelSummary,
  initialDashboardState,
  liveFunnel,
  mergeRounds,
  newestModelVersion,
  reportFunnel,
  type DashboardState,
} from './store';
import { makeReport, makeReports } from './test-fixtures';
import type { DashboardStatus } from './schemas';

const plan = {
  target: 20,
  overSelection: 1.3,
  minReports: 3,
  pauseMs: 2000,
  checkinMs: 5000,
  training: { epochs: 1, batchSize: 16, optimizer: 'sgd' as const, learningRate: 0.5, maxExamples: 256, timeBudgetMs: 30_000, targets: 'last' as const },
  clipNorm: 1,
  noiseMultiplier: 0.05,
};

function status(over: Partial<DashboardStatus> = {}): DashboardStatus {
  return {
    phase: 'idle',
    paused: false,
    round: null,
    nextRound: 1,
    modelVersion: 0,
    connectedClients: 0,
    waitingClients: 0,
    roundsRecorded: 0,
    plan,
    privacy: { mode: 'distributed', delta: 1e-5, epsilon: null },
    ...over,
  };
}

const phase = (p: PhaseEvent['phase'], round: number, pending: number, at: string, cohort = 26): PhaseEvent => ({
  round,
  roundId: round === 0 ? '' : `r${round}-0000000${round}`,
  phase: p,
  at,
  cohort: round === 0 ? 0 : cohort,
  pending,
});

const rounds = (state: DashboardState) => state.rounds.map((r) => r.round);

describe('merging REST pages with live round events', () => {
  it('orders pages that arrive newest first, then older, ascending by round', () => {
    const all = makeReports(250);
    let state = dashboardReducer(initialDashboardState, { type: 'roundsPage', rounds: all.slice(150).reverse(), total: 250, complete: false });
    expect(state.history).toBe('partial');
    state = dashboardReducer(state, { type: 'roundsPage', rounds: all.slice(50, 150).reverse(), total: 250, complete: false });
    state = dashboardReducer(state, { type: 'roundsPage', rounds: all.slice(0, 50).reverse(), total: 250, complete: true });
    expect(rounds(state)).toEqual(all.map((r) => r.round));
    expect(state.history).toBe('complete');
    expect(state.totalRounds).toBe(250);
  });

  it('deduplicates by roundId: a live round also in a later page, a page fetched twice after a reconnect', () => {
    const all = makeReports(30);
    let state = dashboardReducer(initialDashboardState, { type: 'roundsPage', rounds: all.slice(10, 30).reverse(), total: 30, complete: false });
    // Committed while the next page was in flight: offsets shift by one, so the page repeats round 11.
    const live = makeReport(31);
    state = dashboardReducer(state, { type: 'round', report: live });
    expect(state.totalRounds).toBe(31);
    state = dashboardReducer(state, { type: 'roundsPage', rounds: all.slice(0, 11).reverse(), total: 31, complete: true });
    state = dashboardReducer(state, { type: 'round', report: live });
    state = dashboardReducer(state, { type: 'roundsPage', rounds: [live, ...all.slice(20).reverse()], total: 31, complete: true });
    expect(rounds(state)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    expect(new Set(state.rounds.map((r) => r.roundId)).size).toBe(31);
    expect(state.totalRounds).toBe(31);
  });

  it('keeps two attempts of one round number apart (an attempt interrupted by a restart has its own id)', () => {
    const first = makeReport(5, { roundId: 'r5-aaaaaaaa', status: 'aborted', startedAtMs: 1_000 });
    const retry = makeReport(5, { roundId: 'r5-bbbbbbbb', startedAtMs: 2_000 });
    const merged = mergeRounds(mergeRounds([makeReport(4), makeReport(6)], [retry]), [first]);
    expect(merged.map((r) => r.roundId)).toEqual([makeReport(4).roundId, 'r5-aaaaaaaa', 'r5-bbbbbbbb', makeReport(6).roundId]);
  });

  it('inserts an out-of-order live round in place and appends the in-order one without copying the rest', () => {
    const base = mergeRounds([], [makeReport(1), makeReport(3)]);
    expect(mergeRounds(base, [makeReport(2)]).map((r) => r.round)).toEqual([1, 2, 3]);
    const appended = mergeRounds(base, [makeReport(4)]);
    expect(appended.map((r) => r.round)).toEqual([1, 3, 4]);
    expect(appended[0]).toBe(base[0]);
    expect(mergeRounds(base, [])).toBe(base);
  });
});

describe('the running round from phase events and status snapshots', () => {
  it('records the clients each secure-aggregation phase waited on, the live funnel', () => {
    let current = applyPhaseEvent(null, phase('checkin', 0, 0, '2026-12-01T08:00:00.000Z'));
    current = applyPhaseEvent(current, phase('advertiseKeys', 7, 26, '2026-12-01T08:00:05.000Z'));
    current = applyPhaseEvent(current, phase('shareKeys', 7, 24, '2026-12-01T08:00:20.000Z'));
    current = applyPhaseEvent(current, phase('maskedInput', 7, 23, '2026-12-01T08:00:21.000Z'));
    expect(current).toMatchObject({
      phase: 'maskedInput',
      round: 7,
      since: '2026-12-01T08:00:21.000Z',
      expected: { advertiseKeys: 26, shareKeys: 24, maskedInput: 23 },
    });
    const funnel = liveFunnel(current);
    expect(funnel.map((s) => [s.key, s.clients, s.dropped])).toEqual([
      ['eligible', null, null],
      ['selected', 26, null],
      ['advertised', 24, 2],
      ['shared', 23, 1],
      ['masked', null, null],
      ['unmasked', null, null],
      ['committed', null, null],
    ]);
  });

  it('ignores a stale event replayed from an earlier phase or round', () => {
    const now = applyPhaseEvent(null, phase('shareKeys', 7, 24, '2026-12-01T08:00:20.000Z'));
    expect(applyPhaseEvent(now, phase('advertiseKeys', 7, 26, '2026-12-01T08:00:05.000Z'))).toBe(now);
    expect(applyPhaseEvent(now, phase('commit', 6, 0, '2026-12-01T07:59:00.000Z'))).toBe(now);
    const next = applyPhaseEvent(now, phase('advertiseKeys', 8, 26, '2026-12-01T08:01:00.000Z'));
    expect(next).toMatchObject({ round: 8, expected: { advertiseKeys: 26 } });
  });

  it('keeps a poll’s pending when the current phase event is sent again on reconnect', () => {
    const event = phase('maskedInput', 7, 23, '2026-12-01T08:00:21.000Z');
    const polled = applyStatus(
      applyPhaseEvent(null, event),
      status({ phase: 'maskedInput', round: { round: 7, roundId: 'r7-00000007', cohort: 26, pending: 9 } }),
      true,
    );
    expect(applyPhaseEvent(polled, event)).toMatchObject({ phase: 'maskedInput', pending: 9, since: event.at });
  });

  it('takes pending from a status poll of the same phase, the smaller count winning', () => {
    const now = applyPhaseEvent(null, phase('maskedInput', 7, 23, '2026-12-01T08:00:21.000Z'));
    const polled = applyStatus(now, status({ phase: 'maskedInput', round: { round: 7, roundId: 'r7-00000007', cohort: 26, pending: 9 } }), false);
    expect(polled).toMatchObject({ pending: 9, since: '2026-12-01T08:00:21.000Z', expected: { maskedInput: 23 } });
    const older = applyStatus(polled, status({ phase: 'maskedInput', round: { round: 7, roundId: 'r7-00000007', cohort: 26, pending: 15 } }), true);
    expect(older?.pending).toBe(9);
  });

  it('lets a snapshot replace the phase only when no live event raced it', () => {
    const now = applyPhaseEvent(null, phase('unmasking', 7, 23, '2026-12-01T08:00:25.000Z'));
    const behind = status({ phase: 'maskedInput', round: { round: 7, roundId: 'r7-00000007', cohort: 26, pending: 3 } });
    expect(applyStatus(now, behind, false)).toBe(now);
    const idle = applyStatus(now, status({ phase: 'idle', phaseStartedAt: '2026-12-01T08:00:30.000Z' }), true);
    expect(idle).toMatchObject({ phase: 'idle', round: 0, roundId: '', since: '2026-12-01T08:00:30.000Z', expected: {} });
    expect(applyStatus(null, behind, false)).toMatchObject({ phase: 'maskedInput', pending: 3, since: null });
  });

  it('corrects the countdown clock from the server time of a status', () => {
    const state = dashboardReducer(initialDashboardState, { type: 'status', status: status(), fresh: true, serverTimeMs: 1_000_000, receivedAt: 1_004_500 });
    expect(state.clockOffsetMs).toBe(4_500);
    expect(dashboardReducer(state, { type: 'status', status: status(), fresh: true, serverTimeMs: null, receivedAt: 0 }).clockOffsetMs).toBe(4_500);
  });
});

describe('funnels of finished rounds', () => {
  it('counts dropouts per phase and the inputs in the committed sum', () => {
    const report = makeReport(3, { selected: 26, dropped: { advertised: 2, shared: 1, masked: 3, unmasked: 4 } });
    expect(reportFunnel(report).map((s) => [s.key, s.clients, s.dropped])).toEqual([
      ['eligible', 31, null],
      ['selected', 26, null],
      ['advertised', 24, 2],
      ['shared', 23, 1],
      ['masked', 20, 3],
      ['unmasked', 16, 4],
      // The unmasking phase needs only a threshold of survivors; all 20 masked inputs are in the sum.
      ['committed', 20, 0],
    ]);
  });

  it('commits nothing from an aborted round', () => {
    const funnel = reportFunnel(makeReport(4, { status: 'aborted', dropped: { masked: 18 } }));
    expect(funnel.at(-1)).toMatchObject({ key: 'committed', clients: 0, dropped: 2, why: 'round aborted: BELOW_THRESHOLD' });
  });

  it('says why clients dropped where the record tells, and sums the funnel up in one line', () => {
    const report = makeReport(5, {
      selected: 10,
      dropped: { advertised: 3, masked: 1 },
      dropouts: {
        advertiseKeys: { silent: 2, disconnected: 1 },
        shareKeys: { silent: 0, disconnected: 0 },
        maskedInput: { silent: 0, disconnected: 1 },
        unmasking: { silent: 0, disconnected: 0 },
      },
    });
    const funnel = reportFunnel(report);
    expect(funnel.map((s) => s.why)).toEqual([null, null, '2 silent, 1 disconnected', null, '0 silent, 1 disconnected', null, null]);
    expect(funnelSummary(funnel)).toBe(
      'Selected 10, Keys advertised 7 (−3: 2 silent, 1 disconnected), Keys shared 7, Masked input 6 (−1: 0 silent, 1 disconnected), Unmasked 6, Committed 6',
    );
    // Stages after an abort lost their clients to it, not to silence.
    const aborted = makeReport(7, {
      status: 'aborted',
      selected: 3,
      dropped: { advertised: 1, shared: 2 },
      dropouts: { advertiseKeys: { silent: 1, disconnected: 0 } },
    });
    expect(reportFunnel(aborted).map((s) => [s.key, s.dropped, s.why])).toEqual([
      ['eligible', null, null],
      ['selected', null, null],
      ['advertised', 1, '1 silent, 0 disconnected'],
      ['shared', 2, 'round aborted: BELOW_THRESHOLD'],
      ['masked', 0, null],
      ['unmasked', 0, null],
      ['committed', 0, null],
    ]);
    // Records from before dropouts were recorded: counts without reasons.
    expect(reportFunnel(makeReport(6, { dropped: { shared: 2 } })).find((s) => s.key === 'shared')).toMatchObject({ dropped: 2, why: null });
  });
});

describe('the newest model version', () => {
  it('does not lag a streamed round behind the status refresh it triggers', () => {
    const before = dashboardReducer(initialDashboardState, {
      type: 'status',
      status: status({ modelVersion: 4 }),
      fresh: true,
      serverTimeMs: null,
      receivedAt: 0,
    });
    expect(newestModelVersion(before)).toBe(4);
    // Round 5 committed v5: shown at once, before /api/status answers.
    const streamed = dashboardReducer(before, { type: 'round', report: makeReport(5) });
    expect(newestModelVersion(streamed)).toBe(5);
    // An aborted round makes no version; an older status answered late does not move it back.
    const aborted = dashboardReducer(streamed, { type: 'round', report: makeReport(6, { status: 'aborted' }) });
    expect(newestModelVersion(aborted)).toBe(5);
    expect(
      newestModelVersion(dashboardReducer(aborted, { type: 'status', status: status({ modelVersion: 3 }), fresh: true, serverTimeMs: null, receivedAt: 0 })),
    ).toBe(5);
    expect(newestModelVersion(initialDashboardState)).toBeNull();
  });
});

describe('notices', () => {
  it('counts refused live events and shows the latest reason', () => {
    let state = dashboardReducer(initialDashboardState, { type: 'rejectedEvent', message: 'round event refused: bad' });
    state = dashboardReducer(state, { type: 'rejectedEvent', message: 'phase event refused: worse' });
    expect(state.rejectedEvents).toBe(2);
    expect(state.notice).toBe('phase event refused: worse');
  });
});

describe('the task coordinator’s rounds (distributed mode)', () => {
  const event = (round: number, stage: TaskProgress['stage']): TaskProgress => ({
    taskId: 'next-word',
    coordinator: 'agg0',
    round,
    roundId: `r${round}-00000000`,
    stage,
    processes: 3,
    answered: stage === 'committed' ? 3 : null,
    modelVersion: stage === 'committed' ? round : null,
    abort: null,
    at: '2026-12-05T00:00:00.000Z',
  });

  it('keeps the latest round’s event; a late event of an older round does not replace it', () => {
    let state = dashboardReducer(initialDashboardState, { type: 'task', event: event(4, 'opened') });
    expect(state.task).toEqual(event(4, 'opened'));
    state = dashboardReducer(state, { type: 'task', event: event(4, 'committed') });
    expect(state.task).toEqual(event(4, 'committed'));
    state = dashboardReducer(state, { type: 'task', event: event(3, 'committed') });
    expect(state.task).toEqual(event(4, 'committed'));
    state = dashboardReducer(state, { type: 'task', event: event(5, 'opened') });
    expect(state.task?.round).toBe(5);
  });
});
