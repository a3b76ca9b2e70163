import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Logger } from 'pino';
import { decodeModelPayload } from '@murmur/fl-core/model';
import {
  budgetChangeRequestSchema,
  PROTOCOL_VERSION,
  releaseActionRequestSchema,
  revokeRequestSchema,
  roundsQuerySchema,
  type Alert,
  type BudgetChangeResponse,
  type DistributedStatus,
  type PrivacySummary,
  type ProtocolError,
  type ProtocolErrorCode,
} from '@murmur/fl-core/protocol';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import type { DataStore } from './store';
import type { ClientVerifier } from './client-identity';
import {
  createZodApp,
  fail,
  json,
  jsonErrorHandler,
  leaveBodiesUnread,
  rawPathOf,
  readBodiesAsJson,
  zodValidatorCompiler,
  type ZodApp,
  type ZodTypeProvider,
} from './http-io';
import { bearerMatches, operatorKeys, operatorOf } from './tokens';
import type { RoundCoordinator } from './coordinator';
import { planBounds, type PlanDesk } from './plan';
import type { ReleaseGate } from './release-gate';
import type { PopulationSpent } from './distributed/replica';
import { publicAlerts, publicCurrentRound, publicReleaseSummary, publicReleaseView, publicRoundRecord } from './public-view';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator an admin request acts as (the audit log's actor): set under /api/admin/ once the token checks out, '' elsewhere. */
    operator: string;
  }
}

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
   * Distributed mode: after a revocation here, record it for the population and cut the device
   * off on whichever process holds its socket (distributed/fanout.ts).
   */
  revokedEverywhere?: (clientId: string, operator: string) => void;
  /** Distributed mode: the task's processes and their health, for /api/status (distributed/health.ts). */
  distributedStatus?: () => DistributedStatus;
  /** Distributed mode: the population's spend across its tasks (the replica's, as of its last sync), for /api/privacy. */
  populationSpent?: () => PopulationSpent | null;
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

/** The aggregator's Fastify app: routes validate with zod schemas (http-io.ts). */
export type HttpApp = ZodApp;

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
/** /api/privacy's `populationSpent`: the population's ε at δ over every task's recorded rounds (distributed mode only). */
function populationView(spent: PopulationSpent | null, delta: number): { populationSpent?: PrivacySummary['populationSpent'] } {
  if (!spent) return {};
  const rounds = spent.ledger.entries.reduce((total, entry) => total + (entry.steps ?? 1), 0);
  return { populationSpent: { epsilon: spent.ledger.spent(delta)?.epsilon ?? null, tasks: spent.tasks, rounds } };
}

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
 * decoder that keeps %2f / %5c encoded (decodeURI, as some static file servers do) leaves a separator a file system
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

/**
 * A round or model version in a path. The route's own pattern (PATH_NUMBER) admits 1–9 digits
 * only, so that anything else matches no route (404, as any unknown path); the schema converts.
 */
const PATH_NUMBER = '(^\\d{1,9}$)';
const roundParamsSchema = z.object({ round: z.coerce.number().int().min(0) });
const modelParamsSchema = z.object({ version: z.coerce.number().int().min(0) });

/** The HTTP status of an error an admin action returns. */
const STATUS_OF: Partial<Record<ProtocolErrorCode, number>> = { NOT_FOUND: 404, CONFLICT: 409, OUT_OF_BOUNDS: 400, MALFORMED: 400 };

const failWith = (reply: FastifyReply, error: ProtocolError): FastifyReply => fail(reply, STATUS_OF[error.code] ?? 500, error.code, error.message);

/**
 * The answer to a request no route took: `405` for a method other than GET and HEAD (outside
 * /api/admin/ and /api/enrollment/, which answer for themselves), `404` otherwise, saying why.
 */
