import { describe, expect, it } from 'vitest';
import { createServerOptimizer } from '../aggregate/server-optimizers';
import { createMetricsLayout, encodeWithMetrics } from '../encode/metrics';
import { addModInto, encodingParams } from '../encode/fixed-point';
import { parameterCount, type ModelSpec } from '../model/spec';
import { DDG_RDP_ORDERS, ddgEpsilon } from '../privacy/ddg-accountant';
import { ddgParams, roundedL2NormBound } from '../privacy/ddg';
import { discreteGaussianPmf } from '../privacy/discrete-gaussian';
import { PrivacyLedger } from '../privacy/ledger';
import { privatizeClientUpdate } from '../privacy/modes';
import { keystreamRandomBytes } from '../privacy/test-random';
import { PROTOCOL_VERSION, roundPlanSchema, type RoundPlan } from '../protocol/schemas';
import type { RandomBytes } from '../random/index';
import { parseTrainingPlan } from '../train/plan';
import { clientPrivacyOptionsOf } from './client-privacy';
import { decodeDiscreteSum, discreteParamsOf, encodeDiscreteContribution, planDiscrete } from './discrete';
import { planRound } from './plan-round';
import { decodeRoundSum, ledgerEntryOf, summarizeRound } from './summarize-round';

/**
 * The distributed discrete Gaussian in a round: the plan (planRound), each client's path
 * (encodeDiscreteContribution, or privatizeClientUpdate + encodeWithMetrics for continuous noise),
 * the secure sum (addModInto, as SecAgg's unmasked sum), the server's decode (decodeRoundSum) and
 * the ledger entry (summarizeRound). Randomness is a fixed ChaCha20 keystream per client, so every
 * statistical check below is deterministic and its tolerance can fail.
 */

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 120, contextLength: 4, embeddingDim: 16, hiddenUnits: 16 };
const DIMENSION = parameterCount(SPEC);
const TRAINING = parseTrainingPlan({ epochs: 1, batchSize: 8, learningRate: 0.5, maxExamples: 64 });
const HONEST_METRICS = { examples: 10, trainLossSum: 20, evalCount: 4, evalLossSum: 8, evalTop1: 1, evalTop3: 2 };

interface PlanOptions {
  noise: 'continuous' | 'discrete';
  colluders: number;
  minReports: number;
  clientCount: number;
  noiseMultiplier?: number;
  clipNorm?: number;
  seed?: number;
}

/** A full round plan as the aggregator makes it (planRound), m = clientCount. */
function roundPlan(options: PlanOptions): RoundPlan {
  const { noise, colluders, minReports, clientCount, noiseMultiplier = 1, clipNorm = 1, seed = 1 } = options;
  const planned = planRound({
    roundId: `r${seed}`,
    mode: 'distributed',
    clipNorm,
    noiseMultiplier,
    adaptiveClipping: false,
    minReports,
    samplingRate: clientCount / (10 * clientCount),
    population: 10 * clientCount,
    colluders,
    noise,
    ...(noise === 'discrete' ? { rotationSeed: keystreamRandomBytes(1000 + seed)(new Uint8Array(32)) } : {}),
    training: TRAINING,
    clientCount,
    modelLength: DIMENSION,
    secagg: { modulusBits: 32, secAggPlusFrom: 1000, dropoutRate: 0.1, graphSeed: new Uint8Array(32), authenticated: false },
  });
  return roundPlanSchema.parse({
    protocolVersion: PROTOCOL_VERSION,
    roundId: `r${seed}`,
    round: seed,
    model: { version: 0, hash: '0'.repeat(64), url: '/api/model/0', spec: SPEC },
    participantId: 0,
    training: TRAINING,
    evaluationFraction: 0.25,
    deadlines: { advertiseKeysMs: 1000, shareKeysMs: 1000, maskedInputMs: 1000, unmaskingMs: 1000 },
    ...planned,
  });
}

/** An honest client's secure-aggregation input for `update`, as prepareContribution encodes it. */
function honestInput(plan: RoundPlan, update: Float32Array, randomBytes: RandomBytes): Uint32Array {
  if (plan.privacy.discrete) return encodeDiscreteContribution(update, HONEST_METRICS, plan, randomBytes).input;
  const { encoding } = plan;
  const privatized = privatizeClientUpdate(update, clientPrivacyOptionsOf(plan), randomBytes);
  const layout = createMetricsLayout(plan.metrics, { maxClients: encoding.maxClients, modulusBits: encoding.modulusBits });
  return encodeWithMetrics(privatized.update, HONEST_METRICS, encodingParams(encoding), layout, randomBytes);
}

