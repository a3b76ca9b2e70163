import { z } from 'zod';
import { PRIVACY_MODES } from '../privacy/modes';
import { trainingPlanSchema } from '../train/plan';
import { GATE_OUTCOMES, gateDecisionSchema, MAX_RELEASE_DECISIONS, TRAINING_BASES } from '../round/release';
import { deadlinesSchema, PROTOCOL_LIMITS, ROUND_PHASES, roundReportSchema } from './schemas';
import { MAX_POW_BITS, MAX_POW_WORK_CHARS } from '../identity/pow';

/**
 * The aggregator's REST answers (apps/aggregator/src/http.ts builds them, the dashboard parses
 * them) and the requests it validates (query and bodies: the dashboard builds them with these types). Unlike the strict wire schemas these objects strip unknown keys instead of failing: a
 * reader takes only the fields below, so a server that adds a field keeps older readers working,
 * while a missing or mistyped field is still refused (fields marked optional excepted, which
 * readers do without). The aggregator sends every field; its tests parse its answers with these.
 */

const count = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });
const isoTime = z.string().max(40);

/** Most rounds one /api/rounds page may hold (readers' cap; the aggregator serves at most MAX_ROUNDS_LIMIT). */
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

/** A dotted path to a number of the live plan: 'target', 'training.epochs'. */
export const planPathSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/);

/**
 * The range an operator may set one numeric plan field to: min … max, both inclusive unless
 * `minExclusive` (a value that must stay above 0, such as a learning rate or clipNorm).
 */
export const planBoundSchema = z
  .object({ min: finite, max: finite, integer: z.boolean(), minExclusive: z.boolean().optional() })
  .refine((b) => b.min <= b.max, { message: 'expected min ≤ max' });
export type PlanBound = z.output<typeof planBoundSchema>;

/** The bound of one numeric plan field as its zod schema enforces it (read from the schema, not copied). */
function boundOf(schema: z.ZodNumber): PlanBound {
  const min = schema.minValue ?? -Number.MAX_VALUE;
  const max = schema.maxValue ?? Number.MAX_VALUE;
  // zod keeps `positive()` as min 0: whether the minimum itself is refused is asked of the schema.
  return { min, max, integer: schema.isInt, ...(schema.safeParse(min).success ? {} : { minExclusive: true }) };
}

const trainingFields = trainingPlanSchema.shape;

/**
 * What POST /api/admin/plan accepts for each numeric field, by dotted path: the round's fields
 * here, the training fields as trainingPlanSchema bounds them. The aggregator builds its plan
 * change schema from this table and may only narrow it (σ never below its configured floor),
 * and GET /api/admin/plan sends the narrowed table, so the dashboard's editor can show and
 * enforce the same bounds before the server would refuse a value.
 */
export const PLAN_LIMITS = Object.freeze({
  target: { min: 2, max: 100_000, integer: true },
  overSelection: { min: 1, max: 3, integer: false },
  minReports: { min: 2, max: 100_000, integer: true },
  pauseMs: { min: 0, max: 86_400_000, integer: true },
  checkinMs: { min: 0, max: 3_600_000, integer: true },
  'training.epochs': boundOf(trainingFields.epochs.unwrap()),
  'training.batchSize': boundOf(trainingFields.batchSize.unwrap()),
  'training.adamEpsilon': boundOf(trainingFields.adamEpsilon.unwrap()),
  'training.sampledSoftmax': boundOf(trainingFields.sampledSoftmax.unwrap()),
  'training.learningRate': boundOf(trainingFields.learningRate.unwrap()),
  'training.maxExamples': boundOf(trainingFields.maxExamples.unwrap()),
  'training.timeBudgetMs': boundOf(trainingFields.timeBudgetMs.unwrap()),
  clipNorm: { min: 0, max: 1e6, integer: false, minExclusive: true },
  noiseMultiplier: { min: 0, max: 100, integer: false },
} as const satisfies Record<string, PlanBound>);
export type PlanLimitPath = keyof typeof PLAN_LIMITS;

