import { z } from 'zod';
import { modelSpecSchema } from '@murmur/fl-core/model';
import { PRIVACY_MODES } from '@murmur/fl-core/privacy';

/**
 * Shapes of everything the web client keeps in IndexedDB, and the validation helpers the worker
 * protocol shares. Reads are parsed with these schemas:
 * IndexedDB is a trust boundary (another tab, an older build, a browser extension or a disk error
 * can leave anything there), so nothing read from it is used unchecked.
 */

/**
 * Typed-array checks by tag, not `instanceof`: a structured clone may come from another realm
 * (another frame, a test environment's globals), whose constructors differ from ours.
 */
const typedArray = <T>(tag: string) =>
  z.custom<T>((value) => ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === `[object ${tag}]`, `expected a ${tag}`);
export const int32ArraySchema = typedArray<Int32Array>('Int32Array');
export const float32ArraySchema = typedArray<Float32Array>('Float32Array');
export const uint8ArraySchema = typedArray<Uint8Array>('Uint8Array');

/** Zod issues as one line: `path: message; …`, for errors that say where. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export { MAX_MODEL_BYTES } from '@murmur/fl-core/model';

/** Far above anything a person types into one note; bounds what a corrupt record can make us hold. */
export const MAX_TEXT_CHARS = 2_000_000;

export const textRecordSchema = z
  .object({
    id: z.string().min(1).max(200),
    body: z.string().max(MAX_TEXT_CHARS),
    /** 'demo': loaded by `?seed=` from the public corpus, not written by the person. */
    source: z.enum(['user', 'demo']),
    /** The corpus partition a demo text came from. */
    demoPartition: z.string().min(1).max(200).nullable(),
    createdAt: z.number().nonnegative(),
    updatedAt: z.number().nonnegative(),
  })
  .strict();
export type TextRecord = z.infer<typeof textRecordSchema>;

/** Training examples derived from one text with one vocabulary and context length. */
export const exampleRecordSchema = z
  .object({
    textId: z.string().min(1).max(200),
    /** Fingerprint of the vocabulary the ids refer to; examples from another vocabulary are stale. */
    vocabularyFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
    contextLength: z.number().int().min(1).max(64),
    count: z.number().int().nonnegative(),
    contexts: int32ArraySchema,
    targets: int32ArraySchema,
    /** The text's updatedAt the examples were derived from, so an edit re-derives them. */
    textUpdatedAt: z.number().nonnegative(),
  })
  .strict()
  .refine((r) => r.targets.length === r.count && r.contexts.length === r.count * r.contextLength, {
    message: 'contexts/targets lengths do not match count × contextLength',
  });
export type ExampleRecord = z.infer<typeof exampleRecordSchema>;

/** A global model version as downloaded: the verified MRM1 payload bytes plus its header fields. */
export const modelRecordSchema = z
  .object({
    version: z.number().int().nonnegative(),
    spec: modelSpecSchema,
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    payload: uint8ArraySchema,
    fetchedAt: z.number().nonnegative(),
  })
  .strict();
export type ModelRecord = z.infer<typeof modelRecordSchema>;

export const settingsSchema = z
  .object({
    /** Opt-in to federated training. Off until the person turns it on (a demo build may default it on). */
    consent: z.boolean(),
    consentChangedAt: z.number().nonnegative().nullable(),
  })
  .strict();
export type Settings = z.infer<typeof settingsSchema>;

/**
 * A non-extractable ECDSA P-256 signing key, as IndexedDB gives a stored CryptoKey back (a
 * structured clone keeps the key and its non-extractability; nothing can read its bytes). Checked
 * by tag, as the typed arrays are, and by the properties that make it this device's identity key.
 */
export const signingKeySchema = z.custom<CryptoKey>((value) => {
  if (Object.prototype.toString.call(value) !== '[object CryptoKey]') return false;
  const key = value as CryptoKey;
  const algorithm = key.algorithm as KeyAlgorithm & { namedCurve?: string };
  return key.type === 'private' && !key.extractable && algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256' && key.usages.includes('sign');
}, 'expected a non-extractable ECDSA P-256 private CryptoKey');

