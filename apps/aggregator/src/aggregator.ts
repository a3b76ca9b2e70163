import type { Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { createServerOptimizer } from '@murmur/fl-core/aggregate';
import { type EnrollmentIssuer } from '@murmur/fl-core/identity';
import { buildModel, getFlatWeights, MODEL_PRESETS, type ModelSpec } from '@murmur/fl-core/model';
import { CONTRIBUTION_METRICS } from '@murmur/fl-core/protocol';
import { wordBytes, type SecAggServerState } from '@murmur/fl-core/secagg';
import { evaluateAlerts, type AlertSources } from './alerts';
import { AuditLog } from './audit';
import { parseOperatorTokens, type AdminOperator, type AggregatorConfig } from './config';
import { RoundCoordinator } from './coordinator';
import { writeFileAtomic } from './fs-atomic';
import { createHttpApp, httpApi, staticDirProblem, tokensFileProblem } from './http';
import { listen } from './http-io';
import { createMetrics } from './metrics';
import { PlanDesk } from './plan';
import { ReleaseGate } from './release-gate';
import { DataStore } from './store';
import { ClientVerifier, readIssuerFile, RevocationFeed } from './client-identity';
import { attachTransport, type Transport } from './transport';
import { publicRoundRecord } from './public-view';
import { distributedConfigFromEnv, type DistributedConfig } from './distributed/config';
import { DistributedNode } from './distributed/node';
import { attachFanout, FANOUT_KEYS, type Fanout } from './distributed/fanout';
import { ProcessHealthMonitor } from './distributed/health';
import { UnmaskThread } from './unmask-thread';
import type { RoundReport } from '@murmur/fl-core/protocol';

/** How long a graceful close waits for open connections before it cuts them. */
const SHUTDOWN_GRACE_MS = 2_000;

export interface RunningAggregator {
  url: string;
  port: number;
  config: AggregatorConfig;
  server: Server;
  store: DataStore;
  coordinator: RoundCoordinator;
  gate: ReleaseGate;
  audit: AuditLog;
  transport: Transport;
  /** The enrollment issuer whose certificates this aggregator accepts (public key only). */
  issuer: EnrollmentIssuer;
  /** The default operator's token ('admin'), or the first named operator's when there is no default one. */
  adminToken: string;
  /** Everyone who may use /api/admin/*, by the name the audit log records. */
  operators: readonly AdminOperator[];
  /** engine.io's frame limit for clients: the round's largest message (a masked input) + 1 MiB unless configured. */
  maxHttpBufferSize: number;
  /** The distributed mode's process (config.distributed.enabled), else null. */
  distributed: DistributedNode | null;
  /** Graceful: stop the round loop (an unfinished round is aborted, model untouched), close sockets, close HTTP. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Overrides config.staticDir (main passes the built web client). */
  staticDir?: string;
  /**
   * The enrollment issuer to accept certificates from; overrides config.enrollmentIssuerFile.
   * Public data only: the aggregator never holds the issuer's private key (enrollment/host.ts).
   */
  issuer?: EnrollmentIssuer;
  /** Serves /api/enrollment/* (an enrollment service hosted in the same process). */
  enrollmentHandler?: (req: IncomingMessage, res: ServerResponse) => void;
  /** A revocation list kept by that hosted service, consulted beside this aggregator's own. */
  revokedElsewhere?: (clientId: string) => boolean;
  /** The distributed mode's PostgreSQL and Redis (config.distributed.enabled). @default the MURMUR_* environment (distributed/config.ts) */
  stores?: DistributedConfig;
}

export function modelSpecOf(config: AggregatorConfig): ModelSpec {
  return typeof config.model === 'string' ? MODEL_PRESETS[config.model] : config.model;
}

/** Who the default admin token acts as in the audit log. */
export const DEFAULT_OPERATOR = 'admin';

/**
 * The operators allowed on /api/admin/*: the default one ('admin', with the configured admin
 * token) and the named ones (adminTokens, adminTokensFile). With none configured, the default
 * operator's token is generated once into <dataDir>/admin-token (mode 0600). Two operators may
 * share neither a name nor a token (one token must name one person).
 */
export function adminOperatorsOf(config: AggregatorConfig, logger: Logger): AdminOperator[] {
  const operators: AdminOperator[] = [];
  if (config.adminToken) operators.push({ name: DEFAULT_OPERATOR, token: config.adminToken });
  operators.push(...(config.adminTokens ?? []));
  if (config.adminTokensFile) {
    let text: string;
    try {
      text = readFileSync(config.adminTokensFile, 'utf8');
    } catch (error) {
      throw new Error(`admin tokens file ${config.adminTokensFile}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const parsed = parseOperatorTokens(text, `admin tokens file ${config.adminTokensFile}`);
    if (!parsed.ok) throw new Error(parsed.message);
    operators.push(...parsed.value);
  }
  if (operators.length === 0) {
    const path = join(config.dataDir, 'admin-token');
    if (!existsSync(path)) {
      writeFileAtomic(path, Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url'), 0o600);
      logger.info({ path }, 'generated an admin token');
    }
    operators.push({ name: DEFAULT_OPERATOR, token: readFileSync(path, 'utf8').trim() });
  }
  const names = new Set<string>();
  const tokens = new Set<string>();
  for (const { name, token } of operators) {
    if (names.has(name))
      throw new Error(`admin operators: the name '${name}' is given twice${name === DEFAULT_OPERATOR ? ' (adminToken is the operator named admin)' : ''}`);
    if (tokens.has(token)) throw new Error(`admin operators: '${name}' has the token of another operator; each operator needs a token of their own`);
    names.add(name);
    tokens.add(token);
  }
  return operators;
}

/**
 * Starts one aggregator: opens (or initializes) the data directory, then serves HTTP and
 * Socket.IO on one port and runs rounds continuously. Requires a tfjs backend to be set (the
 * initial model is built with tfjs on a fresh data directory).
 */
export async function startAggregator(config: AggregatorConfig, options: StartOptions): Promise<RunningAggregator> {
  const { logger } = options;
  const startedAt = Date.now();
  const staticDir = options.staticDir ?? config.staticDir;
  // Checked before the data directory is created or written: nothing of it may ever be servable.
  const staticProblem = staticDir === undefined ? null : staticDirProblem(staticDir, config.dataDir);
  if (staticProblem) throw new Error(`refusing to start: ${staticProblem}`);
  const secretProblem = staticDir === undefined || config.adminTokensFile === undefined ? null : tokensFileProblem(config.adminTokensFile, staticDir);
  if (secretProblem) throw new Error(`refusing to start: ${secretProblem}`);
  // Whose certificates to accept, settled before anything is written: no issuer, no start.
  const issuer = options.issuer ?? (config.enrollmentIssuerFile !== undefined ? readIssuerFile(config.enrollmentIssuerFile) : undefined);
  if (!issuer) {
    throw new Error(
      'refusing to start: no enrollment issuer: configure --enrollment-issuer FILE (the enrollment service’s issuer.json), or start through npm start, which hosts one',
    );
  }
  const initial = () => {
    const spec = modelSpecOf(config);
    const model = buildModel(spec, { seed: config.seed });
    const weights = getFlatWeights(model);
    model.dispose();
    return { spec, weights, optimizer: createServerOptimizer(config.optimizer, weights.length) };
  };
  // Distributed: the local store is a replica of the task's record (distributed/replica.ts); the
  // rounds it applies reach the dashboard once the transport exists.
  let onApplied: (report: RoundReport) => void = () => {};
  const stores = config.distributed.enabled ? (options.stores ?? distributedConfigFromEnv(process.env)) : null;
  const node = stores ? await DistributedNode.open({ config, stores, logger, initial, onApplied: (report) => onApplied(report) }) : null;
  const store = node ? node.replica.store : DataStore.open(config.dataDir, initial, logger, config.limits.keepModels);
  const configured = modelSpecOf(config);
  const canonical = (spec: ModelSpec) => JSON.stringify(spec, Object.keys(spec).sort());
  if (canonical(store.spec) !== canonical(configured)) {
    logger.warn(
      { dataDir: config.dataDir, serving: store.spec, configured },
      'the data directory holds another model than the configured one; it keeps serving its own (the model setting applies to a new data directory only)',
    );
  }
  // A separately deployed service's list is fetched; a hosted one's is asked directly.
  let disconnectRevoked: (clientId: string) => void = () => {};
  const feed =
    config.enrollmentUrl === undefined || options.revokedElsewhere
      ? null
      : new RevocationFeed({
          enrollmentUrl: config.enrollmentUrl.replace(/\/$/, ''),
          issuerName: issuer.name,
          intervalMs: config.limits.revocationPollMs,
          logger,
          onRevoked: (clientId) => disconnectRevoked(clientId),
        });
  await feed?.start();
  const revokedElsewhere = options.revokedElsewhere ?? (feed ? (clientId: string) => feed.has(clientId) : undefined);
  const verifier = ClientVerifier.open({
    dataDir: config.dataDir,
    issuer,
    skewMs: config.limits.handshakeSkewMs,
    ...(revokedElsewhere ? { revokedElsewhere } : {}),
  });
  const operators = adminOperatorsOf(config, logger);
  const adminToken = (operators.find((o) => o.name === DEFAULT_OPERATOR) ?? (operators[0] as AdminOperator)).token;
  const metrics = createMetrics();
  metrics.modelVersion.set(store.modelVersion);
  const audit = AuditLog.open(config.dataDir, logger);
  const gate = new ReleaseGate({ policy: config.release, store, audit, metrics, logger, privacyMode: config.privacy.mode });
  const planDesk = new PlanDesk({ config, store, audit, logger });
  // Fastify's request listener is on the server from here on; Socket.IO, attached below, wraps it
  // (engine.io wraps the listeners it finds) and answers its own two paths ahead of it.
  const app = createHttpApp(logger);
  const server = app.server;
  const connections = new Set<Socket>();
  server.on('connection', (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  let coordinator: RoundCoordinator | null = null;
  const getCoordinator = () => coordinator as RoundCoordinator;
  // The largest frame a round needs is a masked input: (d + metrics) words of 4 bytes.
  const maxHttpBufferSize = config.limits.maxHttpBufferSize ?? (store.weights.length + 64) * 4 + 1024 * 1024;
  // A limit set for a smaller model would close every client's connection when it sends its
  // masked input (engine.io drops the frame before any handler runs): refuse to start instead.
  const maskedInputBytes = (store.weights.length + CONTRIBUTION_METRICS.length) * wordBytes(config.round.modulusBits);
  if (maxHttpBufferSize < maskedInputBytes + 4096) {
    throw new Error(
      `refusing to start: limits.maxHttpBufferSize ${maxHttpBufferSize} is below a masked input of this model (${store.weights.length.toLocaleString('en-US')} parameters: ${maskedInputBytes} bytes + 4096); raise it or leave it unset`,
    );
  }
  const transport = attachTransport(server, { config, verifier, metrics, logger, maxHttpBufferSize, coordinator: getCoordinator });
  // Distributed: a revocation reaches every process (Redis adapter), and is durable in the record
  // first, so a process that was away or missed the message catches up from it.
  let revocationsSeen = 0;
  const catchUpRevocations = async (records: DistributedNode['records']) => {
    for (const revocation of await records.revocations(config.distributed.population, revocationsSeen)) {
      verifier.revoke(revocation.subject);
      transport.disconnectClient(revocation.subject);
      revocationsSeen = revocation.seq;
    }
  };
  let fanout: Fanout | null = null;
  let dashboardFanout: Fanout | null = null;
  if (node && stores) {
    const records = node.records;
    const catchUp = () =>
      void catchUpRevocations(records).catch((error: unknown) => logger.warn({ err: error }, 'revocations: catch-up from the record failed'));
    fanout = await attachFanout(transport.io, stores, {
      key: FANOUT_KEYS.clients,
      processId: node.processId,
      logger,
      onRevoked: (clientId) => verifier.revoke(clientId),
      onRestored: catchUp,
    });
    // The lease holder's task progress reaches every process's viewers; each process's own phases
    // and replica rounds stay local (emitted with .local), or a viewer would see each once per process.
    dashboardFanout = await attachFanout(transport.dashboard.server, stores, { key: FANOUT_KEYS.dashboard, processId: node.processId, logger });
    await catchUpRevocations(records);
  }
  const health = node ? new ProcessHealthMonitor({ records: node.records, coordination: node.coordination, taskId: config.distributed.taskId, logger }) : null;
  health?.start();
  // Mask reconstruction is the round's one long computation: off the event loop once the thread has
  // started. Started in the background (tsx compiles its imports first, seconds on a busy machine);
  // rounds before that, or without it, unmask on this thread.
  let unmaskThread: UnmaskThread | null = null;
  const unmaskThreadStarted = (config.round.unmaskInWorker ? UnmaskThread.start(logger) : Promise.resolve(null)).then(
    (thread) => {
      unmaskThread = thread;
    },
    (error: unknown) => logger.warn({ err: error }, 'the unmasking thread did not start: unmasking runs on the main thread'),
  );
  const unmasking = { closeUnmasking: (state: SecAggServerState) => unmaskThread?.closeUnmasking(state) ?? null };
  coordinator = new RoundCoordinator({
    config,
    store,
    logger,
    metrics,
    gate,
    plan: planDesk.initial,
    send: transport.send,
    isConnected: transport.isConnected,
    onPhase: (event) => transport.dashboard.local.emit('phase', event),
    onReport: (report) => transport.dashboard.local.emit('round', report),
    // Rounds run the authenticated SecAgg protocol against this issuer (certified clients require it).
    enrollmentIssuer: issuer,
    ...(node ? { group: node.link, budgetLedger: () => node.replica.populationSpent?.ledger ?? null } : {}),
    unmasking,
  });
  onApplied = (report) => {
    metrics.modelVersion.set(store.modelVersion);
    transport.dashboard.local.emit('round', publicRoundRecord(report));
  };
  const alertSources: AlertSources = { config, store, gate, coordinator: getCoordinator, startedAt };
  // One evaluation serves a whole scrape (each alert gauge collects on its own) and the status
  // polls of the same second.
  let lastAlerts: { atMs: number; value: ReturnType<typeof evaluateAlerts> } | null = null;
  const alertsNow = () => {
    const now = Date.now();
    if (!lastAlerts || now - lastAlerts.atMs >= 1000) lastAlerts = { atMs: now, value: evaluateAlerts(alertSources, now) };
    return lastAlerts.value;
  };
  metrics.setAlertSource(alertsNow);
  await app.register(httpApi, {
    config,
    operators,
    store,
    verifier,
    metrics,
    logger,
    gate,
    planDesk,
    coordinator: getCoordinator,
    connectedClients: () => transport.connectedClients,
    disconnectClient: transport.disconnectClient,
    ...(node && fanout
      ? {
          revokedEverywhere: (clientId: string, operator: string) => {
            const cutOff = fanout;
            void node.records
              .revoke({ population: config.distributed.population, subject: clientId, reason: 'revoked by an operator', revokedBy: operator })
              .then(() => cutOff?.revoke(clientId))
              .catch((error: unknown) =>
                logger.error({ err: error }, 'revocation: not recorded for the other processes (PostgreSQL); they refuse the client once it is'),
              );
          },
        }
      : {}),
    ...(health ? { distributedStatus: () => health.status } : {}),
    ...(node ? { populationSpent: () => node.replica.populationSpent } : {}),
    ...(options.enrollmentHandler ? { enrollmentHandler: options.enrollmentHandler } : {}),
    alerts: () => alertsNow().checks.flatMap((check) => (check.alert ? [check.alert] : [])),
    startedAt,
    ...(staticDir !== undefined ? { staticDir } : {}),
  });
  await app.ready();
  const { port, url } = await listen(server, config.port, config.host);
  disconnectRevoked = (clientId) => transport.disconnectClient(clientId);
  coordinator.start();
  const running = coordinator;
  node?.startRoles({
    metrics,
    gate,
    plan: () => ({ plan: running.plan, revision: running.planRevision }),
    project: (live, samplingRate, population, round, ledger, sumClients) => running.projectRound(live, samplingRate, population, round, ledger, sumClients),
    poolCounts: () => ({ connected: transport.connectedClients, eligible: running.poolSize, busy: running.currentRound?.cohort ?? 0 }),
    onProgress: (event) => transport.dashboard.emit('task', event),
  });
  logger.info(
    { url, modelVersion: store.modelVersion, released: store.release.released, parameters: store.weights.length, dataDir: config.dataDir, maxHttpBufferSize },
    'aggregator listening',
  );
  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    config,
    server,
    store,
    coordinator,
    gate,
    audit,
    transport,
    issuer,
    adminToken,
    operators,
    maxHttpBufferSize,
    distributed: node,
    close() {
      closing ??= (async () => {
        feed?.stop();
        await getCoordinator().stop();
        await unmaskThreadStarted;
        await unmaskThread?.close();
        await health?.stop();
        await node?.close();
        // The engines close their clients and the HTTP server its idle connections; one still open
        // after a grace (a half-sent request, a WebSocket handshake caught mid-way, a peer that
        // never reads) is cut, so that a shutdown or restart always ends.
        const cut = setTimeout(() => {
          if (connections.size > 0) logger.warn({ connections: connections.size }, 'connections still open after the shutdown grace: closed');
          for (const socket of connections) socket.destroy();
        }, SHUTDOWN_GRACE_MS);
        await transport.close();
        await fanout?.close();
        await dashboardFanout?.close();
        clearTimeout(cut);
        logger.info('aggregator stopped');
      })();
      return closing;
    },
  };
}
