/**
 * Training throughput of the reference model in Node, per backend, with tfjs's stock kernels and
 * with fl-core's kernels ("direct": the direct UnsortedSegmentSum, and on wasm the untransposing
 * BatchMatMul) — side by side in one process, stock first (registering them is one-way).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { buildModel, getFlatWeights, MODEL_PRESETS, parameterCount, type ModelPresetName } from '@murmur/fl-core/model';
import { createSeededRandom } from '@murmur/fl-core/random';
import { createVocabulary, textToExamples, type ExampleSet } from '@murmur/fl-core/text';
import { trainingPlanSchema, trainingTargetsSchema, trainLocal, type TrainingTargets } from '@murmur/fl-core/train';
import { loadStateOfTheUnion, useNodeBackend, type NodeBackendName } from '@murmur/fl-core/node';
import { writeReport, type Row } from './report';

interface Case {
  backend: NodeBackendName;
  kernels: 'stock' | 'direct';
}

const CASES: Case[] = [
  { backend: 'cpu', kernels: 'stock' },
  { backend: 'wasm', kernels: 'stock' },
  { backend: 'cpu', kernels: 'direct' },
  { backend: 'wasm', kernels: 'direct' },
];

async function measure(
  testCase: Case,
  model: ModelPresetName,
  targets: TrainingTargets,
  sampledSoftmax: number | undefined,
  examples: ExampleSet,
  batches: number,
  stockBatches: number,
): Promise<Row> {
  await useNodeBackend(testCase.backend, { stockKernels: testCase.kernels === 'stock' });
  const spec = MODEL_PRESETS[model];
  const network = buildModel(spec, { seed: 1 });
  const weights = getFlatWeights(network);
  const batchSize = 32;
  const runBatches = testCase.kernels === 'stock' ? stockBatches : batches;
  const plan = { epochs: 1, batchSize, learningRate: 0.1, timeBudgetMs: 3_600_000, targets, ...(sampledSoftmax !== undefined ? { sampledSoftmax } : {}) };
  try {
    // The first batches compile kernels and allocate: warm up, then time.
    await trainLocal(network, weights, examples, { ...plan, maxExamples: batchSize }, { random: createSeededRandom(1) });
    const cpuBefore = process.cpuUsage();
    const result = await trainLocal(network, weights, examples, { ...plan, maxExamples: runBatches * batchSize }, { random: createSeededRandom(2) });
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const { examplesPerSecond, tokensPerSecond, examplesProcessed, tokensProcessed } = result.metrics;
    return {
      backend: testCase.backend,
      kernels: testCase.kernels,
      'examples/s': Math.round(examplesPerSecond * 10) / 10,
      'tokens/s': Math.round(tokensPerSecond * 10) / 10,
      // Per second of this process's CPU time: what one core would do with nothing else running on it.
      'tokens/CPU-s': cpuSeconds > 0 ? Math.round((tokensProcessed / cpuSeconds) * 10) / 10 : null,
      examples: examplesProcessed,
      error: null,
    };
  } catch (error) {
    return {
      backend: testCase.backend,
      kernels: testCase.kernels,
      'examples/s': null,
      'tokens/s': null,
      'tokens/CPU-s': null,
      examples: 0,
      error: (error as Error).message.split('\n')[0] ?? 'failed',
    };
  } finally {
    network.dispose();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'reference' },
      batches: { type: 'string', default: '40' },
      'stock-batches': { type: 'string', default: '3' },
      targets: { type: 'string', default: 'last' },
      'sampled-softmax': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'npm run bench -- train [--model tiny|reference|cifg] [--batches N (direct kernels)] [--stock-batches N] [--targets last|every] [--sampled-softmax K (cifg)]',
    );
    return;
  }
  const model = values.model as ModelPresetName;
  if (!(model in MODEL_PRESETS)) throw new Error(`--model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${values.model}`);
  const targets = trainingTargetsSchema.parse(values.targets);
  const sampledSoftmax = values['sampled-softmax'] === undefined ? undefined : trainingPlanSchema.shape.sampledSoftmax.parse(Number(values['sampled-softmax']));
  const batches = Number(values.batches);
  const stockBatches = Number(values['stock-batches']);
  const spec = MODEL_PRESETS[model];
  const vocabulary = createVocabulary({ size: spec.vocabularySize });
  const texts = loadStateOfTheUnion()
    .slice(0, 5)
    .map((d) => d.text);
  const examples = textToExamples(texts, vocabulary, spec.contextLength);

  const bar = new cliProgress.SingleBar({ format: 'train bench |{bar}| {value}/{total} {case}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(CASES.length, 0, { case: '' });
  const rows: Row[] = [];
  for (const testCase of CASES) {
    bar.update(rows.length, { case: `${testCase.backend}/${testCase.kernels}` });
    rows.push(await measure(testCase, model, targets, sampledSoftmax, examples, batches, stockBatches));
  }
  bar.update(rows.length, { case: 'done' });
  bar.stop();

  const rate = (backend: string, kernels: string) => rows.find((r) => r.backend === backend && r.kernels === kernels)?.['examples/s'] as number | null;
  const stockCpu = rate('cpu', 'stock');
  for (const row of rows) {
    const value = row['examples/s'] as number | null;
    row['× stock cpu'] = value && stockCpu ? Math.round((value / stockCpu) * 10) / 10 : null;
  }
  const best = rate('wasm', 'direct');
  const bestTokens = rows.find((r) => r.backend === 'wasm' && r.kernels === 'direct')?.['tokens/s'] as number | null | undefined;
  writeReport({
    // The reference model on its last targets keeps the historical file name; other presets and
    // training on every position get their own.
    name: `${model === 'reference' ? 'train' : `train-${model}`}${targets === 'every' ? '-every' : ''}${sampledSoftmax !== undefined ? `-sampled${sampledSoftmax}` : ''}`,
    title: `Training throughput, ${model} model (${parameterCount(spec).toLocaleString('en-US')} parameters), batch 32, targets ${targets}${sampledSoftmax !== undefined ? `, sampled softmax of ${sampledSoftmax} candidates` : ''}, Node`,
    columns: ['backend', 'kernels', 'examples/s', 'tokens/s', 'tokens/CPU-s', '× stock cpu', 'examples', 'error'],
    rows,
    config: {
      model,
      spec,
      targets,
      sampledSoftmax: sampledSoftmax ?? null,
      batchSize: 32,
      batches,
      stockBatches,
      data: 'State of the Union, first 5 addresses',
    },
    notes: [
      targets === 'last'
        ? `target: wasm with the direct kernel ≥ 150 examples/s — measured ${best ?? 'n/a'} (${best !== null && best !== undefined && best >= 150 ? 'met' : 'NOT met'})`
        : `target: wasm with the direct kernel ≥ 1,000 predicted tokens/s — measured ${bestTokens ?? 'n/a'} (${bestTokens !== null && bestTokens !== undefined && bestTokens >= 1000 ? 'met' : 'NOT met'})`,
      ...(targets === 'every'
        ? [
            'examples/s counts windows; with targets every trainLocal tiles each sentence with non-overlapping windows, so tokens/s ÷ examples/s is the mean scored positions per window (below contextLength: sentence starts are padded).',
          ]
        : []),
      `load average when the run ended (other work shares these cores): ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(
          ' / ',
        )}; tokens/CPU-s divides by this process's CPU time instead of the wall clock (training runs on one thread), so it does not fall when other processes take turns on the cores`,
    ],
  });
}