const p256PublicKeySchema = uint8ArraySchema.refine((bytes) => bytes.length === 65 && bytes[0] === 0x04, 'expected an uncompressed P-256 point (65 bytes)');

/** The enrollment service's public identity as this device trusts it. */
export const issuerRecordSchema = z.object({ name: z.string().min(1).max(128), publicKey: p256PublicKeySchema }).strict();

/**
 * This device's identity (store `identity`, key 'device'): its signing key, created here and never
 * readable, and the certificate the enrollment service issued for it. `issuer` is the service key
 * the device trusts: the one the build configured, or the one it met at its first enrollment
 * (trust on first use); a later enrollment under another key is refused.
 */
export const identityRecordSchema = z
  .object({
    clientId: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    certificate: z.string().min(1).max(1024),
    privateKey: signingKeySchema,
    publicKey: p256PublicKeySchema,
    issuer: issuerRecordSchema,
    issuerSource: z.enum(['configured', 'first-use']),
    enrolledAt: z.number().nonnegative(),
    expiresAtMs: z.number().nonnegative(),
  })
  .strict();
export type IdentityRecord = z.infer<typeof identityRecordSchema>;

/** Decimal megabytes, as phone plans count data. */
export const MEGABYTE = 1_000_000;
/** The monthly upload budgets the settings offer; null is "unlimited". */
export const UPLOAD_BUDGET_CHOICES: readonly (number | null)[] = Object.freeze([10 * MEGABYTE, 50 * MEGABYTE, 200 * MEGABYTE, null]);
/** Far above any choice; bounds what a corrupt record can ask for. */
const MAX_UPLOAD_BUDGET_BYTES = 1_000_000 * MEGABYTE;

/**
 * The person's data and battery choices (kept in the `settings` store under the key 'controls').
 * Every default is the careful one: a phone on a cellular plan or on battery never trains unless
 * its owner says it may.
 */
export const deviceControlsSchema = z
  .object({
    /** Check in only on an unmetered network (Wi-Fi, Ethernet) where the browser can tell. @default true */
    onlyUnmetered: z.boolean(),
    /** Check in only while charging where the browser can tell. @default true */
    onlyWhileCharging: z.boolean(),
    /** Bytes this device may upload for training per calendar month; null: unlimited. @default 50 MB */
    monthlyUploadBudgetBytes: z.number().int().positive().max(MAX_UPLOAD_BUDGET_BYTES).nullable(),
    changedAt: z.number().nonnegative().nullable(),
  })
  .strict();
export type DeviceControls = z.infer<typeof deviceControlsSchema>;

export const DEFAULT_DEVICE_CONTROLS: DeviceControls = Object.freeze({
  onlyUnmetered: true,
  onlyWhileCharging: true,
  monthlyUploadBudgetBytes: 50 * MEGABYTE,
  changedAt: null,
});

/** One calendar month of this device's training uploads (the upload ledger, store `uploads`). */
export const uploadMonthSchema = z
  .object({
    /** The person's local calendar month, 'YYYY-MM'. */
    month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/),
    bytes: z.number().int().nonnegative(),
    updatedAt: z.number().nonnegative(),
  })
  .strict();
export type UploadMonth = z.infer<typeof uploadMonthSchema>;

export const contributionRecordSchema = z
  .object({
    id: z.number().int().positive().optional(),
    at: z.number().nonnegative(),
    roundId: z.string().min(1).max(200),
    modelVersion: z.number().int().nonnegative(),
    /** refused: the plan fell below this device's privacy minimums, so it did not train. */
    status: z.enum(['contributed', 'aborted', 'failed', 'refused']),
    /** Why a round did not complete, in words. */
    reason: z.string().max(2000).nullable(),
    bytesSent: z.number().int().nonnegative(),
    bytesReceived: z.number().int().nonnegative(),
    /**
     * The aggregator's population ε after the round, at its δ (amplified by sampling: it does not
     * hold against the aggregator itself); null when none was reported.
     */
    epsilon: z.number().nonnegative().nullable(),
    delta: z.number().min(0).max(1).nullable(),
    backend: z.string().min(1).max(40),
    durationMs: z.number().nonnegative(),
    numExamples: z.number().int().nonnegative(),
  })
  .strict();
