import { describe, expect, it } from 'vitest';
import { addModInto, encodingParams } from '../encode/fixed-point';
import { createMetricsLayout, decodeSumWithMetrics, encodeWithMetrics } from '../encode/metrics';
import { privatizeClientUpdate } from '../privacy/modes';
import { privatizeClipIndicator } from '../privacy/adaptive-clipping';
import { gaussianNoise } from '../privacy/gaussian';
import { contributionMetricsSpec } from '../protocol/events';
import type { PrivacyPlan } from '../protocol/schemas';
import { checkDecodedSum, sumBounds, type BoundsPlan } from './bounds';
import { clientPrivacyOptionsOf, clipIndicatorPrivacyOptionsOf } from './client-privacy';

const D = 2_000;
const MAX_EXAMPLES = 64;

function plan(privacy: Partial<PrivacyPlan>, cohort: number): BoundsPlan {
  const full: PrivacyPlan = {
    mode: 'distributed',
    clipNorm: 1,
    noiseMultiplier: 1,
    expectedCohortSize: cohort,
    minSurvivors: Math.max(1, cohort - 2),
    ...privacy,
  };
  const clientStd =
    full.mode === 'local'
      ? full.noiseMultiplier * full.clipNorm
      : full.mode === 'distributed'
        ? (full.noiseMultiplier * full.clipNorm) / Math.sqrt(full.minSurvivors)
        : 0;
  return {
    privacy: full,
    training: { epochs: 1, batchSize: 16, optimizer: 'sgd', learningRate: 0.5, maxExamples: MAX_EXAMPLES, timeBudgetMs: 10_000, targets: 'last' },
    encoding: { clipRange: full.clipNorm + 6 * clientStd, modulusBits: 32, maxClients: cohort },
    metrics: contributionMetricsSpec({ maxExamples: MAX_EXAMPLES }, full.clipIndicatorNoiseStdDev === undefined ? undefined : 0.5 + 6),
  };
}

/** One honest client, through the same clip, noise and encoding code a device runs. */
function honestInput(p: BoundsPlan, norm: number): Uint32Array {
  const direction = gaussianNoise(D, 1);
  let squares = 0;
  for (const v of direction) squares += v * v;
  const delta = Float32Array.from(direction, (v) => (v / Math.sqrt(squares)) * norm);
  const { update, norm: before, wasClipped } = privatizeClientUpdate(delta, clientPrivacyOptionsOf(p));
  const examples = 40;
  const metrics: Record<string, number> = { examples, trainLossSum: 3.2 * examples, evalCount: 10, evalLossSum: 35, evalTop1: 2, evalTop3: 4 };
  const indicatorOptions = clipIndicatorPrivacyOptionsOf(p);
  if (indicatorOptions !== undefined) metrics.unclipped = privatizeClipIndicator(wasClipped || before > p.privacy.clipNorm ? 0 : 1, indicatorOptions).value;
  const layout = createMetricsLayout(p.metrics, p.encoding);
  return encodeWithMetrics(update, metrics, encodingParams(p.encoding), layout);
}

function decode(p: BoundsPlan, inputs: Uint32Array[]) {
  const sum = new Uint32Array(inputs[0]?.length ?? 0);
  for (const input of inputs) addModInto(sum, input, 32);
  const decoded = decodeSumWithMetrics(sum, encodingParams(p.encoding), createMetricsLayout(p.metrics, p.encoding), inputs.length);
  return { ...decoded, count: inputs.length };
}

