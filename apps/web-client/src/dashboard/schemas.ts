import { z } from 'zod';
import { livePlanSchema, type LivePlan, type StatusResponse } from '@murmur/fl-core';

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
  type GateDecision,
} from '@murmur/fl-core';
export type DashboardStatus = StatusResponse;

const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });

export const planBoundSchema = z.object({ min: finite, max: finite, integer: z.boolean() }).refine((b) => b.min <= b.max, { message: 'expected min ≤ max' });
export type PlanBound = z.output<typeof planBoundSchema>;

/** A dotted path to a number in LivePlan: 'target', 'training.epochs'. */
const planPathSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/);

/**
 * GET and POST /api/admin/plan (bearer admin token). GET answers with the bare plan; POST with
 * `{ plan, revision, persisted, message, audit }` (fl-core's planChangeResponseSchema), whose
 * message says the change was saved. A form of either with the bounds the aggregator enforces,
 * `{ plan, bounds }`, lets the form say them before the server refuses a value. All are accepted.
 */
export const planResponseSchema = z
  .union([
    z.object({
      plan: livePlanSchema,
      bounds: z.record(planPathSchema, planBoundSchema).default({}),
      message: z.string().max(2000).optional(),
    }),
    livePlanSchema.transform((plan) => ({ plan, bounds: {} as Record<string, PlanBound>, message: undefined })),
  ])
  .superRefine((value, ctx) => {
    for (const path of Object.keys(value.bounds)) {
      if (typeof planValue(value.plan, path) !== 'number') {
        ctx.addIssue({ code: 'custom', path: ['bounds', path], message: `expected a numeric plan field at ${path}` });
      }
    }
  });
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
