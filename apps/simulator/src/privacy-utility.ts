import { rdpEpsilon } from '@murmur/fl-core/privacy';
import { type Interval } from '@murmur/fl-core/train';
import type { BaselineName, SimulationReport } from './run';

/** One row of docs/results/privacy-utility.json: what any independent accountant needs to re-derive ε, and what it bought. */
export interface PrivacyUtilityRow {
  noiseMultiplier: number;
  /** Poisson sampling rate: expected cohort / population. */
  samplingRate: number;
  /** Rounds that released a noised sum: the accountant's steps. */
  rounds: number;
  delta: number;
  epsilon: number;
  top1: number;
  nonPrivateTop1: number;
  /** A measured run (false) or McMahan et al. 2018's fixed-noise projection of one to a larger population (true). */
  projection: boolean;
  population: number;
  /** Expected clients per round. */
  cohort: number;
  top1Interval: Interval;
  nonPrivateTop1Interval: Interval;
}

export interface PrivacyUtilityTable {
  population: number;
  rows: PrivacyUtilityRow[];
  /** Interpolated Kneser–Ney n-grams counted on the same training clients, scored on the same held-out examples (a report's `baselines`). */
  baselines?: Partial<Record<BaselineName, { top1: number; top1Interval: Interval }>>;
}

/** The δ the table holds every row to: N^−1.1, below 1/N so that no δ-event can cover a whole person. */
export function populationDelta(population: number): number {
  return population ** -1.1;
}

/** The flags a private run and its non-private comparison must share, so that only the noise (and clipping) differs. */
function comparableFlags({ config }: SimulationReport): string {
  const { corpus, partition, unit, testFraction, maxTestExamples, model, hiddenUnits, embeddingDim, splitSeed, seed, perRound, maxExamples, batchSize, lr } =
    config;
  return JSON.stringify({
    corpus,
    partition,
    unit,
    testFraction,
    maxTestExamples,
    model,
    hiddenUnits,
    embeddingDim,
    splitSeed: splitSeed ?? seed,
    perRound,
    maxExamples,
    batchSize,
    lr,
  });
}

/**
 * The privacy/utility table from `npm run simulate -- --out` reports: one non-private run (--dp off)
 * and private runs of the same data, model and cohort. Each private row's ε is recomputed from its
 * (σ, q, rounds, δ) and must match what the run's ledger reported, so the table cannot claim an ε
 * the training did not account. `projectTo` adds, per measured row, the fixed-noise projection to
 * larger populations: the cohort grows with the population (q fixed) and σ with the cohort, so
 * the noise on the mean, hence the model, stays what was measured while ε shrinks.
 */
