import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildModel, createServerOptimizer, getFlatWeights, MODEL_PRESETS, type ModelSpec } from '@murmur/fl-core';
import type { AggregatorConfig } from './config';
import { RoundCoordinator } from './coordinator';
import { writeFileAtomic } from './fs-atomic';
import { createHttpHandler } from './http';
import { createMetrics } from './metrics';
import { DataStore } from './store';
import { EnrollmentAuthority } from './tokens';
import { attachTransport, type Transport } from './transport';

export interface RunningAggregator {
  url: string;
  port: number;
  config: AggregatorConfig;
  server: Server;
  store: DataStore;
  coordinator: RoundCoordinator;
  transport: Transport;
  adminToken: string;
  /** Graceful: stop the round loop (an unfinished round is aborted, model untouched), close sockets, close HTTP. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Overrides config.staticDir (main passes the built web client). */
  staticDir?: string;
}

export function modelSpecOf(config: AggregatorConfig): ModelSpec {
  return typeof config.model === 'string' ? MODEL_PRESETS[config.model] : config.model;
}

/** The admin token: configured, or generated once into <dataDir>/admin-token (mode 0600). */
function adminTokenOf(config: AggregatorConfig, logger: Logger): string {
  if (config.adminToken) return config.adminToken;
  const path = join(config.dataDir, 'admin-token');
  if (!existsSync(path)) {
    writeFileAtomic(path, Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url'), 0o600);
    logger.info({ path }, 'generated an admin token');
  }
  return readFileSync(path, 'utf8').trim();
}

/**
 * Starts one aggregator: opens (or initializes) the data directory, then serves HTTP and
 * Socket.IO on one port and runs rounds continuously. Requires a tfjs backend to be set (the
 * initial model is built with tfjs on a fresh data directory).
 */
export async function startAggregator(config: AggregatorConfig, options: StartOptions): Promise<RunningAggregator> {
  const { logger } = options;
  const startedAt = Date.now();
  const store = DataStore.open(
    config.dataDir,
    () => {
      const spec = modelSpecOf(config);
      const model = buildModel(spec, { seed: config.seed });
      const weights = getFlatWeights(model);
      model.dispose();
      return { spec, weights, optimizer: createServerOptimizer(config.optimizer, weights.length) };
    },
    logger,
    config.limits.keepModels,
  );
  const authority = EnrollmentAuthority.open(config.dataDir);
  const adminToken = adminTokenOf(config, logger);
  const metrics = createMetrics();
  metrics.modelVersion.set(store.modelVersion);
  const server = createServer();
  let coordinator: RoundCoordinator | null = null;
  const getCoordinator = () => coordinator as RoundCoordinator;
  // The largest frame a round needs is a masked input: (d + metrics) words of 4 bytes.
  const maxHttpBufferSize = config.limits.maxHttpBufferSize ?? (store.weights.length + 64) * 4 + 1024 * 1024;
  const transport = attachTransport(server, { config, authority, metrics, logger, maxHttpBufferSize, coordinator: getCoordinator });
  coordinator = new RoundCoordinator({
    config,
    store,
    logger,
    metrics,
    send: transport.send,
    isConnected: transport.isConnected,
    onPhase: (event) => transport.dashboard.emit('phase', event),
    onReport: (report) => transport.dashboard.emit('round', report),
  });
  const handler = createHttpHandler({
    config,
    adminToken,
    store,
    authority,
    metrics,
    logger,
    coordinator: getCoordinator,
    connectedClients: () => transport.connectedClients,
    disconnectToken: transport.disconnectToken,
    startedAt,
    ...(options.staticDir ?? config.staticDir ? { staticDir: (options.staticDir ?? config.staticDir) as string } : {}),
  });
  // engine.io answers its own path (/socket.io/, long-polling included) but only shields the
  // request listeners attached before it: this one must leave that path alone or both answer.
  server.on('request', (req, res) => {
    if (!req.url?.startsWith('/socket.io/')) handler(req, res);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  coordinator.start();
  logger.info({ url, modelVersion: store.modelVersion, parameters: store.weights.length, dataDir: config.dataDir, maxHttpBufferSize }, 'aggregator listening');
  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    config,
    server,
    store,
    coordinator,
    transport,
    adminToken,
    close() {
      closing ??= (async () => {
        await getCoordinator().stop();
        await new Promise<void>((resolveClose) => {
          transport.io.close(() => resolveClose());
        });
        logger.info('aggregator stopped');
      })();
      return closing;
    },
  };
}