describe('checkDecodedSum', () => {
  it('states the bound it checks: C + (s_c·√n·(√d + 8) + √d·n/scale)/n, computed independently here', () => {
    // distributed, σ = 1, C = 1, k_min = 8: s_c = 1/√8; n = 10, d = 2,000; scale = ⌊(2^31 − 1)/10⌋ / r.
    const p = plan({ minSurvivors: 8 }, 10);
    const r = 1 + 6 / Math.sqrt(8);
    const scale = Math.floor((2 ** 31 - 1) / 10) / r;
    const expected = 1 + ((1 / Math.sqrt(8)) * Math.sqrt(10) * (Math.sqrt(D) + 8) + (Math.sqrt(D) * 10) / scale) / 10;
    expect(sumBounds(p, 10, D).meanNormBound).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(1 + (Math.sqrt(10 / 8) * (44.721 + 8)) / 10, 3);
  });

  it('accepts honest cohorts in every privacy mode, with updates at and far past C', () => {
    for (const mode of ['off', 'local', 'distributed'] as const) {
      for (const norm of [0.3, 1, 50]) {
        const p = plan({ mode, noiseMultiplier: mode === 'off' ? 0 : 1.2, clipIndicatorNoiseStdDev: 1 }, 12);
        const decoded = decode(
          p,
          Array.from({ length: 12 }, () => honestInput(p, norm)),
        );
        const checked = checkDecodedSum(p, decoded);
        expect(checked.ok, `${mode}, norm ${norm}: ${checked.ok ? '' : checked.error.message}`).toBe(true);
      }
    }
  });

  it('accepts a cohort in which only some clients survived (n < maxClients)', () => {
    const p = plan({}, 12);
    expect(
      checkDecodedSum(
        p,
        decode(
          p,
          Array.from({ length: 9 }, () => honestInput(p, 2)),
        ),
      ).ok,
    ).toBe(true);
  });

  it('rejects a sum with one client whose input is uniformly random (the poisoner)', () => {
    const p = plan({}, 5);
    const inputs = Array.from({ length: 4 }, () => honestInput(p, 1));
    inputs.push(crypto.getRandomValues(new Uint32Array(inputs[0]?.length ?? 0)));
    const checked = checkDecodedSum(p, decode(p, inputs));
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.error).toMatchObject({ code: 'REJECTED_SUM' });
  });

  it('rejects a mean update just past its bound and accepts it just inside', () => {
    const p = plan({ mode: 'off', noiseMultiplier: 0 }, 4);
    const bound = sumBounds(p, 4, D).meanNormBound;
    const sumWithNorm = (meanNorm: number) => {
      const values = new Float32Array(D).fill((meanNorm * 4) / Math.sqrt(D));
      return { values, metrics: { examples: 4, trainLossSum: 10, evalCount: 4, evalLossSum: 10, evalTop1: 1, evalTop3: 2 }, count: 4 };
    };
    expect(checkDecodedSum(p, sumWithNorm(bound * 0.999)).ok).toBe(true);
    const over = checkDecodedSum(p, sumWithNorm(bound * 1.001));
    expect(over.ok).toBe(false);
    if (!over.ok) expect(over.error.message).toMatch(/L2 norm/);
  });

  it('rejects counts and losses no honest cohort reports, naming the metric', () => {
    const p = plan({ mode: 'off', noiseMultiplier: 0 }, 3);
    const ok = { examples: 100, trainLossSum: 300, evalCount: 30, evalLossSum: 100, evalTop1: 5, evalTop3: 9 };
    const cases: [Record<string, number>, RegExp][] = [
      [{ ...ok, examples: -829_791_644 }, /examples is -829791644/],
      [{ ...ok, evalCount: 3 * MAX_EXAMPLES + 1 }, /evalCount/],
      [{ ...ok, evalTop1: 10 }, /top-1 ≤ top-3/],
      [{ ...ok, evalTop3: 31 }, /evalTop3|top-3/],
      [{ ...ok, trainLossSum: 100 * 50 + 1 }, /trainLossSum/],
      [{ ...ok, evalLossSum: -5 }, /evalLossSum/],
      [{ ...ok, evalLossSum: Number.NaN }, /evalLossSum/],
    ];
    expect(checkDecodedSum(p, { values: new Float32Array(D), metrics: ok, count: 3 }).ok).toBe(true);
    for (const [metrics, message] of cases) {
      const checked = checkDecodedSum(p, { values: new Float32Array(D), metrics, count: 3 });
      expect(checked.ok, JSON.stringify(metrics)).toBe(false);
      if (!checked.ok) expect(checked.error.message).toMatch(message);
    }
  });

  it('bounds the adaptive-clipping indicator sum, so one client cannot swing C', () => {
    const p = plan({ mode: 'off', noiseMultiplier: 0, clipIndicatorNoiseStdDev: 0 }, 5);
    const metrics = { examples: 100, trainLossSum: 300, evalCount: 30, evalLossSum: 100, evalTop1: 5, evalTop3: 9 };
    expect(checkDecodedSum(p, { values: new Float32Array(D), metrics: { ...metrics, unclipped: 2.5 }, count: 5 }).ok).toBe(true);
    const swung = checkDecodedSum(p, { values: new Float32Array(D), metrics: { ...metrics, unclipped: 2.6 }, count: 5 });
    expect(swung.ok).toBe(false);
    if (!swung.ok) expect(swung.error.message).toMatch(/unclipped/);
  });

  it('rejects a non-finite or out-of-range coordinate and an empty sum', () => {
    const p = plan({}, 3);
    const metrics = { examples: 1, trainLossSum: 1, evalCount: 1, evalLossSum: 1, evalTop1: 0, evalTop3: 0 };
    const values = new Float32Array(D);
    values[7] = Number.POSITIVE_INFINITY;
    expect(checkDecodedSum(p, { values, metrics, count: 3 })).toMatchObject({ ok: false, error: { code: 'REJECTED_SUM' } });
    values[7] = sumBounds(p, 3, D).coordinateBound * 1.01;
    expect(checkDecodedSum(p, { values, metrics, count: 3 })).toMatchObject({ ok: false });
    expect(checkDecodedSum(p, { values: new Float32Array(D), metrics, count: 0 })).toMatchObject({ ok: false });
  });
});
