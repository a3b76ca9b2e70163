import { describe, expect, it } from 'vitest';
import type { RoundPlan } from '@murmur/fl-core/protocol';
import { gauge, harness } from './coordinator-harness';
import { eventually } from './test-helpers';

/**
 * What a finished round leaves behind in the coordinator beyond its record: who sits out the next
 * rounds after a rejected sum, the plan the next round starts from, the gauges, and the operator's
 * log lines of a committed and an aborted round.
 */

const CHECK_IN = { consent: true, backend: 'cpu' } as const;

describe('RoundCoordinator after a round', () => {
  it('benches the survivors of a rejected sum after participation.rejectedRoundsToBench of them', async () => {
    const { firstReport, coordinator, tokens } = await harness(
      5,
      { 2: { update: 0.9 } },
      { round: { target: 5, minReports: 4 }, participation: { rejectedRoundsToBench: 1 } },
    );
    expect((await firstReport()).abort?.code).toBe('REJECTED_SUM');
    for (const token of tokens) {
      expect(coordinator.checkIn(token, CHECK_IN)).toMatchObject({
        status: 'ineligible',
        reason: { code: 'BENCHED', message: 'checkIn: in 1 rejected sums in a row; not selected for another 60 s' },
      });
    }
  });

  it('a committed round clears its survivors’ run of rejected sums: one rejected sum on each side of it benches nobody', async () => {
    // Client 2 is dishonest in rounds 1 and 3 only; two rejected sums in a row would bench every survivor.
    const { firstReport, coordinator, tokens, reports } = await harness(
      5,
      { 2: { update: 0.9, updateInRounds: [1, 3] } },
      { round: { target: 5, minReports: 4, pauseMs: 50 }, participation: { rejectedRoundsToBench: 2, rejectedSamplingCap: 1 } },
    );
    expect((await firstReport()).abort?.code).toBe('REJECTED_SUM');
    for (const round of [2, 3]) {
      for (const token of tokens) expect(coordinator.checkIn(token, CHECK_IN)).toEqual({ status: 'waiting', retryAfterMs: 0 });
      await eventually(() => reports[round - 1], 60_000, `round ${round}'s record`);
    }
    expect(reports.map((report) => report.status)).toEqual(['aborted', 'committed', 'aborted']);
    for (const token of tokens) expect(coordinator.checkIn(token, CHECK_IN)).toEqual({ status: 'waiting', retryAfterMs: 0 });
  });

  it('after a rejected sum samples fewer, but never fewer than minReports expected: the plan keeps k_min = minReports', async () => {
    // q = min(½, 5/5) would make m = q·N = 3 < minReports = 4, so k_min = 3: a plan devices that
    // require a cohort of minReports refuse (silent, then benched). q stays at minReports/N = 4/5.
    const { firstReport, coordinator, tokens, reports, sentTo } = await harness(
      5,
      { 2: { update: 0.9, updateInRounds: [1] } },
      { round: { target: 5, minReports: 4, pauseMs: 50 }, participation: { rejectedRoundsToBench: 10, rejectedSamplingCap: 0.5 } },
    );
    const rejected = await firstReport();
    expect(rejected.abort?.code).toBe('REJECTED_SUM');
    expect(rejected.privacy.samplingRate).toBe(1);
    for (const token of tokens) expect(coordinator.checkIn(token, CHECK_IN)).toEqual({ status: 'waiting', retryAfterMs: 0 });
    const next = await eventually(() => reports[1], 60_000, "round 2's record");
    expect(next.privacy.samplingRate).toBe(4 / 5);
    const plans = tokens.flatMap((token) => sentTo(token, 'roundPlan') as RoundPlan[]).filter((plan) => plan.round === 2);
    expect(plans.length).toBeGreaterThanOrEqual(4);
    for (const plan of plans) expect(plan.privacy).toMatchObject({ expectedCohortSize: 4, minSurvivors: 4 });
  });

  it('starts the next round from the adaptive clip norm, and sets the version and ε gauges', async () => {
    const { firstReport, coordinator, metrics, logs, store } = await harness(
      5,
      {},
      { round: { target: 5, minReports: 4 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.02, adaptiveClipping: {} } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    const next = report.privacy.nextClipNorm;
    expect(next).toBeDefined();
    expect(next).not.toBe(1);
    expect(coordinator.plan.clipNorm).toBe(next);
    expect(await gauge(metrics.modelVersion)).toBe(1);
    expect(report.privacy.epsilon).not.toBeNull();
    expect(await gauge(metrics.epsilon)).toBe(report.privacy.epsilon);
    // A noised round's log: no survivors or evaluation, the rest as recorded.
    const [committed] = logs.filter((line) => line['msg'] === 'round committed');
    expect(committed).toEqual(
      expect.objectContaining({
        round: 1,
        roundId: report.roundId,
        modelVersion: 1,
        trainedFrom: 0,
        released: store.release.released,
        epsilon: report.privacy.epsilon,
        durationsMs: report.durationsMs,
      }),
    );
    expect(committed).not.toHaveProperty('eval');
  });

  it('logs a committed round’s evaluation with privacy off, and leaves the clip norm and the ε gauge alone without them', async () => {
    const { firstReport, coordinator, metrics, logs, reports } = await harness(
      5,
      {},
      { round: { target: 5, minReports: 4 }, privacy: { mode: 'off', noiseMultiplier: 0 } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(coordinator.plan.clipNorm).toBe(1);
    expect(report.privacy.epsilon).toBeNull();
    expect(await gauge(metrics.epsilon)).toBe(0);
    const [committed] = logs.filter((line) => line['msg'] === 'round committed');
    expect(committed).toMatchObject({ survivors: 5, eval: reports[0]?.metrics?.eval, epsilon: null });
    expect(reports[0]?.metrics?.eval).toBeDefined();
    // Nobody was capped (every client on its own network): no cap line, nothing counted.
    expect(logs.filter((line) => line['msg'] === 'cohort cap per network: clients drawn beyond it are not selected this round')).toEqual([]);
  });

  it('logs an aborted round with its reason and the cohort as published', async () => {
    const { firstReport, logs, reports, phases } = await harness(
      5,
      { 0: { dropOn: 'roundPlan' }, 1: { dropOn: 'roundPlan' }, 2: { dropOn: 'roundPlan' } },
      { round: { target: 5, minReports: 4 } },
    );
    const report = await firstReport();
    expect(report.abort?.code).toBe('BELOW_THRESHOLD');
    expect(logs.filter((line) => line['msg'] === 'round aborted; model untouched')).toEqual([
      expect.objectContaining({
        level: 40,
        round: 1,
        roundId: report.roundId,
        code: 'BELOW_THRESHOLD',
        reason: report.abort?.message,
        cohort: reports[0]?.cohort,
      }),
    ]);
    expect(phases.map((event) => event.phase)).toEqual(['checkin', 'advertiseKeys', 'commit', 'idle']);
  });

  it('times every SecAgg stage in the phase histogram and counts each in the funnel and the byte counters as recorded', async () => {
    const { firstReport, metrics } = await harness(5, {}, { round: { target: 5, minReports: 4 } });
    const report = await firstReport();
    expect(report.status).toBe('committed');
    const observed = async (phase: string, suffix: 'count' | 'sum') =>
      (await metrics.phaseSeconds.get()).values.find((v) => v.metricName === `murmur_phase_duration_seconds_${suffix}` && v.labels['phase'] === phase)?.value;
    for (const stage of ['advertiseKeys', 'shareKeys', 'maskedInput', 'unmasking']) {
      expect(await observed(stage, 'count')).toBe(1);
      expect(await observed(stage, 'sum')).toBeCloseTo((report.durationsMs[stage] ?? Number.NaN) / 1000, 9);
    }
    expect(await observed('consistencyCheck', 'count')).toBeUndefined();
    for (const stage of ['eligible', 'selected', 'advertised', 'shared', 'masked', 'unmasked']) expect(await gauge(metrics.funnel, { stage })).toBe(5);
    expect(await gauge(metrics.bytes, { direction: 'received' })).toBe(report.bytes.received);
    // Sent: everything before the record, then one roundEnd per member.
    expect(await gauge(metrics.bytes, { direction: 'sent' })).toBeGreaterThan(report.bytes.sent);
  });
});
