/**
 * Training throughput of a model in headless Chromium, per tfjs backend (webgpu, webgl, wasm,
 * cpu), with tfjs's stock kernels and with fl-core's direct UnsortedSegmentSum where it applies
 * (cpu, wasm). It drives the built web client's own training worker through apps/web-client's
 * bench.html: each case is a fresh page and worker (kernel registration is one-way per worker),
 * served by a small static server, optionally cross-origin isolated (COOP + COEP). Reported:
 * windows (examples) per second and predicted tokens per second — the same with targets 'last',
 * up to contextLength per window with 'every'.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from '@playwright/test';
import { chromiumLaunchOptions } from '@murmur/e2e/chromium';
import { MODEL_PRESETS, parameterCount, type ModelPresetName } from '@murmur/fl-core/model';
import { trainingPlanSchema, trainingTargetsSchema, type TrainingTargets } from '@murmur/fl-core/train';
import { resultsDir, writeReport, type Row } from './report';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'apps/web-client/dist');

type Backend = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
interface Case {
  backend: Backend;
  kernels: 'stock' | 'direct';
  isolated: boolean;
  /** Timed batches (after the warm-up batch): few where a batch takes seconds. */
  batches: number;
  /**
   * Also run this many batches on a fresh page, so that the difference of the two runs' worker
   * CPU times is the CPU time of the extra batches alone: no model build, no warm-up batch.
   */
  cpuBaselineBatches?: number;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The built client, with or without the two headers that make a page cross-origin isolated. */
async function serve(isolated: boolean): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = normalize(join(dist, path === '/' ? 'index.html' : path));
    const found = file.startsWith(dist) && existsSync(file) && statSync(file).isFile();
    const headers: Record<string, string> = isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
    if (!found) {
      res.writeHead(404, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) of Chromium's dedicated-worker threads, from /proc; null where there
 * is no /proc or no such thread. One page at a time is open, so this is the bench page's worker:
 * the training worker runs every tensor op on that one thread (wasm threads are off).
 */
function dedicatedWorkerCpuSeconds(): number | null {
  if (!existsSync('/proc/self/task')) return null;
  let ticks = 0;
  let found = false;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let tasks: string[];
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        if (!readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('DedicatedWorker')) continue;
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        // Fields after "(comm) ": state is the 3rd field overall, utime the 14th, stime the 15th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
        found = true;
      } catch {
        // The thread ended between listing and reading.
      }
    }
  }
  return found ? ticks / CLOCK_TICKS_PER_SECOND : null;
}

interface BenchResult {
  ok: boolean;
  error?: string;
  crossOriginIsolated?: boolean;
  webgpuAdapter?: string | null;
  result?: { measurement: { examplesPerSecond: number | null; error: string | null }; tokensPerSecond: number | null; wasmThreads: number };
  /** CPU seconds the page's worker thread used, warm-up and model build included (Linux only). */
  workerCpuSeconds?: number | null;
}

