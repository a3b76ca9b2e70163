/**
 * Round summarizing, the one place it happens: from a released sum to the next model, the ledger
 * entry, the next clip norm and the round record's numbers, for the aggregator's coordinator and
 * the simulator alike. Pure: the inputs are left untouched (the ledger is copied), and nothing here
 * reads a clock, draws randomness or does I/O.
 *
 * Order matters for privacy: the ledger entry is computed first, from the plan and the number of
 * reports alone, because the sum was released the moment it was unmasked. Whatever happens after
 * (the server step diverges, the commit fails) the caller holds the entry and records it.
 */
import { applyServerUpdate, type ServerOptimizerState } from '../aggregate/server-optimizers';
import { encodingParams } from '../encode/fixed-point';
import { createMetricsLayout, decodeSumWithMetrics } from '../encode/metrics';
import { updateClipNorm } from '../privacy/adaptive-clipping';
import { ledgerEntryRdp, PrivacyLedger, type PrivacyLedgerEntry } from '../privacy/ledger';
import { roundNoiseMultiplier } from '../privacy/modes';
import { rdpToEpsilon, type PrivacySpent } from '../privacy/rdp';
import { parameterCount, type ModelSpec } from '../model/spec';
import { protocolError, protocolFailure, type ProtocolError, type ProtocolResult } from '../protocol/errors';
import type { PrivacyPlan, RoundReport } from '../protocol/schemas';
import { checkDecodedSum, type BoundsPlan, type DecodedRoundSum } from './bounds';
import { decodeDiscreteSum, discreteLedgerMechanism, discreteParamsOf } from './discrete';

/** What a released sum is accounted by: whose plan, how it was sampled, how many reports it holds. */
export interface RoundRelease {
  round: number;
  privacy: PrivacyPlan;
  /** d: the model's parameter count; needed (only) when the plan's noise is discrete. */
  dimension?: number;
  /** q: the Poisson sampling rate of the round. */
  samplingRate: number;
  /** Reports in the released sum (SecAgg's survivors, the simulator's cohort). */
  survivors: number;
  /**
   * When the sum was released in parts (the distributed mode: each SecAgg group's sum is unmasked
   * on its own process), the reports in the smallest part. A client's update was released with
   * its own group's noise only, so the ledger credits the weakest group's, not the whole sum's.
   * @default survivors
   */
  weakestGroupReports?: number;
}

/**
 * The ledger entry of a released sum: the σ of the noise the survivors actually put in it
 * (roundNoiseMultiplier: σ·√((k − c)/(k_min − c)) in 'distributed', counting only the honest
 * reports), not the planned cohort's, since crediting noise from clients who dropped out, or from
 * fake ones, would understate ε. With discrete noise the entry carries the mechanism itself
 * (Δ₂, σ_Z, n = k − c honest shares, padded d) and the ledger accounts it with the discrete
 * Gaussian's accountant. Null in mode 'off'.
 */
export function ledgerEntryOf(release: RoundRelease): PrivacyLedgerEntry | null {
  const { privacy } = release;
  if (privacy.mode === 'off') return null;
  const protecting = release.weakestGroupReports ?? release.survivors;
  if (!Number.isInteger(protecting) || protecting < 1 || protecting > release.survivors) {
    throw new RangeError(`ledgerEntryOf: weakestGroupReports must be an integer in [1, survivors = ${release.survivors}], got ${protecting}`);
  }
  const colluders = privacy.colluders ?? 0;
  if (privacy.discrete !== undefined) {
    if (release.dimension === undefined) throw new RangeError(`ledgerEntryOf: a discrete round needs the model's dimension`);
    // Checks c < survivors as for continuous noise, and fixes the honest-share count.
    roundNoiseMultiplier({ ...privacy, survivors: protecting, colluders });
    const params = discreteParamsOf(privacy, release.dimension);
    const { discrete, noiseMultiplier } = discreteLedgerMechanism(params, protecting - colluders);
    return { round: release.round, samplingRate: release.samplingRate, noiseMultiplier, discrete };
  }
  const noiseMultiplier = roundNoiseMultiplier({
    mode: privacy.mode,
    noiseMultiplier: privacy.noiseMultiplier,
    expectedCohortSize: privacy.expectedCohortSize,
    minSurvivors: privacy.minSurvivors,
    survivors: protecting,
    ...(colluders > 0 ? { colluders } : {}),
    ...(privacy.clipIndicatorNoiseStdDev ? { indicatorNoiseStdDev: privacy.clipIndicatorNoiseStdDev } : {}),
  });
  return { round: release.round, samplingRate: release.samplingRate, noiseMultiplier };
}