/** A zod number schema that enforces `bound` (what the aggregator validates plan changes with). */
export function numberWithin(bound: PlanBound): z.ZodNumber {
  let schema = bound.integer ? z.number().int() : z.number();
  schema = bound.minExclusive ? schema.gt(bound.min) : schema.min(bound.min);
  return schema.max(bound.max);
}

/**
 * An operator's name, as the audit log records it: configured with their admin token
 * (`--admin-tokens name:token,…`). 'gate' is the release gate's own name and never an operator's.
 */
export const operatorNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, { message: 'expected 1–64 letters, digits, . _ @ - (starting with a letter or digit)' })
  .refine((name) => name !== 'gate', { message: "'gate' names the release gate in the audit log; choose another operator name" });

/**
 * GET /api/admin/plan: the live plan, the bounds an operator may set each numeric field within
 * (PLAN_LIMITS as this aggregator narrows them), and the operator the token names.
 */
export const planViewSchema = z.object({
  plan: livePlanSchema,
  bounds: z.record(planPathSchema, planBoundSchema),
  operator: operatorNameSchema,
});

/** Where suggestions and training stand (GET /api/status `release`, the admin answers, GET /api/release). */
export const releaseSummarySchema = z.object({
  /** The version browsers download for suggestions (GET /api/model/released). */
  released: count,
  /** The newest version that is not released: waiting for its evaluation, or refused; null when none. */
  candidate: z.object({ version: count, base: count, outcome: z.enum(GATE_OUTCOMES) }).nullable(),
  /** The version the next round trains from. */
  trainingBase: count,
  /** Where training continues after a refusal (release.trainFrom). */
  policy: z.enum(TRAINING_BASES),
  lastDecision: gateDecisionSchema.nullable(),
});

/** The release pointers before and after an audited action. */
const releasePointersSchema = z.object({ released: count, trainingBase: count, candidate: count.nullable() });

export const AUDIT_ACTIONS = ['plan', 'release', 'rollback'] as const;
const auditFields = {
  /** 1, 2, 3… in the order the entries were appended. */
  seq: z.number().int().min(1),
  at: isoTime,
  /** The operator's name (their admin token's; 'admin' for the single default token), or 'gate' (a release the gate decided). */
  actor: z.string().min(1).max(64),
  /** The operator's note, or the gate's reason. */
  note: z.string().max(1200).nullable(),
};

/** One entry of the append-only audit log (<dataDir>/audit.jsonl): who changed what, when, from what to what. */
export const auditEntrySchema = z.discriminatedUnion('action', [
  z.object({ ...auditFields, action: z.literal('plan'), revision: count, before: livePlanSchema, after: livePlanSchema }),
  z.object({ ...auditFields, action: z.literal('release'), version: count, before: releasePointersSchema, after: releasePointersSchema }),
  z.object({ ...auditFields, action: z.literal('rollback'), version: count, before: releasePointersSchema, after: releasePointersSchema }),
]);

/** Most audit entries one GET /api/release answer carries (newest first). */
export const MAX_AUDIT_PAGE = 200;

/** GET /api/release: the release state with the gate's settings, its recent decisions and the audit log. */
export const releaseViewSchema = releaseSummarySchema.extend({
  gate: z.object({ maxUpdateNorm: finite, lossTolerance: finite, top1Tolerance: finite, requireEvaluation: z.boolean() }),
  /** Newest first. */
  decisions: z.array(gateDecisionSchema).max(MAX_RELEASE_DECISIONS),
  /** Newest first, at most MAX_AUDIT_PAGE; `auditTotal` counts them all. */
  audit: z.array(auditEntrySchema).max(MAX_AUDIT_PAGE),
  auditTotal: count,
  /** Versions on disk, ascending: the ones a release or rollback may name. */
  keptVersions: z.array(count).max(100_000),
});

