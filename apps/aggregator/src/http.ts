import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import sirv from 'sirv';
import { z } from 'zod';
import type { Logger } from 'pino';
import { decodeModelPayload, PROTOCOL_VERSION, revokeRequestSchema, type Alert, type ProtocolError, type ProtocolErrorCode } from '@murmur/fl-core';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import type { DataStore } from './store';
import type { ClientVerifier } from './client-identity';
import { readJsonBody } from './http-io';
import { bearerMatches, operatorKeys, operatorOf } from './tokens';
import type { RoundCoordinator } from './coordinator';
import { planBounds, type PlanDesk } from './plan';
import type { ReleaseGate } from './release-gate';
import { publicAlerts, publicCurrentRound, publicReleaseSummary, publicReleaseView, publicRoundRecord } from './public-view';

export interface HttpDeps {
  config: AggregatorConfig;
  /** Who may use /api/admin/*: each operator's name (recorded in the audit log) and token. */
  operators: readonly { name: string; token: string }[];
  store: DataStore;
  verifier: ClientVerifier;
  metrics: AggregatorMetrics;
  logger: Logger;
  gate: ReleaseGate;
  planDesk: PlanDesk;
  coordinator: () => RoundCoordinator;
  connectedClients: () => number;
  disconnectClient: (clientId: string) => void;
  /**
   * An enrollment service hosted in this process (npm start): requests under /api/enrollment/ go
   * to its handler. The aggregator gets the handler only — never the service or its key.
   */
  enrollmentHandler?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Alerts firing now (alerts.ts). */
  alerts: () => Alert[];
  staticDir?: string;
  startedAt: number;
}

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The web client's Content-Security-Policy, sent with every file of the built client (the page,
 * the training worker and the service worker each take the policy of their own response):
 * - script-src 'self' 'wasm-unsafe-eval': Vite emits no inline script; TensorFlow.js compiles its
 *   WebAssembly kernels, which needs 'wasm-unsafe-eval' (not 'unsafe-eval', which would also allow
 *   eval of strings). zod 4 probes `Function('')` once to pick its JIT and falls back when refused.
 * - worker-src 'self': the training Web Worker and vite-plugin-pwa's service worker (which
 *   importScripts its workbox chunk from the same origin). The threaded tfjs-wasm build would need
 *   blob: workers; the worker never loads it (backends.ts turns wasm threads off).
 * - connect-src 'self': the REST API, model downloads, the .wasm binaries, seed files, and Socket.IO,
 *   whose websocket 'self' matches too (CSP Level 3: 'self' covers ws:/wss: to the same host and port).
 * - style-src 'self': React and recharts set styles through the CSSOM (element.style), which CSP
 *   does not govern; no style element or style attribute markup is needed.
 * - img-src 'self': icons only; no data: or blob: image is used.
 * - frame-ancestors 'none' (with X-Frame-Options DENY for older browsers): the app is never framed,
 *   so no page can overlay it to harvest clicks on the consent switch or "Delete all my data".
 */
