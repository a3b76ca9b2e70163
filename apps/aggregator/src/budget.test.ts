import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { pino } from 'pino';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import {
  budgetChangeResponseSchema,
  DASHBOARD_SOCKET_PATH,
  privacySummarySchema,
  releaseViewSchema,
  roundReportSchema,
  roundsPageSchema,
  statusResponseSchema,
  type PhaseEvent,
  type RoundReport,
} from '@murmur/fl-core/protocol';
import { planPrivacyFor, projectPrivacyBudget } from '@murmur/fl-core/round';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_ADMIN_TOKEN, TEST_PLAN_POLICY, TEST_SPEC, testConfig } from './test-helpers';

/**
 * The ε budget and what leaves the aggregator, with a real aggregator, real secure aggregation and
 * six virtual clients at σ = 1. The budget is 1.2× the worst case of one round (q = 1, k_min = 4
 * reports), so round 1 opens and round 2, which would pass it, does not. Everything an outsider can
 * reach is then read: every public endpoint, the dashboard stream, the logs.
 */

const NOISE = 1;
const MIN_REPORTS = 4;

/** What the first round can cost at most: σ = 1 with k_min reports at q = 1 (six clients, all drawn). */
function worstFirstRound(): number {
  const { privacy } = planPrivacyFor({
    mode: 'distributed',
    clipNorm: 1,
    noiseMultiplier: NOISE,
    adaptiveClipping: false,
    minReports: MIN_REPORTS,
    samplingRate: 1,
    population: 6,
  });
  const projection = projectPrivacyBudget({
    ledger: new PrivacyLedger(),
    release: { round: 1, privacy, samplingRate: 1 },
    targetDelta: 1e-5,
    epsilonBudget: null,
  });
  return projection.next as number;
}

const BUDGET = 1.2 * worstFirstRound();
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };

const data = tempDataDir();
const logs: string[] = [];
const streamedRounds: RoundReport[] = [];
const streamedPhases: PhaseEvent[] = [];
let aggregator: RunningAggregator;
let pool: VirtualClientPool;
let dashboard: Socket;

beforeAll(async () => {
  await useNodeBackend('wasm');
  const config = testConfig(data.dir, {
    logLevel: 'debug',
    round: { target: 6, overSelection: 1, minReports: MIN_REPORTS },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: NOISE, targetDelta: 1e-5, epsilonBudget: BUDGET },
    // ε after round 1 is about 0.7 of this budget: the alert must fire on the way to it.
    alerts: { epsilonBudgetShare: 0.5 },
  });
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  aggregator = await startWithEnrollment(config, { logger });
  dashboard = io(aggregator.url, { path: DASHBOARD_SOCKET_PATH, transports: ['websocket'] });
  dashboard.on('round', (report: RoundReport) => streamedRounds.push(report));
  dashboard.on('phase', (event: PhaseEvent) => streamedPhases.push(event));
  pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
});
afterAll(async () => {
  dashboard.disconnect();
  await pool.close();
  await aggregator.close();
  data.remove();
});

const getJson = async (path: string): Promise<{ text: string; value: unknown }> => {
  const response = await fetch(`${aggregator.url}${path}`);
  expect(response.status, path).toBe(200);
  const text = await response.text();
  return { text, value: JSON.parse(text) as unknown };
};

