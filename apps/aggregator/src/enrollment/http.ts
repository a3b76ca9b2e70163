import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { issuerToText } from '@murmur/fl-core/identity';
import { ENROLLMENT_PATHS, enrollmentRequestSchema, revokeRequestSchema, type ProtocolErrorCode } from '@murmur/fl-core/protocol';
import { readJsonBody } from '../http-io';
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
const HEADERS = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
const STATUS: Partial<Record<ProtocolErrorCode, number>> = { MALFORMED: 400, TOO_LARGE: 413, BAD_PROOF: 403, RATE_LIMITED: 429, UNAUTHORIZED: 401 };

/**
 * The enrollment service's HTTP API (ENROLLMENT_PATHS; docs/aggregator.md "Enrollment service"),
 * standalone (enrollment/main.ts) or mounted beside an aggregator (enrollment/host.ts). Every
 * body is zod-validated and size-capped, every error is `{ code, message }`.
 */
export function createEnrollmentHandler(deps: EnrollmentHttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { service, logger } = deps;
  const rates = {
    perAddress: deps.enrollPerMinute,
    perNetwork: deps.enrollPerMinutePerNetwork ?? deps.enrollPerMinute,
    global: deps.enrollPerMinuteGlobal ?? 1_000_000_000,
  };
  const network = (address: string) => networkOf(address, deps.networkPrefixes);
  const challenges = new TieredRateLimiter(rates, network);
  const enrollments = new TieredRateLimiter(rates, network);
  const refusal = (what: string, tier: RateTier, address: string) => {
    const limit = tier === 'address' ? rates.perAddress : tier === 'network' ? rates.perNetwork : rates.global;
    const from = tier === 'address' ? 'this address' : tier === 'network' ? `this network (${network(address).slice(3)})` : 'all addresses together';
    return `more than ${limit} ${what} a minute from ${from}; retry later`;
  };
  const json = (res: ServerResponse, status: number, value: unknown) => {
    const body = JSON.stringify(value);
    res.writeHead(status, { ...HEADERS, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };
  const fail = (res: ServerResponse, code: ProtocolErrorCode, message: string, status = STATUS[code] ?? 400) => json(res, status, { code, message });

  const issues = (error: z.ZodError) => z.prettifyError(error).replace(/\n/g, '; ');

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const address = req.socket.remoteAddress ?? 'unknown';
    const method = req.method ?? 'GET';
    const expect = (wanted: 'GET' | 'POST') => {
      if (method === wanted || (wanted === 'GET' && method === 'HEAD')) return true;
      fail(res, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}; use ${wanted}`, 405);
      return false;
    };
    switch (path) {
      case ENROLLMENT_PATHS.issuer:
        if (expect('GET')) json(res, 200, issuerToText(service.issuer));
        return;
      case ENROLLMENT_PATHS.revoked:
        if (expect('GET')) json(res, 200, { issuer: service.issuer.name, revoked: service.revoked });
        return;
      case ENROLLMENT_PATHS.challenge: {
        if (!expect('POST')) return;
        const refused = challenges.take(address);
        if (refused) {
          logger.debug({ tier: refused }, 'enrollment challenge rate-limited');
          return fail(res, 'RATE_LIMITED', refusal('challenges', refused, address));
        }
        const issued = service.challenge();
        return issued.ok ? json(res, 201, issued.value) : fail(res, issued.error.code, issued.error.message);
      }
      case ENROLLMENT_PATHS.enroll: {
        if (!expect('POST')) return;
        const refused = enrollments.take(address);
        if (refused) {
          logger.debug({ tier: refused }, 'enrollment rate-limited');
          return fail(res, 'RATE_LIMITED', refusal('enrollments', refused, address));
        }
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return fail(res, body.code, `enroll: ${body.message}`);
        const request = enrollmentRequestSchema.safeParse(body.value);
        if (!request.success) return fail(res, 'MALFORMED', `enroll: expected { challenge, publicKey, signature }: ${issues(request.error)}`);
        const enrolled = await service.enroll(request.data);
        if (!enrolled.ok) {
          logger.debug({ address, code: enrolled.error.code }, 'enrollment refused');
          return fail(res, enrolled.error.code, enrolled.error.message);
        }
        logger.info({ clientId: enrolled.value.clientId.slice(0, 6) }, 'device enrolled');
        return json(res, 201, enrolled.value);
      }
      case ENROLLMENT_PATHS.revoke: {
        if (!expect('POST')) return;
        if (!bearerMatches(req.headers.authorization, deps.adminToken))
          return fail(res, 'UNAUTHORIZED', 'revoke needs Authorization: Bearer <the enrollment admin token>');
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return fail(res, body.code, `revoke: ${body.message}`);
        const request = revokeRequestSchema.safeParse(body.value);
        if (!request.success) return fail(res, 'MALFORMED', `revoke: expected { clientId } (22 base64url characters): ${issues(request.error)}`);
        service.revoke(request.data.clientId);
        logger.info({ clientId: request.data.clientId.slice(0, 6) }, 'certificate revoked');
        return json(res, 200, { revoked: request.data.clientId });
      }
      default:
        return fail(res, 'NOT_FOUND', `no enrollment endpoint ${path}`, 404);
    }
  };

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      logger.error({ err: error, url: req.url }, 'enrollment handler failed');
      if (!res.headersSent) fail(res, 'INTERNAL', 'internal error (logged)', 500);
      else res.destroy();
    });
  };
}
