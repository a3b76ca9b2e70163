/**
 * The aggregator under load, over loopback, with the real CLI in its own process:
 *
 * 1. One round of --clients virtual clients (default 1,000) with the tiny model: every client is
 *    the fl-core participant over its own socket.io-client connection, trains for real, and runs
 *    secure aggregation (SecAgg+ at this size) with distributed DP. Reported: the round's duration
 *    and its phases (from the durable round record), and the aggregator's peak resident memory
 *    (VmHWM of its process).
 * 2. --idle connections (default 10,000) held open by one aggregator process: enrolled, connected,
 *    welcomed, then idle. Reported: connect time, the process's memory before and after, bytes
 *    per connection, and /healthz latency while they are held.
 *
 * The virtual clients run in this process, one tfjs model shared in turn (training is serial on
 * these cores either way), so the round's time includes every client's training.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parameterCount, TINY_SPEC } from '@murmur/fl-core/model';
import { roundReportSchema, type RoundReport } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import { connectIdleDevices, enrollDevices, startVirtualClients, stateOfTheUnionClients, type AggregatorConfigInput } from '@murmur/aggregator';
import { writeReport, type Row } from './report';

const appDir = fileURLToPath(new URL('../apps/aggregator/', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resident and peak resident memory of a process, in MiB (Linux /proc). */
function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function startAggregatorProcess(settings: AggregatorConfigInput): Promise<{ child: ChildProcess; url: string; dir: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'murmur-bench-'));
  const port = await freePort();
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ ...settings, dataDir: join(dir, 'data'), port, logLevel: 'warn' }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configFile], { cwd: appDir, stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), 120_000, 'the aggregator to listen');
  return {
    child,
    url,
    dir,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function roundBench(clients: number, maxExamples: number): Promise<Row> {
  const aggregator = await startAggregatorProcess({
    model: 'tiny',
    seed: 1,
    round: {
      target: clients,
      overSelection: 1,
      minReports: Math.ceil(clients / 2),
      checkinMs: 600_000,
      pauseMs: 3_600_000,
      deadlines: { advertiseKeysMs: 1_800_000, shareKeysMs: 300_000, maskedInputMs: 300_000, unmaskingMs: 300_000 },
      secAggPlusFrom: 64,
      dropoutRate: 0.1,
    },
    training: { epochs: 1, batchSize: 32, learningRate: 0.5, maxExamples, timeBudgetMs: 60_000, targets: 'last' },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.05 },
    // A thousand clients share this process's event loop, so a heartbeat may wait on their
    // training and masking; a device of its own would answer at once.
    // One address enrolls every client: no enrollment limit or proof of work gets in the measurement's way.
    limits: {
      enrollPerMinute: 1_000_000,
      enrollPerMinutePerNetwork: 1_000_000,
      enrollPerMinuteGlobal: 1_000_000,
      enrollProofOfWorkBits: 0,
      eventsPerSecond: 50,
      eventBurst: 100,
      pingTimeoutMs: 120_000,
    },
  });
  const baseline = memoryOf(aggregator.child.pid as number);
  const data = stateOfTheUnionClients(TINY_SPEC, clients);
  const started = performance.now();
  const pool = await startVirtualClients({ url: aggregator.url, clients: data });
  const connectedMs = performance.now() - started;
  const published = await waitFor(
    async () => {
      const page = (await (await fetch(`${aggregator.url}/api/rounds?limit=1`)).json()) as { rounds: RoundReport[] };
      return page.rounds[0];
    },
    3_600_000,
    'the round record',
  );
  // With privacy noise /api/rounds withholds the exact counts (survivors, the SecAgg+ degree and
  // threshold): the bench, as the operator, reads the aggregator's own record from its data directory.
  const report = roundReportSchema.parse(
    JSON.parse(readFileSync(join(aggregator.dir, 'data', 'rounds', `${String(published.round).padStart(8, '0')}.json`), 'utf8')),
  );
  const memory = memoryOf(aggregator.child.pid as number);
  await pool.close();
  await aggregator.stop();
  const roundMs = Date.parse(report.endedAt) - Date.parse(report.startedAt);
  const d = report.durationsMs;
  console.log(`round ${report.round}: ${report.status} ${report.abort ? JSON.stringify(report.abort) : ''} cohort ${JSON.stringify(report.cohort)}`);
  return {
    scenario: `1 round, ${clients} clients`,
    status: report.status,
    survivors: report.cohort.unmasked,
    graph: report.secagg.graph === 'full' ? 'full' : `SecAgg+ k=${report.secagg.degree}, t=${report.secagg.threshold}`,
    'connect + check-in s': connectedMs / 1000,
    'round s': roundMs / 1000,
    'train + keys s': (d.advertiseKeys ?? 0) / 1000,
    'shareKeys s': (d.shareKeys ?? 0) / 1000,
    'maskedInput s': (d.maskedInput ?? 0) / 1000,
    'unmasking s': (d.unmasking ?? 0) / 1000,
    'aggregate s': (d.aggregate ?? 0) / 1000,
    'MiB received': report.bytes.received / 2 ** 20,
    'MiB sent': report.bytes.sent / 2 ** 20,
    'aggregator RSS idle MiB': baseline.rssMiB,
    'aggregator peak MiB': memory.peakMiB,
  };
}