function refuseUnrouted(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = rawPathOf(request);
  if (request.method !== 'GET' && request.method !== 'HEAD') return fail(reply, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}`);
  if (path.startsWith('/api/')) return fail(reply, 404, 'NOT_FOUND', `no such endpoint: ${path}`);
  if (hasDotfileSegment(path)) return fail(reply, 404, 'NOT_FOUND', `dotfiles are not served: ${path}`);
  if (path.startsWith('/dashboard/')) return fail(reply, 404, 'NOT_FOUND', `nothing at ${path}; the dashboard is at /dashboard`);
  return fail(reply, 404, 'NOT_FOUND', `nothing at ${path}`);
}

/** Whether a segment of `path` (decoded: %2e is a dot) names a dotfile or dot directory. */
const hasDotfileSegment = (path: string): boolean =>
  decodeURIComponent(path)
    .split('/')
    .some((segment) => segment.startsWith('.'));

/**
 * Whether a GET of `path`, which matched no file, is a client-side route (such as /notes/42) that
 * gets the app shell, index.html. Not the API's paths, not a dotfile's, not a path below the
 * dashboard (the participant's shell there would start the participant runtime at an address the
 * operator takes for the dashboard), and not a path whose last segment has an extension: a missing
 * /assets/x.js stays a 404 rather than HTML a script would choke on.
 */
function isClientRoute(path: string): boolean {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return !path.startsWith('/api/') && !hasDotfileSegment(path) && !path.startsWith('/dashboard/') && !/\.\w+$/.test(last);
}

/**
 * Answers what the router refuses before any route or hook runs (find-my-way cannot decode the
 * path, or a path parameter is too long): the same headers and `{ code, message }` as any other
 * answer.
 */
function refuseUnroutable(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SECURITY_HEADERS);
  const problem = requestPathProblem(request.url);
  if (problem) fail(reply, 400, 'MALFORMED', problem);
  else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') fail(reply, 404, 'NOT_FOUND', `no such endpoint: ${rawPathOf(request).slice(0, 200)}`);
  else fail(reply, 400, 'MALFORMED', `request path: ${error.message}`);
}

/**
 * The aggregator's HTTP app, routes not yet added (`httpApi`): Socket.IO attaches to its `server`
 * first, so that engine.io answers its own paths ahead of Fastify (aggregator.ts).
 */
export function createHttpApp(logger: Logger): HttpApp {
  // No API body comes near the limit (the largest, a plan change, is a few hundred bytes); the hosted
  // enrollment service reads and bounds its own.
  return createZodApp(logger.child({ component: 'http' }), { bodyLimit: MAX_BODY_BYTES, frameworkErrors: refuseUnroutable });
}

/**
 * The HTTP API (see docs/aggregator.md): status, rounds, privacy, health, Prometheus metrics, the
 * model (ETag; versions immutable), the hosted enrollment service's paths, admin endpoints behind a
 * bearer token, and the built web client from the same origin. Every error is JSON
 * `{ code, message }`.
 */
export const httpApi: FastifyPluginAsync<HttpDeps, Server, ZodTypeProvider> = async (app, deps) => {
  const { config, store, logger, metrics } = deps;
  const operators = operatorKeys(deps.operators);

  app.setValidatorCompiler(zodValidatorCompiler);
  readBodiesAsJson(app);
  app.decorateRequest('operator', '');
  app.setNotFoundHandler(refuseUnrouted);
  // A file stream that fails after its head went out is cut (jsonErrorHandler).
  app.setErrorHandler(jsonErrorHandler(logger, { bodyLimit: MAX_BODY_BYTES, tooLargeStatus: 400, failure: 'HTTP handler failed' }));

  // Every answer's headers, and the raw target checked before any route decodes it. Routing has
  // run, but only to pick a handler: no file has been looked up and no body read.
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    const problem = requestPathProblem(request.url);
    if (problem) return fail(reply, 400, 'MALFORMED', problem);
  });

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
      ...(deps.distributedStatus ? { distributed: deps.distributedStatus() } : {}),
    };
  };

  app.get('/healthz', (_request, reply) => json(reply, 200, { status: 'ok' }));

  app.get('/metrics', async (request, reply) => {
    const peer = request.raw.socket.remoteAddress;
    if (config.metricsToken !== undefined) {
      if (!bearerMatches(request.headers.authorization, config.metricsToken))
        return fail(reply, 401, 'UNAUTHORIZED', '/metrics needs Authorization: Bearer <metrics token>');
    } else if (!isLoopback(peer)) {
      // Without a token, only the host itself may read it. Behind a reverse proxy on the same host
      // every request comes from loopback: configure metricsToken there.
      return fail(
        reply,
        403,
        'FORBIDDEN',
        `/metrics answers loopback peers only (got ${peer ?? 'unknown'}); configure a metrics token (--metrics-token) to read it from elsewhere`,
      );
    }
    const text = await metrics.registry.metrics();
    return reply.code(200).header('content-type', metrics.registry.contentType).send(text);
  });

  app.get('/api/status', (_request, reply) => json(reply, 200, status()));

  app.get('/api/release', (_request, reply) => json(reply, 200, publicReleaseView(deps.gate.view(), config.privacy.mode)));

  app.get('/api/privacy', (_request, reply) => {
    const spent = store.ledger.spent(config.privacy.targetDelta);
    const coordinator = deps.coordinator();
    const budget = coordinator.budgetProjection();
    return json(reply, 200, {
      mode: config.privacy.mode,
      delta: config.privacy.targetDelta,
      epsilon: spent?.epsilon ?? null,
      epsilonBudget: budget.epsilonBudget,
      epsilonNextRound: budget.next,
      projectedRoundsLeft: budget.roundsLeft,
      budgetExhausted: coordinator.budgetExhausted,
      population: config.privacy.population ?? null,
      colluders: config.privacy.colluders,
      noise: config.privacy.mode === 'off' ? null : config.privacy.noise,
      order: spent?.order ?? null,
      clipNorm: coordinator.plan.clipNorm,
      noiseMultiplier: coordinator.plan.noiseMultiplier,
      ledger: store.ledger.toJSON(),
      ...populationView(deps.populationSpent?.() ?? null, config.privacy.targetDelta),
    });
  });

  app.get('/api/rounds', { schema: { querystring: roundsQuerySchema } }, (request, reply) => {
    const { limit, offset } = request.query;
    const all = store.rounds;
    // Newest first.
    const page = all.slice(Math.max(0, all.length - offset - limit), all.length - offset).reverse();
    return json(reply, 200, { total: all.length, offset, limit, rounds: page.map(publicRoundRecord) });
  });

  app.get(`/api/rounds/:round${PATH_NUMBER}`, { schema: { params: roundParamsSchema } }, (request, reply) => {
    const wanted = request.params.round;
    const report = store.rounds.find((r) => r.round === wanted);
    return report ? json(reply, 200, publicRoundRecord(report)) : fail(reply, 404, 'NOT_FOUND', `no record of round ${wanted}`);
  });

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
  const serveModel = (request: FastifyRequest, reply: FastifyReply, which: 'released' | 'latest' | number): FastifyReply => {
    const moving = typeof which !== 'number';
    const version = moving ? store.release.released : which;
    const headers = (hash: string) => ({
      etag: `"${hash}"`,
      'x-model-version': String(version),
      // A numbered version never changes; the released one must be revalidated every time.
      'cache-control': moving ? 'no-cache' : 'public, max-age=31536000, immutable',
    });
    // A browser polling an unchanged release costs a 304 without reading the file.
    const known = version === store.modelVersion ? store.modelHash : hashes.get(version);
    if (known !== undefined && request.headers['if-none-match'] === `"${known}"` && store.hasVersion(version)) {
      return reply.code(304).headers(headers(known)).send();
    }
    const payload = store.modelPayload(version);
    if (!payload)
      return fail(reply, 404, 'NOT_FOUND', `model version ${which} is not available (newest is ${store.modelVersion}, released ${store.release.released})`);
    const hash = known ?? decodeModelPayload(payload).hash;
    if (version !== store.modelVersion) remember(version, hash);
    if (request.headers['if-none-match'] === `"${hash}"`) return reply.code(304).headers(headers(hash)).send();
    return reply
      .code(200)
      .headers({ 'content-type': 'application/octet-stream', ...headers(hash) })
      .send(payload);
  };
  app.get('/api/model/released', (request, reply) => serveModel(request, reply, 'released'));
  app.get('/api/model/latest', (request, reply) => serveModel(request, reply, 'latest'));
  app.get(`/api/model/:version${PATH_NUMBER}`, { schema: { params: modelParamsSchema } }, (request, reply) =>
    serveModel(request, reply, request.params.version),
  );

  await app.register(adminApi, { prefix: '/api/admin', operators, deps });
  await app.register(hostedEnrollment, { handler: deps.enrollmentHandler, issuerName: deps.verifier.issuer.name });
  if (deps.staticDir !== undefined) await app.register(webClient, { root: deps.staticDir });
};

/**
 * /api/admin/*: every request, known path or not, needs an operator's bearer token first (401),
 * then the right method (405), then a path that exists (404).
 */
const adminApi: FastifyPluginAsync<{ operators: ReturnType<typeof operatorKeys>; deps: HttpDeps }, Server, ZodTypeProvider> = async (
  admin,
  { operators, deps },
) => {
  const { config, logger } = deps;
  // onRequest, before a body is read: nobody without a token gets to make the server parse one.
  admin.addHook('onRequest', async (request, reply) => {
    const actor = operatorOf(request.headers.authorization, operators);
    if (actor === null) return fail(reply, 401, 'UNAUTHORIZED', 'admin endpoints need Authorization: Bearer <an operator’s admin token>');
    // The operator's name is what the audit log records as who acted.
    request.operator = actor;
  });

  admin.post('/pause', (request, reply) => {
    deps.coordinator().pause();
    logger.info({ actor: request.operator }, `paused by ${request.operator}`);
    return json(reply, 200, { paused: true });
  });

  admin.post('/resume', (request, reply) => {
    deps.coordinator().resume();
    logger.info({ actor: request.operator }, `resumed by ${request.operator}`);
    return json(reply, 200, { paused: false });
  });

  // Not part of the plan: the budget is per population, and raising it is the one way to go on once it is spent.
  admin.post('/budget', { schema: { body: budgetChangeRequestSchema } }, (request, reply) => {
    const { operator: actor } = request;
    const { epsilonBudget } = request.body;
    const coordinator = deps.coordinator();
    coordinator.setEpsilonBudget(epsilonBudget);
    logger.info({ actor, epsilonBudget }, `ε budget set by ${actor}`);
    const budget = coordinator.budgetProjection();
    const answer: BudgetChangeResponse = {
      epsilonBudget: budget.epsilonBudget,
      projectedRoundsLeft: budget.roundsLeft,
      budgetExhausted: coordinator.budgetExhausted,
    };
    return json(reply, 200, answer);
  });

  // The plan with the bounds each field may be set within, and who asks (planViewSchema). No HEAD
  // route: HEAD is no method of this endpoint, and the catch-all below refuses it 405.
  admin.get('/plan', { exposeHeadRoute: false }, (request, reply) =>
    json(reply, 200, { plan: deps.coordinator().plan, bounds: planBounds(config), operator: request.operator }),
  );

  // The change's schema depends on the configuration (σ's floor) and its refusals are
  // OUT_OF_BOUNDS with the plan's own words: PlanDesk parses it.
  admin.post('/plan', (request, reply) => {
    const changed = deps.planDesk.change(deps.coordinator(), request.body, request.operator);
    return changed.ok ? json(reply, 200, changed.value) : failWith(reply, changed.error);
  });

  admin.post('/release', { schema: { body: releaseActionRequestSchema } }, (request, reply) => {
    const { version, note } = request.body;
    const done = deps.gate.release(version, request.operator, note ?? null);
    return done.ok ? json(reply, 200, done.value) : failWith(reply, done.error);
  });

  admin.post('/rollback', { schema: { body: releaseActionRequestSchema } }, (request, reply) => {
    const { version, note } = request.body;
    const done = deps.gate.rollback(version, request.operator, note ?? null);
    return done.ok ? json(reply, 200, done.value) : failWith(reply, done.error);
  });

  admin.post('/revoke', { schema: { body: revokeRequestSchema } }, (request, reply) => {
    const { clientId } = request.body;
    deps.verifier.revoke(clientId);
    deps.disconnectClient(clientId);
    deps.revokedEverywhere?.(clientId, request.operator);
    logger.info({ clientId: clientId.slice(0, 6), actor: request.operator }, `client revoked by ${request.operator}`);
    return json(reply, 200, { revoked: clientId });
  });

  admin.all('/*', (request, reply) => {
    const path = rawPathOf(request);
    return request.method === 'POST'
      ? fail(reply, 404, 'NOT_FOUND', `no admin endpoint ${path}`)
      : fail(reply, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}`);
  });
};

