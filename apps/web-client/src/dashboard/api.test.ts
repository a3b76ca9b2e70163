import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { DashboardApi, HISTORY_PAGE_SIZE, nestPlanChanges } from './api';
import { dashboardReducer, initialDashboardState } from './store';
import { makeReport, makeReports } from './test-fixtures';

/**
 * The REST edge against a real HTTP server answering the way apps/aggregator/src/http.ts does
 * (newest-first offset pages, `{ code, message }` errors), plus the ways a server can go wrong.
 */
let server: Server;
let base: string;
let log: RoundReport[] = makeReports(250);
/** Runs before a page is served: lets a test commit a round between two page requests. */
let beforePage: ((offset: number) => void) | null = null;
let answer: ((req: IncomingMessage, res: ServerResponse, body: string) => boolean) | null = null;
const seen: { url: string; authorization: string | undefined; body: string }[] = [];

const json = (res: ServerResponse, status: number, value: unknown) => {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization, body });
      if (answer?.(req, res, body)) return;
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/api/rounds') {
        const limit = Math.min(100, Number(url.searchParams.get('limit')));
        const offset = Number(url.searchParams.get('offset'));
        beforePage?.(offset);
        const page = log.slice(Math.max(0, log.length - offset - limit), log.length - offset).reverse();
        return json(res, 200, { total: log.length, offset, limit, rounds: page });
      }
      json(res, 404, { code: 'NOT_FOUND', message: `no such endpoint: ${url.pathname}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('paging the history', () => {
  it('loads every round, newest page first, and skips none when a round commits mid-paging', async () => {
    log = makeReports(250);
    beforePage = (offset) => {
      if (offset === HISTORY_PAGE_SIZE) log = [...log, makeReport(251)];
    };
    let state = initialDashboardState;
    const firstRounds: number[] = [];
    const result = await new DashboardApi(base).history((page, complete) => {
      if (firstRounds.length === 0) firstRounds.push(...page.rounds.map((r) => r.round));
      state = dashboardReducer(state, { type: 'roundsPage', rounds: page.rounds, total: page.total, complete });
    });
    beforePage = null;
    expect(result).toEqual({ ok: true, value: 251 });
    expect(firstRounds.slice(0, 2)).toEqual([250, 249]);
    // Round 251 came after the first page; a catch-up (or its live event) brings it. Nothing older is missing.
    expect(state.rounds.map((r) => r.round)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(state.history).toBe('complete');
  });

  it('stops a catch-up at the first page that overlaps what is held', async () => {
    log = makeReports(250);
    const before = seen.length;
    const held = new Set(log.slice(0, 240).map((r) => r.roundId));
    const pages: number[] = [];
    await new DashboardApi(base).history((page) => pages.push(page.rounds.length), { caughtUp: (page) => page.rounds.some((r) => held.has(r.roundId)) });
    expect(pages).toEqual([100]);
    expect(seen.length - before).toBe(1);
  });
});

describe('validation at the edge', () => {
  it('refuses an answer that is not the schema, naming the request and the field', async () => {
    answer = (req, res) => {
      if (!req.url?.startsWith('/api/rounds/7')) return false;
      json(res, 200, { ...makeReport(7), cohort: { eligible: -1 } });
      return true;
    };
    const result = await new DashboardApi(base).round(7);
    answer = null;
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('INVALID_RESPONSE');
    expect(result.error.message).toMatch(/^GET \/api\/rounds\/7: unexpected answer: .*cohort/);
  });

  it('passes the server’s own error code through and maps 401 to UNAUTHORIZED', async () => {
    const missing = await new DashboardApi(base).privacy();
    expect(missing).toMatchObject({ ok: false, error: { code: 'HTTP', status: 404, serverCode: 'NOT_FOUND' } });
    answer = (req, res) => {
      if (req.headers.authorization === 'Bearer right-token-0123456789') return false;
      json(res, 401, { code: 'UNAUTHORIZED', message: 'admin endpoints need Authorization: Bearer <admin token>' });
      return true;
    };
    const refused = await new DashboardApi(base).pause('wrong-token');
    answer = null;
    expect(refused).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED', status: 401 } });
    expect(seen.at(-1)?.authorization).toBe('Bearer wrong-token');
  });

  it('sends plan changes as the nested partial plan the aggregator validates', async () => {
    answer = (req, res) => {
      if (req.url !== '/api/admin/plan') return false;
      json(res, 400, { code: 'OUT_OF_BOUNDS', message: 'plan change: overSelection: Too big: expected number to be <=3' });
      return true;
    };
    const result = await new DashboardApi(base).setPlan('t0ken-0123456789abcdef', { overSelection: 5, 'training.epochs': 2 });
    answer = null;
    expect(JSON.parse(seen.at(-1)?.body ?? '')).toEqual({ overSelection: 5, training: { epochs: 2 } });
    expect(result).toMatchObject({ ok: false, error: { serverCode: 'OUT_OF_BOUNDS', message: expect.stringMatching(/overSelection/) } });
    expect(nestPlanChanges({ a: 1, 'b.c': 2, 'b.d': 3 })).toEqual({ a: 1, b: { c: 2, d: 3 } });
  });

  it('reads the server clock from the Date header of /api/status', async () => {
    const status = {
      phase: 'checkin',
      paused: false,
      round: null,
      nextRound: 3,
      modelVersion: 2,
      connectedClients: 6,
      waitingClients: 4,
      roundsRecorded: 2,
      plan: {
        target: 6,
        overSelection: 1,
        minReports: 4,
        pauseMs: 50,
        checkinMs: 300,
        training: { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 128, timeBudgetMs: 10_000 },
        clipNorm: 1,
        noiseMultiplier: 0.02,
      },
      privacy: { mode: 'distributed', delta: 1e-5, epsilon: 1.5 },
      // Fields the dashboard does not read are dropped, not refused.
      uptimeSeconds: 12,
    };
    answer = (req, res) => {
      if (req.url !== '/api/status') return false;
      const body = JSON.stringify(status);
      res.writeHead(200, { 'content-type': 'application/json', date: 'Tue, 01 Dec 2026 08:00:00 GMT' }).end(body);
      return true;
    };
    const result = await new DashboardApi(base).status();
    answer = null;
    expect(result).toMatchObject({ ok: true, value: { serverTimeMs: Date.UTC(2026, 11, 1, 8), status: { phase: 'checkin', waitingClients: 4 } } });
    expect(result.ok && 'uptimeSeconds' in result.value.status).toBe(false);
  });

  it('refuses a body above the size cap before reading it', async () => {
    answer = (req, res) => {
      if (req.url !== '/api/privacy') return false;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * 2 ** 20) });
      res.write('{"mode":');
      // The client must give up on the header alone; the connection closes soon after.
      setTimeout(() => res.destroy(), 200);
      return true;
    };
    const result = await new DashboardApi(base).privacy();
    answer = null;
    expect(result).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
  });

  it('reports an unreachable server as NETWORK', async () => {
    const result = await new DashboardApi('http://127.0.0.1:9').status();
    expect(result).toMatchObject({ ok: false, error: { code: 'NETWORK', message: expect.stringMatching(/^GET \/api\/status failed/) } });
  });
});