async function idleBench(connections: number): Promise<Row> {
  const aggregator = await startAggregatorProcess({
    model: 'tiny',
    limits: { enrollPerMinute: 10_000_000, enrollPerMinutePerNetwork: 10_000_000, enrollPerMinuteGlobal: 10_000_000, enrollProofOfWorkBits: 0 },
  });
  const before = memoryOf(aggregator.child.pid as number);
  const enrollStarted = performance.now();
  const identities = await enrollDevices(aggregator.url, connections);
  const enrollMs = performance.now() - enrollStarted;
  const connectStarted = performance.now();
  const { sockets } = await connectIdleDevices({ url: aggregator.url, identities });
  const connectMs = performance.now() - connectStarted;
  // Held idle across several ping intervals (10 s), so the heartbeat cost is in the figures.
  await new Promise((resolve) => setTimeout(resolve, 25_000));
  const status = (await (await fetch(`${aggregator.url}/api/status`)).json()) as { connectedClients: number };
  const healthTimes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await fetch(`${aggregator.url}/healthz`);
    healthTimes.push(performance.now() - t);
  }
  healthTimes.sort((a, b) => a - b);
  const after = memoryOf(aggregator.child.pid as number);
  const stillConnected = sockets.filter((s) => s.connected).length;
  for (const socket of sockets) socket.disconnect();
  await aggregator.stop();
  return {
    scenario: `${connections} idle connections`,
    status:
      status.connectedClients === connections && stillConnected === connections
        ? 'held'
        : `${status.connectedClients} held by server, ${stillConnected} by clients`,
    'enroll s': enrollMs / 1000,
    'connect s': connectMs / 1000,
    'aggregator RSS idle MiB': before.rssMiB,
    'aggregator RSS held MiB': after.rssMiB,
    'aggregator peak MiB': after.peakMiB,
    'KiB per connection': ((after.rssMiB - before.rssMiB) * 1024) / connections,
    'healthz p50 ms': healthTimes[10] as number,
  };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string', default: '1000' },
      idle: { type: 'string', default: '10000' },
      'max-examples': { type: 'string', default: '32' },
      only: { type: 'string' },
    },
  });
  const clients = Number(values.clients);
  const idle = Number(values.idle);
  const maxExamples = Number(values['max-examples']);
  for (const [name, value] of [
    ['--clients', clients],
    ['--idle', idle],
    ['--max-examples', maxExamples],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  if (clients < 3) throw new RangeError('--clients must be at least 3');
  await useNodeBackend('wasm');
  const rows: Row[] = [];
  if (values.only !== 'idle') rows.push(await roundBench(clients, maxExamples));
  if (values.only !== 'round') rows.push(await idleBench(idle));
  writeReport({
    name: 'aggregator',
    title: 'Aggregator over loopback: one large round, many idle connections',
    columns: [
      'scenario',
      'status',
      'survivors',
      'graph',
      'connect + check-in s',
      'round s',
      'train + keys s',
      'shareKeys s',
      'maskedInput s',
      'unmasking s',
      'aggregate s',
      'MiB received',
      'MiB sent',
      'enroll s',
      'connect s',
      'aggregator RSS idle MiB',
      'aggregator RSS held MiB',
      'aggregator peak MiB',
      'KiB per connection',
      'healthz p50 ms',
    ],
    rows,
    config: {
      model: 'tiny',
      parameters: parameterCount(TINY_SPEC),
      clients,
      idle,
      maxExamples,
      privacy: 'distributed, σ = 0.05, C = 1',
      transport: 'socket.io websocket over 127.0.0.1',
    },
    notes: [
      'Round time runs from selection to the durable record: every client downloads the model, evaluates, trains, and runs its secure-aggregation steps; all 1,000 clients run in the bench process, one after another on the 2 cores of the machine (shared with other work), so train + keys and maskedInput are mostly the compute of the clients themselves summed over the cohort.',
      "Peak memory is the aggregator process's VmHWM (Linux), read after the round.",
    ],
  });
}