/**
 * /api/enrollment/*: the hosted enrollment service's own Node handler, or a 404 naming where to
 * enroll instead. The service reads and bounds its own bodies, so this scope leaves them unread.
 */
const hostedEnrollment: FastifyPluginAsync<{ handler: HttpDeps['enrollmentHandler']; issuerName: string }, Server, ZodTypeProvider> = async (
  enrollment,
  { handler, issuerName },
) => {
  leaveBodiesUnread(enrollment);
  enrollment.all('/api/enrollment/*', (request, reply) => {
    if (!handler) {
      return fail(reply, 404, 'NOT_FOUND', `${rawPathOf(request)}: no enrollment service in this process; enroll with the service that issued ${issuerName}`);
    }
    // The service writes its answer itself; this app's headers (the security headers) go with it.
    reply.hijack();
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
    handler(request.raw, reply.raw);
  });
};

/** JavaScript's media type (RFC 9239 §6). mime 3, which @fastify/send looks types up in, still says application/javascript. */
const JAVASCRIPT_EXTENSIONS = new Set(['.js', '.mjs']);

/**
 * The built web client. @fastify/static with `wildcard: false` lists the files under the root once,
 * at start, and makes a route of each: a path that is not one of them is never joined onto the file
 * system. Dotfiles are left out of the list. A client rebuilt while the aggregator runs is served
 * after a restart; a listed file deleted since is a 404.
 */
