import { parameterCount, type ModelSpec } from '@murmur/fl-core/model';
import { CONTRIBUTION_METRICS, secAggMessageLimit, type RoundPlan } from '@murmur/fl-core/protocol';
import { clientToServerSchemas } from '@murmur/fl-core/secagg';
import { MEGABYTE } from '../storage/schema';

/**
 * How many bytes one training round makes this device upload, bounded from above, and whether
 * that fits what is left of the month's budget. Pure: the runtime checks the budget before it
 * checks in (from the model's size), the worker again when a plan arrives (from the plan itself).
 */

/** The check-in that precedes a round (eligibility flags and a backend name: a few hundred bytes). */
const CHECK_IN_BYTES = 1_024;
/** The secure-aggregation messages a client sends in a round, one of each kind (the masked input among them). */
const CLIENT_MESSAGE_KINDS = Object.keys(clientToServerSchemas).length;
/**
 * Share holders assumed before a plan names the cohort. A plan's cohort rarely exceeds this; when
 * it does, the worker's check against the plan itself declines the round instead.
 */
export const ASSUMED_SHARE_HOLDERS = 100;

/** The secure-aggregation parameters that decide a round's upload size. */
export type UploadShape = Parameters<typeof secAggMessageLimit>[0];

/**
 * An upper bound on what one round uploads: the check-in, the masked input (d words of ⌈k/8⌉
 * bytes, Bonawitz et al. 2017 round 2), and one of each other client message (keys, encrypted
 * shares, signatures, unmasking shares), each at most fl-core's per-message limit — the size the
 * aggregator's parser refuses beyond, so no legitimate message is larger. The other messages do
 * not grow with d: their limit is taken with a one-word vector.
 */
export function roundUploadBoundBytes(shape: UploadShape): number {
  const control = secAggMessageLimit({ ...shape, vectorLength: 1 });
  return CHECK_IN_BYTES + secAggMessageLimit(shape) + (CLIENT_MESSAGE_KINDS - 1) * control;
}

/** The bound for a plan the aggregator sent. */
export function planUploadBoundBytes(plan: RoundPlan): number {
  return roundUploadBoundBytes(plan.secagg);
}

/**
 * The bound before any plan: the model's weights plus every contribution metric as 32-bit words
 * (the widest modulus a plan may use) in a full graph of ASSUMED_SHARE_HOLDERS.
 */
export function estimateRoundUploadBytes(spec: ModelSpec): number {
  return roundUploadBoundBytes({
    vectorLength: parameterCount(spec) + CONTRIBUTION_METRICS.length,
    modulusBits: 32,
    clientCount: ASSUMED_SHARE_HOLDERS,
    graph: { kind: 'full' },
  });
}

/** This month's uploads against the person's budget. */
export interface UploadUsage {
  usedBytes: number;
  /** null: unlimited. */
  budgetBytes: number | null;
  /** Upper bound on what the next round would upload. */
  nextRoundBytes: number;
}

/** Bytes still allowed this month (never negative); null: unlimited. */
export function remainingBytes(usage: Pick<UploadUsage, 'usedBytes' | 'budgetBytes'>): number | null {
  return usage.budgetBytes === null ? null : Math.max(0, usage.budgetBytes - usage.usedBytes);
}

/** Whether a round of `nextRoundBytes` fits in what is left (a round exactly filling the budget fits). */
export function roundFits(usage: UploadUsage): boolean {
  const remaining = remainingBytes(usage);
  return remaining === null || usage.nextRoundBytes <= remaining;
}

/**
 * Megabytes for people: one decimal below 10 MB, whole ones above. Amounts used round down, so
 * that "used" never reads as full before it is (49.97 of 50 shows "49"); sizes still to come
 * round up, so that "about 0.7 MB" is never less than what a round sends.
 */
export function formatMegabytes(bytes: number, rounding: 'down' | 'up' = 'down'): string {
  const round = rounding === 'down' ? Math.floor : Math.ceil;
  const mb = bytes / MEGABYTE;
  const shown = mb < 10 ? round(mb * 10) / 10 : round(mb);
  return shown.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** "1.2 of 50 MB", "1.2 MB (no limit)". */
export function usageInWords(usage: Pick<UploadUsage, 'usedBytes' | 'budgetBytes'>): string {
  return usage.budgetBytes === null
    ? `${formatMegabytes(usage.usedBytes)} MB (no limit)`
    : `${formatMegabytes(usage.usedBytes)} of ${formatMegabytes(usage.budgetBytes)} MB`;
}
