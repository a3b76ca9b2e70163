import {
  COHORT_FUNNEL,
  ROUND_PHASES,
  SECAGG_PHASES,
  type PhaseEvent,
  type RoundPhase,
  type RoundReport,
  type SecAggPhase,
  type TaskProgress,
} from '@murmur/fl-core/protocol';
import type { DashboardStatus, PrivacySummary, ReleaseView } from './schemas';

/**
 * The dashboard's data layer as a pure reducer: REST pages, REST snapshots and live Socket.IO
 * events all become actions on one state, so the order they arrive in (a page fetched before a
 * live round event but answered after it, a reconnect that refetches rounds already streamed)
 * never changes what is shown. Rounds are deduplicated by roundId and kept ordered by round.
 */

export function isSecAggPhase(phase: RoundPhase): phase is SecAggPhase {
  return (SECAGG_PHASES as readonly RoundPhase[]).includes(phase);
}

/** The running round (or the idle/check-in/paused state between rounds) as last seen. */
export interface CurrentRound {
  phase: RoundPhase;
  /** 0 and '' between rounds. */
  round: number;
  roundId: string;
  /** Selected clients (0 between rounds). */
  cohort: number;
  /** Clients the phase still waits on. */
  pending: number;
  /** When the phase began on the server's clock (its phase event's `at`); null if unknown. */
  since: string | null;
  /**
   * Clients each secure-aggregation phase waited on when it began: the survivors of the phase
   * before it. Phase events carry no funnel, so this is how the live funnel is drawn before the
   * round's record (with exact counts) arrives.
   */
  expected: Partial<Record<SecAggPhase, number>>;
}

export type Connection = 'connecting' | 'connected' | 'disconnected';
export type HistoryState = 'loading' | 'partial' | 'complete' | 'error';

export interface DashboardState {
  /** Finished rounds, ascending by round, one per roundId. */
  rounds: readonly RoundReport[];
  current: CurrentRound | null;
  status: DashboardStatus | null;
  /** Local clock minus server clock (ms), from the last status; corrects the countdown. */
  clockOffsetMs: number;
  privacy: PrivacySummary | null;
  /** Released and candidate versions, gate decisions and the audit log (GET /api/release). */
  release: ReleaseView | null;
  /** Rounds the server says exist (from the last page), to show how much history is loaded. */
  totalRounds: number | null;
  history: HistoryState;
  /** Why loading the history failed (history 'error'). */
  historyError: string | null;
  connection: Connection;
  /** Why the live feed is down (Socket.IO's reason), while it is. */
  connectionDetail: string | null;
  /** Why the last /api/status request failed; cleared by the next one that succeeds. */
  statusError: string | null;
  /** The latest problem worth showing (a failed request, an invalid event), or null. */
  notice: string | null;
  /** Live events refused by validation: counted and shown, never silently dropped. */
  rejectedEvents: number;
  /** The distributed mode: the task coordinator's latest round event (opened, committed, aborted), or null. */
  task: TaskProgress | null;
}

export type DashboardAction =
  | { type: 'roundsPage'; rounds: readonly RoundReport[]; total: number; complete: boolean }
  | { type: 'round'; report: RoundReport }
  | { type: 'phase'; event: PhaseEvent }
  | { type: 'task'; event: TaskProgress }
  /**
   * `fresh`: no live phase event arrived while the request was in flight, so the snapshot is at
   * least as new as anything streamed. `serverTimeMs`: the server's clock when it answered.
   */
  | { type: 'status'; status: DashboardStatus; fresh: boolean; serverTimeMs: number | null; receivedAt: number }
  | { type: 'statusFailed'; message: string }
  | { type: 'privacy'; privacy: PrivacySummary }
  | { type: 'release'; release: ReleaseView }
  | { type: 'connection'; connection: Connection; detail: string | null }
  | { type: 'historyLoading' }
  | { type: 'historyFailed'; message: string }
  | { type: 'notice'; message: string }
  | { type: 'rejectedEvent'; message: string };

export const initialDashboardState: DashboardState = {
  rounds: [],
  current: null,
  status: null,
  clockOffsetMs: 0,
  privacy: null,
  release: null,
  totalRounds: null,
  history: 'loading',
  historyError: null,
  connection: 'connecting',
  connectionDetail: null,
  statusError: null,
  notice: null,
  rejectedEvents: 0,
  task: null,
};

function compareRounds(a: RoundReport, b: RoundReport): number {
  return a.round - b.round || Date.parse(a.startedAt) - Date.parse(b.startedAt) || (a.roundId < b.roundId ? -1 : a.roundId > b.roundId ? 1 : 0);
}

/**
 * `existing` with `incoming` merged in: one record per roundId (a record is immutable once
 * written, so a duplicate replaces its twin with identical content), ascending by round. Live
 * rounds arrive in order, so the common case is an append without re-sorting.
 */