function webClientPolicy(page: { wasm: boolean; workers: boolean }): string {
  return [
    "default-src 'self'",
    page.wasm ? "script-src 'self' 'wasm-unsafe-eval'" : "script-src 'self'",
    page.workers ? "worker-src 'self'" : "worker-src 'none'",
    "connect-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
export const CONTENT_SECURITY_POLICY = webClientPolicy({ wasm: true, workers: true });

/**
 * The operator dashboard's page (dashboard.html, at /dashboard): the same policy without
 * WebAssembly and with no worker of any kind. The dashboard runs neither; under this policy the
 * browser refuses both even if a later change imported the participant runtime into it, on the
 * page where the admin token is typed.
 */
export const DASHBOARD_CONTENT_SECURITY_POLICY = webClientPolicy({ wasm: false, workers: false });

/**
 * The dashboard's page: /dashboard and /dashboard/ (sirv finds dashboard.html by its extension,
 * and drops the trailing slash first), and the file's own name.
 */
const DASHBOARD_PAGE = /^\/dashboard(\.html)?\/?$/;

/** API answers are data, never documents: a policy under which nothing in them can run or load. */
const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/** Headers every answer carries; static files then get CONTENT_SECURITY_POLICY (the dashboard's page DASHBOARD_CONTENT_SECURITY_POLICY) instead of the API's. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': API_CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

/**
 * Why a request target may not be answered, or null when it may. Checked on the raw target:
 * `new URL` resolves dot segments (%2e%2e included) before any later check could see them, and a
 * decoder that keeps %2f / %5c encoded (decodeURI, as sirv does) leaves a separator a file system
 * may still honour. Nothing we serve needs any of these forms, so each is refused outright.
 */
export function requestPathProblem(target: string): string | null {
  const raw = target.split('?', 1)[0] as string;
  const shown = JSON.stringify(raw.slice(0, 100));
  if (!raw.startsWith('/')) return `request path ${shown}: expected a path starting with /`;
  if (/%(2f|5c)/i.test(raw)) return `request path ${shown}: encoded separators (%2f, %5c) are refused`;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return `request path ${shown}: expected valid percent-encoding`;
  }
  if (decoded.includes('\\') || decoded.includes('\0')) return `request path ${shown}: backslashes and NUL are refused`;
  if (decoded.split('/').some((segment) => segment === '.' || segment === '..')) return `request path ${shown}: dot segments (., .., %2e%2e) are refused`;
  // %252f decodes to %2f: a second decoder (a proxy, a framework) would turn it into a separator.
  if (/%[0-9a-f]{2}/i.test(decoded)) return `request path ${shown}: double percent-encoding is refused`;
  return null;
}

/** Loopback peers: 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (how a dual-stack socket sees 127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return address === '::1';
}

/** The real path of `path`, through its nearest existing ancestor when it does not exist yet. */
function realPathOf(path: string): string {
  const absolute = resolve(path);
  if (existsSync(absolute)) return realpathSync(absolute);
  const parent = dirname(absolute);
  return parent === absolute ? absolute : join(realPathOf(parent), basename(absolute));
}

/** Whether `inner` is `outer` or below it ('..data' is a child's name, not a step up). */
const within = (inner: string, outer: string): boolean => {
  const rel = relative(outer, inner);
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
};

/**
 * Why `staticDir` may not be served beside `dataDir`, or null when it may. The static root is
 * served whole, so the data directory (admin token, the hosted enrollment service's issuer key, head.json) may be neither
 * inside it nor contain it; symbolic links are followed before comparing.
 */
export function staticDirProblem(staticDir: string, dataDir: string): string | null {
  if (!existsSync(staticDir) || !statSync(staticDir).isDirectory()) return `static directory ${staticDir}: expected an existing directory`;
  const root = realPathOf(staticDir);
  const data = realPathOf(dataDir);
  if (within(data, root)) return `data directory ${data} is inside the static directory ${root}: its secrets would be served; move one of them`;
  if (within(root, data)) return `static directory ${root} is inside the data directory ${data}; move one of them`;
  return null;
}

/**
 * Why the operators' tokens file may not be where it is, or null: the static root is served whole,
 * so the file may not sit inside it (symbolic links followed, as for the data directory).
 */
export function tokensFileProblem(file: string, staticDir: string): string | null {
  const root = realPathOf(staticDir);
  const path = realPathOf(file);
  return within(path, root) ? `admin tokens file ${path} is inside the static directory ${root}: it would be served; move it` : null;
}

/** GET /api/rounds query: decimal integers only, so `1.5`, `1e1` or `0x10` are refused, not rounded. */
const decimalParam = z
  .string()
  .regex(/^-?\d{1,15}$/, { message: 'expected a decimal integer' })
  .transform(Number);
const roundsQuerySchema = z.object({
  limit: decimalParam.pipe(z.number().int().min(1).max(100)).default(20),
  offset: decimalParam.pipe(z.number().int().min(0)).default(0),
});

/** POST /api/admin/release and /api/admin/rollback: which kept version, and optionally why (kept in the audit log). */
const releaseActionSchema = z
  .object({
    version: z.number().int().min(0).max(999_999_999),
    note: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

/** POST /api/admin/budget: the ε budget at the ledger's δ from now on (not saved: the configuration's comes back on restart). */
const budgetChangeSchema = z.object({ epsilonBudget: z.number().positive().max(1e6).nullable() }).strict();

/** The HTTP status of an error an admin action returns. */
const STATUS_OF: Partial<Record<ProtocolErrorCode, number>> = { NOT_FOUND: 404, CONFLICT: 409, OUT_OF_BOUNDS: 400, MALFORMED: 400 };

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/**
 * The HTTP API (see docs/aggregator.md): status, rounds, privacy, health, Prometheus metrics, the
 * model (ETag; versions immutable), the hosted enrollment service's paths, admin endpoints behind a bearer token, and the
 * built web client from the same origin. Every error is JSON `{ code, message }`.
 */
export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, store, logger, metrics } = deps;
  const operators = operatorKeys(deps.operators);
  // Node drops the body of an answer to HEAD by itself (ServerResponse of a HEAD request has no
  // body), so GET and HEAD go through the same path and HEAD carries the GET's content-length.
  const send = (res: ServerResponse, status: number, body: string | Uint8Array, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
    send(res, status, JSON.stringify(value), { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  const fail = (res: ServerResponse, status: number, code: ProtocolErrorCode, message: string) => json(res, status, { code, message });

  const failWith = (res: ServerResponse, error: ProtocolError) => fail(res, STATUS_OF[error.code] ?? 500, error.code, error.message);

  const status = () => {
    const coordinator = deps.coordinator();
    const spent = store.ledger.spent(config.privacy.targetDelta);
    return {
      protocolVersion: PROTOCOL_VERSION,
      phase: coordinator.phase,
      phaseStartedAt: coordinator.lastPhaseEvent.at,
      deadlines: config.round.deadlines,
      paused: coordinator.paused,
      round: publicCurrentRound(coordinator.currentRound, config.privacy.mode),
      nextRound: store.nextRound,
      modelVersion: store.modelVersion,
      // The store keeps the newest keepModels versions and those the release state names (DataStore.#prune).
      oldestModelVersion: store.keptVersions()[0] ?? store.modelVersion,
      modelHash: store.modelHash,
      connectedClients: deps.connectedClients(),
      waitingClients: coordinator.poolSize,
      roundsRecorded: store.rounds.length,
      plan: coordinator.plan,
      planRevision: coordinator.planRevision,
      privacy: { mode: config.privacy.mode, delta: config.privacy.targetDelta, epsilon: spent?.epsilon ?? null },
      release: publicReleaseSummary(deps.gate.summary(), config.privacy.mode),
      alerts: publicAlerts(deps.alerts(), config.privacy.mode),
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
    };
  };

  // Content hashes of served versions (a version is immutable, so each is computed once).
  const hashes = new Map<number, string>();
  const remember = (version: number, hash: string) => {
    if (hashes.size >= config.limits.keepModels) hashes.delete(hashes.keys().next().value as number);
    hashes.set(version, hash);
  };

  /**
   * GET /api/model/released (and /latest, its name before release gates, which PWAs built then
   * still ask for): the version browsers suggest with, revalidated every time. GET /api/model/:v:
   * any kept version, immutable (rounds train from candidates through these).
   */
  const serveModel: Route = (req, res, url) => {
    const which = url.pathname.slice('/api/model/'.length);
    const moving = which === 'released' || which === 'latest';
    const version = moving ? store.release.released : /^\d{1,9}$/.test(which) ? Number(which) : Number.NaN;
    const headers = (hash: string) => ({
      etag: `"${hash}"`,
      'x-model-version': String(version),
      // A numbered version never changes; the released one must be revalidated every time.
      'cache-control': moving ? 'no-cache' : 'public, max-age=31536000, immutable',
    });
    // A browser polling an unchanged release costs a 304 without reading the file.
    const known = version === store.modelVersion ? store.modelHash : hashes.get(version);
    if (known !== undefined && req.headers['if-none-match'] === `"${known}"` && store.hasVersion(version)) {
      res.writeHead(304, headers(known));
      res.end();
      return;
    }
    const payload = Number.isInteger(version) ? store.modelPayload(version) : null;
    if (!payload)
      return fail(res, 404, 'NOT_FOUND', `model version ${which} is not available (newest is ${store.modelVersion}, released ${store.release.released})`);
    const hash = known ?? decodeModelPayload(payload).hash;
    if (version !== store.modelVersion) remember(version, hash);
    if (req.headers['if-none-match'] === `"${hash}"`) {
      res.writeHead(304, headers(hash));
      res.end();
      return;
    }
    send(res, 200, payload, { 'content-type': 'application/octet-stream', ...headers(hash) });
  };

  const admin = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    // The operator's name is what the audit log records as who acted.
    const actor = operatorOf(req.headers.authorization, operators);
    if (actor === null) {
      return fail(res, 401, 'UNAUTHORIZED', 'admin endpoints need Authorization: Bearer <an operator’s admin token>');
    }
    if (req.method !== 'POST' && !(req.method === 'GET' && url.pathname === '/api/admin/plan')) {
      return fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
    }
    const coordinator = deps.coordinator();
    switch (url.pathname) {
      case '/api/admin/pause':
        coordinator.pause();
        logger.info({ actor }, `paused by ${actor}`);
        return json(res, 200, { paused: true });
      case '/api/admin/resume':
        coordinator.resume();
        logger.info({ actor }, `resumed by ${actor}`);
        return json(res, 200, { paused: false });
      case '/api/admin/budget': {
        // Not part of the plan: the budget is per population, and raising it is the one way to go on once it is spent.
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return fail(res, 400, body.code, body.message);
        const parsed = budgetChangeSchema.safeParse(body.value);
        if (!parsed.success) return fail(res, 400, 'MALFORMED', 'budget: expected { epsilonBudget: a positive number ≤ 1e6, or null for none }');
        coordinator.setEpsilonBudget(parsed.data.epsilonBudget);
        logger.info({ actor, epsilonBudget: parsed.data.epsilonBudget }, `ε budget set by ${actor}`);
        const budget = coordinator.budgetProjection();
        return json(res, 200, { epsilonBudget: budget.epsilonBudget, projectedRoundsLeft: budget.roundsLeft, budgetExhausted: coordinator.budgetExhausted });
      }
      case '/api/admin/plan': {
        // The plan with the bounds each field may be set within, and who asks (planViewSchema).
        if (req.method === 'GET') return json(res, 200, { plan: coordinator.plan, bounds: planBounds(config), operator: actor });
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return fail(res, 400, body.code, body.message);
        const changed = deps.planDesk.change(coordinator, body.value, actor);
        return changed.ok ? json(res, 200, changed.value) : failWith(res, changed.error);
      }
      case '/api/admin/release':
      case '/api/admin/rollback': {
        const action = url.pathname === '/api/admin/release' ? 'release' : 'rollback';
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return fail(res, 400, body.code, body.message);
        const parsed = releaseActionSchema.safeParse(body.value);
        if (!parsed.success) {
          return fail(
            res,
            400,
            'MALFORMED',
            `${action}: expected { version: a model version, note?: 1–500 characters }: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`,
          );
        }
        const { version, note } = parsed.data;
        const done = action === 'release' ? deps.gate.release(version, actor, note ?? null) : deps.gate.rollback(version, actor, note ?? null);
        return done.ok ? json(res, 200, done.value) : failWith(res, done.error);
      }
      case '/api/admin/revoke': {
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return fail(res, 400, body.code, body.message);
        const parsed = revokeRequestSchema.safeParse(body.value);
        if (!parsed.success) return fail(res, 400, 'MALFORMED', "revoke: expected { clientId } (22 base64url characters: a certificate's client id)");
        deps.verifier.revoke(parsed.data.clientId);
        deps.disconnectClient(parsed.data.clientId);
        logger.info({ clientId: parsed.data.clientId.slice(0, 6), actor }, `client revoked by ${actor}`);
        return json(res, 200, { revoked: parsed.data.clientId });
      }
      default:
        return fail(res, 404, 'NOT_FOUND', `no admin endpoint ${url.pathname}`);
    }
  };

  // sirv lists the files under the root once, here, and answers only from that list: a path that
  // is not one of them is never joined onto the file system. Dotfiles are left out of the list.
  // `single`: a path without an extension that matches no file (a client-side route) gets
  // index.html; a missing /assets/x.js stays a 404. A client rebuilt while the aggregator runs is
  // served after a restart. `setHeaders` sees the decoded request path.
  const serveFile = deps.staticDir
    ? sirv(deps.staticDir, {
        single: true,
        dotfiles: false,
        etag: true,
        setHeaders: (res, pathname) =>
          res.setHeader('content-security-policy', DASHBOARD_PAGE.test(pathname) ? DASHBOARD_CONTENT_SECURITY_POLICY : CONTENT_SECURITY_POLICY),
      })
    : null;
  const serveStatic = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (!serveFile) return fail(res, 404, 'NOT_FOUND', `nothing at ${path}`);
    // sirv leaves dotfiles out of its list but would answer /.env with the app shell; say 404.
    if (
      decodeURIComponent(path)
        .split('/')
        .some((segment) => segment.startsWith('.'))
    )
      return fail(res, 404, 'NOT_FOUND', `dotfiles are not served: ${path}`);
    // The dashboard has no pages below it; the participant's shell there (the `single` fallback)
    // would start the participant runtime at an address the operator takes for the dashboard.
    if (path.startsWith('/dashboard/') && !DASHBOARD_PAGE.test(path)) return fail(res, 404, 'NOT_FOUND', `nothing at ${path}; the dashboard is at /dashboard`);
    // sirv's Range parsing takes `bytes=-500` as the first 500 bytes and throws on `bytes=9-1`
    // after writing the head; RFC 9110 §14.2 lets a server ignore Range, and nothing here needs it.
    delete req.headers.range;
    // sirv pipes a read stream without an error listener: a file listed at start and gone since
    // (a client rebuilt in place) would throw from the stream and end the process.
    res.once('pipe', (source: NodeJS.ReadableStream) => {
      source.once('error', (error) => {
        logger.warn({ err: error, path }, 'static file unreadable (removed since start? restart to rescan)');
        res.destroy();
      });
    });
    serveFile(req, res, () => fail(res, 404, 'NOT_FOUND', `nothing at ${path}`));
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const pathProblem = requestPathProblem(req.url ?? '/');
    if (pathProblem) return fail(res, 400, 'MALFORMED', pathProblem);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path.startsWith('/api/admin/')) return admin(req, res, url);
    if (path.startsWith('/api/enrollment/')) {
      if (deps.enrollmentHandler) return deps.enrollmentHandler(req, res);
      return fail(res, 404, 'NOT_FOUND', `${path}: no enrollment service in this process; enroll with the service that issued ${deps.verifier.issuer.name}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      if (config.metricsToken !== undefined) {
        if (!bearerMatches(req.headers.authorization, config.metricsToken))
          return fail(res, 401, 'UNAUTHORIZED', '/metrics needs Authorization: Bearer <metrics token>');
      } else if (!isLoopback(req.socket.remoteAddress)) {
        // Without a token, only the host itself may read it. Behind a reverse proxy on the same host
        // every request comes from loopback: configure metricsToken there.
        return fail(
          res,
          403,
          'FORBIDDEN',
          `/metrics answers loopback peers only (got ${req.socket.remoteAddress ?? 'unknown'}); configure a metrics token (--metrics-token) to read it from elsewhere`,
        );
      }
      return send(res, 200, await metrics.registry.metrics(), { 'content-type': metrics.registry.contentType });
    }
    if (path === '/api/status') return json(res, 200, status());
    if (path === '/api/release') return json(res, 200, publicReleaseView(deps.gate.view(), config.privacy.mode));
    if (path === '/api/privacy') {
      const spent = store.ledger.spent(config.privacy.targetDelta);
      const budget = deps.coordinator().budgetProjection();
      return json(res, 200, {
        mode: config.privacy.mode,
        delta: config.privacy.targetDelta,
        epsilon: spent?.epsilon ?? null,
        epsilonBudget: budget.epsilonBudget,
        epsilonNextRound: budget.next,
        projectedRoundsLeft: budget.roundsLeft,
        budgetExhausted: deps.coordinator().budgetExhausted,
        population: config.privacy.population ?? null,
        order: spent?.order ?? null,
        clipNorm: deps.coordinator().plan.clipNorm,
        noiseMultiplier: deps.coordinator().plan.noiseMultiplier,
        ledger: store.ledger.toJSON(),
      });
    }
    if (path === '/api/rounds') {
      const query = roundsQuerySchema.safeParse({ limit: url.searchParams.get('limit') ?? undefined, offset: url.searchParams.get('offset') ?? undefined });
      if (!query.success) {
        const outOfBounds = query.error.issues.every((issue) => issue.code === 'too_small' || issue.code === 'too_big');
        return fail(
          res,
          400,
          outOfBounds ? 'OUT_OF_BOUNDS' : 'MALFORMED',
          `/api/rounds: ${z.prettifyError(query.error).replace(/\n/g, '; ')} (limit: 1..100, offset: ≥ 0)`,
        );
      }
      const { limit, offset } = query.data;
      const all = store.rounds;
      // Newest first.
      const page = all.slice(Math.max(0, all.length - offset - limit), all.length - offset).reverse();
      return json(res, 200, { total: all.length, offset, limit, rounds: page.map(publicRoundRecord) });
    }
    const roundMatch = /^\/api\/rounds\/(\d{1,9})$/.exec(path);
    if (roundMatch) {
      const wanted = Number(roundMatch[1]);
      const report = store.rounds.find((r) => r.round === wanted);
      return report ? json(res, 200, publicRoundRecord(report)) : fail(res, 404, 'NOT_FOUND', `no record of round ${wanted}`);
    }
    if (path.startsWith('/api/model/')) return serveModel(req, res, url);
    if (path.startsWith('/api/')) return fail(res, 404, 'NOT_FOUND', `no such endpoint: ${path}`);
    return serveStatic(req, res, path);
  };

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      logger.error({ err: error, url: req.url }, 'HTTP handler failed');
      if (!res.headersSent) fail(res, 500, 'INTERNAL', 'internal error (logged)');
      else res.destroy();
    });
  };
}
