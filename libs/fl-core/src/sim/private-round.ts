import type { ServerOptimizerState } from '../aggregate/server-optimizers';
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { ddgDecodeSum, ddgEncodeUpdate } from '../privacy/ddg';
import { discreteParamsOf, rotationSeedOf } from '../round/discrete';
import { clientPrivacyOptionsOf, clipIndicatorPrivacyOptionsOf } from '../round/client-privacy';
import {
  addCentralIndicatorNoise,
  addCentralNoise,
  clipIndicator,
  createAdaptiveClipping,
  privatizeClientUpdate,
  privatizeClipIndicator,
  PrivacyLedger,
  type PrivacyMode,
} from '../privacy/index';
import type { ProtocolError } from '../protocol/errors';
import { indicatorNoiseStdDevOf, planRoundPrivacy, type DiscreteRoundInput, type RoundPrivacyPlan } from '../round/plan-round';
import { summarizeRound, type RoundSummary } from '../round/summarize-round';

/** DP-FedAvg (McMahan et al. 2018) settings for a simulation. */
export interface SimulationPrivacy {
  mode: Exclude<PrivacyMode, 'off'>;
  /** σ of the round as a whole (update and, with adaptive clipping, the clip-indicator query). */
  noiseMultiplier: number;
  clip: { adaptive: false; clipNorm: number } | { adaptive: true; initialClipNorm: number; targetQuantile?: number; learningRate?: number };
  /** δ at which ε is reported. */
  targetDelta: number;
  /**
   * k_min: the reports 'distributed' clients calibrate their noise share to (the aggregator's
   * minReports). @default the expected cohort size
   */
  minSurvivors?: number;
  /** c: fake or colluding reports per cohort the noise tolerates (the aggregator's colluders). @default 0 */
  colluders?: number;
  /** 'discrete': the distributed discrete Gaussian ('distributed' mode, fixed C). @default 'continuous' */
  noise?: 'continuous' | 'discrete';
  /** k of the discrete words' modulus (the aggregator's round.modulusBits). @default 32 */
  modulusBits?: number;
}

export interface PrivateRoundReport {
  /** ε spent so far, at targetDelta. */
  epsilon: number;
  /** The RDP order that gave ε. */
  order: number;
  /** C used this round. */
  clipNorm: number;
  /** σ recorded in the ledger for this round. */
  noiseMultiplier: number;
  /** Clients Poisson-sampled into the round. */
  cohortSize: number;
  /** Share of this round's updates that needed clipping. */
  clippedFraction: number;
  /** Why the round kept the previous model (the server step diverged); null when it committed. Its ε is spent either way. */
  abort: ProtocolError | null;
}

/** What the simulated clients release: the sum of their privatized updates (and indicators). */
export interface SimulatedRelease {
  updateSum: Float64Array;
  /** Σ(b − 1/2) with its noise, when C adapts. */
  unclippedSum?: number;
  /** Reports in the sum. */
  survivors: number;
  /** Updates that needed clipping. */
  clipped: number;
}

/**
 * The privacy side of a simulated round, split as the deployment splits it: the clients' part
 * (clip, each mode's noise, the sum secure aggregation would release) is simulated here; the plan
 * and the server's part are fl-core's planRoundPrivacy and summarizeRound, the very functions the
 * aggregator's coordinator runs, so a simulation accounts, averages and adapts C as a deployment does.
 */
export class PrivateAggregation {
  #ledger = new PrivacyLedger();
  #clipNorm: number;
  readonly #adaptive: { targetQuantile: number; learningRate: number } | null;

