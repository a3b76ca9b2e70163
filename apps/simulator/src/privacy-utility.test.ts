import { rdpEpsilon } from '@murmur/fl-core/privacy';
import { describe, expect, it } from 'vitest';
import { parseSimulationArgs } from './config';
import { populationDelta, privacyUtilityMarkdown, privacyUtilityTable } from './privacy-utility';
import { runSimulation, type SimulationReport } from './run';

function config(flags: string) {
  const parsed = parseSimulationArgs(flags.split(' ').filter(Boolean));
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.config;
}

describe('privacyUtilityTable', () => {
  const common = '--clients 6 --per-round 5 --rounds 2 --max-examples 16 --max-test-examples 100 --no-baselines --quiet';
  let reports: {
    nonPrivate: SimulationReport;
    noised: SimulationReport;
    adaptive: SimulationReport;
    otherCohort: SimulationReport;
    withBaselines: SimulationReport;
  };

  it('turns a non-private and a private run into rows whose ε an accountant re-derives', async () => {
    reports = {
      nonPrivate: await runSimulation(config(`${common} --dp off`)),
      noised: await runSimulation(config(`${common} --dp central --noise-multiplier 1.5 --clip 1 --target-delta 1e-3`)),
      adaptive: await runSimulation(config(`${common} --dp central --noise-multiplier 1.5 --clip adaptive --target-delta 1e-3`)),
      withBaselines: await runSimulation(config(`${common.replace(' --no-baselines', '')} --rounds 1 --dp off`)),
      otherCohort: await runSimulation(
        config(`${common.replace('--per-round 5', '--per-round 4')} --dp central --noise-multiplier 1.5 --clip 1 --target-delta 1e-3`),
      ),
    };
    const table = privacyUtilityTable([reports.nonPrivate, reports.noised], { projectTo: [60_000] });
    expect(table.population).toBe(6);
    const [measured, projected] = table.rows;
    expect(measured).toMatchObject({ noiseMultiplier: 1.5, samplingRate: 5 / 6, rounds: 2, delta: 1e-3, projection: false, cohort: 5 });
    expect(measured?.epsilon).toBeCloseTo(rdpEpsilon({ samplingRate: 5 / 6, noiseMultiplier: 1.5, steps: 2, delta: 1e-3 }).epsilon, 12);
    expect(measured?.top1).toBe(reports.noised.model.top1);
    expect(measured?.nonPrivateTop1).toBe(reports.nonPrivate.model.top1);
    // The projection keeps q and the noise on the mean (σ / cohort) and spends far less ε.
    expect(projected).toMatchObject({ projection: true, population: 60_000, cohort: 50_000, samplingRate: 5 / 6, delta: populationDelta(60_000) });
    expect(projected?.noiseMultiplier).toBeCloseTo(15_000, 9);
    expect((projected?.noiseMultiplier ?? 0) / (projected?.cohort ?? 1)).toBeCloseTo(1.5 / 5, 12);
    expect(projected?.epsilon).toBeLessThan((measured?.epsilon ?? 0) / 100);
    const withBaselines = privacyUtilityTable([reports.nonPrivate, reports.noised], { baselines: reports.withBaselines });
    expect(withBaselines.baselines?.kn4).toEqual({
      top1: reports.withBaselines.baselines?.kn4.top1,
      top1Interval: reports.withBaselines.baselines?.kn4.top1Interval,
    });
    expect(privacyUtilityMarkdown(withBaselines)).toMatch(/Kneser–Ney on the same training clients and held-out examples, top-1: KN2 .*, KN3 .*, KN4 /);
    expect(privacyUtilityMarkdown(table)).toMatch(/\| 6 \| 5 \| 1\.5 \| 0\.833 \| 2 \| 1\.00e-3 \| .* \| measured \|\n.*projection/);
  });

  it('refuses tables that would claim more than the runs accounted', () => {
    const { nonPrivate, noised, adaptive, otherCohort } = reports;
    expect(() => privacyUtilityTable([noised])).toThrow(/exactly one --dp off report/);
    expect(() => privacyUtilityTable([nonPrivate, noised], { baselines: noised })).toThrow(/has none/);
    expect(() => privacyUtilityTable([nonPrivate, otherCohort])).toThrow(/differs from the non-private one/);
    expect(() => privacyUtilityTable([nonPrivate, adaptive])).toThrow(/fixed --clip/);
    // An ε the ledger did not report, or a δ above N^-1.1, never reaches the table.
    const last = noised.rounds.at(-1);
    const understated = { ...noised, rounds: [...noised.rounds.slice(0, -1), { ...last, epsilon: (last?.epsilon ?? 0) / 2 }] } as SimulationReport;
    expect(() => privacyUtilityTable([nonPrivate, understated])).toThrow(/reported ε/);
    const looseDelta = { ...noised, config: { ...noised.config, targetDelta: 0.5 } } as SimulationReport;
    expect(() => privacyUtilityTable([nonPrivate, looseDelta])).toThrow(/exceeds N\^-1.1/);
  });
});