async function measure(
  browser: Browser,
  base: string,
  testCase: Case,
  model: ModelPresetName,
  targets: TrainingTargets,
  sampledSoftmax: number | undefined,
  timeoutMs: number,
): Promise<BenchResult> {
  const page = await browser.newPage();
  try {
    const query = new URLSearchParams({
      backend: testCase.backend,
      kernels: testCase.kernels,
      model,
      batches: String(testCase.batches),
      batchSize: '32',
      targets,
      ...(sampledSoftmax !== undefined ? { sampledSoftmax: String(sampledSoftmax) } : {}),
    });
    await page.goto(`${base}/bench.html?${query}`);
    await page.waitForFunction(() => (window as { murmurBench?: unknown }).murmurBench !== undefined, null, { timeout: timeoutMs });
    const result = (await page.evaluate(() => (window as { murmurBench?: unknown }).murmurBench)) as BenchResult;
    // The page keeps its worker until it closes, so the thread's CPU time can still be read.
    return { ...result, workerCpuSeconds: dedicatedWorkerCpuSeconds() };
  } catch (error) {
    return { ok: false, error: (error as Error).message.split('\n')[0] ?? 'failed' };
  } finally {
    await page.close();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'reference' },
      targets: { type: 'string', default: 'last' },
      'sampled-softmax': { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '240' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      [
        'npm run bench -- browser-train [--model tiny|reference|cifg] [--targets last|every] [--sampled-softmax K] [--no-build] [--timeout-s N]',
        '  --targets every: a loss at every position of a window (trainLocal trains non-overlapping windows)',
        '  --sampled-softmax K: train against K sampled candidate words instead of the whole vocabulary (cifg)',
        '  results: bench/results/browser-train.{json,md} for the reference model on last targets,',
        '           else browser-train-<model>[-every][-sampledK].{json,md}',
        '  env CHROMIUM_PATH (default /usr/bin/chromium)',
      ].join('\n'),
    );
    return;
  }
  const model = values.model as ModelPresetName;
  if (!(model in MODEL_PRESETS)) throw new Error(`--model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${values.model}`);
  const parsedTargets = trainingTargetsSchema.safeParse(values.targets);
  if (!parsedTargets.success) throw new Error(`--targets must be last or every, got ${values.targets}`);
  const targets = parsedTargets.data;
  const sampledSoftmax = values['sampled-softmax'] === undefined ? undefined : trainingPlanSchema.shape.sampledSoftmax.parse(Number(values['sampled-softmax']));
  const timeoutMs = Number(values['timeout-s']) * 1000;
  if (!values['no-build']) execFileSync('npm', ['run', '--silent', '-w', '@murmur/web-client', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync(join(dist, 'bench.html'))) throw new Error(`${dist}/bench.html is missing: build the web client first`);

  // A 10k-word softmax at every position costs the slow backends seconds to a minute a batch:
  // fewer timed batches there keep each case inside its timeout.
  const heavy = model === 'cifg' || targets === 'every';
  const cases: Case[] = [
    { backend: 'webgpu', kernels: 'stock', isolated: false, batches: heavy ? 1 : 3 },
    { backend: 'webgl', kernels: 'stock', isolated: false, batches: heavy ? 2 : 5 },
    { backend: 'wasm', kernels: 'stock', isolated: false, batches: 5 },
    { backend: 'cpu', kernels: 'stock', isolated: false, batches: 1 },
    { backend: 'wasm', kernels: 'direct', isolated: false, batches: 20, cpuBaselineBatches: 4 },
    { backend: 'cpu', kernels: 'direct', isolated: false, batches: heavy ? 2 : 5 },
    { backend: 'wasm', kernels: 'direct', isolated: true, batches: 20, cpuBaselineBatches: 4 },
  ];
  const spec = MODEL_PRESETS[model];
  const launch = chromiumLaunchOptions();
  const browser = await chromium.launch(launch);
  const servers = { plain: await serve(false), isolated: await serve(true) };
  const rows: Row[] = [];
  let adapter: string | null = null;
  try {
    for (const testCase of cases) {
      process.stderr.write(`browser-train: ${testCase.backend}/${testCase.kernels}${testCase.isolated ? ' (isolated)' : ''}…\n`);
      const base = (testCase.isolated ? servers.isolated : servers.plain).url;
      const outcome = await measure(browser, base, testCase, model, targets, sampledSoftmax, timeoutMs);
      const baseline =
        testCase.cpuBaselineBatches === undefined
          ? null
          : await measure(browser, base, { ...testCase, batches: testCase.cpuBaselineBatches }, model, targets, sampledSoftmax, timeoutMs);
      adapter = outcome.webgpuAdapter ?? adapter;
      const measurement = outcome.result?.measurement;
      rows.push({
        backend: testCase.backend,
        kernels: testCase.kernels,
        'cross-origin isolated': outcome.crossOriginIsolated ?? testCase.isolated,
        'examples/s': measurement?.examplesPerSecond ?? null,
        'tokens/s': outcome.result?.tokensPerSecond ?? null,
        'tokens/worker-CPU-s': steadyCpuRate(outcome, baseline, testCase, spec.contextLength, targets),
        'wasm threads': testCase.backend === 'wasm' ? (outcome.result?.wasmThreads ?? null) : null,
        error: outcome.ok ? (measurement?.error ?? null) : (outcome.error ?? 'failed'),
      });
    }
  } finally {
    await browser.close();
    for (const { server } of Object.values(servers)) server.close();
  }

  const rate = (row: Row) => row['examples/s'] as number | null;
  const stock = rows.filter((r) => r.kernels === 'stock' && rate(r) !== null);
  const bestStock = stock.reduce<Row | null>((best, r) => (best === null || (rate(r) ?? 0) > (rate(best) ?? 0) ? r : best), null);
  const chosen = rows.reduce<Row | null>((best, r) => (rate(r) !== null && (best === null || (rate(r) ?? 0) > (rate(best) ?? 0)) ? r : best), null);
  for (const row of rows) {
    const value = rate(row);
    const reference = bestStock ? rate(bestStock) : null;
    row['× best stock'] = value !== null && reference ? Math.round((value / reference) * 10) / 10 : null;
  }
  const chosenRate = chosen ? rate(chosen) : null;
  const speedup = chosenRate !== null && bestStock && rate(bestStock) ? chosenRate / (rate(bestStock) as number) : null;
  const chosenTokens = chosen ? (chosen['tokens/s'] as number | null) : null;
  const node = nodeReference(model, targets, sampledSoftmax);
  writeReport({
    // The reference model on its last targets keeps the historical file name (as the train bench does).
    name: `browser-${nodeResultName(model, targets, sampledSoftmax)}`,
    title: `Training throughput in headless Chromium, ${model} model (${parameterCount(spec).toLocaleString('en-US')} parameters), batch 32, targets ${targets}${sampledSoftmax !== undefined ? `, sampled softmax of ${sampledSoftmax} candidates` : ''}, in the web client's worker`,
    columns: ['backend', 'kernels', 'cross-origin isolated', 'examples/s', 'tokens/s', 'tokens/worker-CPU-s', '× best stock', 'wasm threads', 'error'],
    rows,
    config: {
      model,
      spec,
      targets,
      sampledSoftmax: sampledSoftmax ?? null,
      batchSize: 32,
      cases,
      webgpuAdapter: adapter,
      chromium: launch.executablePath ?? 'playwright',
    },
    notes: [
      `WebGPU adapter: ${adapter ?? 'none'}; WebGL and WebGPU run in software (SwiftShader) on a machine without a GPU.`,
      `examples/s counts windows of ${spec.contextLength} tokens; tokens/s counts the next tokens the loss scored (${targets === 'every' ? `${spec.contextLength} per window: synthetic windows hold no <pad>/<bos>` : 'one per window'}).`,
      `best stock backend: ${bestStock ? `${bestStock.backend} ${rate(bestStock)} examples/s` : 'none'}`,
      `chosen (fastest) backend: ${chosen ? `${chosen.backend}/${chosen.kernels}${chosen['cross-origin isolated'] ? ' isolated' : ''} ${chosenRate} examples/s, ${chosenTokens ?? 'n/a'} tokens/s` : 'none'}`,
      // Issue 13's targets: 150 windows/s for one target each; 1,000 predicted tokens/s at every position.
      targets === 'last'
        ? `target ≥ 150 examples/s: ${chosenRate !== null && chosenRate >= 150 ? 'met' : 'NOT met'}`
        : `target ≥ 1,000 predicted tokens/s: ${chosenTokens !== null && chosenTokens >= 1000 ? 'met' : 'NOT met'} (${chosenTokens ?? 'n/a'})`,
      `target ≥ 7× the best stock backend: ${speedup !== null ? `${speedup.toFixed(1)}× — ${speedup >= 7 ? 'met' : 'NOT met'}` : 'n/a'}`,
      `load average when the run ended (other work shares these cores): ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')}`,
      node === null
        ? `Node: no bench/results/${nodeResultName(model, targets, sampledSoftmax)}.json to compare with (npm run bench -- train --model ${model} --targets ${targets}${sampledSoftmax !== undefined ? ` --sampled-softmax ${sampledSoftmax}` : ''})`
        : `Node, same model and targets (bench/results/${nodeResultName(model, targets, sampledSoftmax)}.md, ${node.measuredAt}): wasm/direct ${node.examplesPerSecond ?? 'n/a'} examples/s, ${node.tokensPerSecond ?? 'n/a'} tokens/s, ${node.tokensPerCpuSecond ?? 'n/a'} tokens/CPU-s (real text: fewer scored tokens per window than these synthetic ones)`,
      'wasm runs the single-threaded SIMD binary even when isolated (see docs/web-client.md: threads measured slower here).',
      `tokens/worker-CPU-s: the tokens of the timed batches over the CPU time of the page's worker thread (/proc) — the difference between this run and one of ${cases.find((c) => c.cpuBaselineBatches !== undefined)?.cpuBaselineBatches ?? 0} batches, which takes out the model build and the warm-up batch: what one idle core would give, independent of other processes taking turns on the cores (not of their use of caches and memory).`,
    ],
  });
}

