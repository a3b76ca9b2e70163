import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one aggregator (a registry per instance, so tests can run several).
 * Names carry units; the cohort funnel is one counter with a stage label, so a dashboard can
 * divide neighbouring stages to get per-phase survival.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'murmur_process_' });
  return {
    registry,
    rounds: new Counter({ name: 'murmur_rounds_total', help: 'Finished rounds by outcome', labelNames: ['status'] as const, registers: [registry] }),
    funnel: new Counter({
      name: 'murmur_cohort_clients_total',
      help: 'Clients through each stage of the round funnel (checked_in, eligible, selected, advertised, shared, masked, unmasked)',
      labelNames: ['stage'] as const,
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
    protocolErrors: new Counter({
      name: 'murmur_protocol_errors_total',
      help: 'Rejected client events by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  };
}

export type AggregatorMetrics = ReturnType<typeof createMetrics>;
