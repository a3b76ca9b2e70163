/**
 * `npm run bench -- scale-out`: the distributed mode (docs/scale-out.md) on one machine.
 *
 * Starts its own PostgreSQL and Redis (apps/aggregator/scripts/stores.sh; or uses running ones when
 * MURMUR_PG_URL and MURMUR_REDIS_URL are set), one enrollment service (in this process), three
 * aggregator processes (main.ts, the real entry point, distributed mode, pinned with `taskset -c 0`)
 * and one client process (bench/scale-out-clients.ts, pinned with `taskset -c 1`) holding idle
 * sockets and training virtual clients on every aggregator. Then:
 *
 * 1. idle baseline: each aggregator's event-loop delay, RSS and JS heap before any client;
 * 2. --idle sockets per process (enrolled, connected, never checking in), in two halves: memory
 *    per socket as (JS heap + external − idle) / sockets after a full GC (the aggregators run with
 *    --expose-gc and scale-out-gc.mjs preloaded, which collects on SIGUSR2), RSS beside it;
 * 3. for each --clients count per process: --rounds committed rounds, each one's latency broken
 *    down from the processes' pino logs and /metrics, scraped the moment the round commits (so
 *    histogram deltas are that round's): plan fan-out (the coordinator's "round opened" → each
 *    group's "round started"), each group's SecAgg phases, the groups phase (open → the last
 *    group sum), the master aggregator's sum + decode + summarize (the record's
 *    durationsMs.aggregate), the commit transaction, and the Redis bytes of the round's group sums;
 * 4. failover: SIGKILL of the lease holder mid-round, timed to the next commit by another process.
 *
 * --group-size N splits each process's draw into groups of at most N (distributed.groupSize), so
 * the Redis bytes can be compared at one client count with one group and several per process.
 *
 * Writes bench/results/scale-out.json and .md (scale-out-groupN.* with --group-size N). Kills
 * everything it started on exit, failure, SIGINT or SIGTERM.
 */
import { execFile, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import cliProgress from 'cli-progress';
import { pino } from 'pino';
import { parameterCount, TINY_SPEC, type ModelSpec } from '@murmur/fl-core/model';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { enrollmentConfigSchema, startEnrollmentServer, type AggregatorConfigInput, type RunningEnrollment } from '@murmur/aggregator';
import { writeReport, type Row } from './report';
import type { ScaleOutClientEvent, ScaleOutClientSettings } from './scale-out-clients';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'apps/aggregator/src/main.ts');
const STORES = join(ROOT, 'apps/aggregator/scripts/stores.sh');
const CLIENTS = fileURLToPath(new URL('./scale-out-clients.ts', import.meta.url));
/** Preloaded into each aggregator with --expose-gc: SIGUSR2 runs a full GC before an RSS reading. */
const GC_PRELOAD = fileURLToPath(new URL('./scale-out-gc.mjs', import.meta.url));
const PROCESSES = 3;
/** The integration tests' model (apps/aggregator/src/test-helpers.ts TEST_SPEC): a round of real training and SecAgg in about a second. */
const TEST_SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 200, contextLength: 6, embeddingDim: 16, hiddenUnits: 16 };
const NOISE_MULTIPLIER = 0.02;
const MIN_REPORTS = 3;
/** Bench defaults, away from stores.sh's own (55432, 56379) so a running `npm run stores` or test suite is never touched. */
const DEFAULT_PG_PORT = '55532';
const DEFAULT_REDIS_PORT = '56479';
const SECAGG_STAGES = ['advertiseKeys', 'shareKeys', 'consistencyCheck', 'maskedInput', 'unmasking'] as const;

type Log = Record<string, unknown> & { msg?: string; time?: number };

interface Aggregator {
  index: number;
  processId: string;
  dir: string;
  child: ChildProcessWithoutNullStreams;
  url: string;
  logs: Log[];
  output: string[];
  alive: boolean;
  /** The last /metrics scrape (for histogram deltas). */
  last: Map<string, number>;
}

interface RoundSample {
  clientsPerProcess: number;
  round: number;
  committedBy: string;
  groups: number;
  /** Processes whose groups the sum added (a process may run several groups). */
  processes: number;
  coordinationBytes: number;
  vectorLength: number | null;
  fanoutMs: number[];
  groupsS: number | null;
  commitS: number | null;
  aggregateMs: number | null;
  roundMs: number;
  stages: Partial<Record<(typeof SECAGG_STAGES)[number], number[]>>;
  /** The same per group (process), in seconds, for the JSON. */
  groupStages: Record<string, Partial<Record<(typeof SECAGG_STAGES)[number], number>>>;
  reports: number | null;
}

// ---------------------------------------------------------------- children and clean-up

/** What to undo, in reverse order of registration; awaited one by one (never blocking the loop: tsx waits on it to relay signals). */
const cleanups: (() => void | Promise<void>)[] = [];
let cleaning: Promise<void> | null = null;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`scale-out: clean-up step failed: ${String(error)}`);
      }
    }
  })();
  return cleaning;
}
function onSignal(signal: NodeJS.Signals): void {
  if (cleaning) return;
  console.error(`\nscale-out: ${signal}, stopping what the bench started`);
  void cleanUp().finally(() => process.exit(130));
}