  constructor(
    readonly privacy: SimulationPrivacy,
    /** m: clients expected per round; also the fixed denominator of the mean. */
    readonly expectedCohortSize: number,
    /** q = m / population: each eligible client joins a round independently with this chance. */
    readonly samplingRate: number,
    private readonly randomBytes?: RandomBytes,
  ) {
    if (privacy.clip.adaptive) {
      const { clip } = privacy;
      // Validates γ, η and the initial C up front rather than at the first round's end.
      const state = createAdaptiveClipping({
        initialClipNorm: clip.initialClipNorm,
        expectedCohortSize,
        indicatorNoiseStdDev: indicatorNoiseStdDevOf(expectedCohortSize, privacy.noiseMultiplier),
        ...(clip.targetQuantile !== undefined ? { targetQuantile: clip.targetQuantile } : {}),
        ...(clip.learningRate !== undefined ? { learningRate: clip.learningRate } : {}),
      });
      this.#clipNorm = state.clipNorm;
      this.#adaptive = { targetQuantile: state.targetQuantile, learningRate: state.learningRate };
    } else {
      this.#clipNorm = privacy.clip.clipNorm;
      this.#adaptive = null;
    }
  }

  /** Every round recorded so far. */
  get ledger(): PrivacyLedger {
    return this.#ledger;
  }

  get clipNorm(): number {
    return this.#clipNorm;
  }

  /** The next round's privacy plan, as the aggregator would plan it for the same m, k_min, c, σ and C (continuous noise). */
  get plan(): RoundPrivacyPlan {
    return this.planFor();
  }

  /**
   * The next round's privacy plan; with discrete noise it also needs the round's model dimension,
   * cohort and rotation seed (the aggregator's planRound takes the same from its round).
   */
  planFor(round?: Omit<DiscreteRoundInput, 'modulusBits'>): RoundPrivacyPlan {
    const discrete = this.privacy.noise === 'discrete';
    if (discrete && round === undefined)
      throw new RangeError('PrivateAggregation.planFor: discrete noise needs the round (dimension, clientCount, rotationSeed)');
    return planRoundPrivacy({
      mode: this.privacy.mode,
      clipNorm: this.#clipNorm,
      noiseMultiplier: this.privacy.noiseMultiplier,
      expectedCohortSize: this.expectedCohortSize,
      minSurvivors: this.privacy.minSurvivors ?? this.expectedCohortSize,
      adaptiveClipping: this.#adaptive !== null,
      ...(this.privacy.colluders !== undefined ? { colluders: this.privacy.colluders } : {}),
      ...(discrete && round ? { discrete: { ...round, modulusBits: this.privacy.modulusBits ?? 32 } } : {}),
    });
  }

  /** σ_Δ for the update: all of σ, or what adaptive clipping's indicator query leaves. */
  get updateNoiseMultiplier(): number {
    return this.plan.privacy.noiseMultiplier;
  }

  /**
   * The clients' side of a round under `plan`: each clips its delta and adds its share of the
   * noise; in 'central' the (trusted) server adds the noise to the sum instead.
   */
  release(plan: RoundPrivacyPlan, deltas: readonly Float32Array[], dimension: number): SimulatedRelease {
    const { privacy } = plan;
    if (privacy.discrete !== undefined) return this.#releaseDiscrete(plan, deltas, dimension);
    const clientOptions = clientPrivacyOptionsOf(plan);
    const indicatorOptions = clipIndicatorPrivacyOptionsOf(plan);
    const indicatorNoiseStdDev = privacy.clipIndicatorNoiseStdDev;
    let updateSum = new Float64Array(dimension);
    let unclippedSum = 0;
    let clipped = 0;
    for (const delta of deltas) {
      const privatized = privatizeClientUpdate(delta, clientOptions, this.randomBytes);
      for (let i = 0; i < dimension; i++) updateSum[i] = (updateSum[i] as number) + (privatized.update[i] as number);
      if (privatized.wasClipped) clipped += 1;
      if (indicatorOptions !== undefined) {
        unclippedSum += privatizeClipIndicator(clipIndicator(privatized.norm, privacy.clipNorm), indicatorOptions, this.randomBytes).value;
      }
    }
    if (privacy.mode === 'central') {
      updateSum = addCentralNoise(updateSum, { clipNorm: privacy.clipNorm, noiseMultiplier: privacy.noiseMultiplier }, this.randomBytes).sum;
      if (indicatorNoiseStdDev !== undefined) unclippedSum = addCentralIndicatorNoise(unclippedSum, indicatorNoiseStdDev, this.randomBytes);
    }
    return { updateSum, ...(indicatorNoiseStdDev !== undefined ? { unclippedSum } : {}), survivors: deltas.length, clipped };
  }