/** The attacker's fake client: a zero update with no noise at all (and zero metrics), validly encoded. */
function fakeInput(plan: RoundPlan): Uint32Array {
  return new Uint32Array(plan.secagg.vectorLength);
}

function secureSum(plan: RoundPlan, inputs: Uint32Array[]): Uint32Array {
  const sum = new Uint32Array(plan.secagg.vectorLength);
  for (const input of inputs) addModInto(sum, input, plan.secagg.modulusBits);
  return sum;
}

/** The round's committed aggregate and its ledger entry, as the coordinator computes them. */
function commit(plan: RoundPlan, sum: Uint32Array, survivors: number) {
  const decoded = decodeRoundSum(plan, sum, survivors);
  if (!decoded.ok) throw new Error(decoded.error.message);
  const summary = summarizeRound({
    round: plan.round,
    privacy: plan.privacy,
    samplingRate: 0.1,
    survivors,
    updateSum: decoded.value.values,
    base: { weights: new Float32Array(DIMENSION), optimizer: createServerOptimizer({ name: 'fedavg' }, DIMENSION) },
    ledger: new PrivacyLedger(),
    targetDelta: 1e-5,
    adaptive: null,
  });
  if (!summary.outcome.ok) throw new Error(summary.outcome.error.message);
  if (!summary.ledgerEntry) throw new Error('no ledger entry');
  return { decoded: decoded.value, summary, entry: summary.ledgerEntry };
}

/**
 * The standard deviation of the sum's noise, in model units, that the ledger's entry stands for:
 * σ_rec·C for continuous noise; for discrete noise the entry's Gaussian-equivalent multiplier is per
 * unit of Δ₂ (integer units), i.e. σ_rec·Δ₂/scale ≥ σ_rec·C in model units.
 */
function ledgerNoiseStdDev(plan: RoundPlan, entry: { noiseMultiplier: number; discrete?: { l2Sensitivity: number } }): number {
  const discrete = plan.privacy.discrete;
  return discrete && entry.discrete ? (entry.noiseMultiplier * entry.discrete.l2Sensitivity) / discrete.scale : entry.noiseMultiplier * plan.privacy.clipNorm;
}

