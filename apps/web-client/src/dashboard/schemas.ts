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
  type LivePlan,
  type RoundsPage,
  type PrivacySummary,
} from '@murmur/fl-core';
export type DashboardStatus = StatusResponse;

const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });

export const planBoundSchema = z.object({ min: finite, max: finite, integer: z.boolean() }).refine((b) => b.min <= b.max, { message: 'expected min ≤ max' });
export type PlanBound = z.output<typeof planBoundSchema>;

/** A dotted path to a number in LivePlan: 'target', 'training.epochs'. */
const planPathSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/);

/**
 * GET and POST /api/admin/plan (bearer admin token). Today the aggregator answers with the bare
 * plan; the requested form adds the bounds it enforces, `{ plan, bounds }`, so the form can say
 * them before the server refuses a value. Both are accepted.
 */
export const planResponseSchema = z
  .union([
    z.object({ plan: livePlanSchema, bounds: z.record(planPathSchema, planBoundSchema) }),
    livePlanSchema.transform((plan) => ({ plan, bounds: {} as Record<string, PlanBound> })),
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
