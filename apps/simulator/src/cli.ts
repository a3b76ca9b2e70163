import { writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { HELP, parseSimulationArgs } from './config';
import { runSimulation, type SimulationReport } from './run';
import type { EvaluationMetrics, Interval } from '@murmur/fl-core/train';
import { fromInvocationDir, runCli } from './run-cli';

const percent = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
const withInterval = (x: number, { lower, upper }: Interval, format: (v: number) => string) => `${format(x)} [${format(lower)}, ${format(upper)}]`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const fixed = (x: number) => x.toFixed(1);

/** The model beside the n-gram baselines on the same held-out examples, with 95% intervals. */
function printComparison(report: SimulationReport): void {
  const name =
    report.mode === 'central' ? `central model (${report.curve?.at(-1)?.epochs.toFixed(2)} epochs)` : `model (round ${report.rounds.at(-1)?.round ?? '?'})`;
  const rows: [string, EvaluationMetrics][] = [[name, report.model]];
  if (report.baselines) for (const [name, metrics] of Object.entries(report.baselines)) rows.push([name, metrics]);
  const table = new Table({ head: ['held-out, 95% intervals', 'top-1', 'top-3', 'top-1 in-vocab', 'perplexity'] });
  for (const [name, m] of rows) {
    table.push([
      name,
      withInterval(m.top1, m.top1Interval, pct),
      withInterval(m.top3, m.top3Interval, pct),
      withInterval(m.inVocabulary.top1, m.inVocabulary.top1Interval, pct),
      withInterval(m.perplexity, m.perplexityInterval, fixed),
    ]);
  }
  console.log(table.toString());
  if (report.comparison) {
    const c = report.comparison;
    console.log(
      `model / best baseline (${c.best}): top-1 ${c.top1Ratio.toFixed(3)}, top-3 ${c.top3Ratio.toFixed(3)}, ` +
        `perplexity ${c.perplexityRatio.toFixed(3)} (lower is better); ` +
        `n-grams counted on ${report.baselineCounting?.trainExamples.toLocaleString('en-US')} training positions in ${report.baselineCounting?.seconds.toFixed(1)} s`,
    );
  }
}

function printCurve(report: SimulationReport): void {
  const table = new Table({ head: ['epochs', 'examples', 'train loss', 'test loss', 'top-1', 'top-3', 'perplexity', 'minutes'] });
  for (const p of report.curve ?? []) {
    table.push([
      p.epochs.toFixed(2),
      p.processed,
      p.trainLoss.toFixed(4),
      p.test.loss.toFixed(4),
      percent(p.test.top1),
      percent(p.test.top3),
      p.test.perplexity.toFixed(1),
      (p.seconds / 60).toFixed(1),
    ]);
  }
  console.log(table.toString());
  printComparison(report);
}

function printTable(report: SimulationReport): void {
  if (report.mode === 'central') {
    printCurve(report);
    return;
  }
  const dp = report.config.dp !== 'off';
  const table = new Table({
    head: ['round', 'train loss', 'test loss', 'top-1', 'top-3', 'examples', 'seconds', ...(dp ? ['cohort', 'clip C', 'ε'] : [])],
  });
  for (const r of report.rounds) {
    table.push([
      r.round,
      r.trainLoss.toFixed(4),
      r.testLoss?.toFixed(4) ?? '—',
      percent(r.top1),
      percent(r.top3),
      r.examples,
      r.seconds.toFixed(2),
      ...(dp ? [r.cohort ?? 0, r.clipNorm?.toPrecision(3) ?? '—', r.epsilon?.toFixed(3) ?? '—'] : []),
    ]);
  }
  console.log(table.toString());
  printComparison(report);
  if (report.central) {
    const c = report.central;
    console.log(
      `central (same model, ${c.examplesProcessed.toLocaleString('en-US')} examples processed): ` +
        `test loss ${c.testLoss.toFixed(4)}, top-1 ${percent(c.top1)}, top-3 ${percent(c.top3)}; ` +
        `federated/central top-1 = ${c.top1Ratio.toFixed(3)}`,
    );
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseSimulationArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  const config = {
    ...parsed.config,
    ...(parsed.config.checkpoint ? { checkpoint: fromInvocationDir(parsed.config.checkpoint) } : {}),
    ...(parsed.config.saveModel ? { saveModel: fromInvocationDir(parsed.config.saveModel) } : {}),
    ...(parsed.config.initModel ? { initModel: fromInvocationDir(parsed.config.initModel) } : {}),
  };
  const bar = config.quiet
    ? null
    : new cliProgress.SingleBar(
        {
          format: '{phase} |{bar}| {value}/{total} ETA {eta_formatted} {detail}',
          hideCursor: true,
          stream: process.stderr,
          etaBuffer: 50,
          // In the background (output to a file) print a line a minute instead of redrawing.
          noTTYOutput: true,
          notTTYSchedule: 60_000,
        },
        cliProgress.Presets.shades_classic,
      );
  const report = await runSimulation(config, {
    onPhase: (phase, total) => {
      bar?.stop();
      bar?.start(total, 0, { phase: phase.padEnd(9), detail: '' });
    },
    onProgress: (done, detail) =>
      bar?.update(done, {
        detail: Object.entries(detail)
          .map(([k, v]) => `${k} ${v}`)
          .join('  '),
      }),
  });
  bar?.stop();
  if (!config.quiet) printTable(report);
  if (config.out) {
    const out = fromInvocationDir(config.out);
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    if (!config.quiet) console.log(`wrote ${out}`);
  }
  return 0;
}

runCli(main);
