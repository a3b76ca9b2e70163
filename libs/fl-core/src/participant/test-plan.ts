import { parseTrainingPlan } from '../train/plan';
import { parameterCount, type ModelSpec } from '../model/spec';
import { contributionMetricsSpec } from '../protocol/events';
import { PROTOCOL_VERSION, type RoundPlan } from '../protocol/schemas';

/** The small GRU the participant tests train. */
export const TEST_SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 100, contextLength: 4, embeddingDim: 8, hiddenUnits: 8 };

/**
 * A plan the aggregator could send a cohort of `n` (tests): distributed noise at σ = 1, k_min = 3,
 * full-graph secure aggregation with the aggregator's threshold max(k_min, ⌊n/2⌋ + 1).
 */
export function testPlan(
  n = 4,
  change: { privacy?: Partial<RoundPlan['privacy']>; secagg?: Partial<RoundPlan['secagg']>; encoding?: Partial<RoundPlan['encoding']> } = {},
): RoundPlan {
  const training = parseTrainingPlan({ epochs: 1, batchSize: 8, learningRate: 0.5, maxExamples: 64 });
  const metrics = contributionMetricsSpec(training);
  const d = parameterCount(TEST_SPEC);
  return {
    protocolVersion: PROTOCOL_VERSION,
    roundId: 'round-7',
    round: 7,
    model: { version: 3, hash: '0'.repeat(64), url: '/api/model/3', spec: TEST_SPEC },
    participantId: 0,
    secagg: {
      roundId: 'round-7',
      clientCount: n,
      threshold: Math.min(n, Math.max(3, Math.floor(n / 2) + 1)),
      vectorLength: d + Object.keys(metrics).length,
      modulusBits: 32,
      graph: { kind: 'full' },
      ...change.secagg,
    },
    training,
    evaluationFraction: 0.25,
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, expectedCohortSize: n, minSurvivors: 3, ...change.privacy },
    encoding: { clipRange: 2, modulusBits: 32, maxClients: n, ...change.encoding },
    metrics,
    deadlines: { advertiseKeysMs: 1000, shareKeysMs: 1000, maskedInputMs: 1000, unmaskingMs: 1000 },
  };
}