export type ContributionRecord = z.infer<typeof contributionRecordSchema>;

/**
 * A round's distributed discrete Gaussian as the device's own ε needs it (fl-core
 * DeviceParticipation.discrete): C, the scale, Δ₂ and the padded dimension of the plan's discrete
 * block, which the device checked against C, d and β before it trained (checkPlanAgainstPolicy).
 */
export const participationDiscreteSchema = z
  .object({
    clipNorm: z.number().positive().max(1e6),
    scale: z
      .number()
      .positive()
      .max(2 ** 40),
    roundedNormBound: z.number().positive().max(1e300),
    paddedDimension: z
      .number()
      .int()
      .min(1)
      .max(2 ** 28),
  })
  .strict();

/**
 * One round this device trained for (store `participations`, keyed by round id), recorded once its
 * update is ready and before any of it is sent: what the plan said about noise, which is all the
 * device's own ε needs (fl-core deviceEpsilon). Never deleted by the app except with everything.
 * `colluders` and `discrete` since schema version 7; the migration gives older records c = 0 and no
 * discrete block, which is what their plans meant.
 */
export const participationRecordSchema = z
  .object({
    roundId: z.string().min(1).max(200),
    round: z.number().int().positive(),
    at: z.number().nonnegative(),
    mode: z.enum(PRIVACY_MODES),
    noiseMultiplier: z.number().nonnegative().max(1e6),
    clipIndicatorNoiseStdDev: z.number().nonnegative().max(1e9).nullable(),
    minSurvivors: z.number().int().positive(),
    threshold: z.number().int().positive(),
    /** c of the plan: 'distributed' shares were calibrated to k_min − c (0: the plan named none). */
    colluders: z.number().int().nonnegative().max(100_000),
    /** The plan's discrete noise; null for continuous Gaussian noise. */
    discrete: participationDiscreteSchema.nullable(),
  })
  .strict()
  // What deviceEpsilon refuses to compute with: such a record is skipped and reported, never used.
  .superRefine((record, ctx) => {
    if (record.colluders >= record.minSurvivors) {
      ctx.addIssue({ code: 'custom', path: ['colluders'], message: `expected colluders < minSurvivors (${record.minSurvivors}), got ${record.colluders}` });
    }
    if (record.discrete !== null && record.mode !== 'distributed') {
      ctx.addIssue({ code: 'custom', path: ['discrete'], message: `discrete noise needs mode 'distributed', got '${record.mode}'` });
    }
  });
export type ParticipationRecord = z.infer<typeof participationRecordSchema>;

export const backendMeasurementSchema = z
  .object({
    backend: z.enum(['webgpu', 'webgl', 'wasm', 'cpu']),
    /** null when the backend is missing or failed. */
    examplesPerSecond: z.number().nonnegative().nullable(),
    error: z.string().max(2000).nullable(),
  })
  .strict();
export type BackendMeasurement = z.infer<typeof backendMeasurementSchema>;

/** Which tfjs backend this device trains a given model with, and why (cached calibration). */
export const calibrationRecordSchema = z
  .object({
    /** Device fingerprint + model spec; see `calibrationKey`. */
    key: z.string().min(1).max(2000),
    backend: backendMeasurementSchema.shape.backend,
    reason: z.string().max(2000),
    measurements: z.array(backendMeasurementSchema).max(4),
    /** Whether wasm ran with threads (needs a cross-origin-isolated page). */
    wasmThreads: z.number().int().nonnegative(),
    measuredAt: z.number().nonnegative(),
  })
  .strict();
export type CalibrationRecord = z.infer<typeof calibrationRecordSchema>;
