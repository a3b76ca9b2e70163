import { z } from 'zod';
import { modelSpecSchema } from '../model/spec';
import { trainingPlanSchema } from '../train/plan';
import { PRIVACY_MODES } from '../privacy/modes';
import { metricRangeSchema } from '../encode/metrics';
import {
  abortSchema,
  advertiseKeysSchema,
  consistencyRequestSchema,
  consistencySchema,
  encryptedSharesSchema,
  maskedInputSchema,
  peerKeysSchema,
  roundConfigSchema,
  shareKeysSchema,
  unmaskRequestSchema,
  unmaskSchema,
} from '../secagg/messages';
import { errorSchema } from './errors';
import { MAX_CERTIFICATE_LENGTH } from '../identity/certificate';

/**
 * The wire protocol between the aggregator and its clients (browser tabs, Web Workers, Node
 * virtual clients): one zod schema per message, the TypeScript types inferred from them. Socket.IO
 * carries control messages and secure-aggregation messages; model weights travel over HTTP.
 *
 * Bump PROTOCOL_VERSION on any change an older peer would misread; the aggregator refuses other
 * versions at the handshake with UNSUPPORTED_PROTOCOL.
 *
 * History (the wire schemas are strict, so a field an older peer does not know fails its parse):
 * - 1: the first protocol.
 * - 2: a round plan's model spec may be a CIFG with tied embeddings and dropout
 *   (`architecture: 'cifg'`, `tiedEmbeddings`, `dropout`), and its training plan names `targets`
 *   ('last' | 'every'). A version-1 client would refuse such a plan only once selected and then
 *   hold its cohort slot until the deadline; at the handshake it is told to update instead.
 * - 3: the training plan names the client's local `optimizer` ('sgd' | 'adam').
 * - 4: the training plan may ask for a `sampledSoftmax` (candidates per step).
 * - 5: the handshake carries a device certificate from the enrollment service and a signed proof
 *   of possession instead of the aggregator's own HMAC enrollment token.
 * - 6: authenticated secure aggregation names certificates a client already verified instead of
 *   re-sending them (certificate references, a client cache id in advertiseKeys), signs masking
 *   claims and survivor sets as bitsets, and relays one signature per survivor (the Round 3 one
 *   covers the claim); advertisements no longer sign the b commitment.
 * - 7: secure aggregation sends fewer bytes: advertiseKeys no longer carries the client's certificate
 *   (the server takes the one its connection's handshake verified; a certificate on the wire is
 *   refused), share ciphertexts carry no nonce (derived from sender and recipient), shareKeys no
 *   longer echoes the recipient list, and an authenticated unmaskRequest names no survivors (they
 *   are those of the U3 the client signed).
 * - 8: the check-in no longer carries `exampleCount` (the size of the person's text, in the clear):
 *   `welcome` names the aggregator's `minExamples` and a device with fewer simply does not check in.
 *   A version-7 check-in with the field is refused as MALFORMED; the handshake turns such pages away.
 *   Also in 8: a round plan's privacy may name `colluders` (c, shares calibrated to k_min − c) and a
 *   `discrete` block (the distributed discrete Gaussian; the secure-aggregation vector then holds
 *   the rotated update padded to a power of two), fields a version-7 client's strict parse refuses.
 */
export const PROTOCOL_VERSION = 9;

export const PROTOCOL_LIMITS = Object.freeze({
  /** checkIn is a few booleans and a backend name. */
  checkInBytes: 4096,
  roundIdChars: 128,
  /** Most examples a client may claim: far above a phone's text, well inside float64's exact integers. */
  maxExampleCount: 10_000_000,
});

const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });
const positiveFinite = finite.refine((v) => v > 0, { message: 'expected a positive number' });
const nonNegativeInt = z.number().int().min(0);
const roundId = z.string().min(1).max(PROTOCOL_LIMITS.roundIdChars);
const isoTime = z.string().max(40);

/**
 * Socket.IO `auth` payload of the handshake: the device certificate the enrollment service issued
 * (identity/certificate.ts) and a proof that the connecting party holds the certified key: its
 * signature over (purpose, atMs, nonce, certificate) (identity/proof.ts). Sent afresh on every
 * (re)connection; the aggregator accepts atMs within its clock-skew bound (limits.handshakeSkewMs)
 * and each nonce once.
 */
