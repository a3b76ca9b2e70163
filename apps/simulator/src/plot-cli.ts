import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderLearningCurves } from './plot';
import type { SimulationReport } from './run';
import { fromInvocationDir, runCli } from './run-cli';

const HELP = `Usage: npm run plot -- --out FILE.svg REPORT.json…

Draws held-out top-1 and perplexity against epochs for the runs' JSON reports (npm run simulate --
--out), federated and --central-only alike, with the first report's Kneser–Ney baselines as dashed
rules. All reports should share one split (the same data flags and seed).
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.out || positionals.length === 0) {
    console.error(`error: expected --out FILE.svg and at least one report\n\n${HELP}`);
    return 2;
  }
  const reports = positionals.map((file) => JSON.parse(readFileSync(fromInvocationDir(file), 'utf8')) as SimulationReport);
  writeFileSync(fromInvocationDir(values.out), await renderLearningCurves(reports));
  console.log(`wrote ${fromInvocationDir(values.out)}`);
  return 0;
}

runCli(main);