/** POST /api/admin/release and /api/admin/rollback: which kept version, and optionally why (kept in the audit log). */
export const releaseActionRequestSchema = z
  .object({
    version: z.number().int().min(0).max(999_999_999),
    note: z.string().trim().min(1).max(500).optional(),
  })
  .strict()
  .describe('{ version: a model version, note?: 1–500 characters }');

/** POST /api/admin/release and /api/admin/rollback. */
export const releaseActionResponseSchema = z.object({ release: releaseSummarySchema, audit: auditEntrySchema, message: z.string().max(2000) });

/** POST /api/admin/plan: the plan from the next round on, saved to the data directory. */
export const planChangeResponseSchema = z.object({
  plan: livePlanSchema,
  revision: count,
  /** Saved to the data directory before it was applied: it survives a restart. */
  persisted: z.boolean(),
  message: z.string().max(2000),
  audit: auditEntrySchema,
  /** As in GET /api/admin/plan, so an editor keeps them after a change. Readers work without them. */
  bounds: z.record(planPathSchema, planBoundSchema).optional(),
});

/**
 * Operator alerts the aggregator evaluates (apps/aggregator/src/alerts.ts); the same names label
 * its Prometheus gauge `murmur_alert_active{alert}` and its alerting rules.
 */
export const ALERT_KINDS = ['accuracy_regression', 'dropout_spike', 'epsilon_budget', 'no_commit'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** One firing alert: what was measured against which threshold, and a sentence for people. */
export const alertSchema = z.object({
  kind: z.enum(ALERT_KINDS),
  /** The measurement in the threshold's unit (nats, a share, minutes). */
  value: finite,
  threshold: finite,
  message: z.string().max(500),
});
export type Alert = z.output<typeof alertSchema>;

/** The most aggregator processes a distributed status lists. */
export const MAX_STATUS_PROCESSES = 256;

/**
 * The distributed mode's view from one process (docs/scale-out.md, "Per-process health"): the
 * task, who coordinates it, each process's pool as last reported to Redis, and whether this
 * process reaches the record and the coordination store.
 */
export const distributedStatusSchema = z.object({
  taskId: z.string().min(1).max(64),
  processId: z.string().min(1).max(64),
  /** The process holding the task's lease (its id), or null while nobody does. */
  coordinator: z.string().min(1).max(64).nullable(),
  /** The lease's epoch (grows with every new coordinator); 0 before the first. */
  epoch: count,
  processes: z.array(z.object({ processId: z.string().min(1).max(100), connected: count, eligible: count, reportedMsAgo: count })).max(MAX_STATUS_PROCESSES),
  /** PostgreSQL and Redis as this process last saw them. */
  record: z.enum(['up', 'down']),
  coordination: z.enum(['up', 'down']),
  /** When this process last checked (ISO time). */
  checkedAt: isoTime,
});
export type DistributedStatus = z.output<typeof distributedStatusSchema>;

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
  /** The plan's revision (0: as configured; each admin change adds one). Readers work without it. */
  planRevision: count.optional(),
  privacy: z.object({ mode: z.enum(PRIVACY_MODES), delta: finite, epsilon: finite.nullable() }),
  /** Released and candidate versions and the gate's last decision. Readers work without it. */
  release: releaseSummarySchema.optional(),
  /** Alerts firing now (none: an empty list). Readers work without it. */
  alerts: z.array(alertSchema).max(ALERT_KINDS.length).optional(),
  /** Present in the distributed mode: the task's processes and their health. */
  distributed: distributedStatusSchema.optional(),
});

/** The most rounds one GET /api/rounds page may ask for (`limit`). */
export const MAX_ROUNDS_LIMIT = 100;

/** A query parameter that is a decimal integer, so `1.5`, `1e1` or `0x10` are refused, not rounded. */
const decimalParam = z
  .string()
  .regex(/^-?\d{1,15}$/, { message: 'expected a decimal integer' })
  .transform(Number);

