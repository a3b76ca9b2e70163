import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFG_SPEC, decodeModelPayload, parameterCount } from '@murmur/fl-core/model';
import { CONTRIBUTION_METRICS, secAggMessageLimit } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { DEFAULT_TRAINING } from './config';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_PLAN_POLICY, testConfig, testLogger } from './test-helpers';

/**
 * The demo's default model end to end, once: a 1.27M-parameter CIFG (a 5 MB payload, masked inputs
 * of 1,266,074 words) through the model download, the frame limit and secure aggregation, with
 * the default training plan (targets 'every') cut to 8 windows per client so the round is short.
 */
let aggregator: RunningAggregator;
let pool: VirtualClientPool;
const data = tempDataDir();
const dimension = parameterCount(CIFG_SPEC);

beforeAll(async () => {
  await useNodeBackend('wasm');
  aggregator = await startWithEnrollment(
    testConfig(data.dir, { model: 'cifg', training: { ...DEFAULT_TRAINING, batchSize: 8, maxExamples: 8 }, round: { target: 3, minReports: 3 } }),
    { logger: testLogger() },
  );
  pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(aggregator.store.spec, 3), planPolicy: TEST_PLAN_POLICY });
  // A 1.27M-parameter model to build and hash, and three devices to enroll: beyond the default 10 s on a loaded machine.
}, 60_000);
afterAll(async () => {
  await pool.close();
  await aggregator.close();
  data.remove();
});

describe('the CIFG model through the aggregator', () => {
  it('serves the 5 MB payload and sizes the frame limit for its masked inputs', async () => {
    const response = await fetch(`${aggregator.url}/api/model/latest`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(bytes.byteLength).toBeGreaterThan(5_000_000);
    expect(Number(response.headers.get('content-length'))).toBe(bytes.byteLength);
    expect(decodeModelPayload(bytes)).toMatchObject({ version: 0, spec: CIFG_SPEC });
    // A masked input is (weights + metrics) 32-bit words; engine.io closes a connection whose frame is larger than the limit.
    const maskedBytes = (dimension + CONTRIBUTION_METRICS.length) * 4;
    expect(aggregator.maxHttpBufferSize).toBeGreaterThan(maskedBytes);
    expect(
      secAggMessageLimit({ clientCount: 3, vectorLength: dimension + CONTRIBUTION_METRICS.length, modulusBits: 32, graph: { kind: 'full' } }),
    ).toBeGreaterThan(maskedBytes);
  });

  it('refuses to start with a frame limit made for a smaller model', async () => {
    const other = tempDataDir();
    try {
      await expect(
        startWithEnrollment(testConfig(other.dir, { model: 'cifg', limits: { maxHttpBufferSize: 2_000_000 } }), { logger: testLogger() }),
      ).rejects.toThrow(/maxHttpBufferSize 2000000 is below a masked input of this model \(1,266,068 parameters: 5064300 bytes/);
    } finally {
      other.remove();
    }
  });

  it('commits a round with every masked input, trained at every position', async () => {
    const report = await eventually(() => aggregator.store.rounds.find((r) => r.status === 'committed'), 90_000, 'a committed round');
    expect(report.cohort).toMatchObject({ selected: 3, masked: 3, unmasked: 3 });
    // Weights and the metrics without `unclipped` (no adaptive clipping here).
    expect(report.secagg.vectorLength).toBe(dimension + CONTRIBUTION_METRICS.length - 1);
    expect(report.metrics?.examples).toBe(3 * 8);
    expect(report.bytes.received).toBeGreaterThan(3 * dimension * 4);
    const next = decodeModelPayload(new Uint8Array(await (await fetch(`${aggregator.url}/api/model/${report.modelVersion.to}`)).arrayBuffer()));
    expect(next.spec).toEqual(CIFG_SPEC);
    expect(next.weights).toHaveLength(dimension);
  });
});