function killChild(child: ChildProcessWithoutNullStreams | null, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
}

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/** The command line, pinned to `core` when taskset works here. */
function pinned(core: number, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(core), ...args]] : [args[0] as string, args.slice(1)];
}

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** VmRSS of a live process, in bytes (Linux /proc; prom-client's process_resident_memory_bytes reads the same). */
function rssOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * RSS of each process after a full GC, once it stops moving (V8 gives memory back for a while
 * after start-up and after a burst): GC and a sample every ~1.3 s until no process moved more than
 * 1 MiB over three samples, or 30 s.
 */
async function settledRss(pids: (number | undefined)[]): Promise<number[]> {
  const history: number[][] = [];
  const started = Date.now();
  for (;;) {
    collectGarbage(pids);
    await sleep(300);
    history.push(pids.map(rssOf));
    const then = history.at(-4);
    const now = history.at(-1) as number[];
    if (then && now.every((rss, i) => Math.abs(rss - (then[i] as number)) < 2 ** 20)) return now;
    if (Date.now() - started > 30_000) return now;
    await sleep(1_000);
  }
}

/** JS heap used + external memory (prom-client's default metrics, the aggregator's prefix), in bytes. */
function heapOf(metrics: Map<string, number>): number {
  return (metrics.get('murmur_process_nodejs_heap_size_used_bytes') ?? Number.NaN) + (metrics.get('murmur_process_nodejs_external_memory_bytes') ?? Number.NaN);
}

/** A full GC in each aggregator (scale-out-gc.mjs; they run with --expose-gc). */
function collectGarbage(pids: (number | undefined)[]): void {
  for (const pid of pids) {
    try {
      if (pid !== undefined) process.kill(pid, 'SIGUSR2');
    } catch {
      // gone: its RSS reads NaN
    }
  }
}

/** Prometheus text → `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    values.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return values;
}

async function scrape(aggregator: Aggregator): Promise<Map<string, number>> {
  const response = await fetch(`${aggregator.url}/metrics`);
  if (!response.ok) throw new Error(`${aggregator.processId}: /metrics answered ${response.status}`);
  return parseMetrics(await response.text());
}

/** One observation's mean per phase between two scrapes of murmur_phase_duration_seconds (null when none). */
function phaseDelta(before: Map<string, number>, after: Map<string, number>, phase: string): number | null {
  const key = (part: string) => `murmur_phase_duration_seconds_${part}{phase="${phase}"}`;
  const count = (after.get(key('count')) ?? 0) - (before.get(key('count')) ?? 0);
  if (count <= 0) return null;
  return ((after.get(key('sum')) ?? 0) - (before.get(key('sum')) ?? 0)) / count;
}

/** prom-client's default metrics carry the aggregator's prefix (metrics.ts: collectDefaultMetrics with prefix murmur_process_). */
const LAG_P99 = 'murmur_process_nodejs_eventloop_lag_p99_seconds';

function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

// ---------------------------------------------------------------- stores

interface Stores {
  env: NodeJS.ProcessEnv;
  how: string;
}

async function startStores(): Promise<Stores> {
  if (process.env.MURMUR_PG_URL && process.env.MURMUR_REDIS_URL) {
    return {
      env: { ...process.env },
      how: `running stores from the environment (${process.env.MURMUR_PG_URL}, ${process.env.MURMUR_REDIS_URL}), left running`,
    };
  }
  const pgPort = process.env.MURMUR_PG_PORT ?? DEFAULT_PG_PORT;
  const redisPort = process.env.MURMUR_REDIS_PORT ?? DEFAULT_REDIS_PORT;
  for (const [what, port] of [
    ['PostgreSQL', pgPort],
    ['Redis', redisPort],
  ] as const) {
    if (await portAnswers(Number(port))) {
      throw new Error(
        `scale-out: something already listens on 127.0.0.1:${port} (${what}): set MURMUR_PG_PORT / MURMUR_REDIS_PORT to free ports, or MURMUR_PG_URL and MURMUR_REDIS_URL to use running stores`,
      );
    }
  }
  const dir = process.env.MURMUR_STORES_DIR ?? mkdtempSync(join(tmpdir(), 'murmur-stores-bench.'));
  const env: NodeJS.ProcessEnv = { ...process.env, MURMUR_STORES_DIR: dir, MURMUR_PG_PORT: pgPort, MURMUR_REDIS_PORT: redisPort };
  // Registered first: a start that fails half-way is cleaned too.
  cleanups.push(async () => void (await promisify(execFile)('bash', [STORES, 'clean'], { env })));
  const { stdout: printed } = await promisify(execFile)('bash', [STORES, 'start'], { env, encoding: 'utf8' });
  for (const line of printed.split('\n')) {
    const match = /^(MURMUR_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) env[match[1]] = match[2];
  }
  return { env, how: `fresh PostgreSQL (port ${pgPort}) and Redis (port ${redisPort}) from stores.sh in ${dir}, removed afterwards` };
}

// ---------------------------------------------------------------- processes

async function startAggregator(input: { index: number; dir: string; config: AggregatorConfigInput; env: NodeJS.ProcessEnv }): Promise<Aggregator> {
  const processId = `agg${input.index}`;
  mkdirSync(input.dir, { recursive: true });
  const configFile = join(input.dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ ...input.config, dataDir: join(input.dir, 'data') }));
  const [command, args] = pinned(0, [process.execPath, '--expose-gc', '--import', GC_PRELOAD, '--import', 'tsx', MAIN, '--config', configFile]);
  const child = spawn(command, args, { cwd: join(ROOT, 'apps/aggregator'), stdio: ['pipe', 'pipe', 'pipe'], env: input.env });
  cleanups.push(() => killChild(child));
  const aggregator: Aggregator = { index: input.index, processId, dir: input.dir, child, url: '', logs: [], output: [], alive: true, last: new Map() };
  child.once('exit', () => {
    aggregator.alive = false;
  });
  const collect = (line: string) => {
    aggregator.output.push(line);
    if (aggregator.output.length > 400) aggregator.output.shift();
    if (!line.startsWith('{')) return;
    try {
      aggregator.logs.push(JSON.parse(line) as Log);
    } catch {
      // a partial line: kept in the output only
    }
  };
  createInterface({ input: child.stderr }).on('line', collect);
  aggregator.url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${processId}: not serving after 120 s:\n${aggregator.output.join('\n')}`)), 120_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      collect(line);
      const match = /^Murmur aggregator: (http:\/\/\S+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${processId} exited (${code ?? signal}) before serving:\n${aggregator.output.join('\n')}`));
    });
  });
  return aggregator;
}

