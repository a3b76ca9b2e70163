import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIVACY_OFF_PLAN_POLICY } from '@murmur/fl-core/participant';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeModelPayload } from '@murmur/fl-core/model';
import { statusResponseSchema, type RoundReport } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_ADMIN_TOKEN, TEST_SPEC, testConfigInput } from './test-helpers';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const data = tempDataDir();
const configFile = join(data.dir, '..', `${data.dir.split('/').pop()}-config.json`);
let port = 0;
let child: ChildProcess | null = null;
let pool: VirtualClientPool | null = null;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: found } = server.address() as { port: number };
      server.close(() => resolve(found));
    });
  });
}

/** The real CLI in its own process: `tsx src/main.ts --config FILE --port P`. */
async function startChild(): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configFile, '--port', String(port)], {
    cwd: appDir,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr?.on('data', (chunk: Buffer) => process.env.MURMUR_TEST_LOG && process.stderr.write(chunk));
  await eventually(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    },
    60_000,
    'the aggregator process to listen',
  );
  return proc;
}

const base = () => `http://127.0.0.1:${port}`;
const getJson = async <T>(path: string): Promise<T> => (await (await fetch(`${base()}${path}`)).json()) as T;
const status = async () => statusResponseSchema.parse(await getJson('/api/status'));
const committedRounds = async () => (await getJson<{ rounds: RoundReport[] }>('/api/rounds?limit=100')).rounds.filter((r) => r.status === 'committed');

beforeAll(async () => {
  await useNodeBackend('wasm');
  port = await freePort();
  // Without privacy noise: the check after the restart reads the exact cohort from /api/rounds, which withholds it otherwise.
  writeFileSync(
    configFile,
    JSON.stringify(
      testConfigInput(data.dir, { port: 0, logLevel: 'warn', round: { target: 5, minReports: 3, checkinMs: 1_000, pauseMs: 100 }, privacy: { mode: 'off' } }),
    ),
  );
  child = await startChild();
  // startChild waits up to 60 s for the child to listen (a loaded machine starts it slowly).
}, 60_000);
afterAll(async () => {
  await pool?.close();
  child?.kill('SIGKILL');
  data.remove();
  rmSync(configFile, { force: true });
});

describe('durable state', () => {
  it('loses no committed round, release or plan change to a SIGKILL mid-round, and clients resume on their own', async () => {
    // An operator's plan change is saved before it applies (it used to be lost on restart).
    const change = await fetch(`${base()}/api/admin/plan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pauseMs: 120, training: { epochs: 2 } }),
    });
    expect(await change.json()).toMatchObject({ revision: 1, persisted: true });
    pool = await startVirtualClients({
      url: base(),
      clients: stateOfTheUnionClients(TEST_SPEC, 5),
      reconnectionDelayMs: 200,
      // The server runs with privacy off.
      planPolicy: PRIVACY_OFF_PLAN_POLICY,
    });
    await eventually(
      async () => {
        const status = await getJson<{ modelVersion: number; phase: string }>('/api/status');
        return status.modelVersion >= 2 && ['advertiseKeys', 'shareKeys', 'maskedInput', 'unmasking'].includes(status.phase) ? true : undefined;
      },
      60_000,
      'two committed rounds and a round in flight',
    );
    const before = await committedRounds();
    const releasedBefore = (await status()).release?.released ?? -1;
    (child as ChildProcess).kill('SIGKILL');
    await new Promise((resolve) => (child as ChildProcess).once('exit', resolve));

    child = await startChild();
    const after = await committedRounds();
    const afterIds = new Set(after.map((r) => r.roundId));
    expect(before.length).toBeGreaterThanOrEqual(2);
    for (const report of before) expect(afterIds.has(report.roundId)).toBe(true);
    // Every committed round made one model version; the restarted process serves the last of them.
    const restarted = await status();
    expect(restarted.modelVersion).toBeGreaterThanOrEqual(before.length);
    expect(Math.max(...after.map((r) => r.modelVersion.to))).toBe(after.length);
    // Suggestions resume on the released version (it lags the newest candidate until the gate passes it).
    expect(restarted.release?.released).toBeGreaterThanOrEqual(releasedBefore);
    const released = await fetch(`${base()}/api/model/released`);
    const payload = decodeModelPayload(new Uint8Array(await released.arrayBuffer()));
    expect(payload.version).toBe(restarted.release?.released);
    expect(restarted.plan).toMatchObject({ pauseMs: 120, training: { epochs: 2 } });
    expect(restarted.planRevision).toBe(1);

    // The same virtual clients reconnect by themselves and the next rounds commit.
    const lastBefore = Math.max(...after.map((r) => r.round));
    const resumed = await eventually(
      async () => (await committedRounds()).find((r) => r.round > lastBefore && r.cohort.unmasked === 5),
      90_000,
      'a round after the restart',
    );
    expect(resumed.modelVersion.from).toBeGreaterThanOrEqual(restarted.release?.trainingBase ?? Infinity);
    expect(resumed.planRevision).toBe(1);
    const connected = await getJson<{ connectedClients: number }>('/api/status');
    expect(connected.connectedClients).toBe(5);
  });

  it('shuts down gracefully on SIGTERM', async () => {
    const proc = child as ChildProcess;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    child = null;
  });
});