/**
 * GET /api/rounds?limit=N&offset=K: the page asked for (query parameters are strings; the output
 * is numbers, defaults filled in).
 */
export const roundsQuerySchema = z
  .object({
    limit: decimalParam.pipe(z.number().int().min(1).max(MAX_ROUNDS_LIMIT)).default(20),
    offset: decimalParam.pipe(z.number().int().min(0)).default(0),
  })
  .describe(`{ limit?: an integer 1..${MAX_ROUNDS_LIMIT}, offset?: an integer ≥ 0 }`);

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
  /** ε after one more round at the current plan, charged the fewest reports it may commit with; null in mode off. Readers work without it. */
  epsilonNextRound: finite.nullable().optional(),
  /** Rounds the budget allows at the current plan (at most 1,000,000); null without a budget. Readers work without it. */
  projectedRoundsLeft: count.nullable().optional(),
  /** True while training is paused because the next round would pass the budget. Readers work without it. */
  budgetExhausted: z.boolean().optional(),
  /** N the sampling rate is drawn over (privacy.population); null: the clients checked in at selection. Readers work without it. */
  population: count.nullable().optional(),
  /**
   * c (privacy.colluders): fake or colluding reports per round the noise tolerates; ε holds while no
   * round has more (docs/privacy.md, "Fake clients"). Readers work without it (then: 0).
   */
  colluders: count.optional(),
  /**
   * How the clients' noise is drawn: 'continuous' Gaussian floats, or 'discrete', the distributed
   * discrete Gaussian on the encoded integers (its rounding inside ε); null in mode off (no noise).
   * Readers work without it.
   */
  noise: z.enum(['continuous', 'discrete']).nullable().optional(),
  /**
   * Distributed mode: what the population has spent across every task that trains on it, from the
   * record (its ε composes over all of their rounds, and the budget that opens rounds counts this,
   * not `epsilon`, which is this task's). Absent in the single-process mode. Readers work without it.
   */
  populationSpent: z.object({ epsilon: finite.nullable(), tasks: count, rounds: count }).strict().optional(),
});

/** POST /api/admin/pause and /resume. */
export const pauseResponseSchema = z.object({ paused: z.boolean() });

/**
 * POST /api/admin/budget: the ε budget at the ledger's δ from now on, or null for none (not saved:
 * the configuration's comes back on restart).
 */
export const budgetChangeRequestSchema = z
  .object({ epsilonBudget: z.number().positive().max(1e6).nullable() })
  .strict()
  .describe('{ epsilonBudget: a positive number ≤ 1e6, or null for none }');

/** POST /api/admin/budget → 200: the budget now in force and what it allows (as in GET /api/privacy). */
export const budgetChangeResponseSchema = z.object({
  epsilonBudget: finite.nullable(),
  /** Rounds the budget allows at the current plan; null without a budget. */
  projectedRoundsLeft: count.nullable(),
  budgetExhausted: z.boolean(),
});

export type LivePlan = z.output<typeof livePlanSchema>;
export type ReleaseSummary = z.output<typeof releaseSummarySchema>;
export type AuditEntry = z.output<typeof auditEntrySchema>;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type ReleaseView = z.output<typeof releaseViewSchema>;
export type ReleaseActionResponse = z.output<typeof releaseActionResponseSchema>;
export type PlanChangeResponse = z.output<typeof planChangeResponseSchema>;
export type PlanView = z.output<typeof planViewSchema>;
export type StatusResponse = z.output<typeof statusResponseSchema>;
export type RoundsPage = z.output<typeof roundsPageSchema>;
export type PrivacySummary = z.output<typeof privacySummarySchema>;
/** What a client sends (strings; the aggregator parses them to numbers). */
export type RoundsQuery = z.input<typeof roundsQuerySchema>;
export type ReleaseActionRequest = z.input<typeof releaseActionRequestSchema>;
export type BudgetChangeRequest = z.input<typeof budgetChangeRequestSchema>;
export type BudgetChangeResponse = z.output<typeof budgetChangeResponseSchema>;

