import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { z } from 'zod';
import type { Logger } from 'pino';
import { decodeModelPayload, PROTOCOL_VERSION, trainingPlanSchema, type ProtocolErrorCode } from '@murmur/fl-core';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import type { DataStore } from './store';
import type { EnrollmentAuthority } from './tokens';
import { bearerMatches } from './tokens';
import type { LivePlan, RoundCoordinator } from './coordinator';
import { KeyedRateLimiter } from './rate-limit';

export interface HttpDeps {
  config: AggregatorConfig;
  adminToken: string;
  store: DataStore;
  authority: EnrollmentAuthority;
  metrics: AggregatorMetrics;
  logger: Logger;
  coordinator: () => RoundCoordinator;
  connectedClients: () => number;
  disconnectToken: (tokenId: string) => void;
  staticDir?: string;
  startedAt: number;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

const MAX_BODY_BYTES = 64 * 1024;

/** Bounds of what the admin API may change; σ never below the configured floor. */
function planChangeSchema(config: AggregatorConfig) {
  const floor = config.privacy.minNoiseMultiplier ?? config.privacy.noiseMultiplier;
  return z
    .object({
      target: z.number().int().min(2).max(100_000).optional(),
      overSelection: z.number().min(1).max(3).optional(),
      minReports: z.number().int().min(2).max(100_000).optional(),
      pauseMs: z.number().int().min(0).max(86_400_000).optional(),
      checkinMs: z.number().int().min(0).max(3_600_000).optional(),
      // Field by field (not trainingPlanSchema.partial(), whose defaults would reset unnamed fields).
      training: z
        .object({
          epochs: z.number().int().min(1).max(50).optional(),
          batchSize: z.number().int().min(1).max(1024).optional(),
          learningRate: z.number().positive().max(100).optional(),
          maxExamples: z.number().int().positive().max(10_000_000).optional(),
          timeBudgetMs: z.number().int().positive().max(3_600_000).optional(),
        })
        .strict()
        .optional(),
      clipNorm: z.number().positive().max(1e6).optional(),
      noiseMultiplier: z
        .number()
        .max(100)
        .refine((v) => v >= floor, { message: `noiseMultiplier may not go below the configured floor ${floor}` })
        .optional(),
    })
    .strict();
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/**
 * The HTTP API (see docs/aggregator.md): status, rounds, privacy, health, Prometheus metrics, the
 * model (ETag; versions immutable), enrollment, admin endpoints behind a bearer token, and the
 * built web client from the same origin. Every error is JSON `{ code, message }`.
 */
export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, store, logger, metrics } = deps;
  const enrollLimiter = new KeyedRateLimiter(config.limits.enrollPerMinute / 60, config.limits.enrollPerMinute);
  const send = (res: ServerResponse, status: number, body: string | Uint8Array, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), 'x-content-type-options': 'nosniff', ...headers });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
    send(res, status, JSON.stringify(value), { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  const fail = (res: ServerResponse, status: number, code: ProtocolErrorCode, message: string) => json(res, status, { code, message });

  const readJson = async (req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; code: ProtocolErrorCode; message: string }> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return { ok: false, code: 'TOO_LARGE', message: `request body over ${MAX_BODY_BYTES} bytes` };
      chunks.push(chunk);
    }
    if (size === 0) return { ok: true, value: {} };
    try {
      return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
    } catch {
      return { ok: false, code: 'MALFORMED', message: 'request body is not JSON' };
    }
  };

  const status = () => {
    const coordinator = deps.coordinator();
    const spent = store.ledger.entries.length > 0 ? store.ledger.epsilon(config.privacy.targetDelta) : null;
    return {
      protocolVersion: PROTOCOL_VERSION,
      phase: coordinator.phase,
      phaseStartedAt: coordinator.lastPhaseEvent.at,
      deadlines: config.round.deadlines,
      paused: coordinator.paused,
      round: coordinator.currentRound,
      nextRound: store.nextRound,
      modelVersion: store.modelVersion,
      // The store keeps the newest keepModels versions (see DataStore.commit).
      oldestModelVersion: Math.max(0, store.modelVersion - config.limits.keepModels + 1),
      modelHash: store.modelHash,
      connectedClients: deps.connectedClients(),
      waitingClients: coordinator.poolSize,
      roundsRecorded: store.rounds.length,
      plan: coordinator.plan,
      privacy: { mode: config.privacy.mode, delta: config.privacy.targetDelta, epsilon: spent && Number.isFinite(spent.epsilon) ? spent.epsilon : null },
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
    };
  };

  // Content hashes of served versions (a version is immutable, so each is computed once).
  const hashes = new Map<number, string>();
  const hashOf = (version: number, payload: Uint8Array): string => {
    if (version === store.modelVersion) return store.modelHash;
    let hash = hashes.get(version);
    if (!hash) {
      hash = decodeModelPayload(payload).hash;
      if (hashes.size >= config.limits.keepModels) hashes.delete(hashes.keys().next().value as number);
      hashes.set(version, hash);
    }
    return hash;
  };

  const serveModel: Route = (req, res, url) => {
    const which = url.pathname.slice('/api/model/'.length);
    const latest = which === 'latest';
    const version = latest ? store.modelVersion : /^\d{1,9}$/.test(which) ? Number(which) : Number.NaN;
    const payload = Number.isInteger(version) ? store.modelPayload(version) : null;
    if (!payload) return fail(res, 404, 'NOT_FOUND', `model version ${which} is not available (latest is ${store.modelVersion})`);
    const etag = `"${hashOf(version, payload)}"`;
    const headers = {
      etag,
      'x-model-version': String(version),
      // A numbered version never changes; "latest" must be revalidated every time.
      'cache-control': latest ? 'no-cache' : 'public, max-age=31536000, immutable',
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    send(res, 200, req.method === 'HEAD' ? new Uint8Array(0) : payload, { 'content-type': 'application/octet-stream', ...headers });
  };

  const admin = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (!bearerMatches(req.headers.authorization, deps.adminToken)) {
      return fail(res, 401, 'UNAUTHORIZED', 'admin endpoints need Authorization: Bearer <admin token>');
    }
    if (req.method !== 'POST' && !(req.method === 'GET' && url.pathname === '/api/admin/plan')) {
      return fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
    }
    const coordinator = deps.coordinator();
    switch (url.pathname) {
      case '/api/admin/pause':
        coordinator.pause();
        logger.info('paused by admin');
        return json(res, 200, { paused: true });
      case '/api/admin/resume':
        coordinator.resume();
        logger.info('resumed by admin');
        return json(res, 200, { paused: false });
      case '/api/admin/plan': {
        if (req.method === 'GET') return json(res, 200, coordinator.plan);
        const body = await readJson(req);
        if (!body.ok) return fail(res, 400, body.code, body.message);
        const parsed = planChangeSchema(config).safeParse(body.value);
        if (!parsed.success) return fail(res, 400, 'OUT_OF_BOUNDS', `plan change: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
        const { training, ...rest } = parsed.data;
        const current = coordinator.plan;
        const next: LivePlan = { ...current, ...stripUndefined(rest), training: trainingPlanSchema.parse({ ...current.training, ...stripUndefined(training ?? {}) }) };
        if (next.minReports > next.target) return fail(res, 400, 'OUT_OF_BOUNDS', `plan change: minReports ${next.minReports} exceeds target ${next.target}`);
        coordinator.setPlan(next);
        logger.info({ plan: next }, 'plan changed by admin (applies from the next round)');
        return json(res, 200, next);
      }
      case '/api/admin/revoke': {
        const body = await readJson(req);
        if (!body.ok) return fail(res, 400, body.code, body.message);
        const parsed = z.object({ tokenId: z.string().regex(/^[A-Za-z0-9_-]{22}$/) }).strict().safeParse(body.value);
        if (!parsed.success) return fail(res, 400, 'MALFORMED', 'revoke: expected { tokenId } (22 base64url characters)');
        deps.authority.revoke(parsed.data.tokenId);
        deps.disconnectToken(parsed.data.tokenId);
        logger.info({ tokenId: parsed.data.tokenId.slice(0, 6) }, 'token revoked');
        return json(res, 200, { revoked: parsed.data.tokenId });
      }
      default:
        return fail(res, 404, 'NOT_FOUND', `no admin endpoint ${url.pathname}`);
    }
  };

  const serveStatic = (res: ServerResponse, path: string): boolean => {
    if (!deps.staticDir) return false;
    const root = resolve(deps.staticDir);
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      fail(res, 400, 'MALFORMED', `path is not valid percent-encoding: ${path.slice(0, 100)}`);
      return true;
    }
    const file = normalize(join(root, path === '/' ? 'index.html' : decoded));
    if (!file.startsWith(root)) return false;
    // Client-side routes fall back to the app shell.
    const target = existsSync(file) && statSync(file).isFile() ? file : join(root, 'index.html');
    if (!existsSync(target)) return false;
    send(res, 200, readFileSync(target), { 'content-type': CONTENT_TYPES[extname(target)] ?? 'application/octet-stream' });
    return true;
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path.startsWith('/api/admin/')) return admin(req, res, url);
    if (path === '/api/enroll') {
      if (req.method !== 'POST') return fail(res, 405, 'METHOD_NOT_ALLOWED', 'enroll with POST');
      if (!enrollLimiter.take(req.socket.remoteAddress ?? 'unknown')) return fail(res, 429, 'RATE_LIMITED', 'too many enrollments from this address; retry in a minute');
      return json(res, 201, deps.authority.issue());
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') return send(res, 200, await metrics.registry.metrics(), { 'content-type': metrics.registry.contentType });
    if (path === '/api/status') return json(res, 200, status());
    if (path === '/api/privacy') {
      const spent = store.ledger.entries.length > 0 ? store.ledger.epsilon(config.privacy.targetDelta) : null;
      return json(res, 200, {
        mode: config.privacy.mode,
        delta: config.privacy.targetDelta,
        epsilon: spent && Number.isFinite(spent.epsilon) ? spent.epsilon : null,
        epsilonBudget: config.privacy.epsilonBudget ?? null,
        order: spent?.order ?? null,
        clipNorm: deps.coordinator().plan.clipNorm,
        noiseMultiplier: deps.coordinator().plan.noiseMultiplier,
        ledger: store.ledger.toJSON(),
      });
    }
    if (path === '/api/rounds') {
      const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20));
      const offset = Math.max(0, Number(url.searchParams.get('offset') ?? 0) || 0);
      const all = store.rounds;
      // Newest first.
      const page = all.slice(Math.max(0, all.length - offset - limit), all.length - offset).reverse();
      return json(res, 200, { total: all.length, offset, limit, rounds: page });
    }
    const roundMatch = /^\/api\/rounds\/(\d{1,9})$/.exec(path);
    if (roundMatch) {
      const wanted = Number(roundMatch[1]);
      const report = store.rounds.find((r) => r.round === wanted);
      return report ? json(res, 200, report) : fail(res, 404, 'NOT_FOUND', `no record of round ${wanted}`);
    }
    if (path.startsWith('/api/model/')) return serveModel(req, res, url);
    if (path.startsWith('/api/')) return fail(res, 404, 'NOT_FOUND', `no such endpoint: ${path}`);
    if (!serveStatic(res, path)) fail(res, 404, 'NOT_FOUND', `nothing at ${path}`);
  };

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      logger.error({ err: error, url: req.url }, 'HTTP handler failed');
      if (!res.headersSent) fail(res, 500, 'INTERNAL', 'internal error (logged)');
      else res.destroy();
    });
  };
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]-?: Exclude<T[K], undefined> };
}
