import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { attachFanout, FANOUT_KEYS, type Fanout } from './fanout';
import { stores, storesConfig, until } from './testing/fixtures';

/**
 * The Socket.IO Redis adapter between two "processes" (two Socket.IO servers on their own HTTP
 * servers, each with its own fan-out connections, as two aggregator processes would have):
 * broadcasts cross over, and only on their own server's key; a revocation on one process cuts the
 * device off on the other; and with Redis stopped, local delivery carries on, nothing crashes,
 * health says so, and cross-process delivery comes back when Redis does.
 */
const DASHBOARD_PATH = '/dashboard-stream';

interface Proc {
  name: string;
  http: HttpServer;
  io: Server;
  dashboardIo: Server;
  clients: Fanout;
  dashboard: Fanout;
  revoked: string[];
  restored: number;
  url: string;
}

const logLines: { level: number; msg: string; processId?: string }[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    },
  }),
);

const procs: Proc[] = [];
const sockets: ClientSocket[] = [];
/** Unhandled rejections and uncaught exceptions while this file runs: a Redis outage must cause none. */
const crashes: unknown[] = [];
const onCrash = (error: unknown) => crashes.push(error);
/**
 * What ioredis and the adapter print when a connection has no 'error' listener of ours
 * ("[ioredis] Unhandled error event", "missing 'error' handler on this Redis client").
 */
const unhandledRedisErrors: string[] = [];

beforeAll(() => {
  storesConfig();
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
  for (const level of ['error', 'warn'] as const) {
    const original = console[level].bind(console);
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      const line = args.map(String).join(' ');
      if (/ioredis|'error' handler/.test(line)) unhandledRedisErrors.push(line);
      else original(...args);
    });
  }
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  for (const proc of procs.splice(0)) {
    await proc.clients.close();
    await proc.dashboard.close();
    proc.dashboardIo.disconnectSockets(true);
    proc.dashboardIo.engine.close();
    await new Promise<void>((resolve) => void proc.io.close(() => resolve()));
  }
});
afterAll(() => {
  // A failed run must not leave Redis down.
  stores('redis-start');
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
  vi.restoreAllMocks();
});

/**
 * One aggregator stand-in: the devices' server (the handshake's `auth.clientId` becomes
 * socket.data.clientId, as transport.ts stores the verified certificate's id; `auth.room` is
 * joined) and the dashboard server on the same HTTP server at another path, each with its fan-out.
 */
async function startProcess(name: string, commandTimeoutMs = 500): Promise<Proc> {
  const http = createServer();
  const io = new Server(http, { serveClient: false });
  io.use((socket, next) => {
    const auth = socket.handshake.auth as { clientId?: string; room?: string };
    socket.data.clientId = auth.clientId;
    if (auth.room) void socket.join(auth.room);
    next();
  });
  const dashboardIo = new Server(http, { serveClient: false, path: DASHBOARD_PATH });
  const config = storesConfig({ redisCommandTimeoutMs: commandTimeoutMs });
  const proc = { name, http, io, dashboardIo, revoked: [] as string[], restored: 0 } as Proc;
  proc.clients = await attachFanout(io, config, {
    key: FANOUT_KEYS.clients,
    processId: `${name}-${process.pid}`,
    logger,
    onRevoked: (subject) => proc.revoked.push(subject),
    onRestored: () => proc.restored++,
  });
  proc.dashboard = await attachFanout(dashboardIo, config, { key: FANOUT_KEYS.dashboard, processId: `${name}-${process.pid}`, logger });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  proc.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  procs.push(proc);
  return proc;
}

/** A connected client with every event it receives recorded as [event, ...args]. */
async function client(proc: Proc, auth: { clientId?: string; room?: string } = {}, path?: string): Promise<{ socket: ClientSocket; got: unknown[][] }> {
  const socket = connect(proc.url, { transports: ['websocket'], reconnection: false, forceNew: true, auth, ...(path ? { path } : {}) });
  sockets.push(socket);
  const got: unknown[][] = [];
  socket.onAny((...args: unknown[]) => got.push(args));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, got };
}

const events = (got: unknown[][], event: string) => got.filter(([name]) => name === event).map(([, payload]) => payload);