/**
 * The enrollment service's HTTP API (apps/aggregator/src/enrollment/): a device asks for a
 * challenge, signs it with the key it wants certified (identity/proof.ts), and gets a certificate
 * (identity/certificate.ts) with the issuer that signed it. Binary fields are base64url strings
 * of fixed length, checked again as bytes by the service.
 */
export const ENROLLMENT_PATHS = Object.freeze({
  challenge: '/api/enrollment/challenge',
  enroll: '/api/enrollment/enroll',
  issuer: '/api/enrollment/issuer',
  revoked: '/api/enrollment/revoked',
  revoke: '/api/enrollment/revoke',
});

const base64UrlOf = (chars: number) => z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${chars}}$`), { message: `expected ${chars} base64url characters` });
/** A P-256 public key (65 bytes) and an ECDSA P-256 signature (64 bytes), base64url. */
const publicKeyText = base64UrlOf(87);
const signatureText = base64UrlOf(86);
/** Challenges, nonces and client ids: 16 random bytes. */
const nonceText = base64UrlOf(22);
const epochMs = z.number().int().min(0).max(8.64e15);

/** A client id the enrollment service assigns: 16 random bytes, base64url. */
export const clientIdSchema = nonceText;

/** The enrollment service's public identity: what certificates are checked against. */
export const enrollmentIssuerSchema = z.object({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/), publicKey: publicKeyText }).strict();

/**
 * POST /api/enrollment/challenge → 201: a single-use challenge to sign before expiresAtMs and, when
 * the service asks for a proof of work, its difficulty in leading zero bits (identity/pow.ts).
 * Absent when none is asked, so a device built before the proof of work still reads the answer.
 */
export const enrollmentChallengeSchema = z
  .object({ challenge: nonceText, expiresAtMs: epochMs, difficultyBits: z.number().int().min(1).max(MAX_POW_BITS).optional() })
  .strict();

/**
 * POST /api/enrollment/enroll: the key to certify, its holder's signature over the challenge and,
 * when the challenge named a difficulty, the `work` that meets it (a decimal counter).
 */
export const enrollmentRequestSchema = z
  .object({
    challenge: nonceText,
    publicKey: publicKeyText,
    signature: signatureText,
    work: z
      .string()
      .regex(new RegExp(`^(0|[1-9][0-9]{0,${MAX_POW_WORK_CHARS - 1}})$`), { message: `expected a decimal of at most ${MAX_POW_WORK_CHARS} digits` })
      .optional(),
  })
  .strict()
  .describe('{ challenge, publicKey, signature, work? }');

/** POST /api/enrollment/enroll → 201. */
export const enrollmentResponseSchema = z
  .object({ clientId: clientIdSchema, certificate: z.string().min(1).max(1024), expiresAtMs: epochMs, issuer: enrollmentIssuerSchema })
  .strict();

/** GET /api/enrollment/revoked: the client ids whose certificates the service revoked. */
export const revocationListSchema = z.object({ issuer: z.string().min(1).max(128), revoked: z.array(clientIdSchema).max(1_000_000) }).strict();

/** POST /api/enrollment/revoke and the aggregator's POST /api/admin/revoke. */
export const revokeRequestSchema = z
  .object({ clientId: clientIdSchema })
  .strict()
  .describe("{ clientId } (22 base64url characters: a certificate's client id)");

export type EnrollmentIssuerText = z.output<typeof enrollmentIssuerSchema>;
export type EnrollmentChallenge = z.output<typeof enrollmentChallengeSchema>;
export type EnrollmentRequest = z.output<typeof enrollmentRequestSchema>;
export type EnrollmentResponse = z.output<typeof enrollmentResponseSchema>;
export type RevocationList = z.output<typeof revocationListSchema>;
