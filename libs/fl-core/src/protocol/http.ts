import { z } from 'zod';
import { PRIVACY_MODES } from '../privacy/modes';
import { trainingPlanSchema } from '../train/plan';
import { deadlinesSchema, PROTOCOL_LIMITS, ROUND_PHASES, roundReportSchema } from './schemas';

/**
 * The aggregator's REST answers (apps/aggregator/src/http.ts builds them, the dashboard parses
 * them). Unlike the strict wire schemas these objects strip unknown keys instead of failing: a
 * reader takes only the fields below, so a server that adds a field keeps older readers working,
 * while a missing or mistyped field is still refused (fields marked optional excepted, which
 * readers do without). The aggregator sends every field; its tests parse its answers with these.
 */

const count = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });
const isoTime = z.string().max(40);

/** Most rounds one /api/rounds page may hold (the aggregator serves at most 100). */
export const MAX_PAGE_ROUNDS = 1000;

/** The plan an operator may change between rounds (GET /api/admin/plan). */
export const livePlanSchema = z.object({
  target: count,
  overSelection: finite,
  minReports: count,
  pauseMs: count,
  checkinMs: count,
  // Not the strict wire schema: a training field added later (as `targets` was) is dropped here,
  // and one an older aggregator leaves out takes the plan's default.
  training: trainingPlanSchema.strip(),
  clipNorm: finite,
  noiseMultiplier: finite,
});

/** GET /api/status: what the aggregator is doing now. */
export const statusResponseSchema = z.object({
  phase: z.enum(ROUND_PHASES),
  /** When the current phase began (the `at` of its phase event), for a countdown. Readers work without it. */
  phaseStartedAt: isoTime.optional(),
  /** The per-phase deadlines rounds run with. Readers work without them (no countdown). */
  deadlines: deadlinesSchema.optional(),
  paused: z.boolean(),
  /** The running round, with `pending` counted when the request was answered; null between rounds. */
  round: z.object({ round: z.number().int().min(1), roundId: z.string().min(1).max(PROTOCOL_LIMITS.roundIdChars), cohort: count, pending: count }).nullable(),
  nextRound: z.number().int().min(1),
  modelVersion: count,
  /** The oldest model version /api/model/:version still serves (older ones are pruned). */
  oldestModelVersion: count.optional(),
  /** Clients connected to the main namespace. */
  connectedClients: count,
  /** Clients checked in and waiting for the next selection. */
  waitingClients: count,
  roundsRecorded: count,
  plan: livePlanSchema,
  privacy: z.object({ mode: z.enum(PRIVACY_MODES), delta: finite, epsilon: finite.nullable() }),
});

/** GET /api/rounds?limit=N&offset=K: round records newest first; offset counts back from the newest. */
export const roundsPageSchema = z.object({
  total: count,
  offset: count,
  limit: count,
  rounds: z.array(roundReportSchema).max(MAX_PAGE_ROUNDS),
});

/** GET /api/privacy: the ledger's totals. */
export const privacySummarySchema = z.object({
  mode: z.enum(PRIVACY_MODES),
  delta: finite,
  /** ε spent so far at delta; null before any round released anything. */
  epsilon: finite.nullable(),
  /** The operator's ε budget (privacy.epsilonBudget), null when none is configured. */
  epsilonBudget: finite.nullable().optional(),
});

/** POST /api/admin/pause and /resume. */
export const pauseResponseSchema = z.object({ paused: z.boolean() });

export type LivePlan = z.output<typeof livePlanSchema>;
export type StatusResponse = z.output<typeof statusResponseSchema>;
export type RoundsPage = z.output<typeof roundsPageSchema>;
export type PrivacySummary = z.output<typeof privacySummarySchema>;