export const handshakeSchema = z
  .object({
    protocolVersion: z.number().int().min(0).max(1_000_000),
    certificate: z.string().min(1).max(MAX_CERTIFICATE_LENGTH),
    proof: z
      .object({
        atMs: z.number().int().min(0).max(8.64e15),
        nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/, { message: 'expected 22 base64url characters (16 bytes)' }),
        signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, { message: 'expected 86 base64url characters (a 64-byte P-256 signature)' }),
      })
      .strict(),
  })
  .strict();

/**
 * What a device reports about itself when it offers to train: yes or no, and the conditions it trains
 * under — nothing derived from its text. In particular no example count: the device compares its
 * own count with the `minExamples` that `welcome` names and does not check in below it (strict: a
 * check-in that carries `exampleCount` is MALFORMED).
 */
export const eligibilitySchema = z
  .object({
    /** The person agreed to contribute and the device meets the aggregator's minimum. Without it the check-in is refused. */
    consent: z.boolean(),
    idle: z.boolean().optional(),
    charging: z.boolean().optional(),
    unmetered: z.boolean().optional(),
    /** The TensorFlow.js backend it will train with: webgpu, webgl, wasm, cpu. */
    backend: z.string().regex(/^[a-z0-9-]{1,32}$/, { message: 'expected a backend name of 1–32 characters [a-z0-9-]' }),
  })
  .strict();

export const checkInSchema = z.object({ eligibility: eligibilitySchema }).strict();

/** Client → server secure-aggregation messages (Bonawitz et al. 2017, Rounds 0, 1, 2 and 4). */
export const secAggUpSchema = z.discriminatedUnion('type', [advertiseKeysSchema, shareKeysSchema, maskedInputSchema, consistencySchema, unmaskSchema]);
/** Server → client secure-aggregation messages. */
export const secAggDownSchema = z.discriminatedUnion('type', [
  peerKeysSchema,
  encryptedSharesSchema,
  consistencyRequestSchema,
  unmaskRequestSchema,
  abortSchema,
]);

export const welcomeSchema = z
  .object({
    protocolVersion: z.literal(PROTOCOL_VERSION),
    /** The released model version (the one to suggest with, GET /api/model/released); rounds may train from a newer candidate. */
    modelVersion: nonNegativeInt,
    paused: z.boolean(),
    /** The round this client's token is selected for, if one is running: resume it, else check in. */
    cohortRoundId: roundId.nullable(),
    serverTime: isoTime,
    /**
     * Fewest local examples a device needs to take part (the aggregator's `round.minExamples`). The
     * device checks it itself and checks in only at or above it: its count never leaves it.
     */
    minExamples: nonNegativeInt.max(PROTOCOL_LIMITS.maxExampleCount),
  })
  .strict();

/** What a check-in can answer (checkInResultSchema). */
export const CHECK_IN_STATUSES = ['waiting', 'ineligible', 'paused', 'later'] as const;
export type CheckInStatus = (typeof CHECK_IN_STATUSES)[number];

export const checkInResultSchema = z
  .object({
    /**
     * waiting: in the pool for the next selection; otherwise why not, and when to try again.
     * later (pace steering, protocol 9): enough devices are waiting for the next rounds; come back
     * after retryAfterMs, and a device may close its connection until then.
     */
    status: z.enum(CHECK_IN_STATUSES),
    reason: errorSchema.optional(),
    retryAfterMs: nonNegativeInt.max(86_400_000),
  })
  .strict();

/**
 * The distributed discrete Gaussian's parameters for a round (privacy/ddg.ts). The client derives
 * its own noise, σ_Z = σ·C·scale/√(k_min − c) per coordinate, from the rest of the plan, and checks
 * that roundedNormBound and paddedDimension are what it computes itself.
 */
export const discretePlanSchema = z
  .object({
    /** 1/γ: integer units per 1.0 of a model value (ddgChooseScale). */
    scale: positiveFinite.refine((v) => v <= 2 ** 40, { message: 'expected ≤ 2^40' }),
    /** β: conditional rounding's parameter (Kairouz, Liu & Steinke 2021, Theorem 1). */
    beta: z.number().min(0).lt(1),
    /** Δ₂: the L2 bound every rounded vector meets, in integer units (roundedL2NormBound). */
    roundedNormBound: positiveFinite,
    /** The rotated vector's length: the next power of two ≥ the model's parameter count. */
    paddedDimension: z
      .number()
      .int()
      .min(1)
      .max(2 ** 28),
    /** k: words live in Z_(2^k); equal to the secure aggregation's modulus. */
    modulusBits: z.number().int().min(2).max(32),
    /** 32 bytes, hex: the round-public seed of the randomized Hadamard rotation, drawn fresh per round. */
    rotationSeed: z.string().regex(/^[0-9a-f]{64}$/, { message: 'expected 64 lowercase hex characters (32 bytes)' }),
  })
  .strict();

