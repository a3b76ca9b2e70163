import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { HELP, parseSimulationArgs } from './config';
import { runSimulation, type SimulationReport } from './run';

const percent = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);

function printTable(report: SimulationReport): void {
  const dp = report.config.dp !== 'off';
  const table = new Table({
    head: ['round', 'train loss', 'test loss', 'top-1', 'top-3', 'examples', 'seconds', ...(dp ? ['cohort', 'clip C', 'ε'] : [])],
  });
  for (const r of report.rounds) {
    table.push([
      r.round, r.trainLoss.toFixed(4), r.testLoss?.toFixed(4) ?? '—', percent(r.top1), percent(r.top3), r.examples, r.seconds.toFixed(2),
      ...(dp ? [r.cohort ?? 0, r.clipNorm?.toPrecision(3) ?? '—', r.epsilon?.toFixed(3) ?? '—'] : []),
    ]);
  }
  console.log(table.toString());
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
  const { config } = parsed;
  const bar = config.quiet
    ? null
    : new cliProgress.SingleBar(
        { format: '{phase} |{bar}| {value}/{total} {detail}', hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
  const report = await runSimulation(config, {
    onPhase: (phase, total) => {
      bar?.stop();
      bar?.start(total, 0, { phase: phase.padEnd(9), detail: '' });
    },
    onProgress: (done, detail) =>
      bar?.update(done, { detail: Object.entries(detail).map(([k, v]) => `${k} ${v}`).join('  ') }),
  });
  bar?.stop();
  if (!config.quiet) printTable(report);
  if (config.out) {
    // npm runs workspace scripts in the workspace folder; resolve against where the user typed.
    const out = resolve(process.env.INIT_CWD ?? process.cwd(), config.out);
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    if (!config.quiet) console.log(`wrote ${out}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
