import type { RandomBytes } from '../random/index';
import {
  addCentralIndicatorNoise,
  addCentralNoise,
  clipIndicator,
  createAdaptiveClipping,
  modelUpdateNoiseMultiplier,
  privatizeClientUpdate,
  privatizeClipIndicator,
  roundNoiseMultiplier,
  updateClipNorm,
  type AdaptiveClippingState,
  PrivacyLedger,
  type PrivacyMode,
} from '../privacy/index';

/** DP-FedAvg (McMahan et al. 2018) settings for a simulation. */
export interface SimulationPrivacy {
  mode: Exclude<PrivacyMode, 'off'>;
  /** σ of the round as a whole (update and, with adaptive clipping, the clip-indicator query). */
  noiseMultiplier: number;
  clip: { adaptive: false; clipNorm: number } | { adaptive: true; initialClipNorm: number; targetQuantile?: number; learningRate?: number };
  /** δ at which ε is reported. */
  targetDelta: number;
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
}

/**
 * The server-and-client privacy bookkeeping of a simulated round, kept apart from the training
 * loop: Poisson sampling rate, clipping, each mode's noise, the fixed-denominator mean, adaptive
 * clipping, and the ledger.
 */
export class PrivateAggregation {
  readonly ledger = new PrivacyLedger();
  #adaptive: AdaptiveClippingState | null;
  #fixedClipNorm: number;

  constructor(
    readonly privacy: SimulationPrivacy,
    /** m: clients expected per round; also the fixed denominator of the mean. */
    readonly expectedCohortSize: number,
    /** q = m / population: each eligible client joins a round independently with this chance. */
    readonly samplingRate: number,
    private readonly randomBytes?: RandomBytes,
  ) {
    this.#adaptive = privacy.clip.adaptive
      ? createAdaptiveClipping({
          initialClipNorm: privacy.clip.initialClipNorm,
          expectedCohortSize,
          ...(privacy.clip.targetQuantile !== undefined ? { targetQuantile: privacy.clip.targetQuantile } : {}),
          ...(privacy.clip.learningRate !== undefined ? { learningRate: privacy.clip.learningRate } : {}),
        })
      : null;
    this.#fixedClipNorm = privacy.clip.adaptive ? Number.NaN : privacy.clip.clipNorm;
  }

  get clipNorm(): number {
    return this.#adaptive ? this.#adaptive.clipNorm : this.#fixedClipNorm;
  }

  /** σ_Δ for the update: all of σ, or what adaptive clipping's indicator query leaves. */
  get updateNoiseMultiplier(): number {
    return this.#adaptive
      ? modelUpdateNoiseMultiplier({ noiseMultiplier: this.privacy.noiseMultiplier, indicatorNoiseStdDev: this.#adaptive.indicatorNoiseStdDev })
      : this.privacy.noiseMultiplier;
  }

  /**
   * Privatizes the cohort's deltas and returns the noised mean (sum / m) to hand to the server
   * optimizer, plus what the round spent.
   */
  aggregate(round: number, deltas: readonly Float32Array[], dimension: number): { meanDelta: Float32Array; report: PrivateRoundReport } {
    const { mode } = this.privacy;
    const clipNorm = this.clipNorm;
    const sigmaUpdate = this.updateNoiseMultiplier;
    const clientOptions = { mode, clipNorm, noiseMultiplier: sigmaUpdate, expectedCohortSize: this.expectedCohortSize };
    let sum = new Float64Array(dimension);
    let centeredIndicatorSum = 0;
    let clipped = 0;
    for (const delta of deltas) {
      const privatized = privatizeClientUpdate(delta, clientOptions, this.randomBytes);
      for (let i = 0; i < dimension; i++) sum[i] = (sum[i] as number) + (privatized.update[i] as number);
      if (privatized.wasClipped) clipped += 1;
      if (this.#adaptive) {
        const indicator = privatizeClipIndicator(
          clipIndicator(privatized.norm, clipNorm),
          { mode, indicatorNoiseStdDev: this.#adaptive.indicatorNoiseStdDev, expectedCohortSize: this.expectedCohortSize },
          this.randomBytes,
        );
        centeredIndicatorSum += indicator.value;
      }
    }
    if (mode === 'central') sum = addCentralNoise(sum, { clipNorm, noiseMultiplier: sigmaUpdate }, this.randomBytes).sum;
    // DP-FedAvg divides by the expected cohort, never the number of reports (itself private data).
    const meanDelta = new Float32Array(dimension);
    for (let i = 0; i < dimension; i++) meanDelta[i] = (sum[i] as number) / this.expectedCohortSize;

    const recordedSigma = roundNoiseMultiplier({
      mode,
      noiseMultiplier: sigmaUpdate,
      expectedCohortSize: this.expectedCohortSize,
      survivors: Math.max(1, deltas.length),
      ...(this.#adaptive ? { indicatorNoiseStdDev: this.#adaptive.indicatorNoiseStdDev } : {}),
    });
    this.ledger.record({ round, samplingRate: this.samplingRate, noiseMultiplier: recordedSigma });
    if (this.#adaptive) {
      const noised =
        mode === 'central' ? addCentralIndicatorNoise(centeredIndicatorSum, this.#adaptive.indicatorNoiseStdDev, this.randomBytes) : centeredIndicatorSum;
      this.#adaptive = updateClipNorm(this.#adaptive, { noisedCenteredSum: noised, expectedCohortSize: this.expectedCohortSize }).state;
    }
    const { epsilon, order } = this.ledger.epsilon(this.privacy.targetDelta);
    return {
      meanDelta,
      report: {
        epsilon,
        order,
        clipNorm,
        noiseMultiplier: recordedSigma,
        cohortSize: deltas.length,
        clippedFraction: deltas.length > 0 ? clipped / deltas.length : 0,
      },
    };
  }
}