describe('discrete plan', () => {
  it('planRound carries scale, β, Δ₂, padded d, modulus and a fresh seed; the vector is padded d + metrics', () => {
    const plan = roundPlan({ noise: 'discrete', colluders: 2, minReports: 6, clientCount: 8 });
    const discrete = plan.privacy.discrete;
    if (!discrete) throw new Error('no discrete block');
    expect(plan.privacy.colluders).toBe(2);
    expect(discrete.paddedDimension).toBe(2 ** Math.ceil(Math.log2(DIMENSION)));
    expect(plan.secagg.vectorLength).toBe(discrete.paddedDimension + Object.keys(plan.metrics).length);
    expect(discrete.modulusBits).toBe(32);
    expect(discrete.rotationSeed).toMatch(/^[0-9a-f]{64}$/);
    const params = discreteParamsOf(plan.privacy, DIMENSION);
    // σ_Z = σC/√(k_min − c) · scale = 1/2 · scale.
    expect(params.localNoiseStdDev).toBeCloseTo(0.5, 15);
    expect(discrete.roundedNormBound).toBe(roundedL2NormBound(discrete.scale, discrete.paddedDimension, discrete.beta));
    // Another round draws another rotation.
    expect(roundPlan({ noise: 'discrete', colluders: 2, minReports: 6, clientCount: 8, seed: 2 }).privacy.discrete?.rotationSeed).not.toBe(
      discrete.rotationSeed,
    );
  });

  it('the plan schema refuses discrete noise outside distributed mode, c ≥ k_min and a vector that does not fit', () => {
    const plan = roundPlan({ noise: 'discrete', colluders: 2, minReports: 6, clientCount: 8 });
    const bad = (change: (p: RoundPlan) => unknown) => roundPlanSchema.safeParse(change(structuredClone(plan))).success;
    expect(bad((p) => p)).toBe(true);
    expect(bad((p) => ({ ...p, privacy: { ...p.privacy, mode: 'local' } }))).toBe(false);
    expect(bad((p) => ({ ...p, privacy: { ...p.privacy, colluders: 6 } }))).toBe(false);
    expect(bad((p) => ({ ...p, secagg: { ...p.secagg, vectorLength: DIMENSION + 6 } }))).toBe(false);
    expect(bad((p) => ({ ...p, privacy: { ...p.privacy, discrete: { ...p.privacy.discrete, modulusBits: 24 } } }))).toBe(false);
    expect(bad((p) => ({ ...p, privacy: { ...p.privacy, discrete: { ...p.privacy.discrete, rotationSeed: 'zz' } } }))).toBe(false);
  });

  it('discreteParamsOf refuses a Δ₂ or padded dimension the plan does not imply', () => {
    const plan = roundPlan({ noise: 'discrete', colluders: 0, minReports: 6, clientCount: 8 });
    const discrete = plan.privacy.discrete as NonNullable<RoundPlan['privacy']['discrete']>;
    expect(() => discreteParamsOf({ ...plan.privacy, discrete: { ...discrete, roundedNormBound: discrete.roundedNormBound * 0.99 } }, DIMENSION)).toThrow(
      /roundedNormBound/,
    );
    expect(() => discreteParamsOf({ ...plan.privacy, discrete: { ...discrete, paddedDimension: discrete.paddedDimension * 2 } }, DIMENSION)).toThrow(
      /paddedDimension/,
    );
  });

  it('a round with discrete noise decodes the sum of clipped updates and the exact metrics', () => {
    const plan = roundPlan({ noise: 'discrete', colluders: 1, minReports: 4, clientCount: 5 });
    const updates = Array.from({ length: 5 }, (_, i) =>
      Float32Array.from({ length: DIMENSION }, (_, j) => (0.9 * Math.sin(1 + 7 * i + 3 * j)) / Math.sqrt(DIMENSION)),
    );
    const sum = secureSum(
      plan,
      updates.map((u, i) => honestInput(plan, u, keystreamRandomBytes(i + 1))),
    );
    const { decoded, entry } = commit(plan, sum, 5);
    // Counts are exact (scale 1); loss sums carry fixed-point rounding below count/scale.
    expect(decoded.metrics).toMatchObject({ examples: 50, evalCount: 20, evalTop1: 5, evalTop3: 10 });
    expect(decoded.metrics.trainLossSum).toBeCloseTo(100, 3);
    expect(decoded.metrics.evalLossSum).toBeCloseTo(40, 3);
    // Noise per coordinate: √5 · σC/√(k_min − c) = √5/√3 ≈ 1.29; the signal is within 8 of those.
    let maxError = 0;
    for (let j = 0; j < DIMENSION; j++) {
      const truth = updates.reduce((acc, u) => acc + (u[j] as number), 0);
      maxError = Math.max(maxError, Math.abs((decoded.values[j] as number) - truth));
    }
    expect(maxError).toBeLessThan(8 * Math.sqrt(5 / 3));
    expect(maxError).toBeGreaterThan(1);
    // n = k − c = 4 honest shares in the ledger.
    expect(entry.discrete?.clients).toBe(4);
    expect(entry.discrete?.dimension).toBe(plan.privacy.discrete?.paddedDimension);
  });
});