/** Rounds a budget projection counts up to; more are reported as this many (the plan can run "indefinitely"). */
export const MAX_PROJECTED_ROUNDS = 1_000_000;

export interface BudgetProjectionInput {
  /** The ledger before the round. */
  ledger: PrivacyLedger;
  /** The plan the next round would run with (planPrivacyFor) and its sampling rate (and d for discrete noise). */
  release: Pick<RoundRelease, 'round' | 'privacy' | 'samplingRate' | 'dimension'>;
  /** δ at which ε is reported and budgeted. */
  targetDelta: number;
  /** ε allowed at targetDelta for this population; null: no budget. */
  epsilonBudget: number | null;
}

export interface BudgetProjection {
  /** ε at targetDelta now (null: nothing recorded yet). */
  spent: number | null;
  /** ε after one more round at this plan, committed with the fewest reports it may commit with; null in mode 'off'. */
  next: number | null;
  epsilonBudget: number | null;
  /** Whether that round may open: next ≤ epsilonBudget (always without a budget or in mode 'off'). */
  allowed: boolean;
  /** Rounds at this plan before ε would pass the budget, at most MAX_PROJECTED_ROUNDS; null without a budget or in mode 'off'. */
  roundsLeft: number | null;
  /** The entry the round is charged (its k_min worst case), what a reservation holds while it runs; null in mode 'off'. */
  charge: PrivacyLedgerEntry | null;
}

/**
 * What the next round would cost against the budget, before it opens. The round is charged its
 * worst case: the ledger entry of a sum of k_min reports (ledgerEntryOf), because fewer reports
 * carry less noise and a round may commit with as few as k_min. Identical rounds add the same RDP
 * per order (Mironov 2017, Proposition 1), so rounds left come from the ledger's accumulated RDP
 * plus n times one round's (ledgerEntryRdp), converted by rdpToEpsilon as the ledger converts it, by
 * bisection on n: ε grows with n.
 */
export function projectPrivacyBudget(input: BudgetProjectionInput): BudgetProjection {
  const { ledger, release, targetDelta, epsilonBudget } = input;
  const spent = ledger.spent(targetDelta)?.epsilon ?? null;
  const entry = ledgerEntryOf({ ...release, survivors: release.privacy.minSurvivors });
  if (!entry) return { spent, next: null, epsilonBudget, allowed: true, roundsLeft: null, charge: null };
  const { orders, conversion } = ledger;
  const base = ledger.rdp;
  const perRound = ledgerEntryRdp(entry, orders);
  const epsilonAfter = (rounds: number) =>
    rdpToEpsilon({ orders, rdp: base.map((value, i) => value + rounds * (perRound[i] as number)), delta: targetDelta, conversion }).epsilon;
  const next = epsilonAfter(1);
  if (epsilonBudget === null) return { spent, next, epsilonBudget, allowed: true, roundsLeft: null, charge: entry };
  let fits = 0;
  let exceeds = MAX_PROJECTED_ROUNDS + 1;
  if (epsilonAfter(MAX_PROJECTED_ROUNDS) <= epsilonBudget) fits = MAX_PROJECTED_ROUNDS;
  else {
    while (exceeds - fits > 1) {
      const mid = Math.floor((fits + exceeds) / 2);
      if (epsilonAfter(mid) <= epsilonBudget) fits = mid;
      else exceeds = mid;
    }
  }
  return { spent, next, epsilonBudget, allowed: next <= epsilonBudget, roundsLeft: fits, charge: entry };
}