/** Tokens of the batches the long run has beyond the baseline run, per second of the worker CPU time they took. */
function steadyCpuRate(outcome: BenchResult, baseline: BenchResult | null, testCase: Case, contextLength: number, targets: TrainingTargets): number | null {
  const long = outcome.workerCpuSeconds ?? null;
  const short = baseline?.workerCpuSeconds ?? null;
  if (baseline === null || testCase.cpuBaselineBatches === undefined || long === null || short === null || long <= short) return null;
  if ((outcome.result?.measurement.examplesPerSecond ?? null) === null || (baseline.result?.measurement.examplesPerSecond ?? null) === null) return null;
  // Synthetic windows score every position with 'every' (no <pad>/<bos>), one with 'last'.
  const tokens = (testCase.batches - testCase.cpuBaselineBatches) * 32 * (targets === 'every' ? contextLength : 1);
  return Math.round((tokens / (long - short)) * 10) / 10;
}

/** The Node train bench's result file for the same model, targets and softmax; the browser's is "browser-" and the same. */
function nodeResultName(model: ModelPresetName, targets: TrainingTargets, sampledSoftmax: number | undefined): string {
  return `${model === 'reference' ? 'train' : `train-${model}`}${targets === 'every' ? '-every' : ''}${sampledSoftmax !== undefined ? `-sampled${sampledSoftmax}` : ''}`;
}

/** Node's wasm/direct figures for the same model and targets, when `npm run bench -- train` left them. */
function nodeReference(
  model: ModelPresetName,
  targets: TrainingTargets,
  sampledSoftmax: number | undefined,
): { examplesPerSecond: number | null; tokensPerSecond: number | null; tokensPerCpuSecond: number | null; measuredAt: string } | null {
  const file = join(resultsDir, `${nodeResultName(model, targets, sampledSoftmax)}.json`);
  if (!existsSync(file)) return null;
  try {
    const report = JSON.parse(readFileSync(file, 'utf8')) as { rows?: Row[]; measuredAt?: string };
    const row = report.rows?.find((r) => r.backend === 'wasm' && r.kernels === 'direct');
    if (!row) return null;
    const number = (value: unknown) => (typeof value === 'number' ? value : null);
    return {
      examplesPerSecond: number(row['examples/s']),
      tokensPerSecond: number(row['tokens/s']),
      tokensPerCpuSecond: number(row['tokens/CPU-s']),
      measuredAt: report.measuredAt ?? 'unknown date',
    };
  } catch {
    return null;
  }
}