describe('must show: a Sybil cohort cannot lower the noise below what the ledger records (within the c assumption)', () => {
  // k_min = 6 with c = 2 tolerated: the smallest committed sum is 4 honest clients and 2 fakes. The
  // attacker's fakes add no noise at all. Honest updates are zero, so the committed aggregate is the
  // noise alone; its per-coordinate variance must reach what the ledger's σ stands for. A build that
  // calibrates shares to k_min (σC/√6) instead of k_min − c gets 4/6 of it; one that credits the fakes'
  // reports in the ledger records √(6/4)× too much σ: both fail the lower bound.
  const K_MIN = 6;
  const C = 2;
  for (const noise of ['continuous', 'discrete'] as const) {
    it(`${noise} noise: 4 honest + 2 zero-noise fakes carry at least the ledger's σ`, () => {
      let sumSquares = 0;
      let samples = 0;
      let implied = 0;
      for (let round = 1; round <= 3; round++) {
        const plan = roundPlan({ noise, colluders: C, minReports: K_MIN, clientCount: 8, seed: round });
        const zero = new Float32Array(DIMENSION);
        const inputs = [
          ...Array.from({ length: K_MIN - C }, (_, i) => honestInput(plan, zero, keystreamRandomBytes(100 * round + i))),
          ...Array.from({ length: C }, () => fakeInput(plan)),
        ];
        const { decoded, entry } = commit(plan, secureSum(plan, inputs), K_MIN);
        for (const v of decoded.values) sumSquares += v * v;
        samples += decoded.values.length;
        implied = ledgerNoiseStdDev(plan, entry);
        // The ledger records σ for the smallest committed sum: (k − c)/(k_min − c) = 1.
        expect(entry.noiseMultiplier).toBeGreaterThan(0.999);
        expect(entry.noiseMultiplier).toBeLessThanOrEqual(1);
      }
      const measured = sumSquares / samples;
      const ratio = measured / (implied * implied);
      // 16,632 samples: the variance's standard error is ~1.1%; 4% is over 3.5 of them (measured: 0.998 continuous, 0.995 discrete).
      expect(ratio).toBeGreaterThan(0.96);
      expect(ratio).toBeLessThan(1.04);
    });
  }

  it('beyond the assumption (c + 1 fakes) the noise falls below the ledger: what docs/privacy.md says ε then means', () => {
    const plan = roundPlan({ noise: 'discrete', colluders: C, minReports: K_MIN, clientCount: 8, seed: 9 });
    const zero = new Float32Array(DIMENSION);
    const inputs = [
      ...Array.from({ length: K_MIN - C - 1 }, (_, i) => honestInput(plan, zero, keystreamRandomBytes(900 + i))),
      ...Array.from({ length: C + 1 }, () => fakeInput(plan)),
    ];
    const { decoded, entry } = commit(plan, secureSum(plan, inputs), K_MIN);
    const measured = decoded.values.reduce((acc, v) => acc + v * v, 0) / decoded.values.length;
    const implied = ledgerNoiseStdDev(plan, entry) ** 2;
    // 3 honest shares of the 4 the ledger counts on.
    expect(measured / implied).toBeGreaterThan(0.75 * 0.93);
    expect(measured / implied).toBeLessThan(0.75 * 1.07);
  });
});