export function mergeRounds(existing: readonly RoundReport[], incoming: readonly RoundReport[]): readonly RoundReport[] {
  if (incoming.length === 0) return existing;
  const last = existing[existing.length - 1];
  if (incoming.length === 1 && (!last || compareRounds(last, incoming[0] as RoundReport) < 0)) {
    return [...existing, incoming[0] as RoundReport];
  }
  const byId = new Map<string, RoundReport>();
  for (const report of existing) byId.set(report.roundId, report);
  for (const report of incoming) byId.set(report.roundId, report);
  return [...byId.values()].sort(compareRounds);
}

const phaseRank = (phase: RoundPhase) => ROUND_PHASES.indexOf(phase);

/**
 * The running round after a live phase event. Socket.IO delivers one namespace's events in order,
 * so only a reconnect can replay an older one: an event of an earlier round, or of an earlier
 * phase of the same round, is stale and ignored.
 */
export function applyPhaseEvent(current: CurrentRound | null, event: PhaseEvent): CurrentRound {
  const sameRound = current !== null && event.roundId !== '' && event.roundId === current.roundId;
  if (current && event.round > 0 && current.round > event.round) return current;
  if (current && sameRound && phaseRank(event.phase) < phaseRank(current.phase)) return current;
  // The phase event every (re)connecting dashboard is sent: keep the fresher pending of a poll.
  if (current && sameRound && event.phase === current.phase && event.at === current.since) {
    return { ...current, pending: Math.min(current.pending, event.pending) };
  }
  const before = sameRound && current ? current.expected : {};
  const expected = isSecAggPhase(event.phase) && before[event.phase] === undefined ? { ...before, [event.phase]: event.pending } : before;
  return { phase: event.phase, round: event.round, roundId: event.roundId, cohort: event.cohort, pending: event.pending, since: event.at, expected };
}

/** The running round after a /api/status snapshot (see the `status` action for `fresh`). */
export function applyStatus(current: CurrentRound | null, status: DashboardStatus, fresh: boolean): CurrentRound | null {
  const snapshot = {
    phase: status.phase,
    round: status.round?.round ?? 0,
    roundId: status.round?.roundId ?? '',
    cohort: status.round?.cohort ?? 0,
    pending: status.round?.pending ?? 0,
  };
  if (current && current.roundId === snapshot.roundId && current.phase === snapshot.phase) {
    // Within a phase `pending` only falls as clients answer, so the smaller count is the fresher.
    return { ...current, cohort: snapshot.cohort, pending: Math.min(current.pending, snapshot.pending), since: current.since ?? status.phaseStartedAt ?? null };
  }
  if (current && !fresh) return current;
  return { ...snapshot, since: status.phaseStartedAt ?? null, expected: current && current.roundId === snapshot.roundId ? current.expected : {} };
}

export function dashboardReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'roundsPage':
      return {
        ...state,
        rounds: mergeRounds(state.rounds, action.rounds),
        totalRounds: action.total,
        // A reconnect's catch-up pages add only the newest rounds: history loaded once stays
        // loaded, and history that failed stays failed (with its Retry) until reloaded.
        history: action.complete ? 'complete' : state.history === 'complete' || state.history === 'error' ? state.history : 'partial',
      };
    case 'round': {
      const rounds = mergeRounds(state.rounds, [action.report]);
      // A streamed round the list did not hold is one the server committed since its last page.
      const grown = rounds.length - state.rounds.length;
      return { ...state, rounds, totalRounds: state.totalRounds === null ? null : Math.max(state.totalRounds + grown, rounds.length) };
    }
    case 'phase':
      return { ...state, current: applyPhaseEvent(state.current, action.event) };
    case 'task':
      // Events may cross on their way from another process: an older round's never replaces a newer one's.
      return state.task && action.event.round < state.task.round ? state : { ...state, task: action.event };
    case 'status':
      return {
        ...state,
        status: action.status,
        statusError: null,
        current: applyStatus(state.current, action.status, action.fresh),
        clockOffsetMs: action.serverTimeMs === null ? state.clockOffsetMs : action.receivedAt - action.serverTimeMs,
      };
    case 'statusFailed':
      return { ...state, statusError: action.message };
    case 'privacy':
      return { ...state, privacy: action.privacy };
    case 'release':
      // Answers may cross: the one that has seen more audit entries and decisions is the newer.
      return state.release && isOlderRelease(action.release, state.release) ? state : { ...state, release: action.release };
    case 'connection':
      return { ...state, connection: action.connection, connectionDetail: action.connection === 'connected' ? null : action.detail };
    case 'historyLoading':
      return { ...state, history: state.history === 'complete' ? 'complete' : 'loading', historyError: null };
    case 'historyFailed':
      return { ...state, history: 'error', historyError: action.message };
    case 'notice':
      return { ...state, notice: action.message };
    case 'rejectedEvent':
      return { ...state, rejectedEvents: state.rejectedEvents + 1, notice: action.message };
    default: {
      const unreachable: never = action;
      return unreachable;
    }
  }
}

