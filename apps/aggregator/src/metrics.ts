import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AlertCheck, AlertMeasures } from './alerts';

/** What the alert gauges read at each scrape (alerts.ts evaluateAlerts over the running aggregator). */
export type AlertSource = () => { measures: AlertMeasures; checks: AlertCheck[] };

/**
 * Prometheus metrics of one aggregator (a registry per instance, so tests can run several).
 * Names carry units; the cohort funnel is one counter with a stage label, so a dashboard can
 * divide neighbouring stages to get per-phase survival.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'murmur_process_' });
  // Alerts depend on the clock (no_commit), so their gauges are computed at scrape time; NaN
  // (nothing to measure) compares false in Prometheus, so a rule on it stays quiet.
  let alertSource: AlertSource | null = null;
  const measure = (gauge: Gauge, pick: (m: AlertMeasures) => number | null | boolean) => {
    if (!alertSource) return gauge.set(Number.NaN);
    const value = pick(alertSource().measures);
    gauge.set(value === null ? Number.NaN : Number(value));
  };
  const measureGauge = (name: string, help: string, pick: (m: AlertMeasures) => number | null | boolean) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        measure(this, pick);
      },
    });
  return {
    registry,
    /** Called once the aggregator's parts exist. */
    setAlertSource(source: AlertSource) {
      alertSource = source;
    },
    alertActive: new Gauge({
      name: 'murmur_alert_active',
      help: 'Operator alerts by kind: 1 while firing under the configured thresholds (docs/dashboard.md)',
      labelNames: ['alert'] as const,
      registers: [registry],
      collect() {
        if (!alertSource) return;
        for (const check of alertSource().checks) this.set({ alert: check.kind }, check.active ? 1 : 0);
      },
    }),
    evalLossIncrease: measureGauge(
      'murmur_eval_loss_increase_nats',
      "Newest federated eval loss minus the released model's (nats; NaN without both evaluations)",
      (m) => m.lossIncreaseNats,
    ),
    evalTop1Drop: measureGauge(
      'murmur_eval_top1_drop_ratio',
      "Released model's federated top-1 minus the newest (a fraction; NaN without both evaluations)",
      (m) => m.top1Drop,
    ),
    dropoutRatio: measureGauge(
      'murmur_round_dropout_ratio',
      "Share of the newest round's selected clients that dropped before their masked input arrived",
      (m) => m.dropoutShare,
    ),
    epsilonBudgetUsed: measureGauge(
      'murmur_privacy_epsilon_budget_used_ratio',
      'ε spent over the configured budget (NaN without a budget)',
      (m) => m.epsilonBudgetShare,
    ),
    secondsSinceCommit: measureGauge(
      'murmur_seconds_since_last_commit',
      'Seconds since the newest committed round (or since the aggregator started, if later)',
      (m) => m.minutesSinceCommit * 60,
    ),
    paused: measureGauge('murmur_rounds_paused', '1 while an operator holds rounds', (m) => m.paused),
    rounds: new Counter({ name: 'murmur_rounds_total', help: 'Finished rounds by outcome', labelNames: ['status'] as const, registers: [registry] }),
    funnel: new Counter({
      name: 'murmur_cohort_clients_total',
      help: 'Clients through each stage of the round funnel (checked_in, eligible, selected, advertised, shared, masked, unmasked)',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    paced: new Counter({
      name: 'murmur_checkins_paced_total',
      help: 'Check-ins answered `later` by pace steering (enough clients were already waiting)',
      registers: [registry],
    }),
    cappedByNetwork: new Counter({
      name: 'murmur_cohort_capped_total',
      help: 'Clients a Poisson draw selected but the per-network cohort cap (round.maxPerNetwork) left out of their round',
      registers: [registry],
    }),
    dropouts: new Counter({
      name: 'murmur_dropouts_total',
      help: 'Selected clients a phase closed without, by phase and reason (silent: connected but no answer; disconnected)',
      labelNames: ['phase', 'reason'] as const,
      registers: [registry],
    }),
    phaseSeconds: new Histogram({
      name: 'murmur_phase_duration_seconds',
      help: 'Duration of round phases',
      labelNames: ['phase'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'murmur_round_bytes_total',
      help: 'Round payload bytes by direction',
      labelNames: ['direction'] as const,
      registers: [registry],
    }),
    connected: new Gauge({ name: 'murmur_connected_clients', help: 'Connected Socket.IO clients (main namespace)', registers: [registry] }),
    modelVersion: new Gauge({ name: 'murmur_model_version', help: 'Newest committed model version (the latest candidate)', registers: [registry] }),
    releasedVersion: new Gauge({
      name: 'murmur_released_model_version',
      help: 'Model version browsers download for suggestions (released by the gate or an operator)',
      registers: [registry],
    }),
    gateDecisions: new Counter({
      name: 'murmur_release_gate_decisions_total',
      help: 'Release gate decisions on candidates by outcome (pending, released, refused)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    epsilon: new Gauge({ name: 'murmur_privacy_epsilon', help: 'Privacy spent so far (ε at the configured δ)', registers: [registry] }),
    epsilonBudget: new Gauge({
      name: 'murmur_privacy_epsilon_budget',
      help: 'The ε budget at the configured δ (privacy.epsilonBudget or an operator’s change; NaN without a budget)',
      registers: [registry],
    }),
    budgetExhausted: new Gauge({
      name: 'murmur_privacy_budget_exhausted',
      help: '1 while training is paused because the next round would take ε past the budget',
      registers: [registry],
    }),
    budgetRefusals: new Counter({
      name: 'murmur_privacy_budget_refusals_total',
      help: 'Rounds not opened because they would have taken ε past the budget',
      registers: [registry],
    }),
    budgetRoundsLeft: new Gauge({
      name: 'murmur_privacy_budget_rounds_left',
      help: 'Rounds the budget allows at the plan of the newest round attempt, charged k_min reports each (NaN without a budget)',
      registers: [registry],
    }),
    leaseHeld: new Gauge({
      name: 'murmur_task_lease_held',
      help: 'Distributed mode: 1 while this process holds the task lease (it is the task coordinator)',
      registers: [registry],
    }),
    roundGroups: new Gauge({ name: 'murmur_round_groups', help: 'Distributed mode: group sums the last round added', registers: [registry] }),
    coordinationBytes: new Gauge({
      name: 'murmur_round_coordination_bytes',
      help: 'Distributed mode: bytes of group sums the last round held in Redis (processes × (4d + 12) + 4 × groups)',
      registers: [registry],
    }),
    protocolErrors: new Counter({
      name: 'murmur_protocol_errors_total',
      help: 'Rejected client events by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  };
}

export type AggregatorMetrics = ReturnType<typeof createMetrics>;
