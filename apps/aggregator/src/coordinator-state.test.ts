import { describe, expect, it } from 'vitest';
import type { RoundPlan } from '@murmur/fl-core/protocol';
import { gauge, harness } from './coordinator-harness';
import { eventually } from './test-helpers';

/**
 * What the coordinator tells the rest of the aggregator between and during rounds (the admin API,
 * /api/status and the dashboard read these): its getters, the phase events, and the ε-budget
 * projection an operator sees before a round opens.
 */

describe('RoundCoordinator state as the rest of the aggregator reads it', () => {
  it('projects the budget at q = wanted / N: N configured, else the last selection’s eligible clients, else the round itself', async () => {
    // Wanted ⌈3 × 2⌉ = 6, minReports 7 of 4 clients: no round opens.
    const idle = await harness(4, {}, { round: { target: 3, overSelection: 2, minReports: 7 } });
    expect(idle.coordinator.budgetProjection().charge).toMatchObject({ round: 1, samplingRate: 1 });
    const configured = await harness(4, {}, { round: { target: 3, overSelection: 2, minReports: 7 }, privacy: { population: 24 } });
    expect(configured.coordinator.budgetProjection().charge).toMatchObject({ round: 1, samplingRate: 0.25 });
    // Another plan and sampling rate, as the task coordinator asks before it opens a round.
    const asked = configured.coordinator.projectRound({ ...configured.coordinator.plan, noiseMultiplier: 1 }, 0.3, 100, 7);
    expect(asked.charge).toMatchObject({ round: 7, samplingRate: 0.3 });
    expect(asked.next).toBeLessThan(configured.coordinator.budgetProjection().next ?? 0);

    // 12 eligible at the last selection, wanted 5: q = 5/12 for round 2.
    const ran = await harness(12, {}, { round: { target: 5, minReports: 4 } });
    expect((await ran.firstReport()).status).toBe('committed');
    expect(ran.coordinator.budgetProjection().charge).toMatchObject({ round: 2, samplingRate: 5 / 12 });
  });

  it('projects a discrete round at the largest cohort the draw is likely to give, ⌈target × overSelection⌉, as the round will plan it', async () => {
    // Wanted ⌈500 × 2⌉ = 1,000 of 3 clients: no round opens. At 1,000 the scale is 2 bits finer than at 250 or at minReports 4.
    const { coordinator } = await harness(
      3,
      {},
      { round: { target: 500, minReports: 4, overSelection: 2 }, privacy: { mode: 'distributed', noise: 'discrete', clipNorm: 1, noiseMultiplier: 0.7 } },
    );
    const projection = coordinator.budgetProjection();
    expect(projection).toEqual(coordinator.projectRound(coordinator.plan, 1, 1_000, 1, undefined, 1_000));
    const sensitivity = (clients: number) => coordinator.projectRound(coordinator.plan, 1, 1_000, 1, undefined, clients).charge?.discrete?.l2Sensitivity;
    expect(projection.charge?.discrete?.l2Sensitivity).not.toBe(sensitivity(250));
    expect(projection.charge?.discrete?.l2Sensitivity).not.toBe(sensitivity(4));
  });

  it('waits in one check-in phase until minReports clients are in, and samples q = ⌈target × overSelection⌉ / N', async () => {
    const waiting = await harness(3, {}, { round: { target: 4, minReports: 4, checkinMs: 100 } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(waiting.phases.map((event) => event.phase)).toEqual(['checkin']);
    // Wanted ⌈3 × 2⌉ = 6 of 12 eligible.
    const over = await harness(12, {}, { round: { target: 3, overSelection: 2, minReports: 2 } });
    expect((await over.firstReport()).privacy.samplingRate).toBe(0.5);
  });

  it('opens no round when paused during the check-in window, though minReports clients wait', async () => {
    // Wanted 10, 5 in: the window stays open for checkinMs, and the pause comes in it.
    const { coordinator, sent } = await harness(5, {}, { round: { target: 10, minReports: 4, checkinMs: 2_000 } });
    coordinator.pause();
    await eventually(() => (coordinator.phase === 'paused' ? true : undefined), 5_000, 'the paused phase');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).toEqual([]);
    expect(coordinator.currentRound).toBeNull();
  });

  it('says the ε budget and whether rounds are held for it, in its getters and gauges', async () => {
    const none = await harness(4, {}, { round: { target: 5, minReports: 5 } });
    expect(none.coordinator.epsilonBudget).toBeNull();
    expect(await gauge(none.metrics.epsilonBudget)).toBeNaN();
    expect(await gauge(none.metrics.budgetExhausted)).toBe(0);
    none.coordinator.setEpsilonBudget(3);
    expect(none.coordinator.epsilonBudget).toBe(3);
    expect(await gauge(none.metrics.epsilonBudget)).toBe(3);
    none.coordinator.setEpsilonBudget(null);
    expect(await gauge(none.metrics.epsilonBudget)).toBeNaN();

    const set = await harness(4, {}, { round: { target: 5, minReports: 5 }, privacy: { epsilonBudget: 8 } });
    expect(set.coordinator.epsilonBudget).toBe(8);
    expect(await gauge(set.metrics.epsilonBudget)).toBe(8);
    expect(set.coordinator.budgetExhausted).toBe(false);
    expect(set.coordinator.planRevision).toBe(0);
    set.coordinator.setPlan({ ...set.coordinator.plan, noiseMultiplier: 2 }, 4);
    expect(set.coordinator.planRevision).toBe(4);
    expect(set.coordinator.plan.noiseMultiplier).toBe(2);
  });

  it('hands on every phase change with the running round, and counts withheld when privacy is on', async () => {
    const off = await harness(5, {}, { round: { target: 5, minReports: 4 }, privacy: { mode: 'off', noiseMultiplier: 0 } });
    const report = await off.firstReport();
    expect(off.coordinator.modelVersion).toBe(1);
    expect(off.coordinator.releasedVersion).toBe(off.store.release.released);
    const byPhase = new Map(off.phases.map((event) => [event.phase, event]));
    expect(off.phases[0]).toMatchObject({ round: 0, roundId: '', phase: 'checkin', cohort: 0, pending: 0 });
    expect(byPhase.get('advertiseKeys')).toMatchObject({ round: 1, roundId: report.roundId, cohort: 5, pending: 5 });
    expect(byPhase.get('aggregate')).toMatchObject({ round: 1, roundId: report.roundId, cohort: 5, pending: 0 });
    // After the round: no running round, the last event idle.
    await eventually(() => (off.coordinator.phase === 'idle' ? true : undefined), 30_000, 'idle');
    expect(off.coordinator.lastPhaseEvent).toMatchObject({ round: 0, roundId: '', phase: 'idle', cohort: 0, pending: 0 });
    expect(off.coordinator.currentRound).toBeNull();
    expect(off.coordinator.roundState).toBeNull();
    for (const event of off.phases) expect(Date.parse(event.at)).toBeGreaterThanOrEqual(Date.parse(report.startedAt) - 60_000);

    const noised = await harness(5, {}, { round: { target: 5, minReports: 4 } });
    const noisedReport = await noised.firstReport();
    expect(noised.phases.find((event) => event.phase === 'advertiseKeys')).toMatchObject({ round: 1, roundId: noisedReport.roundId, cohort: 0, pending: 0 });
  });

  it('logs a round refused for the budget with its numbers, and sets the rounds-left gauge from the projection', async () => {
    const { coordinator, logs, metrics, store } = await harness(
      5,
      {},
      { round: { target: 5, minReports: 4 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.02, epsilonBudget: 1 } },
    );
    await eventually(() => (coordinator.budgetExhausted ? true : undefined), 30_000, 'the budget hold');
    const projection = coordinator.projectRound(coordinator.plan, 1, 5, 1);
    expect(projection.allowed).toBe(false);
    expect(logs.filter((line) => line['level'] === 40)).toEqual([
      expect.objectContaining({
        round: 1,
        epsilonSpent: null,
        epsilonNext: projection.next,
        epsilonBudget: 1,
        delta: 1e-5,
        samplingRate: 1,
        msg: 'privacy budget: the next round would pass the ε budget; training paused until an operator raises the budget or the noise',
      }),
    ]);
    expect(await gauge(metrics.budgetRoundsLeft)).toBe(0);
    expect(store.nextRound).toBe(1);

    // Without a budget the projection has no rounds left to count: NaN.
    const free = await harness(5, {}, { round: { target: 5, minReports: 4 } });
    const report = await free.firstReport();
    expect(report.roundId).toMatch(/^r1-[0-9a-f]{8}$/);
    expect(await gauge(free.metrics.budgetRoundsLeft)).toBeNaN();
    // With one large enough, the gauge holds what the round's projection said before it opened (ledger empty, q = 1, N = 5).
    const roomy = await harness(
      5,
      {},
      { round: { target: 5, minReports: 4 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, epsilonBudget: 50 } },
    );
    const expected = roomy.coordinator.projectRound(roomy.coordinator.plan, 1, 5, 1).roundsLeft;
    expect((await roomy.firstReport()).status).toBe('committed');
    expect(expected).toBeGreaterThan(1);
    expect(await gauge(roomy.metrics.budgetRoundsLeft)).toBe(expected);
  });

  it('draws a fresh rotation for a discrete-noise round, and none for continuous noise', async () => {
    // The in-process clients do not rotate their input: they leave on their plan, which is all this test reads.
    const leave = { dropOn: 'roundPlan' as const };
    const discrete = await harness(
      5,
      { 0: leave, 1: leave, 2: leave, 3: leave, 4: leave },
      { round: { target: 5, minReports: 4 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.02, noise: 'discrete' } },
    );
    const report = await discrete.firstReport();
    expect(report.abort?.code).toBe('BELOW_THRESHOLD');
    const [plan] = discrete.sentTo('token-00', 'roundPlan') as RoundPlan[];
    expect(JSON.stringify(plan)).toMatch(/"rotationSeed":"[0-9a-f]{64}"/);
    const continuous = await harness(5, {}, { round: { target: 5, minReports: 4 } });
    await continuous.firstReport();
    const [other] = continuous.sentTo('token-00', 'roundPlan') as RoundPlan[];
    expect(JSON.stringify(other)).not.toContain('rotationSeed');
  });

  it('leaves the capped and drawn counts out of a noised round’s selection log lines', async () => {
    const capped = await harness(4, {}, { round: { target: 7, minReports: 4, maxPerNetwork: 2, checkinMs: 5_000 } });
    for (const name of ['net-a-1', 'net-a-2', 'net-a-3']) capped.coordinator.checkIn(name, { consent: true, backend: 'cpu' }, '203.0.113.0/24');
    await capped.firstReport();
    const [cap] = capped.logs.filter((line) => line['msg'] === 'cohort cap per network: clients drawn beyond it are not selected this round');
    expect(cap).toMatchObject({ round: 1, maxPerNetwork: 2 });
    expect(cap).not.toHaveProperty('capped');

    const empty = await harness(6, {}, { round: { target: 6, minReports: 4, pauseMs: 50 }, privacy: { population: 1_000_000_000 } });
    const said = () => empty.logs.filter((line) => line['msg'] === 'Poisson draw below minReports: no round this time');
    await eventually(() => (said().length > 0 ? true : undefined), 30_000, 'an empty draw');
    expect(said()[0]).toMatchObject({ round: 1, eligible: 6, samplingRate: 6 / 1_000_000_000, minReports: 4 });
    expect(said()[0]).not.toHaveProperty('selected');
  });

  it('opens the round as soon as the wanted cohort checked in, however long the check-in window', async () => {
    const started = Date.now();
    const { firstReport } = await harness(5, {}, { round: { target: 5, minReports: 4, checkinMs: 600_000 } });
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(Date.parse(report.startedAt) - started).toBeLessThan(30_000);
  });

  it('opens no round when the candidates fall below minReports during the check-in window, and says nothing of a draw', async () => {
    // 4 of the wanted 6 check in: the window runs its 1 s; one of the 4 leaves meanwhile.
    const { coordinator, gone, logs, sent } = await harness(
      4,
      {},
      { round: { target: 6, minReports: 4, checkinMs: 1_000 }, privacy: { mode: 'off', noiseMultiplier: 0 } },
    );
    await eventually(() => (coordinator.phase === 'checkin' ? true : undefined), 30_000, 'the check-in window');
    gone.add('token-03');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(logs.filter((line) => line['msg'] === 'Poisson draw below minReports: no round this time')).toEqual([]);
    expect(sent).toEqual([]);
    expect(coordinator.poolSize).toBe(4);
  });

  it('reports the paused phase while paused, and takes check-ins again after resume', async () => {
    const { coordinator, phases } = await harness(3, {}, { round: { target: 5, minReports: 5 } });
    coordinator.pause();
    await eventually(() => (coordinator.phase === 'paused' ? true : undefined), 30_000, 'the paused phase');
    expect(coordinator.lastPhaseEvent).toMatchObject({ phase: 'paused', round: 0, roundId: '' });
    coordinator.resume();
    await eventually(() => (phases.at(-1)?.phase === 'checkin' ? true : undefined), 30_000, 'the check-in phase again');
    expect(coordinator.phase).toBe('checkin');
  });
});
