import { z } from 'zod';
import { modelSpecSchema, type ModelSpec } from '@murmur/fl-core/model';
import { CHECK_IN_STATUSES, eligibilitySchema, ROUTING_BUCKETS } from '@murmur/fl-core/protocol';
import { trainingPlanSchema, trainingTargetsSchema } from '@murmur/fl-core/train';
import {
  backendMeasurementSchema,
  calibrationRecordSchema,
  contributionRecordSchema,
  int32ArraySchema,
  issuerRecordSchema,
  MAX_MODEL_BYTES,
  MAX_TEXT_CHARS,
  participationRecordSchema,
  signingKeySchema,
  uint8ArraySchema,
} from '../storage/schema';

/**
 * The validated postMessage protocol between the UI thread and the training worker. Both sides
 * parse what they receive with these schemas (a message is a trust boundary even between our own
 * threads: a bug or an injected script must produce a typed error, never a half-read message).
 * Requests carry an `id`; every response names the request it answers.
 */

export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export const backendSchema = z.enum(BACKENDS);
export type BackendName = z.infer<typeof backendSchema>;

/**
 * 'direct': fl-core's UnsortedSegmentSum on cpu/wasm, and the untransposing BatchMatMul and the
 * SIMD Exp on wasm (fl-core kernels/); 'stock': tfjs's own kernels (benchmarks).
 */
export const kernelsSchema = z.enum(['direct', 'stock']);
export type Kernels = z.infer<typeof kernelsSchema>;

const id = z.number().int().nonnegative();
const MAX_EXAMPLES = 1_000_000;

export const exampleSetSchema = z
  .object({
    contexts: int32ArraySchema,
    targets: int32ArraySchema,
    count: z.number().int().min(0).max(MAX_EXAMPLES),
    contextLength: z.number().int().min(1).max(64),
  })
  .strict()
  .refine((s) => s.targets.length === s.count && s.contexts.length === s.count * s.contextLength, {
    message: 'contexts/targets lengths do not match count × contextLength',
  });

export const calibrationOptionsSchema = z
  .object({
    candidates: z.array(backendSchema).min(1).max(4),
    /** Timed batches per backend, after one warm-up batch. */
    batches: z.number().int().min(1).max(200),
    batchSize: z.number().int().min(1).max(1024),
    /** Stop timing a backend after this long (a software WebGPU adapter can take seconds a batch). */
    budgetMsPerBackend: z.number().int().positive().max(600_000),
  })
  .strict();
export type CalibrationOptions = z.infer<typeof calibrationOptionsSchema>;

/**
 * What this month's upload budget still allows, as of the page's ledger: `remainingBytes` after
 * the first `accountedBytes` this worker reported (its running total in `uploaded` events), so the
 * worker can subtract what it sent since without double counting. null: unlimited.
 */
export const uploadAllowanceSchema = z
  .object({
    remainingBytes: z.number().int().nonnegative().nullable(),
    accountedBytes: z.number().int().nonnegative(),
  })
  .strict();
export type UploadAllowance = z.infer<typeof uploadAllowanceSchema>;