interface ClientProcess {
  child: ChildProcessWithoutNullStreams;
  events: ScaleOutClientEvent[];
  send(command: object): void;
  waitFor<K extends ScaleOutClientEvent['event']>(kind: K, timeoutMs: number): Promise<Extract<ScaleOutClientEvent, { event: K }>>;
}

function startClients(settings: ScaleOutClientSettings, env: NodeJS.ProcessEnv): ClientProcess {
  const [command, args] = pinned(1, [process.execPath, '--import', 'tsx', CLIENTS, JSON.stringify(settings)]);
  const child = spawn(command, args, { cwd: join(ROOT, 'bench'), stdio: ['pipe', 'pipe', 'pipe'], env });
  cleanups.push(() => killChild(child));
  const events: ScaleOutClientEvent[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    try {
      events.push(JSON.parse(line) as ScaleOutClientEvent);
    } catch {
      // not one of ours
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 200) stderr.shift();
  });
  let seen = 0;
  return {
    child,
    events,
    send: (message) => child.stdin.write(`${JSON.stringify(message)}\n`),
    async waitFor(kind, timeoutMs) {
      return until(
        `the client process's "${kind}"`,
        () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the client process exited:\n${stderr.join('\n')}`);
          for (; seen < events.length; seen++) {
            const event = events[seen] as ScaleOutClientEvent;
            if (event.event === 'error') throw new Error(`the client process: ${event.message}`);
            if (event.event === kind) {
              seen++;
              return event as Extract<ScaleOutClientEvent, { event: typeof kind }>;
            }
          }
          return undefined;
        },
        timeoutMs,
      );
    },
  };
}

// ---------------------------------------------------------------- the bench

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '8' },
      clients: { type: 'string', default: '4,8' },
      idle: { type: 'string', default: '1000' },
      model: { type: 'string', default: 'test' },
      'pause-ms': { type: 'string', default: '1000' },
      'lease-ttl-ms': { type: 'string', default: '3000' },
      'pool-ttl-ms': { type: 'string', default: '3000' },
      failover: { type: 'boolean', default: true },
      'no-failover': { type: 'boolean', default: false },
      'group-size': { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const clientCounts = String(values.clients)
    .split(',')
    .map((s) => Number(s.trim()));
  const idle = Number(values.idle);
  const pauseMs = Number(values['pause-ms']);
  const leaseTtlMs = Number(values['lease-ttl-ms']);
  const poolTtlMs = Number(values['pool-ttl-ms']);
  const failover = values.failover && !values['no-failover'];
  // Unset: the aggregator's default (500), so every process runs one group at these client counts.
  const groupSize = values['group-size'] === undefined ? null : Number(values['group-size']);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);
  if (clientCounts.some((n) => !Number.isInteger(n) || n < MIN_REPORTS)) throw new RangeError(`--clients: counts per process, each ≥ ${MIN_REPORTS}`);
  if (!Number.isInteger(idle) || idle < 0) throw new RangeError(`--idle must be a whole number, got ${values.idle}`);
  if (groupSize !== null && (!Number.isInteger(groupSize) || groupSize < MIN_REPORTS)) {
    throw new RangeError(`--group-size must be an integer ≥ ${MIN_REPORTS} (minReports), got ${values['group-size']}`);
  }
  if (values.model !== 'test' && values.model !== 'tiny') throw new RangeError(`--model must be test or tiny, got ${values.model}`);
  const spec = values.model === 'tiny' ? TINY_SPEC : TEST_SPEC;
  const maxPerProcess = Math.max(...clientCounts);

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const benchStarted = performance.now();
  const loadStart = os.loadavg()[0] ?? Number.NaN;
  const dir = mkdtempSync(join(tmpdir(), 'murmur-scale-out-bench-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  let enrollment: RunningEnrollment | null = null;
  cleanups.push(async () => void (await enrollment?.close()));
  const totalSteps = 3 + clientCounts.length * rounds + (failover ? 1 : 0);
  const bar = new cliProgress.SingleBar({ format: 'scale-out |{bar}| {value}/{total} {step}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(totalSteps, 0, { step: 'stores' });
  const step = (what: string) => bar.increment(1, { step: what });
  const note = (what: string) => bar.update({ step: what });
  try {
    const stores = await startStores();
    const schema = `bench_scaleout_${Date.now().toString(36)}`;
    const taskId = `scale-out-bench-${Date.now().toString(36)}`;
    enrollment = await startEnrollmentServer(
      enrollmentConfigSchema.parse({
        port: 0,
        dataDir: join(dir, 'enrollment'),
        proofOfWorkBits: 0,
        enrollPerMinute: 1_000_000,
        enrollPerMinutePerNetwork: 1_000_000,
        enrollPerMinuteGlobal: 1_000_000,
        logLevel: 'silent',
      }),
      pino({ level: 'silent' }),
    );
    step('aggregators');
    const env: NodeJS.ProcessEnv = {
      ...stores.env,
      MURMUR_PG_SCHEMA: schema,
      MURMUR_LEASE_TTL_MS: String(leaseTtlMs),
      MURMUR_POOL_COUNT_TTL_MS: String(poolTtlMs),
    };
    const configOf = (i: number): AggregatorConfigInput => ({
      port: 0,
      host: '127.0.0.1',
      adminToken: 'bench-admin-token-0123456789',
      model: spec,
      seed: 7,
      logLevel: 'info',
      enrollmentIssuerFile: join(dir, 'enrollment', 'issuer.json'),
      distributed: { enabled: true, taskId, population: 'bench', processId: `agg${i}`, ...(groupSize === null ? {} : { groupSize }) },
      round: {
        // q = 1: every checked-in client of every process is drawn each round.
        target: PROCESSES * maxPerProcess,
        overSelection: 1,
        minReports: MIN_REPORTS,
        checkinMs: 300,
        pauseMs,
        reconnectGraceMs: 800,
        deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 5_000, unmaskingMs: 5_000 },
      },
      training: { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 128, timeBudgetMs: 10_000, targets: 'last' },
      privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: NOISE_MULTIPLIER },
      limits: { pingTimeoutMs: 60_000 },
    });
    // One after another: the first migrates the schema and writes version 0.
    const aggregators: Aggregator[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      note(`starting agg${i}`);
      aggregators.push(await startAggregator({ index: i, dir: join(dir, `agg${i}`), config: configOf(i), env }));
    }

    // 1. Idle baseline: a scrape resets prom-client's event-loop histogram, the next one 5 s later
    // reads the idle window (before any forced GC); then memory after a full GC.
    note('idle baseline');
    await sleep(2_000);
    await Promise.all(aggregators.map(async (a) => void (await scrape(a))));
    await sleep(5_000);
    const idleLag = await Promise.all(aggregators.map(async (a) => (await scrape(a)).get(LAG_P99) ?? Number.NaN));
    const idleRssBefore = await settledRss(aggregators.map((a) => a.child.pid));
    const baseline = await Promise.all(aggregators.map(async (a, i) => ({ metrics: await scrape(a), rss: idleRssBefore[i] as number })));
    aggregators.forEach((a, i) => (a.last = baseline[i]?.metrics ?? new Map()));
    step('idle sockets');

    // 2. Idle sockets: RSS per socket.
    const clients = startClients({ urls: aggregators.map((a) => a.url), enrollmentUrl: enrollment.url, spec, noiseMultiplier: NOISE_MULTIPLIER }, env);
    await clients.waitFor('ready', 120_000);
    // In two halves: the slope between them is the cost of a socket once start-up garbage is gone
    // (against the idle baseline, V8 collecting start-up garbage can outweigh hundreds of sockets).
    const idleSteps: { connected: number[]; rss: number[]; heap: number[]; seconds: number }[] = [];
    if (idle > 0) {
      for (const perProcess of [Math.ceil(idle / 2), Math.floor(idle / 2)]) {
        if (perProcess === 0) continue;
        clients.send({ cmd: 'idle', perProcess });
        const done = await clients.waitFor('idle', 600_000);
        const rss = await settledRss(aggregators.map((a) => a.child.pid));
        const scraped = await Promise.all(aggregators.map((a) => scrape(a)));
        const connected = scraped.map((m) => m.get('murmur_connected_clients') ?? Number.NaN);
        idleSteps.push({ connected, rss, heap: scraped.map(heapOf), seconds: done.seconds });
      }
      // The scrapes above reset the lag histogram and moved the deltas' base: take the next as the new base.
      for (const a of aggregators) a.last = await scrape(a);
    }
    step('rounds');

    // 3. Rounds. Each commit (the coordinator's log line) triggers a scrape of every live process.
    const samples: RoundSample[] = [];
    const lagWindows = new Map<string, number[]>(aggregators.map((a) => [a.processId, []]));
    const rssDuring = new Map<string, { clientsPerProcess: number; rss: number; connected: number }[]>(aggregators.map((a) => [a.processId, []]));
    const seenCommits = new Set<number>();
    const commitLine = (round: number) =>
      aggregators.flatMap((a) => a.logs.map((log) => ({ a, log }))).find(({ log }) => log.msg === 'task coordinator: round committed' && log.round === round);
    const openLine = (round: number) =>
      aggregators.flatMap((a) => a.logs.map((log) => ({ a, log }))).find(({ log }) => log.msg === 'task coordinator: round opened' && log.round === round);
    const newestCommit = () =>
      aggregators
        .flatMap((a) => a.logs.map((log) => ({ a, log })))
        .filter(({ log }) => log.msg === 'task coordinator: round committed')
        .map(({ a, log }) => ({ a, round: Number(log.round), time: Number(log.time) }))
        .filter(({ round }) => !seenCommits.has(round))
        .sort((x, y) => x.round - y.round)[0];

    const takeRound = async (clientsPerProcess: number, since: number, count: boolean): Promise<{ round: number; by: Aggregator } | null> => {
      const commit = newestCommit();
      if (!commit) return null;
      seenCommits.add(commit.round);
      const live = aggregators.filter((a) => a.alive);
      const scraped = await Promise.all(live.map(async (a) => ({ a, metrics: await scrape(a).catch(() => null), rss: rssOf(a.child.pid) })));
      const opened = openLine(commit.round);
      // Rounds opened before this client count was in place are warm-up, not measured.
      const measured = opened !== undefined && Number(opened.log.time) >= since;
      const line = commitLine(commit.round)?.log ?? {};
      const sample: RoundSample = {
        clientsPerProcess,
        round: commit.round,
        committedBy: commit.a.processId,
        groups: Number(line.groups ?? 0),
        processes: Number(line.processes ?? 0),
        coordinationBytes: Number(line.coordinationBytes ?? 0),
        vectorLength: null,
        fanoutMs: [],
        groupsS: null,
        commitS: null,
        aggregateMs: null,
        roundMs: opened ? commit.time - Number(opened.log.time) : Number.NaN,
        stages: {},
        groupStages: {},
        reports: null,
      };
      for (const a of aggregators) {
        const started = a.logs.find((log) => log.msg === 'round started' && log.round === commit.round);
        if (started && opened) sample.fanoutMs.push(Number(started.time) - Number(opened.log.time));
      }
      for (const { a, metrics, rss } of scraped) {
        if (!metrics) continue;
        if (a === commit.a) {
          sample.groupsS = phaseDelta(a.last, metrics, 'groups');
          sample.commitS = phaseDelta(a.last, metrics, 'commit');
        }
        for (const stage of SECAGG_STAGES) {
          const seconds = phaseDelta(a.last, metrics, stage);
          if (seconds === null) continue;
          (sample.stages[stage] ??= []).push(seconds);
          (sample.groupStages[a.processId] ??= {})[stage] = seconds;
        }
        if (count && measured) {
          lagWindows.get(a.processId)?.push(metrics.get(LAG_P99) ?? Number.NaN);
          rssDuring.get(a.processId)?.push({ clientsPerProcess, rss, connected: metrics.get('murmur_connected_clients') ?? Number.NaN });
        }
        a.last = metrics;
      }
      const file = join(commit.a.dir, 'data', 'rounds', `${String(commit.round).padStart(8, '0')}.json`);
      if (existsSync(file)) {
        const record = JSON.parse(readFileSync(file, 'utf8')) as RoundReport;
        sample.aggregateMs = record.durationsMs.aggregate ?? null;
        sample.vectorLength = record.secagg.vectorLength;
        sample.reports = record.cohort.unmasked;
      }
      if (count && measured) samples.push(sample);
      return { round: commit.round, by: commit.a };
    };

    let lastBy: Aggregator | null = null;
    for (const perProcess of clientCounts) {
      note(`${perProcess} clients/process: connecting`);
      clients.send({ cmd: 'clients', perProcess });
      await clients.waitFor('clients', 600_000);
      // Warm-up: the new clients check in during the next pause; rounds opened before are not measured.
      const since = Date.now() + pauseMs + 1_000;
      const measured = () => samples.filter((s) => s.clientsPerProcess === perProcess).length;
      let done = 0;
      note(`${perProcess} clients/process`);
      await until(
        `${rounds} committed rounds at ${perProcess} clients per process`,
        async () => {
          const taken = await takeRound(perProcess, since, true);
          if (taken) lastBy = taken.by;
          while (done < measured()) {
            done++;
            const s = samples.at(-1);
            step(`${perProcess}/process: round ${s?.round} ${s?.groups} groups`);
          }
          if (measured() >= rounds) return true;
          // Rounds that keep aborting will not turn into commits: say why now, not after the timeout.
          const aborts = aggregators
            .flatMap((a) => a.logs)
            .filter((log) => log.msg === 'task coordinator: round aborted; model kept' && Number(log.time) >= since);
          if (aborts.length > 3 * rounds + 10) {
            const reasons = [...new Set(aborts.slice(-5).map((log) => `${String(log.code)}: ${String(log.reason)}`))];
            throw new Error(`${aborts.length} rounds aborted at ${perProcess} clients per process, ${measured()} committed; lately ${reasons.join('; ')}`);
          }
          return undefined;
        },
        rounds * 120_000,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${aggregators.map((a) => `--- ${a.processId}\n${a.output.slice(-40).join('\n')}`).join('\n')}`);
      });
    }

    // 4. Failover: SIGKILL the lease holder mid-round, time to the next commit by another process.
    let failoverRow: Row | null = null;
    let failoverNote = '';
    if (failover && lastBy) {
      const holder: Aggregator = lastBy;
      note(`failover: waiting for ${holder.processId} to open a round`);
      const afterRound = Math.max(...seenCommits);
      const opened = await until(
        'the holder to open the next round',
        () => holder.logs.find((log) => log.msg === 'task coordinator: round opened' && Number(log.round) > afterRound),
        120_000,
      );
      const round = Number(opened.round);
      // Mid-round: once some group has its cohort.
      await until(
        'a group to start the round',
        () => (aggregators.some((a) => a.logs.some((log) => log.msg === 'round started' && log.round === round)) ? true : undefined),
        60_000,
      );
      await sleep(300);
      note(`failover: SIGKILL ${holder.processId} in round ${round}`);
      const killedAt = Date.now();
      holder.child.kill('SIGKILL');
      const others = aggregators.filter((a) => a !== holder);
      const after = (msg: string, extra: (log: Log) => boolean = () => true) =>
        others.flatMap((a) => a.logs.map((log) => ({ a, log }))).find(({ log }) => log.msg === msg && Number(log.time) >= killedAt && extra(log));
      const committed = await until('a commit by another process after the kill', () => after('task coordinator: round committed'), 180_000);
      const acquired = after('task lease acquired: this process coordinates the task');
      const interrupted = after('task coordinator: round aborted; model kept', (log) => Number(log.round) === round);
      const nextOpened = after('task coordinator: round opened');
      const at = (entry: { log: Log } | undefined) => (entry ? Number(entry.log.time) - killedAt : null);
      failoverRow = {
        measure: 'failover: SIGKILL lease holder → next commit',
        scope: `${holder.processId} killed in round ${round}; ${committed.a.processId} committed round ${String(committed.log.round)} with ${String(committed.log.groups)} groups`,
        n: 1,
        p50: null,
        p99: null,
        value: Number(committed.log.time) - killedAt,
        unit: 'ms',
        note: `lease taken after ${at(acquired) ?? '—'} ms (TTL ${leaseTtlMs}); round ${round} recorded ${String(interrupted?.log.code ?? '?')} at ${at(interrupted) ?? '—'} ms; next round opened at ${at(nextOpened) ?? '—'} ms; its Redis bytes ${String(committed.log.coordinationBytes)} (${String(committed.log.groups)} groups)`,
      };
      failoverNote = `Failover: ${holder.processId} (the lease holder) was killed with SIGKILL in round ${round}, after a group had started; its own group and clients died with it. ${committed.a.processId} took the lease ${at(acquired) ?? '?'} ms later (lease TTL ${leaseTtlMs} ms), recorded the interrupted round ${round} (${String(interrupted?.log.code ?? '?')}, σ at k_min in the ledger), opened the next round at ${at(nextOpened) ?? '?'} ms and committed it at ${Number(committed.log.time) - killedAt} ms with ${String(committed.log.groups)} groups from ${String(committed.log.processes)} processes (Redis bytes ${String(committed.log.coordinationBytes)}: one frame per surviving process, 4d + 12 + 4 per group).`;
      step('failover done');
    }
    bar.stop();

    // ------------------------------------------------------------ the report
    const rows: Row[] = [];
    const stat = (measure: string, scope: string, valuesMs: number[], unit: string, note = ''): Row => ({
      measure,
      scope,
      n: valuesMs.length,
      p50: percentile(valuesMs, 50),
      p99: percentile(valuesMs, 99),
      value: null,
      unit,
      note,
    });
    /** Per client count: each round's bytes per process once the 4 bytes per group's report count are taken off (4d + 12 when the frame is as documented). */
    const frameByCount = new Map<number, number[]>();
    for (const perProcess of clientCounts) {
      const mine = samples.filter((s) => s.clientsPerProcess === perProcess);
      const scope = `${perProcess} clients/process`;
      const ms = (pick: (s: RoundSample) => number | null) => mine.map(pick).filter((v): v is number => v !== null && Number.isFinite(v));
      rows.push(
        stat(
          'round: open → committed',
          scope,
          ms((s) => s.roundMs),
          'ms',
          `groups (processes) per round: ${mine.map((s) => `${s.groups} (${s.processes})`).join(', ')}`,
        ),
      );
      rows.push(
        stat(
          'plan fan-out: open → group "round started"',
          scope,
          mine.flatMap((s) => s.fanoutMs),
          'ms',
          'per group',
        ),
      );
      for (const stage of SECAGG_STAGES) {
        const values = mine.flatMap((s) => (s.stages[stage] ?? []).map((v) => v * 1000));
        if (values.length > 0)
          rows.push(
            stat(
              `group SecAgg ${stage}`,
              scope,
              values,
              'ms',
              stage === 'advertiseKeys' ? 'per process: mean of its groups; includes the clients’ download + training' : 'per process: mean of its groups',
            ),
          );
      }
      rows.push(
        stat(
          'groups phase: open → last group sum',
          scope,
          ms((s) => (s.groupsS === null ? null : s.groupsS * 1000)),
          'ms',
          'coordinator, phase="groups"',
        ),
      );
      rows.push(
        stat(
          'master sum + decode + summarize',
          scope,
          ms((s) => s.aggregateMs),
          'ms',
          "record's durationsMs.aggregate",
        ),
      );
      rows.push(
        stat(
          'commit (PostgreSQL transaction)',
          scope,
          ms((s) => (s.commitS === null ? null : s.commitS * 1000)),
          'ms',
          'coordinator, phase="commit"',
        ),
      );
      const frames = mine.filter((s) => s.processes > 0).map((s) => (s.coordinationBytes - 4 * s.groups) / s.processes);
      frameByCount.set(perProcess, frames);
      const d = mine.find((s) => s.vectorLength !== null)?.vectorLength ?? null;
      const reports = mine.map((s) => s.reports).filter((r): r is number => r !== null);
      rows.push({
        ...stat(
          'Redis bytes per round (group sums)',
          scope,
          ms((s) => s.coordinationBytes),
          'bytes',
        ),
        note: `one frame per process: (bytes − 4 × groups) / processes = ${[...new Set(frames)].join('/')} = 4d + 12 with d = ${d ?? '?'}; groups per round ${[...new Set(mine.map((s) => s.groups))].join('/')}; reports per round ${Math.min(...reports)}–${Math.max(...reports)}; clients × 4d would be ${d && reports.length ? Math.max(...reports) * 4 * d : '?'}`,
      });
    }
    for (const [i, a] of aggregators.entries()) {
      const base = baseline[i]?.rss ?? Number.NaN;
      const first = idleSteps[0];
      const last = idleSteps.at(-1);
      const mib = (bytes: number | undefined) => `${((bytes ?? Number.NaN) / 2 ** 20).toFixed(1)} MiB`;
      const heap0 = heapOf(baseline[i]?.metrics ?? new Map());
      if (first && last) {
        const at = (step: typeof first, field: 'connected' | 'rss' | 'heap') => step[field][i] ?? Number.NaN;
        const perSocket = (step: typeof first, field: 'rss' | 'heap', zero: number) => (at(step, field) - zero) / at(step, 'connected') / 1024;
        rows.push({
          measure: 'memory per idle socket: (JS heap + external − idle) / sockets, after a full GC',
          scope: a.processId,
          n: at(last, 'connected'),
          p50: null,
          p99: null,
          value: perSocket(last, 'heap', heap0),
          unit: 'KiB',
          note: `${perSocket(first, 'heap', heap0).toFixed(1)} KiB at ${at(first, 'connected')} sockets; RSS ${mib(base)} idle → ${mib(at(last, 'rss'))} at ${at(last, 'connected')}: (RSS − idle) / sockets = ${perSocket(last, 'rss', base).toFixed(1)} KiB (RSS moves with the allocator, not only the sockets)`,
        });
      }
      for (const perProcess of clientCounts) {
        const during = (rssDuring.get(a.processId) ?? []).filter((r) => r.clientsPerProcess === perProcess);
        const rss = during.map((r) => r.rss / 2 ** 20);
        rows.push({
          ...stat('RSS at commits', `${a.processId}, ${perProcess} clients/process`, rss, 'MiB'),
          note: `${during.at(-1)?.connected ?? '?'} sockets (idle + training); idle baseline ${mib(base)}`,
        });
      }
      const lags = (lagWindows.get(a.processId) ?? []).filter(Number.isFinite).map((s) => s * 1000);
      rows.push({
        measure: 'event-loop delay p99 (per round window)',
        scope: a.processId,
        n: lags.length,
        p50: percentile(lags, 50),
        p99: percentile(lags, 99),
        value: (idleLag[i] ?? Number.NaN) * 1000,
        unit: 'ms',
        note: 'p50/p99 over the rounds of each window’s p99; value: the idle window before clients',
      });
    }
    if (failoverRow) rows.push(failoverRow);

    const equalBytes = clientCounts.map((n) => [...new Set(frameByCount.get(n) ?? [])].join('/'));
    const bytesSame = new Set(equalBytes).size === 1 && !equalBytes.includes('');
    const minutes = (performance.now() - benchStarted) / 60_000;
    const canAndCannot = `What one host can and cannot show. It can show the protocol working across real processes: rounds opened by one lease holder, SecAgg run per process over its own clients, only group sums crossing Redis (one frame of 4d bytes per process, whatever its clients or groups: the bytes grow with processes × d, never clients × d), the master sum, the fenced commit, and a SIGKILLed holder replaced within the lease TTL plus a round. It can show per-round costs the design adds (plan fan-out over the control stream, the groups wait, the commit transaction) and the per-process RSS and event-loop figures at small scale. It cannot show throughput or scaling: the three aggregators share one core and the clients the other, so adding processes adds no compute; loopback has no latency, bandwidth limit, loss or partition, so fan-out and commit times are floors; PostgreSQL and Redis run on the same cores with no replication; RSS per socket at a thousand sockets is within the allocator’s noise (hence the JS heap after a full GC as the per-socket figure), and sockets that train cost round state more than connection state; p99 over ${rounds} rounds × ${Math.max(...samples.map((s) => s.groups), PROCESSES)} groups is close to the maximum; and groups of ${Math.min(...clientCounts, groupSize ?? Infinity)}–${Math.min(maxPerProcess, groupSize ?? Infinity)} clients are 100 times below the groups of 100–1,000 the design is for, so per-group SecAgg cost here says nothing about large groups (bench/secagg.bench.ts does).`;
    writeReport({
      name: groupSize === null ? 'scale-out' : `scale-out-group${groupSize}`,
      title: 'Scale-out: three aggregator processes on PostgreSQL + Redis, one host',
      columns: ['measure', 'scope', 'n', 'p50', 'p99', 'value', 'unit', 'note'],
      rows,
      config: {
        model: values.model,
        spec,
        parameters: parameterCount(spec),
        processes: PROCESSES,
        clientsPerProcess: clientCounts,
        idleSocketsPerProcess: idle,
        rounds,
        pauseMs,
        leaseTtlMs,
        poolCountTtlMs: poolTtlMs,
        minReports: MIN_REPORTS,
        groupSize: groupSize ?? 'default (500)',
        noiseMultiplier: NOISE_MULTIPLIER,
        deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 5_000, unmaskingMs: 5_000 },
        pinning: hasTaskset ? 'aggregators taskset -c 0, clients taskset -c 1' : 'none (taskset not available)',
        stores: stores.how,
        samples,
        minutes,
      },
      notes: [
        `Command: npm run bench -- scale-out --rounds ${rounds} --clients ${clientCounts.join(',')} --idle ${idle}${groupSize === null ? '' : ` --group-size ${groupSize}`}; ${minutes.toFixed(1)} minutes.`,
        hasTaskset
          ? 'Pinning: the three aggregator processes with taskset -c 0, the client process with taskset -c 1; this process, PostgreSQL and Redis unpinned.'
          : 'Pinning: taskset is not available here, so nothing was pinned: aggregators, clients and stores share every core.',
        `Stores: ${stores.how}.`,
        `Per round, ${PROCESSES} processes × the clients per process, ${groupSize === null ? 'one group per process' : `each process's draw split into groups of at most ${groupSize}`}, q = 1 (target ${PROCESSES * maxPerProcess}), minReports ${MIN_REPORTS}; the first rounds after a client count changes are warm-up and not measured. Phase times come from /metrics histogram deltas scraped when the round commits, fan-out from the pino log times of one host's clock.`,
        bytesSame
          ? `Redis bytes per round: processes × ${equalBytes[0]} + 4 × groups at every client count (${clientCounts.join(' and ')} per process): each process puts one frame, the sum of its groups' sums (4d) with a 12-byte header and each group's report count (4 bytes), independent of the clients.`
          : `Redis bytes per process frame (less 4 per group) by client count: ${equalBytes.join(' vs ')} — NOT equal.`,
        ...(failoverNote ? [failoverNote] : []),
        `Load: ${os.cpus().length} cores; load average ${loadStart.toFixed(1)} at the start, ${os.loadavg()[0]?.toFixed(1)} at the end (the bench itself keeps both cores busy while rounds run); timings are indicative only.`,
        canAndCannot,
      ],
    });
    clients.send({ cmd: 'close' });
    await Promise.race([new Promise((resolve) => clients.child.once('exit', resolve)), sleep(5_000)]);
    for (const a of aggregators) killChild(a.child, 'SIGTERM');
    await Promise.race([Promise.all(aggregators.filter((a) => a.alive).map((a) => new Promise((resolve) => a.child.once('exit', resolve)))), sleep(15_000)]);
  } finally {
    bar.stop();
    await cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