/** Upper 0.001 quantile of χ² with `df` degrees of freedom (Wilson–Hilferty; within 1% for df ≥ 10). */
function chiSquareCritical(df: number): number {
  const z = 3.090232; // Φ⁻¹(0.999)
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Centred integers of the first `length` words of a modular sum. */
function centred(sum: Uint32Array, length: number, modulusBits: number): number[] {
  const half = 2 ** (modulusBits - 1);
  return Array.from(sum.subarray(0, length), (s) => (s >= half ? s - 2 ** modulusBits : s));
}

describe('must show: discrete noise variance and sum distribution within statistical tolerance', () => {
  it('at the planned scale: the noise of n = 8 clients has variance n·σ_Z² and passes KS against N(0, n·σ_Z²)', () => {
    const n = 8;
    const values: number[] = [];
    let planned = 0;
    for (let round = 1; round <= 2; round++) {
      const plan = roundPlan({ noise: 'discrete', colluders: 2, minReports: 6, clientCount: n, seed: 20 + round });
      const params = discreteParamsOf(plan.privacy, DIMENSION);
      planned = n * params.noiseVariance;
      // Zero updates round to exactly zero: the integer sum is the noise alone.
      const sum = secureSum(
        plan,
        Array.from({ length: n }, (_, i) => honestInput(plan, new Float32Array(DIMENSION), keystreamRandomBytes(50 * round + i))),
      );
      values.push(...centred(sum, params.paddedDimension, 32));
    }
    const variance = values.reduce((acc, v) => acc + v * v, 0) / values.length;
    expect(variance / planned).toBeGreaterThan(0.965);
    expect(variance / planned).toBeLessThan(1.035);
    // Kolmogorov–Smirnov against the Gaussian (σ_Z ~ 10⁶: the lattice is invisible); 1.95/√N is p ≈ 0.001.
    const sorted = [...values].sort((a, b) => a - b);
    const sd = Math.sqrt(planned);
    let ks = 0;
    sorted.forEach((v, i) => {
      const cdf = 0.5 * (1 + erf(v / (sd * Math.SQRT2)));
      ks = Math.max(ks, Math.abs((i + 1) / sorted.length - cdf), Math.abs(i / sorted.length - cdf));
    });
    expect(ks).toBeLessThan(1.95 / Math.sqrt(sorted.length));
  });

  it('at σ_Z = 2 (lattice visible): the sum of 5 clients passes χ² against the discrete Gaussian N_Z(0, 20)', () => {
    const n = 5;
    const counts = new Map<number, number>();
    let total = 0;
    let squares = 0;
    for (let round = 1; round <= 4; round++) {
      const base = roundPlan({ noise: 'discrete', colluders: 1, minReports: 5, clientCount: n, seed: 40 + round });
      // A coarse scale by hand: σ_Z = σC/√(k_min − c)·scale = ½·4 = 2, so the sum is N_Z-like with variance 20.
      const discrete = base.privacy.discrete as NonNullable<RoundPlan['privacy']['discrete']>;
      const scale = 4;
      const plan: RoundPlan = {
        ...base,
        privacy: { ...base.privacy, discrete: { ...discrete, scale, roundedNormBound: roundedL2NormBound(scale, discrete.paddedDimension, discrete.beta) } },
      };
      expect(discreteParamsOf(plan.privacy, DIMENSION).noiseVariance).toBe(4);
      const sum = secureSum(
        plan,
        Array.from({ length: n }, (_, i) => honestInput(plan, new Float32Array(DIMENSION), keystreamRandomBytes(70 * round + i))),
      );
      for (const v of centred(sum, discrete.paddedDimension, 32)) {
        counts.set(v, (counts.get(v) ?? 0) + 1);
        total += 1;
        squares += v * v;
      }
    }
    const variance = 20;
    expect(squares / total / variance).toBeGreaterThan(0.96);
    expect(squares / total / variance).toBeLessThan(1.04);
    // Bins −14 … 14 (expected count ≥ 5 each) and the two tails.
    const B = 14;
    let chi = 0;
    let lowTail = 1;
    for (let y = -B; y <= B; y++) {
      const expected = total * discreteGaussianPmf(y, variance);
      lowTail -= discreteGaussianPmf(y, variance);
      chi += ((counts.get(y) ?? 0) - expected) ** 2 / expected;
    }
    const tailExpected = (total * lowTail) / 2;
    let below = 0;
    let above = 0;
    for (const [y, c] of counts) {
      if (y < -B) below += c;
      if (y > B) above += c;
    }
    chi += (below - tailExpected) ** 2 / tailExpected + (above - tailExpected) ** 2 / tailExpected;
    expect(chi).toBeLessThan(chiSquareCritical(2 * B + 2));
  });

  it('the χ² check can fail: 5 clients at σ_Z = 2.2 are rejected against N_Z(0, 20)', () => {
    // The same statistic for noise only 10% wider than planned (what a mis-calibrated share gives).
    const params = ddgParams({ dimension: 4096, clipNorm: 1, scale: 4, localNoiseStdDev: 0.55 });
    const sum = new Uint32Array(params.paddedDimension);
    for (let i = 0; i < 5; i++) {
      // Zero update: only the noise of this client.
      const encoded = encodeDiscreteContributionFor(params, keystreamRandomBytes(300 + i));
      for (let j = 0; j < sum.length; j++) sum[j] = ((sum[j] as number) + (encoded[j] as number)) >>> 0;
    }
    const values = centred(sum, params.paddedDimension, 32);
    const variance = 20;
    let chi = 0;
    const B = 14;
    let lowTail = 1;
    const counts = new Map<number, number>();
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
    for (let y = -B; y <= B; y++) {
      const expected = values.length * discreteGaussianPmf(y, variance);
      lowTail -= discreteGaussianPmf(y, variance);
      chi += ((counts.get(y) ?? 0) - expected) ** 2 / expected;
    }
    const tailExpected = (values.length * lowTail) / 2;
    const below = values.filter((v) => v < -B).length;
    const above = values.filter((v) => v > B).length;
    chi += (below - tailExpected) ** 2 / tailExpected + (above - tailExpected) ** 2 / tailExpected;
    expect(chi).toBeGreaterThan(chiSquareCritical(2 * B + 2));
  });
});

/** One client's words for a zero update under bare DdgParams (the χ² power check). */
function encodeDiscreteContributionFor(params: ReturnType<typeof ddgParams>, randomBytes: RandomBytes): Uint32Array {
  const privacy: RoundPlan['privacy'] = {
    mode: 'distributed',
    clipNorm: params.clipNorm,
    // σ_Z/scale = σ·C/√(k_min − c) with k_min = 1, c = 0.
    noiseMultiplier: params.localNoiseStdDev / params.clipNorm,
    expectedCohortSize: 1,
    minSurvivors: 1,
    discrete: {
      scale: params.scale,
      beta: params.beta,
      roundedNormBound: params.roundedNormBound,
      paddedDimension: params.paddedDimension,
      modulusBits: params.modulusBits,
      rotationSeed: '00'.repeat(32),
    },
  };
  return encodeDiscreteContribution(
    new Float32Array(params.dimension),
    {},
    { privacy, encoding: { clipRange: 1, modulusBits: 32, maxClients: 8 }, metrics: {} },
    randomBytes,
  ).input;
}

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5·10⁻⁷), enough for a KS bound of ~10⁻². */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return sign * y;
}

