import { z } from 'zod';
import { livePlanSchema, planChangeResponseSchema, planViewSchema, type LivePlan, type PlanBound, type StatusResponse } from '@murmur/fl-core/protocol';

/**
 * The dashboard's own shapes on top of fl-core's REST schemas (protocol/http.ts: status, rounds
 * pages, privacy, pause answers), which the aggregator's answers are tested against.
 */

export {
  MAX_PAGE_ROUNDS,
  statusResponseSchema as statusSchema,
  roundsPageSchema,
  privacySummarySchema,
  pauseResponseSchema,
  releaseViewSchema,
  releaseActionResponseSchema,
  type LivePlan,
  type RoundsPage,
  type PrivacySummary,
  type ReleaseView,
  type ReleaseSummary,
  type ReleaseActionResponse,
  type AuditEntry,
} from '@murmur/fl-core/protocol';
export { type GateDecision } from '@murmur/fl-core/round';
export type DashboardStatus = StatusResponse;

export { planBoundSchema, type PlanBound } from '@murmur/fl-core/protocol';

/**
 * GET and POST /api/admin/plan (an operator's bearer token). GET answers with fl-core's
 * planViewSchema, `{ plan, bounds, operator }`: the bounds the aggregator enforces on each numeric
 * field (so the form says them before the server refuses a value) and whose token this is. POST
 * answers with `{ plan, revision, persisted, message, audit, bounds }` (planChangeResponseSchema),
 * whose message says the change was saved. An older aggregator's bare plan is still read (no
 * bounds, no operator). A bound for a field the plan does not hold (an optional one such as
 * training.adamEpsilon) is kept, but no input is shown for it.
 */
export const planResponseSchema = z.union([
  planViewSchema.extend({ operator: planViewSchema.shape.operator.optional(), message: z.undefined().optional() }),
  planChangeResponseSchema.transform(({ plan, bounds, message, audit }) => ({ plan, bounds: bounds ?? {}, message, operator: audit.actor })),
  livePlanSchema.transform((plan) => ({ plan, bounds: {} as Record<string, PlanBound>, message: undefined, operator: undefined })),
]);
export type PlanResponse = z.output<typeof planResponseSchema>;

/** The value at a dotted path of the plan, or undefined. */
export function planValue(plan: LivePlan, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((value, key) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined), plan);
}

/** Every numeric field of the plan as dotted paths, in the plan's own order: the fields an admin may edit. */
export function numericPlanPaths(plan: LivePlan): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(plan)) {
    if (typeof value === 'number') out.push(key);
    else if (typeof value === 'object' && value !== null) {
      for (const [inner, v] of Object.entries(value)) if (typeof v === 'number') out.push(`${key}.${inner}`);
    }
  }
  return out;
}

/**
 * What an audited plan change changed, field by field in the plan's order: 'noiseMultiplier 0.05 →
 * 1, training.epochs 1 → 2'. Empty when nothing differs.
 */
export function planChanges(before: LivePlan, after: LivePlan): string[] {
  const out: string[] = [];
  const visit = (a: unknown, b: unknown, path: string) => {
    if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
      for (const key of keys) visit((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`);
    } else if (a !== b) out.push(`${path} ${a === undefined ? '–' : String(a)} → ${b === undefined ? '–' : String(b)}`);
  };
  visit(before, after, '');
  return out;
}