/** A copy of `ledger` with the release recorded (the input ledger is left as it was). */
export function recordRelease(ledger: PrivacyLedger, release: RoundRelease): { ledger: PrivacyLedger; entry: PrivacyLedgerEntry | null } {
  const after = PrivacyLedger.fromJSON(ledger.toJSON());
  const entry = ledgerEntryOf(release);
  if (entry) after.record(entry);
  return { ledger: after, entry };
}

/**
 * The mean's denominator: with noise, the planned m, never the number of reports (McMahan et al.
 * 2018's fixed-denominator estimator: the count is itself data, and dividing by it would release it
 * unnoised); adaptive clipping's indicator fraction uses the same m (Andrew et al. 2021). Without
 * noise nothing is hidden, and the mean over the reports is the better estimate.
 */
export function meanDenominator(privacy: Pick<PrivacyPlan, 'mode' | 'expectedCohortSize'>, survivors: number): number {
  return privacy.mode === 'off' ? survivors : privacy.expectedCohortSize;
}

/** Uniform FedAvg over the reports (DP-FedAvg clips every update to C, so each counts once). */
export function roundMeanDelta(sum: Float32Array | Float64Array, denominator: number): Float32Array {
  const mean = new Float32Array(sum.length);
  for (let i = 0; i < mean.length; i++) mean[i] = (sum[i] as number) / denominator;
  return mean;
}

/**
 * The SecAgg sum decoded by the plan's encoding (or, with discrete noise, by ddgDecodeSum for the
 * model words: the plan's model spec gives d), and refused unless an honest cohort could have
 * produced it.
 */
export function decodeRoundSum(plan: BoundsPlan & { model?: { spec: ModelSpec } }, sum: Uint32Array, count: number): ProtocolResult<DecodedRoundSum> {
  const { encoding, metrics } = plan;
  let decoded: { values: Float32Array; metrics: Record<string, number> };
  if (plan.privacy.discrete !== undefined) {
    if (plan.model === undefined) return protocolFailure('INVALID_CONFIG', 'decodeRoundSum: a discrete plan needs its model spec to decode');
    decoded = decodeDiscreteSum(sum, plan, parameterCount(plan.model.spec), count);
  } else {
    const layout = createMetricsLayout(metrics, { maxClients: encoding.maxClients, modulusBits: encoding.modulusBits });
    decoded = decodeSumWithMetrics(sum, encodingParams(encoding), layout, count);
  }
  const value: DecodedRoundSum = { values: decoded.values, metrics: decoded.metrics, count };
  const plausible = checkDecodedSum(plan, value);
  return plausible.ok ? { ok: true, value } : plausible;
}

/** The round record's metrics from the cohort totals (ratios null where their count is 0). */
export function roundMetricsRecord(metrics: Readonly<Record<string, number>>): NonNullable<RoundReport['metrics']> {
  const ratio = (num: number | undefined, den: number | undefined) => (den && den > 0 && num !== undefined ? num / den : null);
  const evalCount = Math.round(metrics.evalCount ?? 0);
  return {
    examples: Math.round(metrics.examples ?? 0),
    trainLoss: ratio(metrics.trainLossSum, metrics.examples),
    eval: { count: evalCount, loss: ratio(metrics.evalLossSum, evalCount), top1: ratio(metrics.evalTop1, evalCount), top3: ratio(metrics.evalTop3, evalCount) },
  };
}

