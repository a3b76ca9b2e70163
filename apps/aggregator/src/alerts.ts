import { ALERT_KINDS, SECAGG_PHASES, type Alert, type AlertKind, type RoundReport, type SecAggPhase } from '@murmur/fl-core/protocol';
import type { AggregatorConfig } from './config';
import type { RoundCoordinator } from './coordinator';
import { evaluationOfReport, type ReleaseGate } from './release-gate';
import type { DataStore } from './store';

/**
 * Operator alerts as pure functions of what the aggregator already holds: `measureAlerts` turns the
 * round records, the release state and the ledger into numbers, `judgeAlerts` holds them against
 * the configured thresholds and words the ones that fire. The dashboard shows them (/api/status),
 * Prometheus scrapes them (metrics.ts), and prometheus/alerts.yml fires on the same numbers with
 * the default thresholds.
 */

export type AlertThresholds = AggregatorConfig['alerts'];

/** A federated evaluation of one model version (release-gate.ts finds them in the round records). */
export interface Evaluation {
  version: number;
  round: number;
  loss: number;
  top1: number;
}

export interface AlertInputs {
  nowMs: number;
  /** An operator holds rounds: no commit is expected. */
  paused: boolean;
  /** The newest finished round, committed or aborted; null before the first. */
  latestRound: RoundReport | null;
  /** The newest federated evaluation on record, of whichever version the round trained from. */
  latestEvaluation: Evaluation | null;
  /** The newest evaluation of the released version (what browsers suggest with). */
  releasedEvaluation: Evaluation | null;
  epsilon: number | null;
  /** privacy.epsilonBudget; null when none is configured. */
  epsilonBudget: number | null;
  /** The newest commit's time, or this process's start if later: a restart is not a stall. */
  lastCommitMs: number;
}

/** Dropped before the masked input: the phases whose losses keep an update out of the sum. */
const DROP_PHASES: readonly SecAggPhase[] = ['advertiseKeys', 'shareKeys', 'maskedInput'];

const PHASE_WORDS: Record<SecAggPhase, string> = {
  advertiseKeys: 'training and key advertisement',
  shareKeys: 'key sharing',
  maskedInput: 'masked input',
  consistencyCheck: 'the consistency check',
  unmasking: 'unmasking',
};

/** The numbers alerts are judged on; null where there is nothing to measure. */
export interface AlertMeasures {
  /** Newest eval loss minus the released version's (nats; positive is worse). */
  lossIncreaseNats: number | null;
  /** Released top-1 minus the newest (a fraction; positive is worse). */
  top1Drop: number | null;
  /** Share of the newest round's selected clients that dropped before their masked input arrived. */
  dropoutShare: number | null;
  /** ε spent over the budget. */
  epsilonBudgetShare: number | null;
  minutesSinceCommit: number;
  paused: boolean;
}

export interface PhaseDrop {
  phase: SecAggPhase;
  /** Null in records written before dropouts were recorded. */
  silent: number | null;
  disconnected: number | null;
  total: number;
}

/** Who dropped at which phase (the record's dropouts; the funnel's differences in older records). */
export function droppedByPhase(report: RoundReport): PhaseDrop[] {
  const c = report.cohort;
  const funnel: Record<SecAggPhase, [number, number]> = {
    advertiseKeys: [c.selected, c.advertised],
    shareKeys: [c.advertised, c.shared],
    maskedInput: [c.shared, c.masked],
    // No funnel count of its own: its losses show under unmasking in records without dropouts.
    consistencyCheck: [c.masked, c.masked],
    unmasking: [c.masked, c.unmasked],
  };
  return SECAGG_PHASES.flatMap((phase): PhaseDrop[] => {
    const recorded = report.dropouts?.[phase];
    if (report.dropouts) {
      return recorded && recorded.silent + recorded.disconnected > 0
        ? [{ phase, silent: recorded.silent, disconnected: recorded.disconnected, total: recorded.silent + recorded.disconnected }]
        : [];
    }
    const [before, after] = funnel[phase];
    // Without per-phase records a round aborted mid-way shows zeros for phases it never reached.
    return before > after && after > 0 ? [{ phase, silent: null, disconnected: null, total: before - after }] : [];
  });
}

