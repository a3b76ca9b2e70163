import { afterEach, describe, expect, it } from 'vitest';
import { createServerOptimizer, type ServerOptimizerState } from '@murmur/fl-core/aggregate';
import { createMetricsLayout, encodingParams, encodeWithMetrics } from '@murmur/fl-core/encode';
import { type ModelSpec, parameterCount } from '@murmur/fl-core/model';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { type LivePlan, type RoundPlan } from '@murmur/fl-core/protocol';
import { decodeRoundSum, encodeDiscreteContribution } from '@murmur/fl-core/round';
import { PrivateAggregation, type SimulationPrivacy } from '@murmur/fl-core/sim';
import type { AggregatorConfigInput } from './config';
import { concludeRound, planAggregatorRound, type RoundState } from './round-state';
import { tempDataDir, testConfig } from './test-helpers';

/**
 * Must show (issue 14): the simulator and the aggregator plan and summarize a round identically.
 * Both sides run their own code path from the same settings: the aggregator's planAggregatorRound
 * and concludeRound (decoding a SecAgg sum, as its coordinator does), the simulator's
 * PrivateAggregation (plan, then summarize on the same released sum). Plans, ledgers, ε, next
 * weights, optimizer state and the adapted C must come out equal, round after round.
 */

const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 100, contextLength: 2, embeddingDim: 2, hiddenUnits: 2 };
const DIMENSION = parameterCount(SPEC);
const METRICS = { examples: 10, trainLossSum: 20, evalCount: 4, evalLossSum: 8, evalTop1: 1, evalTop3: 2 };

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Case {
  name: string;
  privacy: NonNullable<AggregatorConfigInput['privacy']> & { mode: SimulationPrivacy['mode'] };
  /** N and m: q = m / N. */
  population: number;
  expectedCohortSize: number;
  minReports: number;
  /** n: the draw (around m); survivors: the inputs in the sum. */
  selected: number;
  survivors: number;
}

const cases: Case[] = [
  {
    name: 'small adaptive cohort, m = 10, σ = 1 (σ_b = max(m/20, σ) on both sides; m/20 alone threw in the simulator)',
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, adaptiveClipping: {} },
    population: 200,
    expectedCohortSize: 10,
    minReports: 4,
    selected: 12,
    survivors: 7,
  },
  {
    name: 'large adaptive cohort, m = 100, σ = 0.7, γ = 0.3, η = 0.5',
    privacy: { mode: 'distributed', clipNorm: 0.5, noiseMultiplier: 0.7, adaptiveClipping: { targetQuantile: 0.3, learningRate: 0.5 } },
    population: 1000,
    expectedCohortSize: 100,
    minReports: 60,
    selected: 97,
    survivors: 80,
  },
  {
    name: 'c = 2 colluders tolerated, m = 10, k_min = 6: shares of σC/√4, the ledger counts k − c reports',
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, colluders: 2 },
    population: 100,
    expectedCohortSize: 10,
    minReports: 6,
    selected: 11,
    survivors: 8,
  },
  {
    name: 'discrete noise (distributed discrete Gaussian), c = 1, m = 8, k_min = 4',
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.8, noise: 'discrete', colluders: 1 },
    population: 64,
    expectedCohortSize: 8,
    minReports: 4,
    selected: 9,
    survivors: 6,
  },
  {
    name: "'local' noise with a fixed C, m = 20",
    privacy: { mode: 'local', clipNorm: 2, noiseMultiplier: 0.3 },
    population: 80,
    expectedCohortSize: 20,
    minReports: 5,
    selected: 21,
    survivors: 20,
  },
];

/** Deterministic update i of a round: every coordinate within ±0.9·C/√d, so its norm stays under C. */
function update(i: number, round: number, clipNorm: number): Float32Array {
  const scale = clipNorm / Math.sqrt(DIMENSION);
  return Float32Array.from({ length: DIMENSION }, (_, j) => scale * Math.sin(1 + i * 31 + j * 7 + round * 13) * 0.9);
}

/** The SecAgg sum (mod 2^32) of the survivors' encoded inputs under the aggregator's plan. */
function secAggSum(plan: RoundPlan, survivors: number, round: number): Uint32Array {
  const layout = createMetricsLayout(plan.metrics, { maxClients: plan.encoding.maxClients, modulusBits: plan.encoding.modulusBits });
  const params = encodingParams(plan.encoding);
  const sum = new Uint32Array(plan.secagg.vectorLength);
  for (let i = 0; i < survivors; i++) {
    // A third of the clients report clipped (b − 1/2 = −1/2), the rest unclipped (+1/2).
    const metrics: Record<string, number> = plan.metrics.unclipped ? { ...METRICS, unclipped: i % 3 === 0 ? -0.5 : 0.5 } : { ...METRICS };
    // Discrete noise: each client's words as prepareContribution encodes them (rotated, rounded, noised in Z).
    const input = plan.privacy.discrete
      ? encodeDiscreteContribution(update(i, round, plan.privacy.clipNorm), metrics, plan).input
      : encodeWithMetrics(update(i, round, plan.privacy.clipNorm), metrics, params, layout);
    for (let j = 0; j < sum.length; j++) sum[j] = ((sum[j] as number) + (input[j] as number)) >>> 0;
  }
  return sum;
}

