import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { privacyUtilityMarkdown, privacyUtilityTable } from './privacy-utility';
import type { SimulationReport } from './run';
import { fromInvocationDir, runCli } from './run-cli';

const HELP = `Usage: npm run privacy-utility -- [--out FILE.json] [--project-to N,…] [--baselines REPORT.json] REPORT.json…

The privacy/utility table (docs/privacy.md) from npm run simulate -- --out reports: exactly one
non-private run (--dp off) and private runs (--dp central or distributed, a fixed --clip) of the
same data, model, cohort and number of rounds. Each row's ε is recomputed from its σ, sampling rate
q = per-round / training clients, rounds and δ, and must equal the ε the run's ledger reported;
δ must not exceed N^-1.1. Prints a Markdown table.

  --out FILE.json     also write { population, rows: [{ noiseMultiplier, samplingRate, rounds,
                      delta, epsilon, top1, nonPrivateTop1, projection, … }] }
  --project-to N,…    add McMahan et al. (2018)'s fixed-noise projection of every measured row to
                      populations of N clients: q fixed, the cohort and σ scaled by N / population
                      (the noise on the mean, hence the model, stays as measured); labelled
                      "projection", never measured
  --baselines FILE    a report of the same data with its Kneser–Ney baselines (a run without
                      --no-baselines, e.g. --rounds 1): their top-1 goes beside the table
  -h, --help          this text
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { out: { type: 'string' }, 'project-to': { type: 'string' }, baselines: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length < 2) {
    console.error(`error: expected a non-private report and at least one private one\n\n${HELP}`);
    return 2;
  }
  const projectTo = (values['project-to'] ?? '').split(',').filter(Boolean).map(Number);
  if (projectTo.some((n) => !Number.isInteger(n) || n <= 0)) {
    console.error(`error: --project-to takes positive integers, got ${values['project-to']}`);
    return 2;
  }
  const read = (file: string) => JSON.parse(readFileSync(fromInvocationDir(file), 'utf8')) as SimulationReport;
  const table = privacyUtilityTable(positionals.map(read), { projectTo, ...(values.baselines ? { baselines: read(values.baselines) } : {}) });
  console.log(privacyUtilityMarkdown(table));
  if (values.out) {
    const out = fromInvocationDir(values.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(table, null, 2)}\n`);
    console.log(`wrote ${out}`);
  }
  return 0;
}

runCli(main);