const webClient: FastifyPluginAsync<{ root: string }, Server, ZodTypeProvider> = async (app, { root }) => {
  const dashboardFile = join(root, 'dashboard.html');
  await app.register(fastifyStatic, {
    root,
    wildcard: false,
    serveDotFiles: false,
    // The dashboard has no pages below it: /dashboard/ is its page, never a directory's index.
    globIgnore: ['dashboard/**'],
    // RFC 9110 §14.2 lets a server ignore Range, and nothing here needs it: always the whole file.
    acceptRanges: false,
    // Revalidated by ETag / Last-Modified, with no Cache-Control of its own.
    cacheControl: false,
    setHeaders: (reply, path) => {
      reply.header('content-security-policy', path === dashboardFile ? DASHBOARD_CONTENT_SECURITY_POLICY : CONTENT_SECURITY_POLICY);
      if (JAVASCRIPT_EXTENSIONS.has(extname(path))) reply.header('content-type', 'text/javascript; charset=utf-8');
    },
  });
  // The operator dashboard's page (its stricter policy comes with the file).
  app.get('/dashboard', (_request, reply) => reply.sendFile('dashboard.html'));
  app.get('/dashboard/', (_request, reply) => reply.sendFile('dashboard.html'));
  // Every other GET: the app shell for a client-side route, else the 404 that says why not.
  app.get('/*', (request, reply) => (isClientRoute(rawPathOf(request)) ? reply.sendFile('index.html') : reply.callNotFound()));
};