/** Whether `a` is an older snapshot than `b`: the audit log and the decisions only grow. */
function isOlderRelease(a: ReleaseView, b: ReleaseView): boolean {
  const newestDecision = (v: ReleaseView) => v.decisions[0]?.round ?? 0;
  return a.auditTotal < b.auditTotal || (a.auditTotal === b.auditTotal && newestDecision(a) < newestDecision(b));
}

/** One stage of the cohort funnel. */
export interface FunnelStage {
  key: (typeof COHORT_FUNNEL)[number] | 'committed';
  label: string;
  /** Clients at this stage; null when not known yet (a live round before its record). */
  clients: number | null;
  /** Lost since the previous stage; null for the first stage or when either count is unknown. */
  dropped: number | null;
  /** Why they were lost ("2 silent, 1 disconnected", an abort's code), when the record says. */
  why: string | null;
}

/** The phase whose close decides how many reach each stage (its dropouts are the stage's losses). */
const PHASE_OF_STAGE: Partial<Record<FunnelStage['key'], SecAggPhase>> = {
  advertised: 'advertiseKeys',
  shared: 'shareKeys',
  masked: 'maskedInput',
  unmasked: 'unmasking',
};

const FUNNEL_LABELS: Record<FunnelStage['key'], string> = {
  eligible: 'Checked in',
  selected: 'Selected',
  advertised: 'Keys advertised',
  shared: 'Keys shared',
  masked: 'Masked input',
  unmasked: 'Unmasked',
  committed: 'Committed',
};

function withDrops(counts: [FunnelStage['key'], number | null][], whyAt: (key: FunnelStage['key']) => string | null = () => null): FunnelStage[] {
  const clientsAt = (key: FunnelStage['key']) => counts.find(([k]) => k === key)?.[1] ?? null;
  return counts.map(([key, clients], i) => {
    // "Checked in" is everyone eligible, not a phase the selection drops from. "Committed" counts
    // the masked inputs in the sum, so its losses are against masked input, not unmasking.
    const from = i <= 1 ? null : key === 'committed' ? clientsAt('masked') : (counts[i - 1] as [FunnelStage['key'], number | null])[1];
    const dropped = from !== null && clients !== null ? from - clients : null;
    return { key, label: FUNNEL_LABELS[key], clients, dropped, why: dropped !== null && dropped > 0 ? whyAt(key) : null };
  });
}

/**
 * The funnel of a finished round. Committed counts the inputs inside the committed sum: the
 * masked inputs (the unmasking phase only needs a threshold of their senders to answer), or 0
 * when the round aborted.
 */
export function reportFunnel(report: RoundReport): FunnelStage[] {
  const c = report.cohort;
  return withDrops(
    [
      ['eligible', c.eligible],
      ['selected', c.selected],
      ['advertised', c.advertised],
      ['shared', c.shared],
      ['masked', c.masked],
      ['unmasked', c.unmasked],
      ['committed', report.status === 'committed' ? c.masked : 0],
    ],
    (key) => {
      if (key === 'committed') return report.abort ? `round aborted: ${report.abort.code}` : null;
      const phase = PHASE_OF_STAGE[key];
      const d = phase ? report.dropouts?.[phase] : undefined;
      if (d) return `${d.silent} silent, ${d.disconnected} disconnected`;
      // A phase the record has no dropouts for never closed: its clients were lost to the abort.
      return report.dropouts && report.abort ? `round aborted: ${report.abort.code}` : null;
    },
  );
}

/** The round's funnel in one line, for a table cell's title and screen readers. */
export function funnelSummary(stages: readonly FunnelStage[]): string {
  return stages
    .filter((s) => s.key !== 'eligible' && s.clients !== null)
    .map((s) => `${s.label} ${s.clients}${s.dropped ? ` (−${s.dropped}${s.why ? `: ${s.why}` : ''})` : ''}`)
    .join(', ');
}

/**
 * The newest model version: the status snapshot's, or the newest committed round's if a round
 * event arrived before the status refresh it triggers (the version only grows).
 */
export function newestModelVersion(state: Pick<DashboardState, 'status' | 'rounds'>): number | null {
  let fromRounds: number | null = null;
  for (let i = state.rounds.length - 1; i >= 0; i--) {
    const r = state.rounds[i] as RoundReport;
    if (r.status === 'committed') {
      fromRounds = r.modelVersion.to;
      break;
    }
  }
  if (state.status === null) return fromRounds;
  return fromRounds === null ? state.status.modelVersion : Math.max(state.status.modelVersion, fromRounds);
}

/**
 * The funnel of the running round from its phase events: a phase's survivors are the clients the
 * next phase began waiting on. How many were checked in at selection, and stages not reached yet,
 * are unknown (null) until the round's record arrives.
 */
export function liveFunnel(current: CurrentRound): FunnelStage[] {
  const e = current.expected;
  return withDrops([
    ['eligible', null],
    ['selected', current.cohort > 0 ? current.cohort : null],
    ['advertised', e.shareKeys ?? null],
    ['shared', e.maskedInput ?? null],
    ['masked', e.unmasking ?? null],
    ['unmasked', null],
    ['committed', null],
  ]);
}