  /** Discrete noise: each client's ddgEncodeUpdate, the words summed mod 2^k, ddgDecodeSum (what SecAgg and the aggregator do). */
  #releaseDiscrete(plan: RoundPrivacyPlan, deltas: readonly Float32Array[], dimension: number): SimulatedRelease {
    const params = discreteParamsOf(plan.privacy, dimension);
    const seed = rotationSeedOf(plan.privacy.discrete as NonNullable<RoundPrivacyPlan['privacy']['discrete']>);
    const sum = new Uint32Array(params.paddedDimension);
    const modulus = 2 ** params.modulusBits;
    let clipped = 0;
    for (const delta of deltas) {
      const encoded = ddgEncodeUpdate(delta, params, seed, this.randomBytes);
      for (let i = 0; i < sum.length; i++) sum[i] = ((sum[i] as number) + (encoded.words[i] as number)) % modulus;
      if (encoded.wasClipped) clipped += 1;
    }
    return { updateSum: Float64Array.from(ddgDecodeSum(sum, params, seed)), survivors: deltas.length, clipped };
  }

  /** The server's side: summarizeRound on the released sum; keeps the ledger it returns and the adapted C. */
  summarize(round: number, plan: RoundPrivacyPlan, released: SimulatedRelease, base: { weights: Float32Array; optimizer: ServerOptimizerState }): RoundSummary {
    const summary = summarizeRound({
      round,
      privacy: plan.privacy,
      samplingRate: this.samplingRate,
      survivors: released.survivors,
      updateSum: released.updateSum,
      ...(released.unclippedSum !== undefined ? { unclippedSum: released.unclippedSum } : {}),
      base,
      ledger: this.#ledger,
      targetDelta: this.privacy.targetDelta,
      adaptive: this.#adaptive,
    });
    this.#ledger = summary.ledger;
    if (summary.outcome.ok && summary.outcome.nextClipNorm !== undefined) this.#clipNorm = summary.outcome.nextClipNorm;
    return summary;
  }

  /**
   * One private round over the cohort's deltas (at least one): the next weights and optimizer
   * state (the base ones when the step diverged), and what the round spent.
   */
  aggregate(
    round: number,
    deltas: readonly Float32Array[],
    base: { weights: Float32Array; optimizer: ServerOptimizerState },
  ): { weights: Float32Array; optimizer: ServerOptimizerState; report: PrivateRoundReport } {
    const plan =
      this.privacy.noise === 'discrete'
        ? this.planFor({
            dimension: base.weights.length,
            clientCount: deltas.length,
            rotationSeed: (this.randomBytes ?? secureRandomBytes)(new Uint8Array(32)),
          })
        : this.plan;
    const released = this.release(plan, deltas, base.weights.length);
    const summary = this.summarize(round, plan, released, base);
    const { outcome, ledgerEntry } = summary;
    // Only mode 'off' records nothing, and a simulation's privacy never is 'off'.
    if (!ledgerEntry) throw new Error(`PrivateAggregation: round ${round} in mode '${plan.privacy.mode}' recorded no ledger entry`);
    const { epsilon, order } = this.#ledger.epsilon(this.privacy.targetDelta);
    return {
      weights: outcome.ok ? outcome.weights : base.weights,
      optimizer: outcome.ok ? outcome.optimizer : base.optimizer,
      report: {
        epsilon,
        order,
        clipNorm: plan.privacy.clipNorm,
        noiseMultiplier: ledgerEntry.noiseMultiplier,
        cohortSize: released.survivors,
        clippedFraction: released.survivors > 0 ? released.clipped / released.survivors : 0,
        abort: outcome.ok ? null : outcome.error,
      },
    };
  }
}
