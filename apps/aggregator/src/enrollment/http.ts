import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { issuerToText } from '@murmur/fl-core/identity';
import { ENROLLMENT_PATHS, enrollmentRequestSchema, revokeRequestSchema, type ProtocolErrorCode } from '@murmur/fl-core/protocol';
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
} from '../http-io';
import { networkOf, type NetworkPrefixes } from '../network';
import { TieredRateLimiter, type RateTier } from '../rate-limit';
import { bearerMatches } from '../tokens';
import type { EnrollmentService } from './service';

export interface EnrollmentHttpDeps {
  service: EnrollmentService;
  /** Enrollments per IP per minute; challenges are limited at the same rates, counted apart. */
  enrollPerMinute: number;
  /** Enrollments per network (network.ts: an IPv4 /24, an IPv6 /56) per minute. @default enrollPerMinute */
  enrollPerMinutePerNetwork?: number;
  /** Enrollments per minute from all addresses together. @default unlimited (1e9) */
  enrollPerMinuteGlobal?: number;
  /** What one network is. @default DEFAULT_NETWORK_PREFIXES (/24, /56) */
  networkPrefixes?: NetworkPrefixes;
  /** Bearer token of POST /api/enrollment/revoke. */
  adminToken: string;
  logger: Logger;
}

/** Requests are a few hundred bytes of JSON. */
const MAX_BODY_BYTES = 4096;
/** Headers every answer carries (json() adds the content type and no-store): API answers are data, never documents. */
const HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
const STATUS: Partial<Record<ProtocolErrorCode, number>> = { MALFORMED: 400, TOO_LARGE: 413, BAD_PROOF: 403, RATE_LIMITED: 429, UNAUTHORIZED: 401 };
/** The one method each path answers (GET also answers HEAD). */
const METHOD_OF = new Map<string, 'GET' | 'POST'>([
  [ENROLLMENT_PATHS.issuer, 'GET'],
  [ENROLLMENT_PATHS.revoked, 'GET'],
  [ENROLLMENT_PATHS.challenge, 'POST'],
  [ENROLLMENT_PATHS.enroll, 'POST'],
  [ENROLLMENT_PATHS.revoke, 'POST'],
]);

/** A refusal the service decided, with its code's status. */
const refuse = (reply: FastifyReply, code: ProtocolErrorCode, message: string): FastifyReply => fail(reply, STATUS[code] ?? 400, code, message);

/** A request no route took: `405` on an enrollment path with another method, `404` otherwise. Its body is never read. */
function refuseUnrouted(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = rawPathOf(request);
  const wanted = METHOD_OF.get(path);
  if (wanted === undefined) return fail(reply, 404, 'NOT_FOUND', `no enrollment endpoint ${path}`);
  return fail(reply, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${wanted}`);
}

/**
 * The enrollment service's HTTP API (ENROLLMENT_PATHS; docs/aggregator.md "Enrollment service"),
 * standalone (enrollment/main.ts) or mounted beside an aggregator (enrollment/host.ts), on the same
 * Fastify setup as the aggregator's API (http-io.ts). Every body is zod-validated and capped at
 * 4 KiB (413 past it), every error is `{ code, message }`. Rate limits and the admin token are
 * checked before a body is read; challenges and unknown paths never read one. Call `ready()` before
 * serving.
 */
export function createEnrollmentApp(deps: EnrollmentHttpDeps): ZodApp {
  const { service, logger } = deps;
  const rates = {
    perAddress: deps.enrollPerMinute,
    perNetwork: deps.enrollPerMinutePerNetwork ?? deps.enrollPerMinute,
    global: deps.enrollPerMinuteGlobal ?? 1_000_000_000,
  };
  const network = (address: string) => networkOf(address, deps.networkPrefixes);
  const refusal = (what: string, tier: RateTier, address: string) => {
    const limit = tier === 'address' ? rates.perAddress : tier === 'network' ? rates.perNetwork : rates.global;
    const from = tier === 'address' ? 'this address' : tier === 'network' ? `this network (${network(address).slice(3)})` : 'all addresses together';
    return `more than ${limit} ${what} a minute from ${from}; retry later`;
  };
  /** An onRequest hook: one more `what` from the request's address, or 429 before its body is read. */
  const rateLimited = (what: 'challenges' | 'enrollments', logMessage: string) => {
    const limiter = new TieredRateLimiter(rates, network);
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const address = request.raw.socket.remoteAddress ?? 'unknown';
      const refused = limiter.take(address);
      if (refused) {
        logger.debug({ tier: refused }, logMessage);
        return refuse(reply, 'RATE_LIMITED', refusal(what, refused, address));
      }
    };
  };

  const app = createZodApp(logger, {
    bodyLimit: MAX_BODY_BYTES,
    // A path the router cannot decode is no enrollment endpoint.
    frameworkErrors: (_error, request, reply) => {
      reply.headers(HEADERS);
      refuseUnrouted(request, reply);
    },
  });
  app.setErrorHandler(jsonErrorHandler(logger, { bodyLimit: MAX_BODY_BYTES, tooLargeStatus: 413, failure: 'enrollment handler failed' }));
  app.setNotFoundHandler(refuseUnrouted);
  // Bodies are read only where a route reads them (the scope below).
  leaveBodiesUnread(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(HEADERS);
    if (request.is404) return refuseUnrouted(request, reply);
  });

  app.get(ENROLLMENT_PATHS.issuer, (_request, reply) => json(reply, 200, issuerToText(service.issuer)));
  app.get(ENROLLMENT_PATHS.revoked, (_request, reply) => json(reply, 200, { issuer: service.issuer.name, revoked: service.revoked }));
  app.post(ENROLLMENT_PATHS.challenge, { onRequest: rateLimited('challenges', 'enrollment challenge rate-limited') }, (_request, reply) => {
    const issued = service.challenge();
    return issued.ok ? json(reply, 201, issued.value) : refuse(reply, issued.error.code, issued.error.message);
  });

  void app.register(async (scope) => {
    const withBodies = scope.withTypeProvider<ZodTypeProvider>();
    withBodies.setValidatorCompiler(zodValidatorCompiler);
    readBodiesAsJson(withBodies);

    const enrollOptions = { onRequest: rateLimited('enrollments', 'enrollment rate-limited'), schema: { body: enrollmentRequestSchema } };
    withBodies.post(ENROLLMENT_PATHS.enroll, enrollOptions, async (request, reply) => {
      const enrolled = await service.enroll(request.body);
      if (!enrolled.ok) {
        logger.debug({ address: request.raw.socket.remoteAddress, code: enrolled.error.code }, 'enrollment refused');
        return refuse(reply, enrolled.error.code, enrolled.error.message);
      }
      logger.info({ clientId: enrolled.value.clientId.slice(0, 6) }, 'device enrolled');
      return json(reply, 201, enrolled.value);
    });

    const adminOnly = async (request: FastifyRequest, reply: FastifyReply) => {
      if (!bearerMatches(request.headers.authorization, deps.adminToken))
        return refuse(reply, 'UNAUTHORIZED', 'revoke needs Authorization: Bearer <the enrollment admin token>');
    };
    withBodies.post(ENROLLMENT_PATHS.revoke, { onRequest: adminOnly, schema: { body: revokeRequestSchema } }, (request, reply) => {
      const { clientId } = request.body;
      service.revoke(clientId);
      logger.info({ clientId: clientId.slice(0, 6) }, 'certificate revoked');
      return json(reply, 200, { revoked: clientId });
    });
  });
  return app;
}
