import type { Alert, AlertKind } from '@murmur/fl-core/protocol';

/** What an alert means for an operator, above the aggregator's own sentence with the numbers. */
function headline(alert: Alert): string {
  switch (alert.kind) {
    case 'accuracy_regression':
      return 'The model got worse';
    case 'dropout_spike':
      return 'Many devices dropped out of a round';
    case 'epsilon_budget':
      return alert.value >= 1 ? 'The privacy budget is spent' : 'The privacy budget is nearly spent';
    case 'no_commit':
      return 'Training has stalled';
    default: {
      const unreachable: never = alert.kind;
      return unreachable;
    }
  }
}

const WHAT_TO_DO: Record<AlertKind, string> = {
  accuracy_regression: 'Suggestions stay on the released version while the gate refuses worse candidates; check recent plan changes in the Rounds table.',
  dropout_spike: 'Open the round in the Rounds table to see at which phase devices left and whether they went silent or disconnected.',
  epsilon_budget: 'Pause rounds, or raise the noise (σ) in the Admin panel to spend it more slowly.',
  no_commit: 'Check that devices are connecting and whether rounds abort (Rounds table).',
};

/**
 * Alerts the aggregator evaluates (GET /api/status `alerts`, thresholds in its configuration;
 * the same ones Prometheus fires on). `null`: the aggregator did not say (an older one, or no
 * status yet), which is not the same as "no alerts".
 */
export function AlertsPanel({ alerts }: { alerts: readonly Alert[] | null }) {
  return (
    <section className="dash-card" aria-label="Alerts" data-testid="dash-alerts">
      <h2>Alerts</h2>
      {alerts === null ? (
        <p className="dash-muted">Waiting for the aggregator’s alerts…</p>
      ) : alerts.length === 0 ? (
        <p className="dash-muted" data-testid="dash-no-alerts">
          No alerts: accuracy, dropouts, the privacy budget and round progress are within their thresholds.
        </p>
      ) : (
        <ul className="dash-alerts">
          {alerts.map((alert) => (
            <li key={alert.kind} className="dash-alert" data-testid="dash-alert" data-kind={alert.kind}>
              <strong>{headline(alert)}</strong>
              <p>{alert.message}</p>
              <p className="dash-muted">{WHAT_TO_DO[alert.kind]}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
