import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERT_KINDS, type RoundReport } from '@murmur/fl-core/protocol';
import { droppedByPhase, judgeAlerts, measureAlerts, type AlertInputs } from './alerts';
import { makeConfig } from './config';
import { createMetrics } from './metrics';

const THRESHOLDS = makeConfig({}).alerts;
const NOW = Date.parse('2026-01-01T12:00:00Z');

function report(overrides: Partial<RoundReport> = {}): RoundReport {
  return {
    round: 12,
    roundId: 'r12',
    status: 'committed',
    startedAt: '2026-01-01T11:59:00Z',
    endedAt: '2026-01-01T11:59:30Z',
    modelVersion: { from: 9, to: 10 },
    abort: null,
    cohort: { eligible: 14, selected: 10, advertised: 10, shared: 10, masked: 10, unmasked: 10 },
    secagg: { graph: 'full', degree: 9, threshold: 6, modulusBits: 32, vectorLength: 100 },
    metrics: { examples: 100, trainLoss: 4, eval: { count: 50, loss: 4, top1: 0.1, top3: 0.2 } },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.05, recordedNoiseMultiplier: 0.05, samplingRate: 0.5, epsilon: 10, delta: 1e-5 },
    bytes: { received: 0, sent: 0 },
    durationsMs: {},
    backends: {},
    ...overrides,
  };
}

function inputs(overrides: Partial<AlertInputs> = {}): AlertInputs {
  return {
    nowMs: NOW,
    paused: false,
    latestRound: report(),
    latestEvaluation: { version: 9, round: 12, loss: 4.0, top1: 0.106 },
    releasedEvaluation: { version: 9, round: 12, loss: 4.0, top1: 0.106 },
    epsilon: 10,
    epsilonBudget: null,
    lastCommitMs: NOW - 60_000,
    ...overrides,
  };
}

const judge = (i: AlertInputs, thresholds = THRESHOLDS) => judgeAlerts(measureAlerts(i), thresholds, i);
const firing = (i: AlertInputs, thresholds = THRESHOLDS) => judge(i, thresholds).flatMap((c) => (c.alert ? [c.alert] : []));