/** Noise placement and scale for this round (see docs/privacy.md). */
export const privacyPlanSchema = z
  .object({
    mode: z.enum(PRIVACY_MODES),
    /** C: each client clips its update to this L2 norm. */
    clipNorm: positiveFinite,
    /** σ: the round's sum carries noise σ·C in total. */
    noiseMultiplier: finite.refine((v) => v >= 0, { message: 'expected ≥ 0' }),
    expectedCohortSize: z.number().int().min(1),
    /** k_min: 'distributed' clients add σC/√k_min each, so any committed sum carries ≥ σC. */
    minSurvivors: z.number().int().min(1),
    /**
     * σ_b, present when the round adapts C (Andrew et al. 2021): the standard deviation of the
     * noise on the sum of centred clipped-or-not bits. Clients then report b − 1/2 plus their
     * share of it as the `unclipped` metric.
     */
    clipIndicatorNoiseStdDev: finite.refine((v) => v >= 0, { message: 'expected ≥ 0' }).optional(),
    /**
     * c: reports in a committed sum that may be fake or collude with the aggregator. 'distributed'
     * clients add σC/√(k_min − c) each, so the k_min − c honest reports of the smallest committed sum
     * carry σC alone. Absent: 0. Must be < minSurvivors.
     */
    colluders: z.number().int().min(0).max(100_000).optional(),
    /**
     * Present when the round's noise is the distributed discrete Gaussian (Kairouz, Liu & Steinke
     * 2021; 'distributed' mode only): clients clip, rotate, round conditionally and add integer noise
     * (round/discrete.ts), and the secure-aggregation vector holds `paddedDimension` words of the
     * rotated update before the metrics.
     */
    discrete: discretePlanSchema.optional(),
  })
  .strict()
  .superRefine((privacy, ctx) => {
    if (privacy.colluders !== undefined && privacy.colluders >= privacy.minSurvivors) {
      ctx.addIssue({ code: 'custom', path: ['colluders'], message: `expected colluders < minSurvivors (${privacy.minSurvivors}), got ${privacy.colluders}` });
    }
    if (privacy.discrete !== undefined && privacy.mode !== 'distributed') {
      ctx.addIssue({ code: 'custom', path: ['discrete'], message: `discrete noise needs mode 'distributed', got '${privacy.mode}'` });
    }
  });

/** Fixed-point encoding of the update (see encode/): every client must use the same. */
export const encodingPlanSchema = z
  .object({
    clipRange: positiveFinite,
    modulusBits: z.number().int().min(2).max(32),
    maxClients: z.number().int().min(1),
  })
  .strict();

/** Each phase's deadline: what a client accepts in a plan, and what the aggregator may be configured with. */
export const deadlinesSchema = z
  .object({
    /** Download, evaluation, training, encoding and key generation; ends with advertiseKeys. */
    advertiseKeysMs: z.number().int().min(100).max(3_600_000),
    shareKeysMs: z.number().int().min(100).max(600_000),
    maskedInputMs: z.number().int().min(100).max(600_000),
    unmaskingMs: z.number().int().min(100).max(600_000),
  })
  .strict();

/**
 * The round's configuration for one selected client: which model to start from, how to train,
 * how to privatize and encode, the secure-aggregation parameters and this client's id in them,
 * and each phase's deadline.
 */