export function measureAlerts(inputs: AlertInputs): AlertMeasures {
  const { latestEvaluation: latest, releasedEvaluation: released, latestRound: round } = inputs;
  let dropoutShare: number | null = null;
  if (round && round.cohort.selected > 0) {
    const dropped = droppedByPhase(round)
      .filter((d) => DROP_PHASES.includes(d.phase))
      .reduce((sum, d) => sum + d.total, 0);
    dropoutShare = dropped / round.cohort.selected;
  }
  return {
    lossIncreaseNats: latest && released ? latest.loss - released.loss : null,
    top1Drop: latest && released ? released.top1 - latest.top1 : null,
    dropoutShare,
    epsilonBudgetShare: inputs.epsilon !== null && inputs.epsilonBudget !== null ? inputs.epsilon / inputs.epsilonBudget : null,
    minutesSinceCommit: Math.max(0, inputs.nowMs - inputs.lastCommitMs) / 60_000,
    paused: inputs.paused,
  };
}

export interface AlertCheck {
  kind: AlertKind;
  active: boolean;
  /** The firing alert for people, null while quiet. */
  alert: Alert | null;
}

const pct = (share: number, digits = 0) => `${(100 * share).toFixed(digits)}%`;
/** ε for people: three significant digits, whole numbers with separators from 1,000 on (not 1.29e+3). */
const epsilonWords = (epsilon: number) => (epsilon >= 1000 ? Math.round(epsilon).toLocaleString('en') : String(Number(epsilon.toPrecision(3))));
const points = (share: number) => `${(100 * share).toFixed(1)} points`;

/** Every alert kind, in ALERT_KINDS order, judged against `thresholds`; `inputs` gives the wording its context. */
export function judgeAlerts(measures: AlertMeasures, thresholds: AlertThresholds, inputs: AlertInputs): AlertCheck[] {
  const checks: Record<AlertKind, Alert | null> = {
    accuracy_regression: accuracyRegression(measures, thresholds, inputs),
    dropout_spike: dropoutSpike(measures, thresholds, inputs),
    epsilon_budget: epsilonBudget(measures, thresholds, inputs),
    no_commit: noCommit(measures, thresholds),
  };
  return ALERT_KINDS.map((kind) => ({ kind, active: checks[kind] !== null, alert: checks[kind] }));
}

function accuracyRegression(m: AlertMeasures, t: AlertThresholds, inputs: AlertInputs): Alert | null {
  const { latestEvaluation: latest, releasedEvaluation: released } = inputs;
  if (!latest || !released || m.lossIncreaseNats === null || m.top1Drop === null) return null;
  const lossBad = m.lossIncreaseNats > t.lossIncrease;
  const top1Bad = m.top1Drop > t.top1Drop;
  if (!lossBad && !top1Bad) return null;
  const parts = [
    ...(lossBad
      ? [`eval loss ${latest.loss.toFixed(2)} nats against ${released.loss.toFixed(2)} (+${m.lossIncreaseNats.toFixed(2)}; alert above +${t.lossIncrease})`]
      : []),
    ...(top1Bad ? [`top-1 ${pct(latest.top1, 1)} against ${pct(released.top1, 1)} (−${points(m.top1Drop)}; alert beyond −${points(t.top1Drop)})`] : []),
  ];
  return {
    kind: 'accuracy_regression',
    value: lossBad ? m.lossIncreaseNats : m.top1Drop,
    threshold: lossBad ? t.lossIncrease : t.top1Drop,
    message: `Accuracy regression: v${latest.version} (evaluated in round ${latest.round}) is worse than the released v${released.version}: ${parts.join('; ')}.`,
  };
}

