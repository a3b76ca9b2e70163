import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProtocolErrorCode } from '@murmur/fl-core';

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