export const roundPlanSchema = z
  .object({
    protocolVersion: z.literal(PROTOCOL_VERSION),
    roundId,
    round: z.number().int().min(1),
    model: z
      .object({
        version: nonNegativeInt,
        /** SHA-256 (modelHash) of spec and weights: the client verifies what it downloaded. */
        hash: z.string().regex(/^[0-9a-f]{64}$/),
        /** Path of the immutable version on the aggregator's origin, e.g. /api/model/3. */
        url: z.string().min(1).max(512),
        spec: modelSpecSchema,
      })
      .strict(),
    /** This client's id in the secure-aggregation cohort, 0 … n − 1. */
    participantId: nonNegativeInt,
    secagg: roundConfigSchema,
    training: trainingPlanSchema,
    /** Share of the local examples held out to evaluate the incoming global model. */
    evaluationFraction: z.number().min(0).max(0.5),
    privacy: privacyPlanSchema,
    encoding: encodingPlanSchema,
    /** Securely summed metrics after the model coordinates (see contributionMetricsSpec). */
    metrics: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), metricRangeSchema),
    deadlines: deadlinesSchema,
  })
  .strict()
  .superRefine((plan, ctx) => {
    // Discrete noise: the integer words share the secure sum's modulus and precede the metrics.
    const discrete = plan.privacy.discrete;
    if (discrete === undefined) return;
    if (discrete.modulusBits !== plan.secagg.modulusBits || discrete.modulusBits !== plan.encoding.modulusBits) {
      ctx.addIssue({
        code: 'custom',
        path: ['privacy', 'discrete', 'modulusBits'],
        message: `expected the secure aggregation's ${plan.secagg.modulusBits} bits, got ${discrete.modulusBits}`,
      });
    }
    const words = discrete.paddedDimension + Object.keys(plan.metrics).length;
    if (plan.secagg.vectorLength !== words) {
      ctx.addIssue({
        code: 'custom',
        path: ['secagg', 'vectorLength'],
        message: `expected paddedDimension ${discrete.paddedDimension} + ${Object.keys(plan.metrics).length} metrics = ${words} words, got ${plan.secagg.vectorLength}`,
      });
    }
  });

export const roundEndSchema = z
  .object({
    roundId,
    round: z.number().int().min(1),
    status: z.enum(['committed', 'aborted']),
    /** The global model version after the round (unchanged when aborted). */
    modelVersion: nonNegativeInt,
    reason: errorSchema.optional(),
  })
  .strict();

export const errorEventSchema = errorSchema.extend({ event: z.string().max(64).optional() }).strict();

/**
 * The secure-aggregation phases of a round, in protocol order (Bonawitz et al. 2017, Rounds 0–4;
 * consistencyCheck, Round 3, runs in authenticated rounds and is skipped otherwise).
 */
export const SECAGG_PHASES = ['advertiseKeys', 'shareKeys', 'maskedInput', 'consistencyCheck', 'unmasking'] as const;
export type SecAggPhase = (typeof SECAGG_PHASES)[number];

export const ROUND_PHASES = ['idle', 'checkin', ...SECAGG_PHASES, 'aggregate', 'commit', 'paused'] as const;
export type RoundPhase = (typeof ROUND_PHASES)[number];

/** The plan's deadline for each secure-aggregation phase. */
export const PHASE_DEADLINE: Readonly<Record<SecAggPhase, keyof Deadlines>> = Object.freeze({
  advertiseKeys: 'advertiseKeysMs',
  shareKeys: 'shareKeysMs',
  maskedInput: 'maskedInputMs',
  // One signature per client: it shares Unmasking's budget rather than adding a plan field.
  consistencyCheck: 'unmaskingMs',
  unmasking: 'unmaskingMs',
});

/** The cohort funnel after selection, stage by stage: the counts of a round report's `cohort`. */
export const COHORT_FUNNEL = ['eligible', 'selected', 'advertised', 'shared', 'masked', 'unmasked'] as const;

export const phaseEventSchema = z
  .object({
    round: nonNegativeInt,
    roundId: z.string().max(PROTOCOL_LIMITS.roundIdChars),
    phase: z.enum(ROUND_PHASES),
    at: isoTime,
    /** Selected clients of the round (0 outside a round). */
    cohort: nonNegativeInt,
    /** Clients the phase still waits on. */
    pending: nonNegativeInt,
  })
  .strict();

/**
 * The distributed mode's round as the task's coordinator (the lease holder) runs it: sent by the
 * holder on the dashboard stream and fanned out over Redis (@socket.io/redis-adapter), so a viewer
 * on any process follows the task's rounds, not only its own process's groups (docs/scale-out.md).
 * Counts of clients or reports stay out: under differential privacy the round record withholds them.
 */
export const taskProgressSchema = z
  .object({
    taskId: z.string().min(1).max(64),
    /** The process holding the lease. */
    coordinator: z.string().min(1).max(64),
    round: z.number().int().min(1),
    roundId: z.string().max(PROTOCOL_LIMITS.roundIdChars),
    stage: z.enum(['opened', 'committed', 'aborted']),
    /** Processes the round waits on (those with at least minReports clients). */
    processes: nonNegativeInt,
    /** The version the round committed; null otherwise. */
    modelVersion: nonNegativeInt.nullable(),
    /** Committed: the processes whose groups' sums were added (fewer than `processes` when one was lost mid-round); null otherwise. */
    answered: nonNegativeInt.nullable(),
    /** The abort's code; null otherwise. */
    abort: z.string().min(1).max(64).nullable(),
    at: isoTime,
  })
  .strict();
