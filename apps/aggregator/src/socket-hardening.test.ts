import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket as TcpSocket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { type DeviceIdentity } from '@murmur/fl-core/identity';
import { handshakeAuth } from '@murmur/fl-core/participant';
import { DASHBOARD_SOCKET_PATH, type PhaseEvent, type ProtocolErrorEvent } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { enroll } from './virtual-clients';
import { eventually, tempDataDir, TEST_ADMIN_TOKEN, testConfig, testLogger } from './test-helpers';

/**
 * A real aggregator against the attacks of a security review, played over raw WebSockets so that
 * nothing a real client library would refuse to send is left out. The dashboard stream under
 * attack: its engine path and namespace. (It used to be namespace /dashboard on the clients'
 * /socket.io path; pointed there, this file shows the old transport fail, see docs/aggregator.md.)
 */
const DASHBOARD = { path: DASHBOARD_SOCKET_PATH, namespace: '/' };
/** The clients' frame limit, about what a 400,000-parameter model's masked update needs. */
const MAIN_FRAME_BYTES = 1_600_000;
/** Default of limits.dashboardConnectionsPerAddress; every connection here comes from 127.0.0.1. */
const DASHBOARD_CAP = 16;

// A full collection before each memory reading, so that it shows what is held, not garbage.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
function heldMemory(): NodeJS.MemoryUsage {
  collectGarbage();
  return process.memoryUsage();
}

let aggregator: RunningAggregator;
/** What socket.io-client connects to for the dashboard's namespace (with `path: DASHBOARD.path`). */
const dashboardUrl = () => (DASHBOARD.namespace === '/' ? aggregator.url : `${aggregator.url}${DASHBOARD.namespace}`);
const data = tempDataDir();
const clients: Socket[] = [];
const raws: RawSocket[] = [];
let viewer: Socket;
const viewed: PhaseEvent[] = [];

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(testConfig(data.dir, { limits: { maxHttpBufferSize: MAIN_FRAME_BYTES, eventsPerSecond: 0.5, eventBurst: 10 } }), {
    logger: testLogger(),
  });
  // The legitimate viewer, connected before the attacks and watched throughout.
  viewer = io(dashboardUrl(), { path: DASHBOARD.path, transports: ['websocket'], reconnection: false });
  viewer.on('phase', (event: PhaseEvent) => viewed.push(event));
  await eventually(() => (viewed.length > 0 ? true : undefined), 10_000, 'the phase a new viewer gets');
});
afterAll(async () => {
  for (const raw of raws) raw.destroy();
  for (const client of clients) client.disconnect();
  viewer.disconnect();
  await aggregator.close();
  data.remove();
});

/** A WebSocket client of our own: engine.io v4 over RFC 6455 frames, masked with a zero key so a payload is sent without a copy. */
interface RawSocket {
  /** The status line of the upgrade answer (101 when admitted), and what followed it when refused. */
  status: string;
  body: string;
  readonly upgraded: boolean;
  /** Resolves with milliseconds since `open` once the server closed the connection (a close frame, or TCP). */
  closed: Promise<number>;
  isClosed(): boolean;
  /** Milliseconds since the connection was opened. */
  ageMs(): number;
  text(payload: Buffer | string): void;
  binary(payload: Buffer): void;
  /** Resolves once everything written has left the process, or the connection is gone. */
  flushed(): Promise<void>;
  destroy(): void;
}

const ZERO_MASK = Buffer.alloc(4);

function frameHeader(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | length]), ZERO_MASK]);
  if (length < 65_536) {
    const header = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
    header.writeUInt16BE(length, 2);
    return Buffer.concat([header, ZERO_MASK]);
  }
  const header = Buffer.alloc(10);
  header[0] = 0x80 | opcode;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, ZERO_MASK]);
}

