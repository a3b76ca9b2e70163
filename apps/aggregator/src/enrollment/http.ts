import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ENROLLMENT_PATHS, enrollmentRequestSchema, issuerToText, revokeRequestSchema, type ProtocolErrorCode } from '@murmur/fl-core';
import { readJsonBody } from '../http-io';
import { KeyedRateLimiter } from '../rate-limit';
import { bearerMatches } from '../tokens';
import type { EnrollmentService } from './service';

export interface EnrollmentHttpDeps {
  service: EnrollmentService;
  /** Enrollments per IP per minute; challenges are limited at the same rate, counted apart. */
  enrollPerMinute: number;
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
  const challenges = new KeyedRateLimiter(deps.enrollPerMinute / 60, deps.enrollPerMinute);
  const enrollments = new KeyedRateLimiter(deps.enrollPerMinute / 60, deps.enrollPerMinute);
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
        if (!challenges.take(address)) return fail(res, 'RATE_LIMITED', `more than ${deps.enrollPerMinute} challenges a minute from this address; retry later`);
        const issued = service.challenge();
        return issued.ok ? json(res, 201, issued.value) : fail(res, issued.error.code, issued.error.message);
      }
      case ENROLLMENT_PATHS.enroll: {
        if (!expect('POST')) return;
        if (!enrollments.take(address))
          return fail(res, 'RATE_LIMITED', `more than ${deps.enrollPerMinute} enrollments a minute from this address; retry later`);
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