describe('the ε budget', () => {
  it('opens round 1, pauses training before a round that would pass the budget, and says so', async () => {
    await eventually(() => (aggregator.store.rounds.some((r) => r.status === 'committed') ? true : undefined), 60_000, 'round 1 committed');
    const privacy = await eventually(
      async () => {
        const answer = privacySummarySchema.parse((await getJson('/api/privacy')).value);
        return answer.budgetExhausted ? answer : undefined;
      },
      20_000,
      'the budget to stop round 2',
    );
    expect(aggregator.store.rounds).toHaveLength(1);
    expect(privacy.epsilonBudget).toBe(BUDGET);
    expect(privacy.epsilon).toBeLessThanOrEqual(BUDGET);
    expect(privacy.epsilonNextRound).toBeGreaterThan(BUDGET);
    expect(privacy.projectedRoundsLeft).toBe(0);
    // Paused once the pause between rounds is over.
    const status = await eventually(
      async () => {
        const answer = statusResponseSchema.parse((await getJson('/api/status')).value);
        return answer.phase === 'paused' ? answer : undefined;
      },
      5_000,
      'phase paused',
    );
    expect(status.alerts?.map((a) => a.kind)).toContain('epsilon_budget');
    const metrics = await (await fetch(`${aggregator.url}/metrics`)).text();
    expect(metrics).toContain('murmur_privacy_budget_exhausted 1');
    expect(metrics).toMatch(/murmur_privacy_budget_refusals_total [1-9]/);
    expect(metrics).toContain(`murmur_privacy_epsilon_budget ${BUDGET}`);
    const refusal = logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => String(entry.msg).startsWith('privacy budget'));
    expect(refusal).toMatchObject({ level: 40, epsilonBudget: BUDGET, round: 2 });
    expect(refusal?.epsilonNext).toBeGreaterThan(BUDGET);
    // Held, not retried: no round 2 while the budget stands.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(aggregator.store.rounds).toHaveLength(1);
  });

  it('withholds every unnoised metric sum and exact count from everything an outsider can reach', async () => {
    const full = aggregator.store.rounds[0] as RoundReport;
    // The aggregator itself holds the exact figures (its release gate needs them)…
    expect(full.metrics?.examples).toBeGreaterThan(0);
    // Up to six were selected (q = 1 over those checked in: on a loaded machine one may check in
    // after the draw) and one may miss a deadline, never below minReports.
    expect(full.cohort.selected).toBeGreaterThanOrEqual(MIN_REPORTS);
    expect(full.cohort.selected).toBeLessThanOrEqual(6);
    expect(full.cohort.masked).toBeGreaterThanOrEqual(MIN_REPORTS);
    const exact = [full.metrics?.trainLoss, full.metrics?.eval.loss, full.metrics?.eval.top1, full.metrics?.eval.top3].filter(
      (value): value is number => typeof value === 'number' && !Number.isInteger(value),
    );
    expect(exact.length).toBeGreaterThanOrEqual(2);

    // …and publishes none of them.
    const answers = await Promise.all(['/api/status', '/api/privacy', '/api/release', '/api/rounds?limit=100', '/api/rounds/1', '/healthz'].map(getJson));
    const [, , release, page, one] = answers.map((a) => a.value);
    const records = [...roundsPageSchema.parse(page).rounds, roundReportSchema.parse(one), ...streamedRounds];
    expect(records.length).toBeGreaterThanOrEqual(3);
    for (const record of records) {
      expect(record.privacy.mode).toBe('distributed');
      expect(record.metrics).toBeNull();
      expect(record.cohort).toMatchObject({ selected: 0, advertised: 0, shared: 0, masked: 0, unmasked: 0 });
      expect(record.secagg).toMatchObject({ threshold: 0, degree: 0 });
      expect(record.bytes).toEqual({ received: 0, sent: 0 });
      expect(record.backends).toEqual({});
      expect(record.dropouts).toBeUndefined();
      // The model's privacy block is what the ledger accounts for, and stays.
      expect(record.privacy.epsilon).toBe(full.privacy.epsilon);
    }
    for (const decision of releaseViewSchema.parse(release).decisions) {
      expect(decision.candidateEvaluation).toBeNull();
      expect(decision.releasedEvaluation).toBeNull();
      for (const check of decision.checks) if (['evaluation', 'loss', 'top1'].includes(check.check)) expect(check.value).toBeNull();
    }
    expect(streamedPhases.length).toBeGreaterThan(3);
    for (const event of streamedPhases) expect(event).toMatchObject({ cohort: 0, pending: 0 });
    const everything = [...answers.map((a) => a.text), JSON.stringify(streamedRounds), JSON.stringify(streamedPhases), ...logs].join('\n');
    for (const value of exact) expect(everything).not.toContain(String(value));
    expect(everything).not.toMatch(/"(examples|trainLoss|top1|top3|survivors|selected)":[1-9]/);
  });

  it('resumes once an operator raises the budget, and only with the admin token', async () => {
    const denied = await fetch(`${aggregator.url}/api/admin/budget`, { method: 'POST', body: JSON.stringify({ epsilonBudget: 1e6 }) });
    expect(denied.status).toBe(401);
    const malformed = await fetch(`${aggregator.url}/api/admin/budget`, { method: 'POST', headers: auth, body: JSON.stringify({ epsilonBudget: -1 }) });
    expect(malformed.status).toBe(400);
    const raised = await fetch(`${aggregator.url}/api/admin/budget`, { method: 'POST', headers: auth, body: JSON.stringify({ epsilonBudget: 1e6 }) });
    expect(raised.status).toBe(200);
    expect(budgetChangeResponseSchema.parse(await raised.json())).toMatchObject({ epsilonBudget: 1e6, budgetExhausted: false });
    await eventually(() => (aggregator.store.rounds.filter((r) => r.status === 'committed').length >= 2 ? true : undefined), 60_000, 'round 2 committed');
    const privacy = privacySummarySchema.parse((await getJson('/api/privacy')).value);
    expect(privacy.budgetExhausted).toBe(false);
    expect(privacy.projectedRoundsLeft).toBeGreaterThan(1000);
    // The alert measures against the budget in force, not the configured one (alerts are evaluated at most once a second).
    await eventually(
      async () => {
        const answer = statusResponseSchema.parse((await getJson('/api/status')).value);
        return answer.alerts?.some((a) => a.kind === 'epsilon_budget') ? undefined : true;
      },
      5_000,
      'the budget alert to clear',
    );
    expect(await (await fetch(`${aggregator.url}/metrics`)).text()).toContain('murmur_privacy_epsilon_budget 1000000');
  });
});
