import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { decodeModelPayload, parameterCount, TINY_SPEC } from '@murmur/fl-core';
import { useNodeBackend } from '@murmur/fl-core/node';
import { startAggregator, type RunningAggregator } from './server';

let aggregator: RunningAggregator;

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startAggregator({ port: 0, host: '127.0.0.1', seed: 3, model: 'tiny', logger: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await aggregator.close();
});

describe('aggregator HTTP', () => {
  it('answers health checks', async () => {
    const res = await fetch(`${aggregator.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves the global model as a verified binary payload with an ETag', async () => {
    const res = await fetch(`${aggregator.url}/api/model/latest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const model = decodeModelPayload(new Uint8Array(await res.arrayBuffer()));
    expect(model.spec).toEqual(TINY_SPEC);
    expect(model.weights.length).toBe(parameterCount(TINY_SPEC));
    expect(res.headers.get('etag')).toBe(`"${model.hash}"`);

    const revalidated = await fetch(`${aggregator.url}/api/model/latest`, { headers: { 'if-none-match': `"${model.hash}"` } });
    expect(revalidated.status).toBe(304);
    const pinned = await fetch(`${aggregator.url}/api/model/0`);
    expect(pinned.headers.get('cache-control')).toContain('immutable');
  });

  it('answers unknown endpoints and methods with typed errors', async () => {
    const missing = await fetch(`${aggregator.url}/api/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'NOT_FOUND' });
    const post = await fetch(`${aggregator.url}/api/model/latest`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(await post.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
  });
});
