import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { decodeModelPayload } from '@murmur/fl-core/model';
import { DASHBOARD_SOCKET_PATH, privacySummarySchema, roundsPageSchema, statusResponseSchema, type RoundReport } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';

let aggregator: RunningAggregator;
let pool: VirtualClientPool;
const data = tempDataDir();
const streamed: RoundReport[] = [];
const phases: string[] = [];

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(testConfig(data.dir), { logger: testLogger() });
  const dashboard = io(aggregator.url, { path: DASHBOARD_SOCKET_PATH, transports: ['websocket'] });
  dashboard.on('round', (report: RoundReport) => streamed.push(report));
  dashboard.on('phase', (event: { phase: string }) => phases.push(event.phase));
  pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
});
afterAll(async () => {
  await pool.close();
  await aggregator.close();
  data.remove();
});

describe('rounds over Socket.IO with secure aggregation and distributed DP', () => {
  it('commits rounds continuously and the securely summed evaluation improves', async () => {
    const rounds = await eventually(
      () => (aggregator.store.rounds.filter((r) => r.status === 'committed').length >= 5 ? aggregator.store.rounds : undefined),
      90_000,
      '5 committed rounds',
    );
    const committed = rounds.filter((r) => r.status === 'committed');
    for (const report of committed) {
      expect(report.cohort).toMatchObject({ selected: 6, advertised: 6, shared: 6, masked: 6, unmasked: 6 });
      expect(report.secagg).toMatchObject({ graph: 'full', threshold: 4, modulusBits: 32 });
      expect(report.metrics?.eval.count).toBeGreaterThan(0);
      expect(report.privacy.mode).toBe('distributed');
    }
    const first = committed[0]?.metrics?.eval;
    const last = committed[committed.length - 1]?.metrics?.eval;
    // Round r evaluates the model it starts from on held-out local examples: later rounds see better models.
    expect(last?.loss).toBeLessThan((first?.loss as number) - 0.5);
    expect(last?.top1).toBeGreaterThan(first?.top1 as number);
    const epsilons = committed.map((r) => r.privacy.epsilon as number);
    expect(epsilons.every((e, i) => i === 0 || e > (epsilons[i - 1] as number))).toBe(true);
    expect(aggregator.store.modelVersion).toBeGreaterThanOrEqual(5);
  });

  it('serves every committed version with its hash, streams records and phases, and pages the log', async () => {
    const version = aggregator.store.modelVersion;
    const res = await fetch(`${aggregator.url}/api/model/${version}`);
    expect(res.headers.get('cache-control')).toContain('immutable');
    const payload = decodeModelPayload(new Uint8Array(await res.arrayBuffer()));
    expect(res.headers.get('etag')).toBe(`"${payload.hash}"`);
    const again = await fetch(`${aggregator.url}/api/model/${version}`, { headers: { 'if-none-match': `"${payload.hash}"` } });
    expect(again.status).toBe(304);
    const latest = await fetch(`${aggregator.url}/api/model/latest`);
    expect(latest.headers.get('cache-control')).toBe('no-cache');

    await eventually(() => (streamed.length >= 2 ? true : undefined), 10_000, 'streamed records');
    expect(phases).toEqual(expect.arrayContaining(['checkin', 'advertiseKeys', 'shareKeys', 'maskedInput', 'unmasking', 'aggregate', 'commit']));
    // Every answer is what fl-core's REST schemas (the dashboard's edge) accept.
    const page = roundsPageSchema.parse(await (await fetch(`${aggregator.url}/api/rounds?limit=2`)).json());
    expect(page.rounds).toHaveLength(2);
    expect(page.rounds[0]?.round).toBeGreaterThan(page.rounds[1]?.round as number);
    const one = (await (await fetch(`${aggregator.url}/api/rounds/1`)).json()) as RoundReport;
    expect(one.round).toBe(1);
    const privacyAnswer = (await (await fetch(`${aggregator.url}/api/privacy`)).json()) as { ledger: { entries: unknown[] } };
    const privacy = privacySummarySchema.parse(privacyAnswer);
    expect(privacyAnswer.ledger.entries.length).toBeGreaterThanOrEqual(5);
    expect(privacy.epsilon).toBeGreaterThan(0);
    expect(privacy.epsilonBudget).toBeNull();
    expect(privacy.projectedRoundsLeft).toBeNull();
    // What a dashboard needs for the phase countdown and the model list.
    const status = statusResponseSchema.parse(await (await fetch(`${aggregator.url}/api/status`)).json());
    expect(Date.parse(status.phaseStartedAt ?? '')).toBeLessThanOrEqual(Date.now());
    expect(status.deadlines).toEqual(aggregator.config.round.deadlines);
    expect(status.oldestModelVersion).toBe(Math.max(0, status.modelVersion - aggregator.config.limits.keepModels + 1));
    const metrics = await (await fetch(`${aggregator.url}/metrics`)).text();
    expect(metrics).toMatch(/murmur_rounds_total\{status="committed"\} \d+/);
    expect(metrics).toMatch(/murmur_connected_clients 6/);
    expect(metrics).toMatch(/murmur_phase_duration_seconds_bucket\{le="[^"]+",phase="maskedInput"\}/);
    // No budget here (budget.test.ts has one): no budget alert, no hold.
    expect(status.alerts?.map((a) => a.kind)).not.toContain('no_commit');
    expect(metrics).toContain('murmur_alert_active{alert="epsilon_budget"} 0');
    expect(metrics).toContain('murmur_privacy_budget_exhausted 0');
    expect(metrics).toContain('murmur_alert_active{alert="no_commit"} 0');
    expect(metrics).toContain('murmur_rounds_paused 0');
    expect(metrics).toMatch(/murmur_seconds_since_last_commit \d/);
  });
});