describe('ledger: discrete rounds are accounted by the discrete Gaussian accountant', () => {
  it('a ledger on DDG_RDP_ORDERS gives ddgEpsilon for the same rounds, and JSON round-trips the mechanism', () => {
    const plan = roundPlan({ noise: 'discrete', colluders: 1, minReports: 5, clientCount: 8 });
    const params = discreteParamsOf(plan.privacy, DIMENSION);
    const entry = ledgerEntryOf({ round: 1, privacy: plan.privacy, samplingRate: 0.01, survivors: 6, dimension: DIMENSION });
    if (!entry?.discrete) throw new Error('no discrete entry');
    const ledger = new PrivacyLedger({ orders: DDG_RDP_ORDERS });
    ledger.record({ ...entry, steps: 100 });
    const expected = ddgEpsilon({ params, clients: 5, samplingRate: 0.01, steps: 100, delta: 1e-6 });
    expect(ledger.epsilon(1e-6).epsilon).toBeCloseTo(expected.epsilon, 12);
    const restored = PrivacyLedger.fromJSON(JSON.parse(JSON.stringify(ledger.toJSON())));
    expect(restored.epsilon(1e-6)).toEqual(ledger.epsilon(1e-6));
    // On the default (fractional) orders the bound at ⌈α⌉ is used: never below the integer-order ε.
    const fractional = new PrivacyLedger();
    fractional.record({ ...entry, steps: 100 });
    expect(fractional.epsilon(1e-6).epsilon).toBeGreaterThanOrEqual(expected.epsilon - 1e-9);
  });

  it('the decode of planDiscrete + discreteParamsOf agrees with decodeDiscreteSum on a hand-made seed', () => {
    const seed = new Uint8Array(32).fill(7);
    const discrete = planDiscrete({ clipNorm: 1, clientNoiseStdDev: 0.5, dimension: DIMENSION, clientCount: 4, modulusBits: 32, rotationSeed: seed });
    expect(discrete.rotationSeed).toBe('07'.repeat(32));
    const privacy: RoundPlan['privacy'] = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: 4, minSurvivors: 4, discrete };
    const plan = { privacy, encoding: { clipRange: 4, modulusBits: 32, maxClients: 4 }, metrics: {} };
    const update = Float32Array.from({ length: DIMENSION }, (_, j) => (j % 2 ? 0.5 : -0.5) / Math.sqrt(DIMENSION));
    const { input } = encodeDiscreteContribution(update, {}, plan, keystreamRandomBytes(5));
    const { values } = decodeDiscreteSum(input, plan, DIMENSION, 1);
    // One client's noise is 0.5 per coordinate.
    let err = 0;
    for (let j = 0; j < DIMENSION; j++) err = Math.max(err, Math.abs((values[j] as number) - (update[j] as number)));
    expect(err).toBeLessThan(8 * 0.5);
  });
});
