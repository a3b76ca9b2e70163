import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildModel, encodeModelPayload, getFlatWeights, MODEL_PRESETS, modelHash, type ModelPresetName } from '@murmur/fl-core';

export interface AggregatorOptions {
  /** @default 8080 */
  port: number;
  /** @default '127.0.0.1' */
  host: string;
  /** Seeds the initial global model. @default 1 */
  seed: number;
  /** @default 'tiny' */
  model: ModelPresetName;
  /** Built web client to serve from the same origin; skipped when absent. */
  staticDir?: string;
  logger: Logger;
}

export interface RunningAggregator {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
};

/**
 * The aggregator's HTTP face: health, the global model (binary, ETag-cached) and the built web
 * client. Rounds over Socket.IO build on this.
 */
export async function startAggregator(options: AggregatorOptions): Promise<RunningAggregator> {
  const spec = MODEL_PRESETS[options.model];
  const model = buildModel(spec, { seed: options.seed });
  const weights = getFlatWeights(model);
  model.dispose();
  const version = 0;
  const payload = encodeModelPayload({ version, spec, weights });
  const etag = `"${modelHash(spec, weights)}"`;

  const send = (res: ServerResponse, status: number, body: string | Uint8Array, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, value: unknown) =>
    send(res, status, JSON.stringify(value), { 'content-type': 'application/json' });

  const serveStatic = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (!options.staticDir) return false;
    const root = resolve(options.staticDir);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root)) return false;
    const target = existsSync(file) ? file : join(root, 'index.html');
    if (!existsSync(target)) return false;
    send(res, 200, readFileSync(target), { 'content-type': CONTENT_TYPES[extname(target)] ?? 'application/octet-stream' });
    return true;
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${path}` });
      return;
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
    } else if (path === '/api/model/latest' || path === `/api/model/${version}`) {
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      send(res, 200, payload, {
        'content-type': 'application/octet-stream',
        etag,
        'x-model-version': String(version),
        // A numbered version never changes; "latest" must be revalidated.
        'cache-control': path === '/api/model/latest' ? 'no-cache' : 'public, max-age=31536000, immutable',
      });
    } else if (path.startsWith('/api/')) {
      sendJson(res, 404, { code: 'NOT_FOUND', message: `no such endpoint: ${path}` });
    } else if (!serveStatic(req, res, path)) {
      sendJson(res, 404, { code: 'NOT_FOUND', message: `nothing at ${path}` });
    }
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolveListen);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host}:${port}`;
  options.logger.info({ url, model: options.model, parameters: weights.length, version }, 'aggregator listening');
  return {
    url,
    server,
    close: () => new Promise((resolveClose) => server.close(() => resolveClose())),
  };
}