export const toWorkerSchema = z.discriminatedUnion('type', [
  /** Fixes the kernels once per worker (registries are process-global, registering is one-way). */
  z.object({ type: z.literal('configure'), id, kernels: kernelsSchema }).strict(),
  /** Decode and verify a global model payload (MRM1) and use it for suggestions and training. */
  z.object({ type: z.literal('loadModel'), id, payload: uint8ArraySchema.refine((b) => b.byteLength <= MAX_MODEL_BYTES) }).strict(),
  /** Choose the backend: reuse `cached` when it was made for this device and model, else measure. */
  z.object({ type: z.literal('calibrate'), id, spec: modelSpecSchema, options: calibrationOptionsSchema, cached: calibrationRecordSchema.nullable() }).strict(),
  /** Tokenize a text and turn it into (context → next word) examples for the model's spec. */
  z
    .object({
      type: z.literal('derive'),
      id,
      textId: z.string().min(1).max(200),
      body: z.string().max(MAX_TEXT_CHARS),
      vocabularySize: z.number().int().min(100).max(100_000),
      contextLength: z.number().int().min(1).max(64),
    })
    .strict(),
  /** Top-3 next words (or completions of a word being typed) for the text before the cursor. */
  z.object({ type: z.literal('suggest'), id, text: z.string().max(100_000) }).strict(),
  /**
   * Throughput of one backend for one spec: warm-up batch, then `batches` timed ones of
   * `batchSize` windows, trained on the last target of each window or on every position.
   */
  z
    .object({
      type: z.literal('benchmark'),
      id,
      backend: backendSchema,
      spec: modelSpecSchema,
      batches: z.number().int().min(1).max(1000),
      batchSize: z.number().int().min(1).max(1024),
      /** @default 'last' */
      targets: trainingTargetsSchema.optional(),
      /** Candidates per step for a sampled softmax (tied-softmax specs); absent: the full softmax. */
      sampledSoftmax: trainingPlanSchema.shape.sampledSoftmax,
    })
    .strict(),
  /** Join rounds: connect to the aggregator at `origin` and check in whenever `eligibility` is set. */
  z
    .object({
      type: z.literal('participate'),
      id,
      origin: z.string().url().max(2000),
      /**
       * The device identity: certificate, its non-extractable signing key (a CryptoKey survives
       * postMessage as it survives IndexedDB), and the enrollment issuer peers' certificates are
       * checked against.
       */
      identity: z.object({ certificate: z.string().min(1).max(1024), privateKey: signingKeySchema, issuer: issuerRecordSchema }).strict(),
      /** null: do not check in now (the scheduler's answer); the connection stays up. */
      eligibility: eligibilitySchema.nullable(),
      examples: exampleSetSchema.nullable(),
      upload: uploadAllowanceSchema,
      /** routingBucketOf(clientId): sent as ?bucket= so a proxy routes this device to its process (docs/scale-out.md). */
      routingBucket: z
        .number()
        .int()
        .min(0)
        .max(ROUTING_BUCKETS - 1),
    })
    .strict(),
  z
    .object({
      type: z.literal('updateParticipation'),
      id,
      eligibility: eligibilitySchema.nullable().optional(),
      examples: exampleSetSchema.nullable().optional(),
      /** The page's navigator.onLine changed (workers are not told reliably). */
      online: z.boolean().optional(),
      upload: uploadAllowanceSchema.optional(),
    })
    .strict(),
  z.object({ type: z.literal('stopParticipating'), id }).strict(),
]);
export type ToWorker = z.infer<typeof toWorkerSchema>;
export type ToWorkerType = ToWorker['type'];
/** A request as the UI writes it; the worker client assigns the id. */
export type WorkerRequest = z.input<typeof toWorkerSchema> extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;

export const workerErrorCodeSchema = z.enum(['BAD_MESSAGE', 'BAD_MODEL_PAYLOAD', 'NO_MODEL', 'NO_BACKEND', 'KERNELS_FIXED', 'CANCELLED', 'INTERNAL']);
export type WorkerErrorCode = z.infer<typeof workerErrorCodeSchema>;

const roundId = z.string().min(1).max(200);
/** What the worker's participation session tells the UI, unasked. */
export const participationEventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('connection'), status: z.enum(['connected', 'disconnected']), detail: z.string().max(1000).nullable() }).strict(),
  /** The aggregator refused this device's identity at the handshake (UNKNOWN_IDENTITY, REVOKED_IDENTITY). */
  z.object({ kind: z.literal('identityRejected'), code: z.string().max(64), message: z.string().max(1000) }).strict(),
  z.object({ kind: z.literal('welcome'), modelVersion: z.number().int().nonnegative() }).strict(),
  /** retryAfterMs: when the worker checks in again (0 while waiting in the pool). */
  z.object({ kind: z.literal('checkedIn'), status: z.enum(CHECK_IN_STATUSES), retryAfterMs: z.number().int().min(0).max(86_400_000) }).strict(),
  /** `uploadBytes`: the most this round can make the device upload (scheduler/upload-budget.ts). */
  z.object({ kind: z.literal('selected'), roundId, round: z.number().int().positive(), uploadBytes: z.number().int().nonnegative() }).strict(),
  /** Local training steps (batches) done of the plan's total, while the round trains. */
  z.object({ kind: z.literal('progress'), roundId, step: z.number().int().nonnegative(), steps: z.number().int().positive() }).strict(),
  /** Sent for training: `bytes` now, `totalBytes` by this worker so far (for the upload ledger). */
  z.object({ kind: z.literal('uploaded'), bytes: z.number().int().nonnegative(), totalBytes: z.number().int().nonnegative() }).strict(),
  /** Left a round because its upload would go over this month's budget. */
  z.object({ kind: z.literal('declined'), roundId, uploadBytes: z.number().int().nonnegative(), remainingBytes: z.number().int().nonnegative() }).strict(),
  /** Left a round whose plan fell below this device's privacy minimums; `reasons` in words. */
  z.object({ kind: z.literal('refused'), roundId, reasons: z.array(z.string().max(500)).min(1).max(10) }).strict(),
  /** Trained for a round: its noise, for the device's own ε, reported before any of the update is sent. */
  z.object({ kind: z.literal('participated'), record: participationRecordSchema }).strict(),
  z
    .object({ kind: z.literal('trained'), roundId, numExamples: z.number().int().nonnegative(), seconds: z.number().nonnegative(), wasClipped: z.boolean() })
    .strict(),
  z.object({ kind: z.literal('phase'), roundId, stage: z.string().max(100) }).strict(),
  z.object({ kind: z.literal('roundEnd'), roundId, status: z.enum(['committed', 'aborted']), modelVersion: z.number().int().nonnegative() }).strict(),
  z.object({ kind: z.literal('error'), code: z.string().max(64), message: z.string().max(2000), from: z.enum(['server', 'local']) }).strict(),
  z.object({ kind: z.literal('contribution'), record: contributionRecordSchema }).strict(),
]);
export type ParticipationEvent = z.infer<typeof participationEventSchema>;