describe('alerts', () => {
  it('stay quiet on a healthy aggregator, and judge every kind', () => {
    const checks = judge(inputs());
    expect(checks.map((c) => c.kind)).toEqual([...ALERT_KINDS]);
    expect(checks.every((c) => !c.active && c.alert === null)).toBe(true);
  });

  it('accuracy regression: eval loss or top-1 worse than the released model beyond the tolerance', () => {
    // The σ = 1 incident of issue 17: loss 4.01 → 10.2, top-1 10.6% → 0.1%.
    const bad = inputs({
      latestEvaluation: { version: 11, round: 13, loss: 10.2, top1: 0.001 },
      releasedEvaluation: { version: 5, round: 8, loss: 4.01, top1: 0.106 },
    });
    expect(firing(bad)).toEqual([
      {
        kind: 'accuracy_regression',
        value: expect.closeTo(6.19, 10),
        threshold: 0.1,
        message:
          'Accuracy regression: v11 (evaluated in round 13) is worse than the released v5: eval loss 10.20 nats against 4.01 (+6.19; alert above +0.1); top-1 0.1% against 10.6% (−10.5 points; alert beyond −2.0 points).',
      },
    ]);
    // Within the tolerance is not a regression; just past it is.
    const released = { version: 5, round: 8, loss: 4, top1: 0.5 };
    expect(firing(inputs({ releasedEvaluation: released, latestEvaluation: { version: 6, round: 9, loss: 4.09, top1: 0.485 } }))).toEqual([]);
    expect(firing(inputs({ releasedEvaluation: released, latestEvaluation: { version: 6, round: 9, loss: 4.1001, top1: 0.5 } }))[0]?.kind).toBe(
      'accuracy_regression',
    );
    const top1Only = firing(inputs({ releasedEvaluation: released, latestEvaluation: { version: 6, round: 9, loss: 3.9, top1: 0.47 } }))[0];
    expect(top1Only).toMatchObject({ value: expect.closeTo(0.03, 10), threshold: 0.02 });
    expect(top1Only?.message).not.toContain('eval loss');
    // Nothing to compare with: no alert.
    expect(firing(inputs({ releasedEvaluation: null, latestEvaluation: { version: 6, round: 9, loss: 99, top1: 0 } }))).toEqual([]);
  });

  it('dropout spike: the share lost before the masked input, with where and why from the record', () => {
    const spiky = report({
      cohort: { eligible: 14, selected: 10, advertised: 7, shared: 6, masked: 6, unmasked: 5 },
      dropouts: {
        advertiseKeys: { silent: 2, disconnected: 1 },
        shareKeys: { silent: 0, disconnected: 1 },
        maskedInput: { silent: 0, disconnected: 0 },
        unmasking: { silent: 1, disconnected: 0 },
      },
    });
    expect(firing(inputs({ latestRound: spiky }))).toEqual([
      {
        kind: 'dropout_spike',
        value: 0.4,
        threshold: 0.3,
        message:
          'Dropout spike: round 12 lost 4 of 10 selected clients before their update arrived (40%; alert above 30%): 3 at training and key advertisement (2 silent, 1 disconnected), 1 at key sharing (0 silent, 1 disconnected).',
      },
    ]);
    // Losses at unmasking keep the input in the sum: they do not count.
    const lateOnly = report({ cohort: { eligible: 10, selected: 10, advertised: 10, shared: 10, masked: 10, unmasked: 4 } });
    expect(measureAlerts(inputs({ latestRound: lateOnly })).dropoutShare).toBe(0);
    // A round stopped by a shutdown before any phase closed lost no one.
    const stopped = report({ status: 'aborted', cohort: { eligible: 10, selected: 10, advertised: 0, shared: 0, masked: 0, unmasked: 0 }, dropouts: {} });
    expect(measureAlerts(inputs({ latestRound: stopped })).dropoutShare).toBe(0);
  });

  it('reads dropouts from the funnel in records written before they were recorded', () => {
    const old = report({ cohort: { eligible: 10, selected: 10, advertised: 8, shared: 8, masked: 5, unmasked: 5 } });
    expect(droppedByPhase(old)).toEqual([
      { phase: 'advertiseKeys', silent: null, disconnected: null, total: 2 },
      { phase: 'maskedInput', silent: null, disconnected: null, total: 3 },
    ]);
    expect(firing(inputs({ latestRound: old }))[0]?.message).toBe(
      'Dropout spike: round 12 lost 5 of 10 selected clients before their update arrived (50%; alert above 30%): 2 at training and key advertisement, 3 at masked input.',
    );
  });

  it('ε budget: from the configured share of the budget, none without a budget', () => {
    expect(firing(inputs({ epsilon: 79, epsilonBudget: 100 }))).toEqual([]);
    expect(firing(inputs({ epsilon: 80, epsilonBudget: 100 }))).toEqual([
      {
        kind: 'epsilon_budget',
        value: 0.8,
        threshold: 0.8,
        message: 'Privacy budget nearly spent: ε 80 of the budget 100 (80%; alert at 80%). No round opens that would pass it.',
      },
    ]);
    expect(firing(inputs({ epsilon: 231.4, epsilonBudget: 100 }))[0]?.message).toMatch(/^Privacy budget spent: ε 231 of the budget 100 \(231%/);
    expect(firing(inputs({ epsilon: 1291.3, epsilonBudget: 10 }))[0]?.message).toMatch(/^Privacy budget spent: ε 1,291 of the budget 10 \(12913%/);
    expect(firing(inputs({ epsilon: 0.4567, epsilonBudget: 0.5 }))[0]?.message).toMatch(/^Privacy budget nearly spent: ε 0.457 of the budget 0.5 /);
    expect(firing(inputs({ epsilon: 1e6, epsilonBudget: null }))).toEqual([]);
    expect(firing(inputs({ epsilon: null, epsilonBudget: 1 }))).toEqual([]);
  });

  it('no commit for N minutes, except while an operator holds rounds', () => {
    const stalled = inputs({ lastCommitMs: NOW - 17.5 * 60_000 });
    expect(firing(stalled)).toEqual([
      { kind: 'no_commit', value: 17.5, threshold: 15, message: 'No round has committed for 17 minutes (alert after 15), and rounds are not paused.' },
    ]);
    expect(firing({ ...stalled, paused: true })).toEqual([]);
    expect(firing(inputs({ lastCommitMs: NOW - 14 * 60_000 }))).toEqual([]);
    expect(firing(stalled, { ...THRESHOLDS, noCommitMinutes: 20 })).toEqual([]);
  });
});

interface Rule {
  alert: string;
  expr: string;
  labels: { murmur_alert: string };
}

describe('prometheus/alerts.yml', () => {
  const rules = (parse(readFileSync(new URL('../prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
    (g) => g.rules,
  );
  const { registry } = createMetrics();

  it('has one rule per alert kind', () => {
    expect(rules.map((r) => r.labels.murmur_alert).sort()).toEqual([...ALERT_KINDS].sort());
  });

  it('references only metrics the aggregator registers', () => {
    for (const rule of rules) {
      const names = rule.expr.match(/\bmurmur_[a-z0-9_]+\b/g) ?? [];
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(registry.getSingleMetric(name), `${rule.alert}: ${name}`).toBeDefined();
    }
  });

  it('fires at the documented default thresholds', () => {
    const expr = (kind: string) => rules.find((r) => r.labels.murmur_alert === kind)?.expr;
    expect(expr('accuracy_regression')).toBe(
      `murmur_eval_loss_increase_nats > ${THRESHOLDS.lossIncrease} or murmur_eval_top1_drop_ratio > ${THRESHOLDS.top1Drop}`,
    );
    expect(expr('dropout_spike')).toBe(`murmur_round_dropout_ratio > ${THRESHOLDS.dropoutShare}`);
    expect(expr('epsilon_budget')).toBe(`murmur_privacy_epsilon_budget_used_ratio >= ${THRESHOLDS.epsilonBudgetShare}`);
    expect(expr('no_commit')).toBe(`murmur_seconds_since_last_commit > ${THRESHOLDS.noCommitMinutes} * 60 and on() murmur_rounds_paused == 0`);
  });
});
