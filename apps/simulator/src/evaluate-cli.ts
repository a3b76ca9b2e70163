import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import type { Interval } from '@murmur/fl-core/train';
import { evaluateSavedModels, HEADLINE_TEST_EXAMPLES, headlineModels, type EvaluateReport, type Scores } from './evaluate';
import { fromInvocationDir, runCli } from './run-cli';

export const EVALUATE_HELP = `Usage: npm run evaluate -- (--headline | --model FILE [--model FILE …]) [--dump DIR] [--out FILE]

Re-measures saved next-word models on the split they were trained on (rebuilt from the data flags
saved beside them), next to interpolated Kneser–Ney 2-, 3- and 4-grams counted on the pooled
training clients, on the same held-out examples, with 95% intervals. Several models (one per
training seed, one split) are also summarised: their mean, with Student-t intervals across them.

  --headline             the committed models behind docs/learning.md (apps/simulator/headline/*.bin)
  --model FILE           a model written by npm run simulate -- --save-model FILE; repeat it for
                         several seeds
  --max-test-examples N  held-out examples to score, a uniform sample when the split has more
                                                                       (default ${HEADLINE_TEST_EXAMPLES})
  --dump DIR             write DIR/split.json: vocabularySize, special token ids, the training
                         sentences and the held-out contexts and targets, as token ids
  --out FILE             write the report as JSON ({ model, baselines, ratio, split, … })
  -h, --help             this text
`;

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const range = ({ lower, upper }: Interval, format: (v: number) => string) => `[${format(lower)}, ${format(upper)}]`;

function modelLabel(trainedBy: EvaluateReport['models'][number]['trainedBy'], withSeed: boolean): string {
  return `model (${trainedBy.mode}${withSeed ? `, seed ${String(trainedBy.config.seed)}` : ''})`;
}

function print(report: EvaluateReport): void {
  const table = new Table({
    head: [`${report.split.testExamples.toLocaleString('en-US')} held-out examples`, 'top-1', 'top-3', 'top-1 in-vocab', 'perplexity'],
  });
  const several = report.models.length > 1;
  const rows: (readonly [string, Scores])[] = [
    ...report.models.map((m) => [modelLabel(m.trainedBy, several), m.scores] as const),
    ...(several ? [[`mean of ${report.models.length} (t-interval across them)`, report.model] as const] : []),
    ...Object.entries(report.baselines).map(([name, s]) => [name, s] as const),
  ];
  for (const [name, s] of rows) {
    table.push([
      name,
      `${pct(s.top1)} ${range(s.top1Interval, pct)}`,
      `${pct(s.top3)} ${range(s.top3Interval, pct)}`,
      pct(s.inVocabularyTop1),
      `${s.perplexity.toFixed(1)} ${range(s.perplexityInterval, (v) => v.toFixed(1))}`,
    ]);
  }
  console.log(table.toString());
  for (const m of several ? report.models : []) {
    const r = m.ratio;
    console.log(
      `${modelLabel(m.trainedBy, true)} / ${r.best}: top-1 ${r.top1.toFixed(3)} ${range(r.top1Interval, (v) => v.toFixed(3))} (McNemar z ${r.mcnemarZ.toFixed(1)})`,
    );
  }
  const r = report.ratio;
  console.log(
    `${several ? 'mean ' : ''}model / ${r.best}: top-1 ${r.top1.toFixed(3)} ${range(r.top1Interval, (v) => v.toFixed(3))} (McNemar z ${r.mcnemarZ.toFixed(1)}), ` +
      `top-3 ${r.top3.toFixed(3)} ${range(r.top3Interval, (v) => v.toFixed(3))}, perplexity ${r.perplexity.toFixed(3)}`,
  );
  console.log(
    `split: ${report.split.corpus}, ${report.split.partition} by ${report.split.unit}, seed ${report.split.seed}: ${report.split.trainClients} training clients ` +
      `(${report.split.trainPositions.toLocaleString('en-US')} positions), ${report.split.testClients} held out; ` +
      `words outside the vocabulary: ${pct(report.split.trainOovRate)} of training, ${pct(report.split.testOovRate)} of held-out targets; ` +
      `model${several ? 's' : ''} ${report.models.map((m) => `${m.hash.slice(0, 16)}…`).join(', ')}; ${report.seconds.toFixed(0)} s`,
  );
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: {
        headline: { type: 'boolean' },
        model: { type: 'string', multiple: true },
        'max-test-examples': { type: 'string' },
        dump: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}\nRun with --help for the list of flags.`);
    return 2;
  }
  if (values.help) {
    console.log(EVALUATE_HELP);
    return 0;
  }
  if (Boolean(values.headline) === (values.model !== undefined)) {
    console.error('error: give either --headline or --model FILE (repeatable), not both or neither\nRun with --help for the list of flags.');
    return 2;
  }
  const maxTestExamples = values['max-test-examples'] === undefined ? undefined : Number(values['max-test-examples']);
  if (maxTestExamples !== undefined && !(Number.isInteger(maxTestExamples) && maxTestExamples > 0)) {
    console.error(`error: --max-test-examples must be a positive integer, got ${values['max-test-examples']}`);
    return 2;
  }
  const report = await evaluateSavedModels({
    modelFiles: values.headline ? headlineModels() : (values.model as string[]).map(fromInvocationDir),
    ...(maxTestExamples !== undefined ? { maxTestExamples } : {}),
    ...(values.dump ? { dump: fromInvocationDir(values.dump) } : {}),
    onPhase: (phase) => console.error(`… ${phase}`),
  });
  print(report);
  if (values.dump) console.log(`wrote ${resolve(fromInvocationDir(values.dump), 'split.json')}`);
  if (values.out) {
    writeFileSync(fromInvocationDir(values.out), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${fromInvocationDir(values.out)}`);
  }
  return 0;
}

runCli(main);