export const calibrationResultSchema = calibrationRecordSchema.extend({ fromCache: z.boolean() });
export type CalibrationResult = z.infer<typeof calibrationResultSchema>;

export const fromWorkerSchema = z.discriminatedUnion('type', [
  /** Sent once at start-up, unasked: what this device looks like to tfjs (keys the calibration cache). */
  z
    .object({
      type: z.literal('hello'),
      deviceKey: z.string().min(1).max(1000),
      crossOriginIsolated: z.boolean(),
      webgpuAdapter: z.string().max(200).nullable(),
    })
    .strict(),
  z.object({ type: z.literal('configured'), id, kernels: kernelsSchema }).strict(),
  z
    .object({
      type: z.literal('modelLoaded'),
      id,
      version: z.number().int().nonnegative(),
      hash: z.string().regex(/^[0-9a-f]{64}$/),
      parameters: z.number().int().positive(),
      spec: modelSpecSchema,
      /** Of the vocabulary the model's token ids refer to: examples derived with another are stale. */
      vocabularyFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .strict(),
  z.object({ type: z.literal('calibrated'), id, result: calibrationResultSchema }).strict(),
  z
    .object({
      type: z.literal('derived'),
      id,
      textId: z.string(),
      vocabularyFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
      examples: exampleSetSchema,
    })
    .strict(),
  z
    .object({
      type: z.literal('suggestions'),
      id,
      words: z.array(z.string().max(100)).max(3),
      /** True when completing the word being typed rather than predicting the next one. */
      completing: z.boolean(),
      modelVersion: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      type: z.literal('benchmarked'),
      id,
      /** examplesPerSecond counts windows (one per example with 'last'). */
      measurement: backendMeasurementSchema,
      /** Next tokens the loss scored per second (the window count × positions with 'every'); null when it failed. */
      tokensPerSecond: z.number().nonnegative().nullable(),
      targets: trainingTargetsSchema,
      wasmThreads: z.number().int().nonnegative(),
    })
    .strict(),
  z.object({ type: z.literal('participating'), id }).strict(),
  z.object({ type: z.literal('participation'), event: participationEventSchema }).strict(),
  z.object({ type: z.literal('error'), id: id.nullable(), code: workerErrorCodeSchema, message: z.string().max(10_000) }).strict(),
]);
export type FromWorker = z.infer<typeof fromWorkerSchema>;

/** The response types each request may be answered with (besides `error`). */
export const RESPONSE_OF = {
  configure: 'configured',
  loadModel: 'modelLoaded',
  calibrate: 'calibrated',
  derive: 'derived',
  suggest: 'suggestions',
  benchmark: 'benchmarked',
  participate: 'participating',
  updateParticipation: null,
  stopParticipating: null,
} as const satisfies Record<ToWorkerType, FromWorker['type'] | null>;

/** The key a calibration is cached under: the same device (as tfjs sees it) and the same model. */
export function calibrationKey(deviceKey: string, spec: ModelSpec): string {
  return `${deviceKey}|${JSON.stringify(spec, Object.keys(spec).sort())}`;
}
