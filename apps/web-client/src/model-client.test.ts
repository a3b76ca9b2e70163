import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModelPayload, modelHash, parameterCount, TINY_SPEC } from '@murmur/fl-core';
import { fetchGlobalModel, ModelFetchError } from './model-client';

const weights = Float32Array.from({ length: parameterCount(TINY_SPEC) }, (_, i) => Math.cos(i) / 10);
const good = encodeModelPayload({ version: 4, spec: TINY_SPEC, weights });
const corrupt = good.slice();
corrupt[corrupt.length - 5] = (corrupt[corrupt.length - 5] as number) ^ 0xff;

let server: Server;
let base: string;
let served: Uint8Array | null = good;

beforeAll(async () => {
  server = createServer((_req, res) => {
    if (!served) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(served);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('fetchGlobalModel', () => {
  it('downloads and verifies the model over HTTP', async () => {
    served = good;
    const model = await fetchGlobalModel(base);
    expect(model.version).toBe(4);
    expect(model.parameters).toBe(parameterCount(TINY_SPEC));
    expect(model.hash).toBe(modelHash(TINY_SPEC, weights));
    expect(model.weights[123]).toBe(weights[123]);
  });

  it('refuses a payload whose weights do not match its hash', async () => {
    served = corrupt;
    await expect(fetchGlobalModel(base)).rejects.toMatchObject({ code: 'BAD_MODEL_PAYLOAD' });
  });

  it('reports HTTP failures with the status', async () => {
    served = null;
    const error = await fetchGlobalModel(base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as ModelFetchError).message).toMatch(/503/);
  });
});