/** The round record's privacy block: what was planned, what the ledger recorded, ε after the round. */
export function roundPrivacyRecord(
  release: Pick<RoundRelease, 'privacy' | 'samplingRate'>,
  recorded: PrivacyLedgerEntry | null,
  spent: PrivacySpent | null,
  targetDelta: number,
  nextClipNorm?: number,
): RoundReport['privacy'] {
  const { privacy, samplingRate } = release;
  return {
    mode: privacy.mode,
    clipNorm: privacy.clipNorm,
    noiseMultiplier: privacy.noiseMultiplier,
    recordedNoiseMultiplier: recorded?.noiseMultiplier ?? null,
    samplingRate,
    epsilon: spent?.epsilon ?? null,
    delta: targetDelta,
    ...(nextClipNorm !== undefined ? { nextClipNorm } : {}),
    // Shown beside ε: the assumption it rests on, and the noise's form (absent: 0, continuous).
    ...(privacy.colluders ? { colluders: privacy.colluders } : {}),
    ...(privacy.discrete ? { noise: 'discrete' as const } : {}),
  };
}

export interface SummarizeRoundInput extends RoundRelease {
  /** The released sum of the clipped, noised updates (decoded from SecAgg, or summed by the simulator). */
  updateSum: Float32Array | Float64Array;
  /** Σ(b − 1/2) over the reports with its noise: present when the plan adapts C. */
  unclippedSum?: number;
  /** The model the round trained from, and its server optimizer. */
  base: { weights: Float32Array; optimizer: ServerOptimizerState };
  /** The ledger before this round; copied, never changed. */
  ledger: PrivacyLedger;
  /** δ at which ε is reported. */
  targetDelta: number;
  /** γ and η of adaptive clipping; null: C stays. */
  adaptive: { targetQuantile: number; learningRate: number } | null;
}

export interface RoundSummary {
  /** The ledger with this round's entry: record it whether or not the round commits. */
  ledger: PrivacyLedger;
  ledgerEntry: PrivacyLedgerEntry | null;
  /** ε at targetDelta after this round (null: nothing ever recorded, mode 'off'). */
  spent: PrivacySpent | null;
  /** The fixed-denominator mean of the released sum. */
  meanDelta: Float32Array;
  /** The round record's privacy block (nextClipNorm included when the round commits and C adapts). */
  privacy: RoundReport['privacy'];
  /** The next model, or why the round cannot commit one (the ledger entry stands either way). */
  outcome: { ok: true; weights: Float32Array; optimizer: ServerOptimizerState; nextClipNorm?: number } | { ok: false; error: ProtocolError };
}

/** Released sum → ledger entry → mean → server optimizer step → next clip norm → the record's numbers. */
export function summarizeRound(input: SummarizeRoundInput): RoundSummary {
  const { privacy, survivors, targetDelta } = input;
  const { ledger, entry } = recordRelease(input.ledger, { ...input, dimension: input.dimension ?? input.base.weights.length });
  const spent = ledger.spent(targetDelta);
  const denominator = meanDenominator(privacy, survivors);
  const meanDelta = roundMeanDelta(input.updateSum, denominator);
  const step = applyServerUpdate(input.base.optimizer, input.base.weights, meanDelta);
  if (!step.weights.every(Number.isFinite)) {
    const error = protocolError('DIVERGED', `round ${input.round}: the server step produced non-finite weights`);
    return { ledger, ledgerEntry: entry, spent, meanDelta, privacy: roundPrivacyRecord(input, entry, spent, targetDelta), outcome: { ok: false, error } };
  }
  // The released indicator sum already carries σ_b (added by the clients, or the simulated server in 'central').
  const nextClipNorm =
    input.adaptive && input.unclippedSum !== undefined
      ? updateClipNorm(
          { clipNorm: privacy.clipNorm, ...input.adaptive, indicatorNoiseStdDev: privacy.clipIndicatorNoiseStdDev ?? 0 },
          { noisedCenteredSum: input.unclippedSum, expectedCohortSize: denominator },
        ).state.clipNorm
      : undefined;
  return {
    ledger,
    ledgerEntry: entry,
    spent,
    meanDelta,
    privacy: roundPrivacyRecord(input, entry, spent, targetDelta, nextClipNorm),
    outcome: { ok: true, weights: step.weights, optimizer: step.state, ...(nextClipNorm !== undefined ? { nextClipNorm } : {}) },
  };
}
