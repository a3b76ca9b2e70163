/**
 * The client side of `npm run bench -- scale-out`, in a process of its own (pinned to its own core
 * by the bench): virtual clients (fl-core's participant over socket.io-client, training for real)
 * and idle sockets against several aggregator processes, enrolled at one enrollment service.
 *
 * Usage: `tsx scale-out-clients.ts '<json settings>'`; commands arrive as JSON lines on stdin,
 * answers and events leave as JSON lines on stdout (anything else goes to stderr):
 *
 *   {"cmd":"clients","perProcess":n}   training clients until each aggregator holds n → {"event":"clients","perProcess":n}
 *   {"cmd":"idle","perProcess":n}      n enrolled, connected, welcomed sockets per aggregator that never check in → {"event":"idle",…}
 *   {"cmd":"close"}                    closes everything and exits (so does the end of stdin, SIGTERM or SIGINT)
 *
 * Events: {"event":"ready"}, {"event":"roundEnd","process":i,"round":r,"status":s}, {"event":"error","message":…}.
 */
import { createInterface } from 'node:readline';
import type { ModelSpec } from '@murmur/fl-core/model';
import { useNodeBackend } from '@murmur/fl-core/node';
import { DEFAULT_PLAN_POLICY } from '@murmur/fl-core/participant';
import { connectIdleDevices, enrollDevices, startVirtualClients, stateOfTheUnionClients, type IdleDevices, type VirtualClientPool } from '@murmur/aggregator';

export interface ScaleOutClientSettings {
  urls: string[];
  enrollmentUrl: string;
  spec: ModelSpec;
  /** The servers' σ: the devices' policy floor is lowered to it (as the tests do), every other minimum as shipped. */
  noiseMultiplier: number;
}

export type ScaleOutClientCommand = { cmd: 'clients'; perProcess: number } | { cmd: 'idle'; perProcess: number } | { cmd: 'close' };

export type ScaleOutClientEvent =
  | { event: 'ready' }
  | { event: 'clients'; perProcess: number; seconds: number }
  | { event: 'idle'; perProcess: number; connected: number; seconds: number }
  | { event: 'roundEnd'; process: number; round: number; status: string }
  | { event: 'error'; message: string };

function send(event: ScaleOutClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as ScaleOutClientSettings;
  await useNodeBackend('wasm');
  const planPolicy = { ...DEFAULT_PLAN_POLICY, minNoiseMultiplier: Math.min(DEFAULT_PLAN_POLICY.minNoiseMultiplier, settings.noiseMultiplier) };
  const pools: VirtualClientPool[] = [];
  const idle: IdleDevices[] = [];
  /** Training clients started so far, per aggregator. */
  const held = settings.urls.map(() => 0);
  let closing = false;

  const close = async () => {
    if (closing) return;
    closing = true;
    for (const devices of idle) devices.close();
    for (const pool of pools) await pool.close().catch(() => undefined);
    process.exit(0);
  };

  const addClients = async (perProcess: number) => {
    const started = performance.now();
    const data = stateOfTheUnionClients(settings.spec, settings.urls.length * perProcess);
    for (const [i, url] of settings.urls.entries()) {
      const from = held[i] as number;
      if (perProcess <= from) continue;
      pools.push(
        await startVirtualClients({
          url,
          enrollmentUrl: settings.enrollmentUrl,
          clients: data.slice(i * perProcess + from, (i + 1) * perProcess),
          planPolicy,
          onEvent: (_client, event) => {
            if (event.type === 'roundEnd') send({ event: 'roundEnd', process: i, round: event.result.round, status: event.result.status });
          },
        }),
      );
      held[i] = perProcess;
    }
    send({ event: 'clients', perProcess, seconds: (performance.now() - started) / 1000 });
  };

  const addIdle = async (perProcess: number) => {
    const started = performance.now();
    let connected = 0;
    for (const url of settings.urls) {
      const devices = await connectIdleDevices({ url, identities: await enrollDevices(settings.enrollmentUrl, perProcess, 50) });
      idle.push(devices);
      connected += devices.sockets.length;
    }
    send({ event: 'idle', perProcess, connected, seconds: (performance.now() - started) / 1000 });
  };

  process.on('SIGTERM', () => void close());
  process.on('SIGINT', () => void close());
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => void close());
  // One command at a time, in order.
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    if (!line.trim()) return;
    const command = JSON.parse(line) as ScaleOutClientCommand;
    queue = queue.then(async () => {
      try {
        switch (command.cmd) {
          case 'clients':
            return await addClients(command.perProcess);
          case 'idle':
            return await addIdle(command.perProcess);
          case 'close':
            return await close();
        }
      } catch (error) {
        send({ event: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    });
  });
  send({ event: 'ready' });
}

main().catch((error: unknown) => {
  send({ event: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
