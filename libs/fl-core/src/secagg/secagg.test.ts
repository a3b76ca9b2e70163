import { describe, expect, it } from 'vitest';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { createMetricsLayout, decodeSumWithMetrics, encodeWithMetrics, encodingParams, quantizationBound } from '../encode/index';
import { runSecAggRound, type SecAggDropouts } from './driver';
import { hararyNeighbours } from './graph';
import { secAggPlusParameters } from './params';
import { heldShareKinds } from './server';

/** Deterministic bytes so failures reproduce; production always uses secureRandomBytes. */
function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

function makeInputs(n: number, d: number, modulusBits: number, seed: number): Uint32Array[] {
  const random = createSeededRandom(seed);
  return Array.from({ length: n }, () => Uint32Array.from({ length: d }, () => Math.floor(random.nextFloat() * 2 ** modulusBits)));
}

function plainSum(inputs: readonly Uint32Array[], who: readonly number[], modulusBits: number): Uint32Array {
  const sum = new Uint32Array(inputs[0]?.length ?? 0);
  for (const id of who) {
    const x = inputs[id] as Uint32Array;
    for (let i = 0; i < sum.length; i++) sum[i] = ((sum[i] as number) + (x[i] as number)) % 2 ** modulusBits;
  }
  return sum;
}

type Stage = keyof SecAggDropouts;
const STAGES: Stage[] = ['beforeShareKeys', 'beforeMaskedInput', 'afterMaskedInput'];

interface Scenario {
  n: number;
  graph: 'full' | 'secagg+';
  /** Fraction of the cohort dropping at `stage`; with 'everyStage', that fraction drops at each of the three. */
  rate: number;
  stage: Stage | 'everyStage' | null;
}

const SIZES = [
  { n: 3, d: 64, modulusBits: 20 },
  { n: 10, d: 64, modulusBits: 16 },
  { n: 100, d: 16, modulusBits: 32 },
];

/**
 * n = 100 rounds cost ~n² X25519 agreements and AES-GCM messages (5–8 s each on 2 cores), so the
 * default suite runs every stage × {10%, 30%} for n ∈ {3, 10} and, for n = 100, no dropouts and a
 * round where 10% drop at each of the three stages (30% in all). SECAGG_FULL_MATRIX=1 runs the
 * per-stage 10%/30% matrix at n = 100 too (~90 s).
 */
const FULL_MATRIX = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['SECAGG_FULL_MATRIX'] === '1';

function scenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const { n } of SIZES) {
    for (const graph of ['full', 'secagg+'] as const) {
      list.push({ n, graph, rate: 0, stage: null });
      if (n === 100) list.push({ n, graph, rate: 0.1, stage: 'everyStage' });
      if (n < 100 || FULL_MATRIX) for (const stage of STAGES) for (const rate of [0.1, 0.3]) list.push({ n, graph, rate, stage });
    }
  }
  return list;
}

describe('runSecAggRound: exact sums with dropouts at every stage', () => {
  it.each(scenarios().map((s) => [`n=${s.n} ${s.graph} ${s.rate * 100}% ${s.stage ?? 'no dropout'}`, s] as const))('%s', async (_, scenario) => {
    const { n, graph, rate, stage } = scenario;
    const { d, modulusBits } = SIZES.find((size) => size.n === n) as (typeof SIZES)[number];
    const inputs = makeInputs(n, d, modulusBits, n * 7 + Math.round(rate * 100));
    const perStage = rate === 0 ? 0 : Math.max(1, Math.round(rate * n));
    const stages = stage === 'everyStage' ? STAGES : stage ? [stage] : [];
    const chosen = createSeededRandom(n + Math.round(rate * 100)).sampleIndices(n, perStage * stages.length);
    const dropouts: SecAggDropouts = {};
    stages.forEach((s, i) => (dropouts[s] = chosen.slice(i * perStage, (i + 1) * perStage)));
    const totalRate = (perStage * stages.length) / n;
    // SecAgg+ degree and threshold from the parameter rule (with test-sized σ = η = 10 bits, since
    // n ≤ 100 is far below where SecAgg+ pays off); the full graph uses t = ⌊n/2⌋ + 1.
    const plus = graph === 'secagg+' ? secAggPlusParameters({ clientCount: n, dropoutRate: totalRate, correctnessBits: 10, privacyBits: 10 }) : null;
    const threshold = plus ? plus.threshold : Math.floor(n / 2) + 1;
    const result = await runSecAggRound({
      inputs,
      threshold,
      modulusBits,
      graph: plus && !plus.full ? { neighbours: plus.degree, seed: new Uint8Array(32).fill(n) } : 'full',
      dropouts,
      randomBytes: testBytes(n * 1000 + chosen.length),
    });
    expect(result.abort).toBeNull();
    expect(result.clientAborts).toEqual([]);
    expect(result.status).toBe('done');
    // Clients silent after sending their masked input are in the sum; earlier ones are not.
    const absent = new Set([...(dropouts.beforeShareKeys ?? []), ...(dropouts.beforeMaskedInput ?? [])]);
    expect(result.survivors).toEqual([...Array(n).keys()].filter((id) => !absent.has(id)));
    expect(result.sum).toEqual(plainSum(inputs, result.survivors, modulusBits));
    // Dropped before ShareKeys: nobody masked with them. Dropped before their masked input: their
    // pairwise masks were removed with their reconstructed s keys.
    expect(result.dropped).toEqual([...(dropouts.beforeMaskedInput ?? [])].sort((a, b) => a - b));
    const kinds = heldShareKinds(result.server);
    expect(kinds.selfMaskOf).toEqual(result.survivors);
    expect(kinds.maskingKeyOf).toEqual(result.dropped);
  });
});