export function privacyUtilityTable(
  reports: readonly SimulationReport[],
  { projectTo = [], baselines }: { projectTo?: readonly number[]; baselines?: SimulationReport } = {},
): PrivacyUtilityTable {
  const nonPrivate = reports.filter((report) => report.config.dp === 'off');
  if (nonPrivate.length !== 1) throw new Error(`privacy-utility: expected exactly one --dp off report, got ${nonPrivate.length}`);
  const reference = nonPrivate[0] as SimulationReport;
  const population = reference.config.trainClients;
  const rows: PrivacyUtilityRow[] = [];
  for (const report of reports) {
    if (report === reference) continue;
    const { config } = report;
    if (comparableFlags(report) !== comparableFlags(reference)) {
      throw new Error(
        `privacy-utility: a --dp ${config.dp} run differs from the non-private one in more than privacy:\n  ${comparableFlags(report)}\n  ${comparableFlags(reference)}`,
      );
    }
    if (config.clip === 'adaptive')
      throw new Error('privacy-utility: adaptive clipping splits σ between the update and the clip indicator; use a fixed --clip');
    if (report.rounds.length !== reference.rounds.length) {
      throw new Error(`privacy-utility: the private run has ${report.rounds.length} rounds, the non-private one ${reference.rounds.length}`);
    }
    const delta = config.targetDelta;
    if (delta > populationDelta(population)) {
      throw new Error(`privacy-utility: --target-delta ${delta} exceeds N^-1.1 = ${populationDelta(population).toExponential(3)} for N = ${population}`);
    }
    const samplingRate = config.perRound / population;
    // A Poisson round that samples nobody releases nothing and spends nothing; the rest are the
    // accountant's steps.
    const rounds = report.rounds.filter((round) => round.epsilon !== undefined).length;
    const reported = report.rounds.at(-1)?.epsilon;
    const { epsilon } = rdpEpsilon({ samplingRate, noiseMultiplier: config.noiseMultiplier, steps: rounds, delta });
    if (reported === undefined || Math.abs(reported - epsilon) > 1e-9 * Math.max(1, epsilon)) {
      throw new Error(
        `privacy-utility: the run reported ε ${String(reported)}, its (σ ${config.noiseMultiplier}, q ${samplingRate}, ${rounds} rounds, δ ${delta}) give ${epsilon}`,
      );
    }
    const measured: PrivacyUtilityRow = {
      noiseMultiplier: config.noiseMultiplier,
      samplingRate,
      rounds,
      delta,
      epsilon,
      top1: report.model.top1,
      nonPrivateTop1: reference.model.top1,
      projection: false,
      population,
      cohort: config.perRound,
      top1Interval: report.model.top1Interval,
      nonPrivateTop1Interval: reference.model.top1Interval,
    };
    rows.push(measured);
    for (const larger of projectTo) {
      if (larger <= population) throw new Error(`privacy-utility: --project-to ${larger} is not larger than the population ${population}`);
      const scale = larger / population;
      const projectedDelta = populationDelta(larger);
      const noiseMultiplier = measured.noiseMultiplier * scale;
      rows.push({
        ...measured,
        noiseMultiplier,
        delta: projectedDelta,
        epsilon: rdpEpsilon({ samplingRate, noiseMultiplier, steps: rounds, delta: projectedDelta }).epsilon,
        projection: true,
        population: larger,
        cohort: measured.cohort * scale,
      });
    }
  }
  if (!baselines) return { population, rows };
  if (!baselines.baselines) throw new Error('privacy-utility: the baselines report has none (it was run with --no-baselines)');
  if (comparableFlags(baselines) !== comparableFlags(reference)) {
    throw new Error(`privacy-utility: the baselines report was counted on other data:\n  ${comparableFlags(baselines)}\n  ${comparableFlags(reference)}`);
  }
  const counted = Object.fromEntries(Object.entries(baselines.baselines).map(([name, { top1, top1Interval }]) => [name, { top1, top1Interval }]));
  return { population, rows, baselines: counted };
}

/** The table as Markdown, the ratio to non-private beside each row. */
export function privacyUtilityMarkdown(table: PrivacyUtilityTable): string {
  const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
  const lines = [
    '| population | cohort (expected) | σ | q | rounds | δ | ε | top-1 [95%] | non-private top-1 | ratio | |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of table.rows) {
    const interval = `[${percent(row.top1Interval.lower)}, ${percent(row.top1Interval.upper)}]`;
    lines.push(
      `| ${row.population.toLocaleString('en-US')} | ${Math.round(row.cohort).toLocaleString('en-US')} | ${Number(row.noiseMultiplier.toPrecision(4))} | ${row.samplingRate.toPrecision(3)} | ${row.rounds} | ` +
        `${row.delta.toExponential(2)} | ${row.epsilon.toFixed(2)} | ${percent(row.top1)} ${interval} | ${percent(row.nonPrivateTop1)} | ${(row.top1 / row.nonPrivateTop1).toFixed(3)} | ` +
        `${row.projection ? 'projection (same noise on the mean)' : 'measured'} |`,
    );
  }
  const baselines = Object.entries(table.baselines ?? {}).map(
    ([name, { top1, top1Interval }]) => `${name.toUpperCase()} ${percent(top1)} [${percent(top1Interval.lower)}, ${percent(top1Interval.upper)}]`,
  );
  if (baselines.length > 0) lines.push('', `Kneser–Ney on the same training clients and held-out examples, top-1: ${baselines.join(', ')}.`);
  return `${lines.join('\n')}\n`;
}