function dropoutSpike(m: AlertMeasures, t: AlertThresholds, inputs: AlertInputs): Alert | null {
  const round = inputs.latestRound;
  if (!round || m.dropoutShare === null || m.dropoutShare <= t.dropoutShare) return null;
  const where = droppedByPhase(round)
    .filter((d) => DROP_PHASES.includes(d.phase))
    .map((d) => {
      const why = d.silent === null || d.disconnected === null ? '' : ` (${d.silent} silent, ${d.disconnected} disconnected)`;
      return `${d.total} at ${PHASE_WORDS[d.phase]}${why}`;
    });
  const dropped = Math.round(m.dropoutShare * round.cohort.selected);
  return {
    kind: 'dropout_spike',
    value: m.dropoutShare,
    threshold: t.dropoutShare,
    message: `Dropout spike: round ${round.round} lost ${dropped} of ${round.cohort.selected} selected clients before their update arrived (${pct(m.dropoutShare)}; alert above ${pct(t.dropoutShare)}): ${where.join(', ')}.`,
  };
}

function epsilonBudget(m: AlertMeasures, t: AlertThresholds, inputs: AlertInputs): Alert | null {
  if (m.epsilonBudgetShare === null || inputs.epsilon === null || inputs.epsilonBudget === null || m.epsilonBudgetShare < t.epsilonBudgetShare) return null;
  const reached = m.epsilonBudgetShare >= 1;
  return {
    kind: 'epsilon_budget',
    value: m.epsilonBudgetShare,
    threshold: t.epsilonBudgetShare,
    message: `${reached ? 'Privacy budget spent' : 'Privacy budget nearly spent'}: ε ${epsilonWords(inputs.epsilon)} of the budget ${epsilonWords(inputs.epsilonBudget)} (${pct(m.epsilonBudgetShare)}; alert at ${pct(t.epsilonBudgetShare)}). No round opens that would pass it.`,
  };
}

function noCommit(m: AlertMeasures, t: AlertThresholds): Alert | null {
  if (m.paused || m.minutesSinceCommit < t.noCommitMinutes) return null;
  return {
    kind: 'no_commit',
    value: m.minutesSinceCommit,
    threshold: t.noCommitMinutes,
    message: `No round has committed for ${Math.floor(m.minutesSinceCommit)} minutes (alert after ${t.noCommitMinutes}), and rounds are not paused.`,
  };
}

export interface AlertSources {
  config: AggregatorConfig;
  store: DataStore;
  gate: ReleaseGate;
  coordinator: () => RoundCoordinator;
  /** When this process started (ms). */
  startedAt: number;
}

function toEvaluation(found: { version: number; round: number; loss: number; top1: number } | null): Evaluation | null {
  return found ? { version: found.version, round: found.round, loss: found.loss, top1: found.top1 } : null;
}

/** The inputs, read from the running aggregator at `nowMs`. */
export function alertInputs(sources: AlertSources, nowMs: number): AlertInputs {
  const { store, gate, config, startedAt } = sources;
  const rounds = store.rounds;
  let latestEvaluation: Evaluation | null = null;
  let lastCommitMs = startedAt;
  for (let i = rounds.length - 1; i >= 0 && latestEvaluation === null; i--) {
    const report = rounds[i] as RoundReport;
    latestEvaluation = toEvaluation(evaluationOfReport(report));
  }
  for (let i = rounds.length - 1; i >= 0; i--) {
    const report = rounds[i] as RoundReport;
    if (report.status !== 'committed') continue;
    lastCommitMs = Math.max(startedAt, Date.parse(report.endedAt));
    break;
  }
  return {
    nowMs,
    paused: sources.coordinator().paused,
    latestRound: rounds.at(-1) ?? null,
    latestEvaluation,
    releasedEvaluation: toEvaluation(gate.evaluationOf(store.release.released)),
    epsilon: store.ledger.spent(config.privacy.targetDelta)?.epsilon ?? null,
    // The budget in force: the configured one, or what an operator set since (POST /api/admin/budget).
    epsilonBudget: sources.coordinator().epsilonBudget,
    lastCommitMs,
  };
}

/** Measures and verdicts of the running aggregator now. */
export function evaluateAlerts(sources: AlertSources, nowMs: number): { measures: AlertMeasures; checks: AlertCheck[] } {
  const inputs = alertInputs(sources, nowMs);
  const measures = measureAlerts(inputs);
  return { measures, checks: judgeAlerts(measures, sources.config.alerts, inputs) };
}
