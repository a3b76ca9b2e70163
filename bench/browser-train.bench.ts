/**
 * Training throughput of a model in headless Chromium, per tfjs backend (webgpu, webgl, wasm,
 * cpu), with tfjs's stock kernels and with fl-core's direct UnsortedSegmentSum where it applies
 * (cpu, wasm). It drives the built web client's own training worker through apps/web-client's
 * bench.html: each case is a fresh page and worker (kernel registration is one-way per worker),
 * served by a small static server, optionally cross-origin isolated (COOP + COEP).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from '@playwright/test';
import { MODEL_PRESETS, parameterCount, type ModelPresetName } from '@murmur/fl-core';
import { writeReport, type Row } from './report';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'apps/web-client/dist');

type Backend = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
interface Case {
  backend: Backend;
  kernels: 'stock' | 'direct';
  isolated: boolean;
  /** Timed batches (after the warm-up batch): few where a batch takes seconds. */
  batches: number;
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

interface BenchResult {
  ok: boolean;
  error?: string;
  crossOriginIsolated?: boolean;
  webgpuAdapter?: string | null;
  result?: { measurement: { examplesPerSecond: number | null; error: string | null }; wasmThreads: number };
}

async function measure(browser: Browser, base: string, testCase: Case, model: ModelPresetName, timeoutMs: number): Promise<BenchResult> {
  const page = await browser.newPage();
  try {
    const query = new URLSearchParams({ backend: testCase.backend, kernels: testCase.kernels, model, batches: String(testCase.batches), batchSize: '32' });
    await page.goto(`${base}/bench.html?${query}`);
    await page.waitForFunction(() => (window as { murmurBench?: unknown }).murmurBench !== undefined, null, { timeout: timeoutMs });
    return (await page.evaluate(() => (window as { murmurBench?: unknown }).murmurBench)) as BenchResult;
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
      'no-build': { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '240' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('npm run bench -- browser-train [--model tiny|reference] [--no-build] [--timeout-s N]\n  env CHROMIUM_PATH (default /usr/bin/chromium)');
    return;
  }
  const model = values.model as ModelPresetName;
  if (!(model in MODEL_PRESETS)) throw new Error(`--model must be tiny or reference, got ${values.model}`);
  const timeoutMs = Number(values['timeout-s']) * 1000;
  if (!values['no-build']) execFileSync('npm', ['run', '--silent', '-w', '@murmur/web-client', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync(join(dist, 'bench.html'))) throw new Error(`${dist}/bench.html is missing: build the web client first`);

  const cases: Case[] = [
    { backend: 'webgpu', kernels: 'stock', isolated: false, batches: 3 },
    { backend: 'webgl', kernels: 'stock', isolated: false, batches: 5 },
    { backend: 'wasm', kernels: 'stock', isolated: false, batches: 5 },
    { backend: 'cpu', kernels: 'stock', isolated: false, batches: 1 },
    { backend: 'wasm', kernels: 'direct', isolated: false, batches: 20 },
    { backend: 'cpu', kernels: 'direct', isolated: false, batches: 5 },
    { backend: 'wasm', kernels: 'direct', isolated: true, batches: 20 },
  ];
  const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  const browser = await chromium.launch({
    ...(existsSync(chromiumPath) ? { executablePath: chromiumPath } : {}),
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu'],
  });
  const servers = { plain: await serve(false), isolated: await serve(true) };
  const rows: Row[] = [];
  let adapter: string | null = null;
  try {
    for (const testCase of cases) {
      process.stderr.write(`browser-train: ${testCase.backend}/${testCase.kernels}${testCase.isolated ? ' (isolated)' : ''}…\n`);
      const outcome = await measure(browser, (testCase.isolated ? servers.isolated : servers.plain).url, testCase, model, timeoutMs);
      adapter = outcome.webgpuAdapter ?? adapter;
      const measurement = outcome.result?.measurement;
      rows.push({
        backend: testCase.backend,
        kernels: testCase.kernels,
        'cross-origin isolated': outcome.crossOriginIsolated ?? testCase.isolated,
        'examples/s': measurement?.examplesPerSecond ?? null,
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
  const spec = MODEL_PRESETS[model];
  writeReport({
    name: 'browser-train',
    title: `Training throughput in headless Chromium, ${model} model (${parameterCount(spec).toLocaleString('en-US')} parameters), batch 32, in the web client's worker`,
    columns: ['backend', 'kernels', 'cross-origin isolated', 'examples/s', '× best stock', 'wasm threads', 'error'],
    rows,
    config: { model, spec, batchSize: 32, cases, webgpuAdapter: adapter, chromium: chromiumPath },
    notes: [
      `WebGPU adapter: ${adapter ?? 'none'}; WebGL and WebGPU run in software (SwiftShader) on a machine without a GPU.`,
      `best stock backend: ${bestStock ? `${bestStock.backend} ${rate(bestStock)} examples/s` : 'none'}`,
      `chosen (fastest) backend: ${chosen ? `${chosen.backend}/${chosen.kernels}${chosen['cross-origin isolated'] ? ' isolated' : ''} ${chosenRate} examples/s` : 'none'}`,
      `target ≥ 150 examples/s: ${chosenRate !== null && chosenRate >= 150 ? 'met' : 'NOT met'}; target ≥ 7× the best stock backend: ${speedup !== null ? `${speedup.toFixed(1)}× — ${speedup >= 7 ? 'met' : 'NOT met'}` : 'n/a'}`,
      'wasm runs the single-threaded SIMD binary even when isolated (see docs/web-client.md: threads measured slower here).',
    ],
  });
}
