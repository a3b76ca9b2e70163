import { describe, expect, it } from 'vitest';
import { encodeModelPayload, verifyModelPayload } from '../model/payload';
import { modelHash } from '../model/weights';
import { parameterCount, type ModelSpec } from '../model/spec';
import { downloadPlanModel } from './model-download';

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 16, contextLength: 2, embeddingDim: 2, hiddenUnits: 3 };
const weights = Float32Array.from({ length: parameterCount(SPEC) }, (_, i) => Math.sin(i));
const hash = modelHash(SPEC, weights);
const promised = { version: 5, hash, url: '/api/model/5', spec: SPEC };

/** A fetch that answers every request with `body` (a real Response; no network). */
function serving(body: Uint8Array, init: ResponseInit = {}): { fetchImpl: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const fetchImpl = (async (input: string | URL | Request) => {
    urls.push(String(input));
    return new Response(body as Uint8Array<ArrayBuffer>, init);
  }) as typeof fetch;
  return { fetchImpl, urls };
}

describe('verifyModelPayload and downloadPlanModel', () => {
  it('returns the promised version, fetched from the plan URL on the aggregator origin', async () => {
    const { fetchImpl, urls } = serving(encodeModelPayload({ version: 5, spec: SPEC, weights }));
    const { weights: got, bytes } = await downloadPlanModel(promised, 'http://127.0.0.1:8080/app/', { fetchImpl });
    expect(got).toEqual(weights);
    expect(bytes).toBe(encodeModelPayload({ version: 5, spec: SPEC, weights }).byteLength);
    expect(urls).toEqual(['http://127.0.0.1:8080/api/model/5']);
  });

  it('refuses another version with the same weights (the hash alone does not cover the version)', async () => {
    const stale = encodeModelPayload({ version: 4, spec: SPEC, weights });
    expect(() => verifyModelPayload(stale, promised)).toThrow(/got version 4.*expected version 5/);
    await expect(downloadPlanModel(promised, 'http://127.0.0.1', serving(stale))).rejects.toThrow(/got version 4/);
  });

  it('refuses other weights, a tampered body, an HTTP error and an oversized body', async () => {
    const other = encodeModelPayload({ version: 5, spec: SPEC, weights: weights.map((w) => w + 1) });
    expect(() => verifyModelPayload(other, promised)).toThrow(/expected version 5, hash/);
    const tampered = encodeModelPayload({ version: 5, spec: SPEC, weights });
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 0x40;
    expect(() => verifyModelPayload(tampered, promised)).toThrow(/hash mismatch/);
    await expect(downloadPlanModel(promised, 'http://127.0.0.1', serving(new Uint8Array(0), { status: 404 }))).rejects.toThrow(/HTTP 404/);
    const good = encodeModelPayload({ version: 5, spec: SPEC, weights });
    const limit = good.byteLength - 1;
    expect(() => verifyModelPayload(good, promised, limit)).toThrow(new RegExp(`${good.byteLength} bytes is above the ${limit}-byte limit`));
    const declared = serving(good, { headers: { 'content-length': String(10 * 2 ** 30) } });
    await expect(downloadPlanModel(promised, 'http://127.0.0.1', declared)).rejects.toThrow(/10737418240 bytes is above/);
  });
});
