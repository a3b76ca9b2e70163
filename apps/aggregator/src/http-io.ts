import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
  type FastifyTypeProvider,
} from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ProtocolErrorCode } from '@murmur/fl-core/protocol';

/** A request refused on purpose: the HTTP status and the `{ code, message }` body it is answered with. */
export class HttpRefusal extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HttpRefusal';
  }
}

/** Route schemas are zod schemas: a handler sees each validated part typed as its schema's output. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  readonly validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown;
}

/** A Fastify app whose routes validate with zod schemas (zodValidatorCompiler). */
export type ZodApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

export interface ZodAppOptions {
  /** Bytes of a request body read at most (Fastify's bodyLimit). */
  bodyLimit: number;
  /** Answers what the router refuses before any route or hook runs (an undecodable path, a parameter too long). */
  frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void;
}

/**
 * A Fastify app with the settings every HTTP server here shares (the aggregator's API, the
 * enrollment service), no routes or validator yet: the caller sets zodValidatorCompiler where its
 * routes validate.
 */
export function createZodApp(logger: Logger, options: ZodAppOptions): ZodApp {
  return Fastify<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: logger,
    // Handlers log what matters themselves; a line per request would drown it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    // Node's own defaults, which Fastify replaces with a 72 s keep-alive and no request timeout.
    keepAliveTimeout: 5_000,
    requestTimeout: 300_000,
    frameworkErrors: options.frameworkErrors,
  }).withTypeProvider<ZodTypeProvider>();
}

/** The raw path of a request (before the query), as the client sent it: nothing decoded or resolved. */
export const rawPathOf = (request: FastifyRequest): string => request.url.split('?', 1)[0] as string;

/**
 * A JSON answer. Sent as bytes: given a string, Fastify appends `; charset=utf-8` to a JSON content
 * type, and JSON is UTF-8 by definition (RFC 8259 §8.1), so the header stays `application/json`.
 */
export function json(reply: FastifyReply, status: number, value: unknown): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'application/json')
    .header('cache-control', 'no-store')
    .send(Buffer.from(JSON.stringify(value)));
}

/** Every error answer: `{ code, message }`. */
export const fail = (reply: FastifyReply, status: number, code: ProtocolErrorCode, message: string): FastifyReply => json(reply, status, { code, message });

/** How a refusal names the part of the request that failed its schema. */
const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'headers' };

/**
 * Fastify's validatorCompiler for zod schemas: a part that fails its schema is refused `400`,
 * `OUT_OF_BOUNDS` when every issue is a value outside its range, `MALFORMED` otherwise. The message
 * says where (method, route, part), what was expected (the schema's `.describe()`) and what zod
 * found; the handler receives the schema's output (defaults filled in, strings converted).
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, method, url, httpPart }) =>
  (data: unknown) => {
    const parsed = schema.safeParse(data);
    if (parsed.success) return { value: parsed.data };
    const outOfBounds = parsed.error.issues.every((issue) => issue.code === 'too_small' || issue.code === 'too_big');
    const where = `${method} ${url} ${PART_NAMES[httpPart ?? ''] ?? httpPart}`;
    const expected = schema.description === undefined ? '' : `: expected ${schema.description}`;
    const found = z.prettifyError(parsed.error).replace(/\n/g, '; ');
    return { error: new HttpRefusal(400, outOfBounds ? 'OUT_OF_BOUNDS' : 'MALFORMED', `${where}${expected}: ${found}`) };
  };

/**
 * Reads every request body in `app` as JSON, whatever content type it is sent with (fetch sends a
 * string as text/plain, curl -d as form data); an empty or absent body reads as `{}`. Fastify's
 * bodyLimit bounds the bytes read before parsing.
 */
export function readBodiesAsJson(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    if (body.length === 0) return done(null, {});
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch {
      done(new HttpRefusal(400, 'MALFORMED', 'request body is not JSON'), undefined);
    }
  });
  // A POST without a body (no Content-Type, Content-Length 0) reaches no parser.
  app.addHook('preValidation', async (request) => {
    request.body ??= {};
  });
}

/**
 * Leaves every request body in `app` unread, whatever its size: for routes that take no body, or
 * that hand the raw request on to a handler that reads and bounds its own.
 */
export function leaveBodiesUnread(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
}

/**
 * The error handler of a JSON API: a refusal (HttpRefusal, a failed schema) answered as it says; a
 * body over the limit `TOO_LARGE` with `tooLargeStatus`, refused before a byte past the limit is
 * read (on a Content-Length over it, or as the stream passes it); any other client error `400
 * MALFORMED`; anything else logged as `failure` and answered `500 INTERNAL`.
 */
export function jsonErrorHandler(
  logger: Logger,
  options: { bodyLimit: number; tooLargeStatus: number; failure: string },
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined {
  return (error, request, reply) => {
    if (error instanceof HttpRefusal) return fail(reply, error.statusCode, error.code, error.message);
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fail(reply, options.tooLargeStatus, 'TOO_LARGE', `request body over ${options.bodyLimit} bytes`);
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return fail(reply, 400, 'MALFORMED', error.message);
    logger.error({ err: error, url: request.url }, options.failure);
    // A stream that failed after its head went out: all the client can be told is a cut.
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return undefined;
    }
    return fail(reply, 500, 'INTERNAL', 'internal error (logged)');
  };
}

/** Listens on host:port (0 picks a free port); the URL writes an IPv6 host in brackets. */
export async function listen(server: Server, port: number, host: string): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return { port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}