export type TaskProgress = z.output<typeof taskProgressSchema>;

const count = nonNegativeInt;
const nullableFinite = finite.nullable();

/**
 * Selected clients a secure-aggregation phase closed without: still connected but silent at its
 * deadline, or disconnected (past the reconnection grace). Their sum is the funnel's drop at that phase.
 */
export const phaseDropoutSchema = z.object({ silent: count, disconnected: count }).strict();

/** One round's durable record: what /api/rounds serves and /dashboard streams. */
export const roundReportSchema = z
  .object({
    round: z.number().int().min(1),
    roundId,
    status: z.enum(['committed', 'aborted']),
    startedAt: isoTime,
    endedAt: isoTime,
    modelVersion: z.object({ from: count, to: count }).strict(),
    abort: errorSchema.nullable(),
    /** The cohort funnel: checked in and eligible → selected → each phase's answers. */
    cohort: z.object(Object.fromEntries(COHORT_FUNNEL.map((stage) => [stage, count])) as Record<(typeof COHORT_FUNNEL)[number], typeof count>).strict(),
    secagg: z.object({ graph: z.enum(['full', 'harary']), degree: count, threshold: count, modulusBits: count, vectorLength: count }).strict(),
    /** Cohort totals from the secure sum (nothing per client); null when the round aborted. */
    metrics: z
      .object({
        examples: count,
        trainLoss: nullableFinite,
        eval: z.object({ count, loss: nullableFinite, top1: nullableFinite, top3: nullableFinite }).strict(),
      })
      .strict()
      .nullable(),
    privacy: z
      .object({
        mode: z.enum(PRIVACY_MODES),
        clipNorm: finite,
        /** Adaptive clipping: C for the next round, moved toward the target quantile of update norms. */
        nextClipNorm: finite.optional(),
        noiseMultiplier: finite,
        /** σ recorded in the ledger for this round (null when nothing was released). */
        recordedNoiseMultiplier: nullableFinite,
        samplingRate: finite,
        /** ε spent so far at delta, after this round. */
        epsilon: nullableFinite,
        delta: finite,
        /** c: fake or colluding reports per cohort the noise tolerates; ε holds while a cohort has at most c (absent: 0). */
        colluders: count.optional(),
        /** How the distributed noise was added: 'discrete' for the distributed discrete Gaussian (absent: continuous). */
        noise: z.enum(['continuous', 'discrete']).optional(),
      })
      .strict(),
    bytes: z.object({ received: count, sent: count }).strict(),
    durationsMs: z.record(z.string().max(32), finite),
    backends: z.record(z.string().max(32), count),
    /**
     * Which revision of the operator's plan the round ran with (0: the configured plan; each
     * admin plan change adds one, see the audit log). Absent in records written before.
     */
    planRevision: count.optional(),
    /** Who each phase closed without, and why (absent: records written before, or a phase never closed). */
    dropouts: z.partialRecord(z.enum(SECAGG_PHASES), phaseDropoutSchema).optional(),
  })
  .strict();

export type Handshake = z.output<typeof handshakeSchema>;
export type Eligibility = z.output<typeof eligibilitySchema>;
export type CheckIn = z.output<typeof checkInSchema>;
export type SecAggUp = z.output<typeof secAggUpSchema>;
export type SecAggDown = z.output<typeof secAggDownSchema>;
export type Welcome = z.output<typeof welcomeSchema>;
export type CheckInResult = z.output<typeof checkInResultSchema>;
export type PrivacyPlan = z.output<typeof privacyPlanSchema>;
export type DiscretePlan = z.output<typeof discretePlanSchema>;
export type EncodingPlan = z.output<typeof encodingPlanSchema>;
export type Deadlines = z.output<typeof deadlinesSchema>;
export type RoundPlan = z.output<typeof roundPlanSchema>;
export type RoundEnd = z.output<typeof roundEndSchema>;
export type ProtocolErrorEvent = z.output<typeof errorEventSchema>;
export type PhaseEvent = z.output<typeof phaseEventSchema>;
export type RoundReport = z.output<typeof roundReportSchema>;
export type PhaseDropout = z.output<typeof phaseDropoutSchema>;
