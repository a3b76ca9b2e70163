import { z } from 'zod';
import { deadlinesSchema, PRIVACY_MODES, PROTOCOL_LIMITS, ROUND_PHASES, roundReportSchema, trainingPlanSchema } from '@murmur/fl-core';

/**
 * Shapes of the aggregator's REST answers (apps/aggregator/src/http.ts) that libs/fl-core's
 * protocol module does not define yet; the round record and the phase event come from fl-core as
 * they are. These belong in fl-core beside `roundReportSchema`, with the aggregator building its
 * answers from them; until then they are written here, at the dashboard's edge.
 *
 * Unlike fl-core's strict wire schemas these objects strip unknown keys instead of failing: the
 * dashboard reads only the fields below, so a server that adds a field keeps working, while a
 * missing or mistyped field is still refused. Fields marked "requested" are not sent by the
 * aggregator yet; the page works without them and uses them once they arrive.
 */

const count = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });
const isoTime = z.string().max(40);

/** Most rounds one page may hold (the aggregator serves at most 100). */
export const MAX_PAGE_ROUNDS = 1000;

/** The plan an operator may change between rounds (the aggregator's `LivePlan`). */
export const livePlanSchema = z.object({
  target: count,
  overSelection: finite,
  minReports: count,
  pauseMs: count,
  checkinMs: count,
  training: trainingPlanSchema,
  clipNorm: finite,
  noiseMultiplier: finite,
});
export type LivePlan = z.output<typeof livePlanSchema>;

/** GET /api/status: what the aggregator is doing now. */
export const statusSchema = z.object({
  phase: z.enum(ROUND_PHASES),
  paused: z.boolean(),
  /** The running round, with `pending` counted when the request was answered; null between rounds. */
  round: z
    .object({ round: z.number().int().min(1), roundId: z.string().min(1).max(PROTOCOL_LIMITS.roundIdChars), cohort: count, pending: count })
    .nullable(),
  nextRound: z.number().int().min(1),
  modelVersion: count,
  /** Clients connected to the main namespace. */
  connectedClients: count,
  /** Clients checked in and waiting for the next selection. */
  waitingClients: count,
  roundsRecorded: count,
  plan: livePlanSchema,
  privacy: z.object({ mode: z.enum(PRIVACY_MODES), delta: finite, epsilon: finite.nullable() }),
  /** Requested: when the current phase began (the `at` of its phase event), for the countdown. */
  phaseStartedAt: isoTime.optional(),
  /** Requested: the per-phase deadlines rounds run with, for the countdown. */
  deadlines: deadlinesSchema.optional(),
  /** Requested: the oldest model version /api/model/:version still serves (older ones are pruned). */
  oldestModelVersion: count.optional(),
});
export type DashboardStatus = z.output<typeof statusSchema>;

/**
 * GET /api/rounds?limit=N&offset=K: round records newest first; offset counts back from the
 * newest round.
 */
export const roundsPageSchema = z.object({
  total: count,
  offset: count,
  limit: count,
  rounds: z.array(roundReportSchema).max(MAX_PAGE_ROUNDS),
});
export type RoundsPage = z.output<typeof roundsPageSchema>;

/** GET /api/privacy: the ledger's totals. */
export const privacySummarySchema = z.object({
  mode: z.enum(PRIVACY_MODES),
  delta: finite,
  /** ε spent so far at delta; null before any round released anything. */
  epsilon: finite.nullable(),
  /** Requested: the operator's ε budget, when one is configured. */
  epsilonBudget: finite.nullable().optional(),
});
export type PrivacySummary = z.output<typeof privacySummarySchema>;

export const planBoundSchema = z
  .object({ min: finite, max: finite, integer: z.boolean() })
  .refine((b) => b.min <= b.max, { message: 'expected min ≤ max' });
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

/** POST /api/admin/pause and /resume. */
export const pauseResponseSchema = z.object({ paused: z.boolean() });

/** The value at a dotted path of the plan, or undefined. */
export function planValue(plan: LivePlan, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined), plan);
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