function openRaw(path: string): Promise<RawSocket> {
  const openedAt = performance.now();
  const tcp: TcpSocket = tcpConnect(aggregator.port, '127.0.0.1');
  tcp.on('error', () => undefined); // a reset from the server is one of the expected endings
  let received = Buffer.alloc(0);
  let upgraded: boolean | null = null;
  let closedAt: number | null = null;
  let markClosed: (ms: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => (markClosed = resolve));
  const close = () => {
    closedAt ??= performance.now() - openedAt;
    markClosed(closedAt);
    tcp.destroy();
  };
  tcp.once('close', close);
  tcp.once('connect', () => {
    tcp.write(
      `GET ${path}/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${aggregator.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
  });
  return new Promise((resolve) => {
    const write = (opcode: number, payload: Buffer) => {
      if (tcp.destroyed) return;
      tcp.write(frameHeader(opcode, payload.length));
      tcp.write(payload);
    };
    const raw = (status: string): RawSocket => ({
      status,
      body: upgraded ? '' : received.toString(),
      upgraded: upgraded === true,
      closed,
      isClosed: () => closedAt !== null,
      ageMs: () => performance.now() - openedAt,
      text: (payload) => write(1, typeof payload === 'string' ? Buffer.from(payload) : payload),
      binary: (payload) => write(2, payload),
      flushed: () =>
        new Promise<void>((resolveFlushed) => {
          const check = () => (tcp.destroyed || tcp.writableLength === 0 ? resolveFlushed() : setTimeout(check, 5));
          check();
        }),
      destroy: () => tcp.destroy(),
    });
    tcp.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (upgraded === null) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = received.subarray(0, received.indexOf('\r\n')).toString();
        upgraded = status.includes(' 101 ');
        received = received.subarray(end + 4);
        const socket = raw(status);
        raws.push(socket);
        resolve(socket);
        if (!upgraded) return void tcp.end();
      }
      // Server frames are unmasked; all that matters here is a close frame (opcode 8).
      for (;;) {
        if (received.length < 2) return;
        const opcode = (received[0] as number) & 0x0f;
        let length = (received[1] as number) & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (received.length < 4) return;
          length = received.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (received.length < 10) return;
          length = Number(received.readBigUInt64BE(2));
          offset = 10;
        }
        if (received.length < offset + length) return;
        received = received.subarray(offset + length);
        if (opcode === 8) return close();
      }
    });
    // Refused before any answer (a reset): report it as such.
    void closed.then(() => upgraded === null && resolve(raw('(closed before an answer)')));
  });
}

/** The engine.io message carrying a socket.io packet of `type` for the dashboard's namespace. */
function dashboardPacket(type: number, rest = '', attachments?: number): string {
  const nsp = DASHBOARD.namespace === '/' ? '' : `${DASHBOARD.namespace},`;
  return `4${type}${attachments === undefined ? '' : `${attachments}-`}${nsp}${rest}`;
}

async function timedHealthz(): Promise<number> {
  const start = performance.now();
  const res = await fetch(`${aggregator.url}/healthz`);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return performance.now() - start;
}

async function healthzMedianMs(samples: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await timedHealthz());
  times.sort((a, b) => a - b);
  return times[Math.floor(samples / 2)] as number;
}

/** Open engine.io connections of the dashboard stream (the legitimate viewer among them). */
const dashboardConnections = () => aggregator.transport.dashboard.server.engine.clientsCount;

async function quiet(): Promise<void> {
  for (const raw of raws.splice(0)) raw.destroy();
  await eventually(() => (dashboardConnections() <= 1 ? true : undefined), 10_000, 'the attackers gone');
}

async function adminPost(path: string): Promise<void> {
  const res = await fetch(`${aggregator.url}/api/admin/${path}`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
}

/** Pauses and resumes the aggregator; resolves with how long the viewer took to see each phase change. */
async function viewerLatencyMs(): Promise<number[]> {
  const latencies: number[] = [];
  for (const [action, phase] of [
    ['pause', 'paused'],
    ['resume', 'checkin'],
  ] as const) {
    const seen = viewed.length;
    const start = performance.now();
    await adminPost(action);
    await eventually(() => (viewed.slice(seen).some((e) => e.phase === phase) ? true : undefined), 20_000, `the viewer seeing ${phase}`);
    latencies.push(Math.round(performance.now() - start));
  }
  return latencies;
}

describe('the dashboard stream refuses what a viewer never sends', () => {
  it('drops connections that announce binary attachments at once, and holds no memory for them', async () => {
    const sockets = 48;
    const attachments = 10;
    const part = Buffer.alloc(MAIN_FRAME_BYTES - 1024, 7);
    const announce = dashboardPacket(
      5,
      JSON.stringify(['flood', ...Array.from({ length: attachments }, (_, num) => ({ _placeholder: true, num }))]),
      attachments,
    );
    const flood = async (count: number) => {
      const flooders = await Promise.all(
        Array.from({ length: count }, async () => {
          const raw = await openRaw(DASHBOARD.path);
          raw.text(dashboardPacket(0));
          raw.text(announce);
          // One short of the announced count: a parser that accepts the packet keeps waiting, holding the rest.
          for (let i = 0; i < attachments - 1; i++) raw.binary(part);
          return raw;
        }),
      );
      await Promise.all(flooders.map((raw) => raw.flushed()));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return flooders;
    };
    // A first, small wave warms up what any connection allocates once (code, pools), so the
    // measured wave shows what the flood itself holds.
    await flood(4);
    await quiet();
    const before = heldMemory();
    const flooders = await flood(sockets);
    // Two readings a second apart, the lower one kept: memory held for the flooders stays, a
    // transient of a busy machine does not.
    const first = heldMemory();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const second = heldMemory();
    const perSocketMiB = (key: 'rss' | 'arrayBuffers') => (Math.min(first[key], second[key]) - before[key]) / sockets / 2 ** 20;
    const admitted = flooders.filter((raw) => raw.upgraded).length;
    const closeMs = await Promise.all(
      flooders
        .filter((raw) => raw.upgraded)
        .map((raw) => Promise.race([raw.closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 10_000))])),
    );
    console.info(
      `attachment flood: ${sockets} sockets, ${admitted} admitted, refused ${sockets - admitted} at the handshake; closed after (ms) ${closeMs.map(Math.round).join(', ')}; ` +
        `growth per socket: rss ${perSocketMiB('rss').toFixed(2)} MiB, arrayBuffers ${perSocketMiB('arrayBuffers').toFixed(2)} MiB`,
    );
    // Counted from the moment all 48 connect at once, so the last ones include their wait in line;
    // the bound is loose for a loaded two-core machine (2.3 s seen there): a parser that accepts the
    // packet never closes the connection at all.
    expect.soft(Math.max(...closeMs), 'slowest close of an admitted flooder (ms)').toBeLessThan(8_000);
    expect.soft(perSocketMiB('arrayBuffers'), 'arrayBuffers growth per socket (MiB)').toBeLessThan(0.1);
    expect.soft(perSocketMiB('rss'), 'rss growth per socket (MiB)').toBeLessThan(1.5);
    await quiet();
  }, 120_000);

  it('drops connections that send large text frames; /healthz stays fast and the viewer keeps its phase events', async () => {
    const quietMedianMs = await healthzMedianMs(15);
    const big = Buffer.from(dashboardPacket(2, JSON.stringify(['flood', 'a'.repeat(MAIN_FRAME_BYTES - 2048)])));
    let frames = 0;
    /** How long each flooder's connection lasted, and whether the server was the one to close it. */
    const lifetimes: { ms: number; closedByServer: boolean }[] = [];
    let stop = false;
    const flooder = async () => {
      while (!stop) {
        const raw = await openRaw(DASHBOARD.path);
        if (!raw.upgraded) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        raw.text(dashboardPacket(0));
        while (!stop && !raw.isClosed()) {
          raw.text(big);
          frames++;
          await raw.flushed();
        }
        lifetimes.push({ ms: raw.ageMs(), closedByServer: raw.isClosed() });
        raw.destroy();
      }
    };
    const flooding = Promise.all(Array.from({ length: 8 }, flooder));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const floodMedianMs = await healthzMedianMs(15);
    const latencies = await viewerLatencyMs();
    stop = true;
    await flooding;
    const closedByServer = lifetimes.filter((l) => l.closedByServer);
    // A connection still open at the end is a failure only if it had time to be closed.
    const outlived = lifetimes.filter((l) => !l.closedByServer && l.ms > 2_000);
    console.info(
      `text flood: /healthz median ${quietMedianMs.toFixed(1)} ms quiet, ${floodMedianMs.toFixed(1)} ms under 8 flooders ` +
        `(${frames} frames of ${(big.length / 1e6).toFixed(2)} MB over ${lifetimes.length} connections, ${closedByServer.length} closed by the server, ` +
        `longest ${Math.round(Math.max(0, ...closedByServer.map((l) => l.ms)))} ms; ${outlived.length} still open after ${Math.round(Math.max(0, ...outlived.map((l) => l.ms)))} ms); ` +
        `viewer saw pause / resume after ${latencies.join(' / ')} ms`,
    );
    // Bounds with room for a loaded 2-core machine (the whole suite runs in parallel): the old
    // transport never closed these connections at all.
    expect.soft(outlived.length, 'flooders the server left open for over 2 s').toBe(0);
    expect.soft(Math.max(0, ...closedByServer.map((l) => l.ms)), 'longest a flooder stayed connected (ms)').toBeLessThan(2_000);
    // Timing on a shared 2-core machine (the whole suite runs in parallel): a loose bound beside the
    // structural checks above. The old transport measured 325–400 ms here on a quiet machine.
    expect.soft(floodMedianMs, '/healthz median under the flood (ms)').toBeLessThan(Math.max(150, 10 * quietMedianMs));
    expect.soft(Math.max(...latencies), 'slowest phase event to the viewer (ms)').toBeLessThan(1_000);
    expect(viewer.connected).toBe(true);
    await quiet();
  }, 120_000);

  it('serves a viewer on long-polling from its own path, without the HTTP handler answering too', async () => {
    const polling = io(dashboardUrl(), { path: DASHBOARD.path, transports: ['polling'], reconnection: false });
    try {
      const phase = await new Promise<PhaseEvent>((resolve, reject) => {
        polling.on('phase', resolve);
        polling.on('connect_error', reject);
      });
      expect(phase.phase).toBe(aggregator.coordinator.lastPhaseEvent.phase);
      expect(polling.io.engine.transport.name).toBe('polling');
      expect((await fetch(`${aggregator.url}/healthz`)).status).toBe(200);
    } finally {
      polling.disconnect();
    }
    await quiet();
  });

  it(`admits at most ${DASHBOARD_CAP} open connections per address, and the next one once a slot is free`, async () => {
    // The viewer holds one slot.
    const held = await Promise.all(Array.from({ length: DASHBOARD_CAP - 1 }, () => openRaw(DASHBOARD.path)));
    expect(held.every((raw) => raw.upgraded)).toBe(true);
    for (const raw of held) raw.text(dashboardPacket(0));
    const extra = await openRaw(DASHBOARD.path);
    // engine.io answers a refused WebSocket upgrade with 400 and allowRequest's reason.
    expect.soft(extra.upgraded, 'the connection past the cap admitted').toBe(false);
    expect.soft(extra.body, 'the refusal').toBe(`more than ${DASHBOARD_CAP} dashboard connections from this address`);
    held[0]?.destroy();
    await eventually(() => (dashboardConnections() < DASHBOARD_CAP ? true : undefined), 5_000, 'a free slot');
    const next = await openRaw(DASHBOARD.path);
    expect(next.status).toMatch(/ 101 /);
    expect(viewer.connected).toBe(true);
    await quiet();
  }, 30_000);
});

describe('the clients’ server', () => {
  it('closes an unauthenticated connection that announces more binary attachments than any event has', async () => {
    const raw = await openRaw('/socket.io');
    raw.text(`452-["secagg",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`);
    raw.binary(Buffer.alloc(MAIN_FRAME_BYTES - 1024));
    const closedMs = await Promise.race([raw.closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 2_000))]);
    expect.soft(closedMs, 'ms until a two-attachment packet closed the connection').toBeLessThan(1_000);
    raw.destroy();
  });

  function connectClient(identity: DeviceIdentity): Socket {
    const socket = io(aggregator.url, { auth: handshakeAuth(identity), transports: ['websocket'], reconnection: false });
    clients.push(socket);
    return socket;
  }

  async function welcomed(identity: DeviceIdentity): Promise<{ socket: Socket; errors: ProtocolErrorEvent[]; results: unknown[] }> {
    const socket = connectClient(identity);
    const errors: ProtocolErrorEvent[] = [];
    const results: unknown[] = [];
    socket.on('protocolError', (error: ProtocolErrorEvent) => errors.push(error));
    socket.on('checkInResult', (result: unknown) => results.push(result));
    await new Promise<void>((resolve, reject) => {
      socket.on('welcome', () => resolve());
      socket.on('connect_error', reject);
    });
    return { socket, errors, results };
  }

  function refusal(identity: DeviceIdentity): Promise<{ code: string; message: string } | 'connected'> {
    return new Promise((resolve) => {
      const socket = connectClient(identity);
      socket.on('connect', () => resolve('connected'));
      socket.on('connect_error', (error: Error & { data?: { code: string; message: string } }) =>
        resolve(error.data ?? { code: 'none', message: error.message }),
      );
    });
  }

  const ineligible = { eligibility: { consent: false, backend: 'wasm' } };

  it('keeps a client’s rate limit across reconnects, cuts off a flood and refuses the client for the cool-down; honest clients go on', async () => {
    const honest = await welcomed(await enroll(aggregator.url));
    const identity = await enroll(aggregator.url);
    // The burst (10), then away and back at once: the bucket is the client id's, still empty.
    const first = await welcomed(identity);
    for (let i = 0; i < 10; i++) first.socket.emit('checkIn', ineligible);
    await eventually(() => (first.results.length === 10 ? true : undefined), 5_000, '10 check-in results');
    first.socket.disconnect();
    const second = await welcomed(identity);
    second.socket.emit('checkIn', ineligible);
    await eventually(() => (second.errors.length + second.results.length > 0 ? true : undefined), 5_000, 'an answer');
    expect
      .soft(
        second.errors.map((e) => e.code),
        'the first event after a reconnect',
      )
      .toEqual(['RATE_LIMITED']);
    // A flood: more than 100 refused events and the server cuts the connection.
    const cut = new Promise<string>((resolve) => second.socket.on('disconnect', (reason) => resolve(reason)));
    for (let i = 0; i < 150; i++) second.socket.emit('checkIn', ineligible);
    expect(await cut).toBe('io server disconnect');
    expect
      .soft(await refusal(identity), 'reconnecting at once')
      .toMatchObject({ code: 'RATE_LIMITED', message: 'handshake: this client was cut off for flooding; retry in 60 s' });
    // The honest client, connected throughout, and a new one are served as usual.
    honest.socket.emit('checkIn', ineligible);
    await eventually(() => (honest.results.length === 1 ? true : undefined), 5_000, 'the honest check-in result');
    expect(honest.errors).toEqual([]);
    expect(honest.socket.connected).toBe(true);
    const newcomer = await welcomed(await enroll(aggregator.url));
    expect(newcomer.socket.connected).toBe(true);
  }, 30_000);

  it('refuses a __proto__ key in a check-in over the socket, naming it', async () => {
    const { socket, errors, results } = await welcomed(await enroll(aggregator.url));
    // JSON.parse makes "__proto__" an own key, which socket.io-client sends as it is.
    socket.emit('checkIn', { eligibility: JSON.parse('{"consent":false,"backend":"wasm","__proto__":{"consent":true}}') as unknown });
    await eventually(() => (errors.length + results.length > 0 ? true : undefined), 5_000, 'an answer');
    expect(errors).toEqual([
      {
        code: 'MALFORMED',
        event: 'checkIn',
        message: 'checkIn event: eligibility has the key "__proto__", expected none of __proto__, constructor, prototype',
      },
    ]);
    expect(results).toEqual([]);
  });
});
