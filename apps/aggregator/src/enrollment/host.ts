import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startAggregator, type RunningAggregator, type StartOptions } from '../aggregator';
import type { AggregatorConfig } from '../config';
import { writeFileAtomic } from '../fs-atomic';
import { listen, type ZodApp } from '../http-io';
import { staticDirProblem } from '../http';
import { certificateValidityMs, enrollmentConfigSchema, type EnrollmentConfig, type EnrollmentConfigInput } from './config';
import { createEnrollmentApp } from './http';
import { EnrollmentService } from './service';

/** An enrollment service ready to serve: the service, its HTTP app and that app as a Node handler, its admin token. */
export interface OpenEnrollment {
  service: EnrollmentService;
  app: ZodApp;
  /** The app's router for a request another server received (the aggregator's /api/enrollment/*). */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Bearer token of POST /api/enrollment/revoke. */
  adminToken: string;
}

export async function openEnrollment(config: EnrollmentConfig, logger: Logger): Promise<OpenEnrollment> {
  const service = await EnrollmentService.open({
    dataDir: config.dataDir,
    issuerName: config.issuerName,
    certificateValidityMs: certificateValidityMs(config),
    challengeTtlMs: config.challengeTtlMs,
    maxPendingChallenges: config.maxPendingChallenges,
    proofOfWorkBits: config.proofOfWorkBits,
  });
  let adminToken = config.adminToken;
  if (adminToken === undefined) {
    const path = join(config.dataDir, 'admin-token');
    if (!existsSync(path)) {
      writeFileAtomic(path, Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url'), 0o600);
      logger.info({ path }, 'generated an enrollment admin token');
    }
    adminToken = readFileSync(path, 'utf8').trim();
  }
  const app = createEnrollmentApp({
    service,
    enrollPerMinute: config.enrollPerMinute,
    enrollPerMinutePerNetwork: config.enrollPerMinutePerNetwork,
    enrollPerMinuteGlobal: config.enrollPerMinuteGlobal,
    networkPrefixes: { ipv4PrefixBits: config.ipv4PrefixBits, ipv6PrefixBits: config.ipv6PrefixBits },
    adminToken,
    logger,
  });
  await app.ready();
  return { service, app, handler: (req, res) => app.routing(req, res), adminToken };
}

export interface RunningEnrollment extends OpenEnrollment {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The enrollment service on its own HTTP server (`npm run enrollment`). */
export async function startEnrollmentServer(config: EnrollmentConfig, logger: Logger): Promise<RunningEnrollment> {
  const opened = await openEnrollment(config, logger);
  const server = opened.app.server;
  const { port, url } = await listen(server, config.port, config.host);
  logger.info({ url, issuer: opened.service.issuer.name, dataDir: config.dataDir }, 'enrollment service listening');
  return {
    ...opened,
    url,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

export type HostedAggregator = RunningAggregator & { enrollment: OpenEnrollment };

/**
 * The demo arrangement (`npm start` without --enrollment-issuer, the tests): an enrollment service
 * in the same process as the aggregator, its state in <dataDir>/enrollment, its paths served from
 * the aggregator's origin. The aggregator receives the issuer's public half, the HTTP handler and
 * a revocation predicate: nothing from which a certificate could be signed. The separation is of
 * roles and keys, not of machines: whoever runs this process holds both; production deployments
 * run `npm run enrollment` elsewhere and give the aggregator --enrollment-issuer.
 */
export async function startWithEnrollment(config: AggregatorConfig, options: StartOptions, enrollment: EnrollmentConfigInput = {}): Promise<HostedAggregator> {
  // startAggregator's own check, made before the service writes its key under the data directory.
  const staticDir = options.staticDir ?? config.staticDir;
  const problem = staticDir === undefined ? null : staticDirProblem(staticDir, config.dataDir);
  if (problem) throw new Error(`refusing to start: ${problem}`);
  const enrollmentConfig = enrollmentConfigSchema.parse({
    dataDir: join(config.dataDir, 'enrollment'),
    enrollPerMinute: config.limits.enrollPerMinute,
    enrollPerMinutePerNetwork: config.limits.enrollPerMinutePerNetwork,
    enrollPerMinuteGlobal: config.limits.enrollPerMinuteGlobal,
    proofOfWorkBits: config.limits.enrollProofOfWorkBits,
    ipv4PrefixBits: config.limits.ipv4PrefixBits,
    ipv6PrefixBits: config.limits.ipv6PrefixBits,
    logLevel: config.logLevel,
    ...enrollment,
  });
  const opened = await openEnrollment(enrollmentConfig, options.logger.child({ component: 'enrollment' }));
  const aggregator = await startAggregator(config, {
    ...options,
    issuer: opened.service.issuer,
    enrollmentHandler: opened.handler,
    revokedElsewhere: (clientId) => opened.service.isRevoked(clientId),
  });
  return Object.assign(aggregator, { enrollment: opened });
}
