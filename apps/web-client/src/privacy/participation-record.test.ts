import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { parameterCount, TINY_SPEC } from '@murmur/fl-core/model';
import { checkPlanAgainstPolicy, DEFAULT_PLAN_POLICY } from '@murmur/fl-core/participant';
import { ddgParams } from '@murmur/fl-core/privacy';
import { contributionMetricsSpec, PROTOCOL_VERSION, roundPlanSchema, type RoundPlan } from '@murmur/fl-core/protocol';
import { parseTrainingPlan } from '@murmur/fl-core/train';
import { LocalStore } from '../storage/db';
import { ownEpsilonOf } from './OwnAndPopulationEpsilon';
import { participationRecordOf } from './participation-record';

/**
 * From the plan a device trained on to the ε on its privacy page: the record it stores, read back
 * from IndexedDB, composed by fl-core deviceEpsilon. The expected values are computed apart from
 * all of that: mpmath at 40 digits, per round the Gaussian mechanism's RDP α/(2z²) at every order
 * of DEFAULT_RDP_ORDERS, summed over rounds, ε = RDP + log(1 − 1/α) − log(δα)/(α − 1) minimised
 * over the orders, δ = 1e−6 (docs/privacy.md, "Your own ε"). Every plan here is one the device
 * accepts (DEFAULT_PLAN_POLICY), so these are rounds it would really have joined.
 *
 * The rounds: σ = 1, C = 1, k_min = 6, c = 2, t = 5 of a cohort of 8 (full graph), in mode
 * 'distributed'. The device assumes no colluders of its own (c_device = 0 < c_plan).
 * - Continuous: h = t − c = 3 honest shares of σC/√(k_min − c) = 1/2: z = ½·√(3/4).
 *   Ignoring the plan's c (shares of σC/√k_min, h = t = 5: z = ½·√(5/6)) gives 26.0159 for three rounds.
 * - Discrete, scale 1024, d = 156,512 padded to 262,144, β = e^(−1/2): Δ₂ = √(s² + d/4 + √(2 ln(1/β))(s + √d/2))
 *   = 1056.1212051653919897 (less than s + √d), σ_Z = σC·s/√(k_min − c) = 512, τ = 10·Σ_{k=1}^{2} e^(−2π²σ_Z²k/(k+1)) ≈ 10^−1123631,
 *   z = 1/(2Δ₂/(√3·σ_Z) + τ√d) = 0.41984291629500416275: rounding adds 3% to the sensitivity.
 */

const EXPECTED = {
  /** Three continuous rounds with c = 2. */
  continuous: 27.815877608496237264,
  /** Three discrete rounds with c = 2. */
  discrete: 28.962850264746237264,
  /** Two of each. */
  mixed: 34.442237030177716819,
  /** Three rounds counted as version 6 did: c ignored, rounding ignored. */
  withoutColludersOrRounding: 26.015877608496237264,
};

const SCALE = 1024;
const DIMENSION = parameterCount(TINY_SPEC);

