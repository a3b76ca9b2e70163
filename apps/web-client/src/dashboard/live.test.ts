import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { DASHBOARD_SOCKET_PATH, type PhaseEvent, type RoundReport, type TaskProgress } from '@murmur/fl-core/protocol';
import { connectLive } from './live';
import type { Connection } from './store';
import { makeReport } from './test-fixtures';

/**
 * The live edge against a real Socket.IO server on an ephemeral port, at the dashboard stream's
 * path: what a misbehaving or compromised server streams is refused and reported, and a
 * server-side disconnect (a graceful aggregator restart) is followed by a reconnect.
 */
let http: HttpServer;
let io: Server;
let origin: string;

beforeAll(async () => {
  http = createServer();
  io = new Server(http, { path: DASHBOARD_SOCKET_PATH });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => io.close(() => resolve()));
});

function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('the dashboard feed', () => {
  it('passes valid events, refuses invalid ones with a reason, and reconnects after a server disconnect', async () => {
    const phases: PhaseEvent[] = [];
    const rounds: RoundReport[] = [];
    const tasks: TaskProgress[] = [];
    const rejected: string[] = [];
    const connections: Connection[] = [];
    const close = connectLive(
      origin,
      {
        phase: (e) => phases.push(e),
        round: (r) => rounds.push(r),
        task: (t) => tasks.push(t),
        connection: (c) => connections.push(c),
        rejected: (m) => rejected.push(m),
      },
      { serverDisconnectRetryMs: 50 },
    );
    try {
      await until(() => connections.at(-1) === 'connected', 'the first connect');
      const dashboard = io.of('/');
      const valid: PhaseEvent = { round: 3, roundId: 'r3-00000003', phase: 'shareKeys', at: new Date().toISOString(), cohort: 6, pending: 6 };
      dashboard.emit('phase', valid);
      dashboard.emit('phase', { ...valid, phase: 'dancing' });
      dashboard.emit('round', { ...makeReport(3), cohort: { eligible: 1 } });
      dashboard.emit('round', { ...makeReport(4), backends: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`b${i}`, 1])) });
      dashboard.emit('round', makeReport(3));
      const task: TaskProgress = {
        taskId: 'next-word',
        coordinator: 'agg1',
        round: 3,
        roundId: 'r3-00000003',
        stage: 'committed',
        processes: 3,
        modelVersion: 3,
        answered: 3,
        abort: null,
        at: new Date().toISOString(),
      };
      // A task event carrying a report count is refused: the schema keeps counts out of it.
      dashboard.emit('task', { ...task, reports: 12 });
      dashboard.emit('task', task);
      await until(() => rounds.length === 1 && tasks.length === 1, 'the valid round and task event');
      expect(phases).toEqual([valid]);
      expect(rounds.map((r) => r.round)).toEqual([3]);
      expect(tasks).toEqual([task]);
      expect(rejected).toHaveLength(4);
      expect(rejected[0]).toMatch(/^phase event refused: .*phase/);
      expect(rejected[1]).toMatch(/^round event refused: .*cohort/);
      expect(rejected[2]).toBe('round event refused: over 10000 values, expected at most 65536 bytes');
      expect(rejected[3]).toMatch(/^task event refused: .*reports/);

      dashboard.disconnectSockets(true);
      await until(() => connections.includes('disconnected'), 'the disconnect');
      await until(() => connections.at(-1) === 'connected', 'the reconnect');
      expect(connections.filter((c) => c === 'connected')).toHaveLength(2);
    } finally {
      close();
    }
  });
});