describe('runSecAggRound: aborts below threshold, revealing nothing', () => {
  const n = 10;
  const threshold = 6;
  const inputs = makeInputs(n, 8, 32, 1);
  it.each([
    ['AdvertiseKeys', { beforeAdvertiseKeys: [0, 1, 2, 3, 4] }],
    ['ShareKeys', { beforeShareKeys: [0, 1, 2, 3, 4] }],
    ['MaskedInputCollection', { beforeMaskedInput: [5, 6, 7, 8, 9] }],
    ['Unmasking', { afterMaskedInput: [1, 3, 5, 7, 9] }],
  ] as const)('at %s', async (stageName, dropouts) => {
    const result = await runSecAggRound({ inputs, threshold, dropouts, randomBytes: testBytes(2) });
    expect(result.status).toBe('aborted');
    expect(result.sum).toBeNull();
    expect(result.abort?.code).toBe('BELOW_THRESHOLD');
    expect(result.abort?.message).toMatch(new RegExp(`^${stageName}: 5 `));
    // Nothing to unmask with: no running sum and no shares are kept after an abort.
    expect(result.server.accumulator).toBeNull();
    expect(result.server.unmaskResponses).toEqual([]);
    // Every client still in the round was told, and holds nothing it could be asked to reveal.
    for (const client of result.clients) if (client) expect(['aborted', 'done']).toContain(client.stage);
  });

  it('in SecAgg+ when a dropped client keeps fewer than t live holders, before any share is revealed', async () => {
    const seed = new Uint8Array(32).fill(3);
    const n2 = 12;
    const inputs2 = makeInputs(n2, 4, 32, 2);
    // Degree 4, t = 3: drop client 0 and three of its four neighbours after ShareKeys.
    const neighbours = hararyNeighbours(n2, 4, seed)[0] as number[];
    const result = await runSecAggRound({
      inputs: inputs2,
      threshold: 3,
      graph: { neighbours: 4, seed },
      dropouts: { beforeMaskedInput: [0, ...neighbours.slice(0, 3)] },
      randomBytes: testBytes(3),
    });
    expect(result.status).toBe('aborted');
    expect(result.abort?.message).toMatch(/surviving holders, need threshold 3/);
    expect(heldShareKinds(result.server)).toEqual({ selfMaskOf: [], maskingKeyOf: [] });
  });
});

describe('end to end: floats → encode → SecAgg → decode', () => {
  it('recovers the survivors’ float sum and exact metrics within the stated bound', async () => {
    const n = 8;
    const d = 200;
    const model = encodingParams({ clipRange: 0.05, maxClients: n });
    const layout = createMetricsLayout({ exampleCount: { clipRange: 10_000, scale: 1 }, clipped: { clipRange: 1, scale: 1 } }, { maxClients: n });
    const random = createSeededRandom(42);
    const updates = Array.from({ length: n }, () => Float32Array.from({ length: d }, () => (random.nextFloat() - 0.5) * 0.08));
    const metrics = Array.from({ length: n }, (_, i) => ({ exampleCount: 10 * (i + 1), clipped: i % 2 }));
    const inputs = updates.map((u, i) => encodeWithMetrics(u, metrics[i] as Record<string, number>, model, layout, testBytes(100 + i)));
    const result = await runSecAggRound({ inputs, threshold: 5, dropouts: { beforeMaskedInput: [2] }, randomBytes: testBytes(7) });
    const survivors = result.survivors;
    const decoded = decodeSumWithMetrics(result.sum as Uint32Array, model, layout, survivors.length);
    expect(decoded.metrics['exampleCount']).toBe(survivors.reduce((s, i) => s + 10 * (i + 1), 0));
    expect(decoded.metrics['clipped']).toBe(survivors.reduce((s, i) => s + (i % 2), 0));
    const bound = quantizationBound(model, survivors.length);
    decoded.values.forEach((value, j) => {
      const exact = survivors.reduce((s, i) => s + ((updates[i] as Float32Array)[j] as number), 0);
      expect(Math.abs(value - exact)).toBeLessThanOrEqual(bound + Math.abs(exact) * 2 ** -24);
    });
  });
});
