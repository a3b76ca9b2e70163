import type { PrivacyMode } from '@murmur/fl-core/privacy';
import type { Alert, AlertKind, AuditEntry, PhaseEvent, ReleaseSummary, ReleaseView, RoundReport } from '@murmur/fl-core/protocol';
import type { GateDecision } from '@murmur/fl-core/round';

/**
 * What leaves the aggregator (HTTP, the dashboard stream, logs) when rounds run with privacy noise.
 * The ledger accounts for the noised model sum only; everything else the secure sum reveals exactly
 * (examples, training loss, evaluation loss/top-1/top-3) and every exact count of the cohort
 * (selected, answers per phase, dropouts, bytes, backends, the SecAgg threshold and degree, which
 * follow from the number selected) is an unnoised release outside the ledger, so it stays inside:
 * the aggregator keeps the full record for its release gate, and publishes this view. Counts the
 * schema requires are 0 there, meaning withheld; `privacy.mode` says which records are private.
 * Without privacy (mode 'off') nothing is guaranteed and everything is shown.
 */
export function withholds(mode: PrivacyMode): boolean {
  return mode !== 'off';
}

const WITHHELD = 'withheld: rounds run with privacy noise, and this number is not in the privacy ledger (docs/privacy.md, "What is released")';

/** A round record as it may leave the aggregator. */
export function publicRoundRecord(report: RoundReport): RoundReport {
  if (!withholds(report.privacy.mode)) return report;
  const { dropouts: _dropouts, ...rest } = report;
  return {
    ...rest,
    cohort: { eligible: report.cohort.eligible, selected: 0, advertised: 0, shared: 0, masked: 0, unmasked: 0 },
    secagg: { ...report.secagg, degree: 0, threshold: 0 },
    metrics: null,
    bytes: { received: 0, sent: 0 },
    backends: {},
  };
}

/** A phase event as the dashboard stream carries it: the cohort's size and who is pending are exact counts. */
export function publicPhaseEvent(event: PhaseEvent, mode: PrivacyMode): PhaseEvent {
  return withholds(mode) ? { ...event, cohort: 0, pending: 0 } : event;
}

/** The running round in /api/status (cohort and pending are exact counts). */
export function publicCurrentRound<T extends { cohort: number; pending: number }>(round: T | null, mode: PrivacyMode): T | null {
  return round && withholds(mode) ? { ...round, cohort: 0, pending: 0 } : round;
}

/** Alerts measured on withheld numbers: accuracy_regression (federated evaluation) and dropout_spike (cohort counts). */
const ALERTS_ON_WITHHELD: readonly AlertKind[] = ['accuracy_regression', 'dropout_spike'];

export function publicAlerts(alerts: Alert[], mode: PrivacyMode): Alert[] {
  return withholds(mode) ? alerts.filter((alert) => !ALERTS_ON_WITHHELD.includes(alert.kind)) : alerts;
}

/**
 * A gate decision without the federated evaluation behind it: which version was released or
 * refused stays public (it is what browsers download), the numbers that decided it do not. The
 * update-norm check measures the difference of two published models, so it stays.
 */
export function publicGateDecision(decision: GateDecision): GateDecision {
  return {
    ...decision,
    reason: `${decision.outcome}; evaluation numbers ${WITHHELD}`,
    checks: decision.checks.map((check) =>
      check.check === 'evaluation' || check.check === 'loss' || check.check === 'top1'
        ? { ...check, value: null, message: `${check.result}; ${WITHHELD}` }
        : check,
    ),
    candidateEvaluation: null,
    releasedEvaluation: null,
  };
}

/** The gate's own audit entries carry its decision's reason as their note. */
function publicAuditEntry(entry: AuditEntry): AuditEntry {
  return entry.actor === 'gate' && entry.note !== null ? { ...entry, note: `evaluation numbers ${WITHHELD}` } : entry;
}

export function publicReleaseSummary(summary: ReleaseSummary, mode: PrivacyMode): ReleaseSummary {
  if (!withholds(mode)) return summary;
  return { ...summary, lastDecision: summary.lastDecision && publicGateDecision(summary.lastDecision) };
}

export function publicReleaseView(view: ReleaseView, mode: PrivacyMode): ReleaseView {
  if (!withholds(mode)) return view;
  return {
    ...view,
    lastDecision: view.lastDecision && publicGateDecision(view.lastDecision),
    decisions: view.decisions.map(publicGateDecision),
    audit: view.audit.map(publicAuditEntry),
  };
}