describe('Socket.IO fan-out over Redis', () => {
  it("a room emit on process A reaches B's socket in that room; the dashboard server fans out on its own key", async () => {
    const a = await startProcess('a');
    const b = await startProcess('b');
    const inRoom = await client(b, { clientId: 'dev-1', room: 'task:t1' });
    const notInRoom = await client(b, { clientId: 'dev-2' });
    const viewer = await client(b, {}, DASHBOARD_PATH);

    a.io.to('task:t1').emit('news', 'for-room');
    await until("B's socket in the room gets A's emit", () => (events(inRoom.got, 'news').includes('for-room') ? true : undefined), 5000, 20);
    a.dashboardIo.emit('phase', { phase: 'masking' });
    await until("B's dashboard viewer gets A's phase", () => (events(viewer.got, 'phase').length > 0 ? true : undefined), 5000, 20);
    expect(events(viewer.got, 'phase')).toEqual([{ phase: 'masking' }]);

    // Nothing crosses between the two servers, and a room emit stays in its room.
    a.io.emit('news', 'for-all');
    await until('the broadcast to all reaches B', () => (events(notInRoom.got, 'news').includes('for-all') ? true : undefined), 5000, 20);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events(notInRoom.got, 'news')).toEqual(['for-all']);
    expect(events(inRoom.got, 'phase')).toEqual([]);
    expect(events(notInRoom.got, 'phase')).toEqual([]);
    expect(events(viewer.got, 'news')).toEqual([]);
    expect(a.clients.health()).toMatchObject({ up: true, pub: 'ready', sub: 'ready' });
    expect(crashes).toEqual([]);
  });

  it("revoke on A disconnects the subject's socket on B and calls B's onRevoked; other sockets stay", async () => {
    const a = await startProcess('a');
    const b = await startProcess('b');
    const revokedOnA = await client(a, { clientId: 'dev-revoked' });
    const revokedOnB = await client(b, { clientId: 'dev-revoked' });
    const otherOnB = await client(b, { clientId: 'dev-other' });
    const otherOnA = await client(a, { clientId: 'dev-other-a' });
    const reasons: string[] = [];
    revokedOnB.socket.on('disconnect', (reason) => reasons.push(reason));

    expect(a.clients.revoke('dev-revoked')).toEqual({ disconnected: 1, published: true });
    await until("B's socket of the revoked device is cut off", () => (reasons.length > 0 ? true : undefined), 5000, 20);
    expect(reasons).toEqual(['io server disconnect']);
    await until("B's onRevoked", () => (b.revoked.length > 0 ? true : undefined), 5000, 20);
    expect(b.revoked).toEqual(['dev-revoked']);
    expect(a.revoked).toEqual(['dev-revoked']);
    expect(revokedOnA.socket.connected).toBe(false);
    expect([...b.io.of('/').sockets.values()].map((s) => s.data.clientId as string)).toEqual(['dev-other']);
    expect(otherOnB.socket.connected).toBe(true);
    expect(otherOnA.socket.connected).toBe(true);
    // The dashboard's fan-out never saw it.
    expect(b.dashboard.health().up).toBe(true);
    expect(() => a.clients.revoke('')).toThrow(RangeError);
    expect(crashes).toEqual([]);
  });

  it('Redis stopped: local delivery continues, nothing throws, health says down; delivery across processes resumes after restart', async () => {
    const a = await startProcess('a');
    const b = await startProcess('b');
    const onA = await client(a, { clientId: 'dev-a', room: 'r' });
    const onB = await client(b, { clientId: 'dev-b', room: 'r' });
    a.io.to('r').emit('news', 'before');
    await until('cross-process delivery before the outage', () => (events(onB.got, 'news').includes('before') ? true : undefined), 5000, 20);
    const logsBefore = logLines.length;

    stores('redis-stop');
    await until('health down on both', () => (!a.clients.health().up && !b.clients.health().up && !a.dashboard.health().up ? true : undefined), 10_000, 20);
    expect(a.clients.health().pub).not.toBe('ready');

    // Emits and a revocation during the outage: local sockets get them at once, nothing throws.
    const during = Array.from({ length: 20 }, (_, i) => `during-${i}`);
    for (const message of during) a.io.to('r').emit('news', message);
    a.dashboardIo.emit('phase', { phase: 'down' });
    expect(a.clients.revoke('dev-nobody')).toEqual({ disconnected: 0, published: false });
    await until("A's own socket gets A's emits", () => (events(onA.got, 'news').length === 1 + during.length ? true : undefined), 5000, 20);
    expect(events(onA.got, 'news')).toEqual(['before', ...during]);
    // ioredis is retrying meanwhile (at most once a second): let an attempt fail, its 'error' event handled.
    await until('a reconnect attempt has failed', () => (/ECONNREFUSED/.test(a.clients.health().lastError ?? '') ? true : undefined), 5000, 50);
    expect(onA.socket.connected && onB.socket.connected).toBe(true);

    stores('redis-start');
    await until('health up again on both', () => (a.clients.health().up && b.clients.health().up ? true : undefined), 10_000, 20);
    // Subscriptions are restored right after the links are ready: poll until a fresh emit crosses over.
    let n = 0;
    await until(
      'cross-process delivery after the restart',
      () => {
        a.io.to('r').emit('news', `after-${n++}`);
        return events(onB.got, 'news').some((m) => String(m).startsWith('after-')) ? true : undefined;
      },
      10_000,
      100,
    );
    // What was emitted while Redis was down was dropped for B, not queued and replayed.
    expect(events(onB.got, 'news').filter((m) => during.includes(String(m)))).toEqual([]);
    expect(a.restored).toBeGreaterThanOrEqual(1);
    // One warning per fan-out going down, not one per reconnect attempt.
    const warnings = logLines.slice(logsBefore).filter((l) => l.level === 40 && l.msg.includes('link down'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(4);
    expect(crashes).toEqual([]);
    expect(unhandledRedisErrors).toEqual([]);
  });

  it('refuses to attach while Redis is down, with COORDINATION_UNAVAILABLE', async () => {
    stores('redis-stop');
    try {
      // Not attached to an HTTP server: nothing to close afterwards.
      const io = new Server();
      await expect(attachFanout(io, storesConfig({ redisCommandTimeoutMs: 200 }), { key: FANOUT_KEYS.clients, processId: 'p', logger })).rejects.toMatchObject({
        code: 'COORDINATION_UNAVAILABLE',
      });
      // Nothing was set on the server.
      expect(io.of('/').adapter.constructor.name).toBe('Adapter');
    } finally {
      stores('redis-start');
    }
    expect(crashes).toEqual([]);
    expect(unhandledRedisErrors).toEqual([]);
  });
});
