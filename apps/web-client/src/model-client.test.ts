import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFG_SPEC, decodeModelPayload, encodeModelPayload, modelHash, parameterCount, TINY_SPEC } from '@murmur/fl-core/model';
import { fetchModelPayload, ModelFetchError, SUGGESTION_MODEL_PATH } from './model-client';
import { MAX_MODEL_BYTES } from './storage/schema';

const weights = Float32Array.from({ length: parameterCount(TINY_SPEC) }, (_, i) => Math.cos(i) / 10);
const good = encodeModelPayload({ version: 4, spec: TINY_SPEC, weights });
const hash = modelHash(TINY_SPEC, weights);
/** The CIFG model's payload: 1,266,068 float32 weights, about 5 MB. */
const cifgWeights = Float32Array.from({ length: parameterCount(CIFG_SPEC) }, (_, i) => Math.sin(i) / 10);
const cifg = encodeModelPayload({ version: 1, spec: CIFG_SPEC, weights: cifgWeights });

let server: Server;
let base: string;
let status = 200;
const seenIfNoneMatch: (string | undefined)[] = [];
const seenPaths: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seenIfNoneMatch.push(req.headers['if-none-match']);
    seenPaths.push(req.url);
    if (status !== 200) {
      res.writeHead(status).end();
      return;
    }
    if (req.url === '/api/model/cifg') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(cifg.byteLength) }).end(cifg);
      return;
    }
    if (req.headers['if-none-match'] === `"${hash}"`) {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', etag: `"${hash}"` }).end(good);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('fetchModelPayload', () => {
  it('downloads the released model’s payload bytes and the ETag', async () => {
    status = 200;
    const result = await fetchModelPayload(base);
    // Suggestions come from the released version, never from the newest (ungated) candidate.
    expect(seenPaths.at(-1)).toBe('/api/model/released');
    expect(SUGGESTION_MODEL_PATH).toBe('/api/model/released');
    expect(result.status).toBe('ok');
    if (result.status !== 'ok') return;
    expect(result.etag).toBe(hash);
    expect(Array.from(result.bytes)).toEqual(Array.from(good));
  });

  it('downloads a CIFG-sized payload (5 MB) whole, under the size cap', async () => {
    status = 200;
    expect(cifg.byteLength).toBeGreaterThan(5_000_000);
    expect(cifg.byteLength).toBeLessThan(MAX_MODEL_BYTES);
    const result = await fetchModelPayload(base, { path: '/api/model/cifg' });
    if (result.status !== 'ok') throw new Error(`expected the payload, got ${result.status}`);
    expect(result.bytes.byteLength).toBe(cifg.byteLength);
    expect(decodeModelPayload(result.bytes)).toMatchObject({ version: 1, spec: CIFG_SPEC, hash: modelHash(CIFG_SPEC, cifgWeights) });
  });

  it('revalidates with If-None-Match and reports an unchanged model', async () => {
    status = 200;
    expect(await fetchModelPayload(base, { etag: hash })).toEqual({ status: 'not-modified' });
    expect(seenIfNoneMatch.at(-1)).toBe(`"${hash}"`);
  });

  it('reports HTTP failures with the status, and network failures as such', async () => {
    status = 503;
    const error = await fetchModelPayload(base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFetchError);
    expect(error).toMatchObject({ code: 'HTTP_ERROR', message: expect.stringMatching(/503/) });
    await expect(fetchModelPayload('http://127.0.0.1:1')).rejects.toMatchObject({ code: 'NETWORK_ERROR' });
  });
});
