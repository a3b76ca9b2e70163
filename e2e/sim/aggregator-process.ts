import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import type { AggregatorConfigInput } from '@murmur/aggregator';
import type { PhaseEvent, RoundReport } from '@murmur/fl-core/protocol';
import { core } from './core';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(REPO_ROOT, 'apps/aggregator/src/main.ts');
export const ADMIN_TOKEN = 'murmur-qa-admin-token-0123456789';

/**
 * A finished round's full record as the aggregator stores it (`<dataDir>/rounds/<round>.json`, the
 * round number padded to eight digits: apps/aggregator/src/store.ts), validated with fl-core's
 * schema. Only the operator can read it; the public API withholds its exact counts and metrics
 * whenever privacy noise is on.
 */
export function readStoredRound(dataDir: string, round: number): RoundReport {
  const file = join(dataDir, 'rounds', `${String(round).padStart(8, '0')}.json`);
  return core.roundReportSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The real aggregator CLI (`tsx apps/aggregator/src/main.ts --config FILE --port P`) as a child
 * process, so that a fault can SIGKILL it like a crashed host and start it again on the same port
 * and data directory. It serves the built web client (main.ts finds apps/web-client/dist).
 */
export class AggregatorProcess {
  readonly url: string;
  private child: ChildProcess | null = null;
  private readonly log: WriteStream;
  private readonly configFile: string;
  /** Phase events and round records as the dashboard stream (DASHBOARD_SOCKET_PATH) sends them. */
  private readonly dashboard: Socket;
  private readonly phaseListeners = new Set<(event: PhaseEvent) => void>();
  readonly phases: (PhaseEvent & { seenAt: number })[] = [];
  restarts = 0;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    config: AggregatorConfigInput,
    logFile: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    mkdirSync(dataDir, { recursive: true });
    this.configFile = join(dataDir, '..', 'aggregator-config.json');
    writeFileSync(this.configFile, JSON.stringify({ ...config, dataDir, host: '127.0.0.1', adminToken: ADMIN_TOKEN }, null, 2));
    this.log = createWriteStream(logFile, { flags: 'a' });
    // Reconnects on its own across a restart: the transport closes, socket.io-client retries.
    this.dashboard = io(this.url, {
      path: core.DASHBOARD_SOCKET_PATH,
      transports: ['websocket'],
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
      autoConnect: false,
    });
    this.dashboard.on('phase', (raw: unknown) => {
      const parsed = core.phaseEventSchema.safeParse(raw);
      if (!parsed.success) throw new Error(`dashboard phase event: ${parsed.error.message}`);
      this.phases.push({ ...parsed.data, seenAt: Date.now() });
      for (const listener of this.phaseListeners) listener(parsed.data);
    });
  }

  /** Writes the config file into `<dir>/aggregator-config.json`, state into `<dir>/data`. */
  static async start(dir: string, config: AggregatorConfigInput): Promise<AggregatorProcess> {
    const aggregator = new AggregatorProcess(await freePort(), join(dir, 'data'), config, join(dir, 'aggregator.log'));
    await aggregator.spawn();
    aggregator.dashboard.connect();
    return aggregator;
  }

  onPhase(listener: (event: PhaseEvent) => void): () => void {
    this.phaseListeners.add(listener);
    return () => this.phaseListeners.delete(listener);
  }

  private async spawn(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', this.configFile, '--port', String(this.port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: process.env.MURMUR_SIM_LOG ?? 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`the aggregator exited (${signal ?? code}) before it listened; see ${this.log.path as string}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      until(
        async () => {
          try {
            return (await fetch(`${this.url}/healthz`)).ok ? true : undefined;
          } catch {
            return undefined;
          }
        },
        90_000,
        'the aggregator to listen',
      ),
    ]);
  }

  /** A crash: SIGKILL (no graceful shutdown, the round in flight is lost), then the same service again. */
  async killAndRestart(): Promise<void> {
    const child = this.child;
    if (!child) throw new Error('the aggregator is not running');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.restarts += 1;
    await this.spawn();
  }

  /**
   * Waits for round `round` to finish (committed or aborted) as /api/rounds/:n publishes it, and
   * returns the full record the aggregator keeps in its data directory: with privacy noise on, the
   * public one withholds every exact count and metric (`metrics: null`), which the harness, as the
   * operator on the same machine, reads from `<dataDir>/rounds/<round>.json` instead.
   */
  async waitForRound(round: number, timeoutMs: number): Promise<RoundReport> {
    await this.waitForPublicRound(round, timeoutMs);
    return this.storedRound(round);
  }

  /** Waits for round `round` as /api/rounds/:n serves it to anyone (withheld fields included). */
  waitForPublicRound(round: number, timeoutMs: number): Promise<RoundReport> {
    return until(
      async () => {
        try {
          const response = await fetch(`${this.url}/api/rounds/${round}`);
          return response.ok ? core.roundReportSchema.parse(await response.json()) : undefined;
        } catch {
          // Down for a restart: keep asking.
          return undefined;
        }
      },
      timeoutMs,
      `round ${round} to finish`,
    );
  }

  /** The aggregator's own record of a finished round (its store: `<dataDir>/rounds/<round>.json`). */
  storedRound(round: number): RoundReport {
    return readStoredRound(this.dataDir, round);
  }

  /** An admin call with the simulation's bearer token (e.g. `pause`). */
  async admin(path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.url}/api/admin/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
    if (!response.ok) throw new Error(`POST /api/admin/${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  /** Graceful stop (SIGTERM), as an operator would. */
  async stop(): Promise<void> {
    this.dashboard.close();
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.log.end();
  }
}
