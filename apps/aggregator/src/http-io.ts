import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifySchemaCompiler, FastifyTypeProvider } from 'fastify';
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
 * string as text/plain, curl -d as form data); an empty body reads as `{}`. Fastify's bodyLimit
 * bounds the bytes read before parsing.
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
}

export type JsonBody = { ok: true; value: unknown } | { ok: false; code: ProtocolErrorCode; message: string };

/** A request's JSON body, refused as soon as it passes `maxBytes` (an empty body reads as `{}`). */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<JsonBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return { ok: false, code: 'TOO_LARGE', message: `request body over ${maxBytes} bytes` };
    chunks.push(chunk);
  }
  if (size === 0) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false, code: 'MALFORMED', message: 'request body is not JSON' };
  }
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