describe('round-plan parity: the simulator and the aggregator produce identical round plans and summaries', () => {
  for (const c of cases) {
    it(c.name, () => {
      const data = tempDataDir();
      cleanups.push(() => data.remove());
      const config = testConfig(data.dir, {
        privacy: c.privacy,
        round: { target: c.expectedCohortSize, minReports: c.minReports, secAggPlusFrom: 1000 },
      });
      const samplingRate = c.expectedCohortSize / c.population;
      const adaptive = config.privacy.adaptiveClipping;
      const simulator = new PrivateAggregation(
        {
          mode: c.privacy.mode,
          noiseMultiplier: config.privacy.noiseMultiplier,
          clip: adaptive
            ? { adaptive: true, initialClipNorm: config.privacy.clipNorm, targetQuantile: adaptive.targetQuantile, learningRate: adaptive.learningRate }
            : { adaptive: false, clipNorm: config.privacy.clipNorm },
          targetDelta: config.privacy.targetDelta,
          minSurvivors: c.minReports,
          colluders: config.privacy.colluders,
          noise: config.privacy.noise,
          modulusBits: config.round.modulusBits,
        },
        c.expectedCohortSize,
        samplingRate,
      );
      let live: LivePlan = {
        target: c.expectedCohortSize,
        overSelection: 1,
        minReports: c.minReports,
        pauseMs: 0,
        checkinMs: 0,
        training: config.training,
        clipNorm: config.privacy.clipNorm,
        noiseMultiplier: config.privacy.noiseMultiplier,
      };
      let model: { weights: Float32Array; optimizer: ServerOptimizerState } = {
        weights: new Float32Array(DIMENSION).fill(0.1),
        optimizer: createServerOptimizer({ name: 'fedadam', learningRate: 0.05 }, DIMENSION),
      };
      let aggregatorLedger = new PrivacyLedger();
      for (let round = 1; round <= 3; round++) {
        // Drawn fresh per round by the coordinator; here a fixed one per round, the same on both sides.
        const rotationSeed = new Uint8Array(32).fill(round);
        const plan = planAggregatorRound({
          config,
          live,
          round,
          roundId: `r${round}-00000000`,
          base: { version: round - 1, hash: '0'.repeat(64), weights: model.weights },
          spec: SPEC,
          clientCount: c.selected,
          samplingRate,
          population: c.population,
          graphSeed: new Uint8Array(32),
          rotationSeed,
          authenticated: false,
        });
        const simulatedPlan =
          config.privacy.noise === 'discrete' ? simulator.planFor({ dimension: DIMENSION, clientCount: c.selected, rotationSeed }) : simulator.plan;
        expect(simulatedPlan.privacy).toEqual(plan.privacy);

        const sum = secAggSum(plan, c.survivors, round);
        const state: RoundState = {
          round,
          roundId: plan.roundId,
          startedAt: '2026-12-04T15:00:00.000Z',
          plan,
          live,
          planRevision: 0,
          base: { version: round - 1, hash: '0'.repeat(64) },
          members: Array.from({ length: c.selected }, (_, i) => ({ tokenId: `t${i}`, backend: 'cpu' })),
          eligible: c.population,
          samplingRate,
          funnel: { eligible: c.population, selected: c.selected, advertised: c.selected, shared: c.selected, masked: c.survivors, unmasked: c.survivors },
          dropouts: {},
          bytes: { received: 0, sent: 0 },
          durationsMs: {},
          backends: { cpu: c.selected },
        };
        const survivors = Array.from({ length: c.survivors }, (_, i) => i);
        const aggregator = concludeRound({
          state,
          ledger: aggregatorLedger,
          targetDelta: config.privacy.targetDelta,
          endedAt: '2026-12-04T15:00:01.000Z',
          result: { sum, survivors },
          base: model,
          nextVersion: round,
          adaptive,
        });
        if (aggregator.status !== 'committed') throw new Error(`round ${round} aborted: ${aggregator.reason.message}`);

        // The simulator is handed the very sum secure aggregation released to the aggregator.
        const decoded = decodeRoundSum(plan, sum, c.survivors);
        if (!decoded.ok) throw new Error(decoded.error.message);
        const { unclipped } = decoded.value.metrics;
        const simulated = simulator.summarize(
          round,
          simulatedPlan,
          {
            updateSum: Float64Array.from(decoded.value.values),
            ...(unclipped !== undefined ? { unclippedSum: unclipped } : {}),
            survivors: c.survivors,
            clipped: 0,
          },
          model,
        );
        if (!simulated.outcome.ok) throw new Error(`simulated round ${round}: ${simulated.outcome.error.message}`);

        expect(simulated.privacy).toEqual(aggregator.report.privacy);
        expect(simulated.ledger.toJSON()).toEqual(aggregator.ledger.toJSON());
        expect(simulated.outcome.weights).toEqual(aggregator.model.weights);
        expect(simulated.outcome.optimizer).toEqual(aggregator.model.optimizer);
        expect(simulated.outcome.nextClipNorm).toEqual(aggregator.model.clipNorm);
        expect(simulator.clipNorm).toBe(aggregator.model.clipNorm ?? config.privacy.clipNorm);

        // Only the honest reports' noise is credited: k − c of them, each σC/√(k_min − c).
        const colluders = config.privacy.colluders;
        const entry = aggregator.ledger.entries.at(-1);
        if (config.privacy.noise === 'discrete') expect(entry?.discrete?.clients).toBe(c.survivors - colluders);
        else if (colluders > 0)
          expect(entry?.noiseMultiplier).toBeCloseTo(config.privacy.noiseMultiplier * Math.sqrt((c.survivors - colluders) / (c.minReports - colluders)), 12);

        aggregatorLedger = aggregator.ledger;
        model = { weights: aggregator.model.weights, optimizer: aggregator.model.optimizer };
        if (aggregator.model.clipNorm !== undefined) live = { ...live, clipNorm: aggregator.model.clipNorm };
      }
      // Three rounds recorded alike, at the survivors' σ.
      expect(aggregatorLedger.entries).toHaveLength(3);
    });
  }
});