function plan(round: number, discrete: boolean): RoundPlan {
  const training = parseTrainingPlan({ epochs: 1, batchSize: 8, learningRate: 0.5, maxExamples: 64 });
  const metrics = contributionMetricsSpec(training);
  const roundId = `round-${round}`;
  const block = discrete
    ? (() => {
        const params = ddgParams({
          dimension: DIMENSION,
          clipNorm: 1,
          scale: SCALE,
          localNoiseStdDev: 1 / Math.sqrt(6 - 2),
          modulusBits: 32,
          beta: Math.exp(-0.5),
        });
        return {
          scale: SCALE,
          beta: params.beta,
          roundedNormBound: params.roundedNormBound,
          paddedDimension: params.paddedDimension,
          modulusBits: 32,
          rotationSeed: '5a'.repeat(32),
        };
      })()
    : undefined;
  return roundPlanSchema.parse({
    protocolVersion: PROTOCOL_VERSION,
    roundId,
    round,
    model: { version: 0, hash: '0'.repeat(64), url: '/api/model/0', spec: TINY_SPEC },
    participantId: 0,
    secagg: {
      roundId,
      clientCount: 8,
      threshold: 5,
      vectorLength: (block?.paddedDimension ?? DIMENSION) + Object.keys(metrics).length,
      modulusBits: 32,
      graph: { kind: 'full' },
    },
    training,
    evaluationFraction: 0.25,
    privacy: {
      mode: 'distributed',
      clipNorm: 1,
      noiseMultiplier: 1,
      expectedCohortSize: 8,
      minSurvivors: 6,
      colluders: 2,
      ...(block ? { discrete: block } : {}),
    },
    encoding: { clipRange: 4, modulusBits: 32, maxClients: 8 },
    metrics,
    deadlines: { advertiseKeysMs: 60_000, shareKeysMs: 15_000, maskedInputMs: 15_000, unmaskingMs: 15_000 },
  });
}

let counter = 0;
const stores: LocalStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

/** Stores each plan's record as the runtime does, then reads them back from a fresh connection. */
async function storedRecords(plans: readonly RoundPlan[]) {
  const name = `murmur-own-epsilon-${++counter}`;
  const writer = await LocalStore.open({ name, defaultConsent: false });
  for (const [index, p] of plans.entries()) await writer.putParticipation(participationRecordOf(p, index + 1));
  writer.close();
  const reader = await LocalStore.open({ name, defaultConsent: false });
  stores.push(reader);
  return reader.listParticipations();
}

const ownEpsilon = async (plans: readonly RoundPlan[]) => ownEpsilonOf(await storedRecords(plans), [], DEFAULT_PLAN_POLICY);

describe("the device's own ε from what it stores of each plan", () => {
  it('every plan here is one the device accepts', () => {
    for (const p of [plan(1, false), plan(2, true)]) expect(checkPlanAgainstPolicy(p, DEFAULT_PLAN_POLICY)).toEqual({ ok: true });
  });

  it("keeps the plan's c and discrete block", async () => {
    const [continuous, discrete] = await storedRecords([plan(1, false), plan(2, true)]);
    expect(continuous).toMatchObject({ roundId: 'round-1', minSurvivors: 6, threshold: 5, colluders: 2, discrete: null });
    expect(discrete).toMatchObject({ roundId: 'round-2', colluders: 2, discrete: { clipNorm: 1, scale: SCALE, paddedDimension: 262_144 } });
    expect(discrete?.discrete?.roundedNormBound).toBeCloseTo(1056.1212051653919897, 9);
  });

  it('c > 0: counts t − c honest shares of σC/√(k_min − c), not t shares of σC/√k_min', async () => {
    const own = await ownEpsilon([1, 2, 3].map((r) => plan(r, false)));
    expect(own).toMatchObject({ rounds: 3, roundsWithoutNoise: 0, delta: 1e-6, uncounted: 0, assumedColluders: 0 });
    expect(own.epsilon).toBeCloseTo(EXPECTED.continuous, 9);
    expect(own.epsilon).toBeGreaterThan(EXPECTED.withoutColludersOrRounding + 1);
  });

  it('discrete: the rounding is inside the figure (Δ₂, not C·scale)', async () => {
    const own = await ownEpsilon([1, 2, 3].map((r) => plan(r, true)));
    expect(own.epsilon).toBeCloseTo(EXPECTED.discrete, 9);
    expect(own.epsilon).toBeGreaterThan(EXPECTED.continuous + 1);
  });

  it('continuous and discrete rounds compose', async () => {
    const own = await ownEpsilon([plan(1, false), plan(2, true), plan(3, false), plan(4, true)]);
    expect(own.rounds).toBe(4);
    expect(own.epsilon).toBeCloseTo(EXPECTED.mixed, 9);
  });
});
