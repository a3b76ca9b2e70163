import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from 'pino';
import { serverOptimizerSchema, type ServerOptimizerState } from '@murmur/fl-core/aggregate';
import { decodeModelPayload, encodeModelPayload, modelHash, modelSpecSchema, type ModelSpec } from '@murmur/fl-core/model';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { roundReportSchema, type RoundReport } from '@murmur/fl-core/protocol';
import { initialReleaseState, releaseStateSchema, trainingBaseVersion, type ReleaseState } from '@murmur/fl-core/round';
import { fsyncDirectory, writeFileAtomic } from './fs-atomic';

/**
 * Durable state in a data directory of plain files (why files and not SQLite: docs/aggregator.md):
 *
 *   head.json                  the commit point: newest model version + hash, next round, optimizer,
 *                              ledger, the release state (released / candidate / training base, gate decisions)
 *   released.json              a round whose sum is unmasked but not yet recorded: its ledger after the
 *                              release and the record it gets if the process stops before its own (see recordRelease)
 *   models/model-<v>.bin       each kept model version (the MRM1 payload served over HTTP)
 *   models/optimizer-<v>.bin   the server optimizer's moments after version v (FedAvgM, FedAdam, FedYogi)
 *   rounds/<round>.json        one record per finished round, committed or aborted
 *   plan.json                  the operator's plan changes (admin API), restored on start
 *   audit.jsonl                append-only audit log (audit.ts)
 *   quarantine/<file>          records that failed validation on start, set aside (see open)
 *
 * Every file is written atomically (temp + fsync + rename + directory fsync). A round becomes
 * durable in this order: model and optimizer files, its record, then head.json. Whatever a crash
 * interrupts before head.json is ignored on restart (and its files removed), so the state is
 * always the last completed round: nothing committed is lost, nothing half-written is served.
 *
 * A record is validated against fl-core's roundReportSchema before it is written, and again when
 * it is read. One that fails on start (a disk error, a hand edit, a record from a build that let a
 * bad sum through) is moved to quarantine/ with the reason logged and listed in `quarantined`;
 * the service starts with the rest. Its round stays counted (head.json's nextRound, the ledger):
 * the history then shows a gap that is explained, never a silently renumbered one.
 *
 * Release gates: a committed version is a candidate; the release state in head.json says which
 * version is released (served for suggestions) and which one the next round trains from. It is
 * written with the round whose commit decided it, in the same head.json, so a crash can never
 * leave a decision without its round or a round without its decision. Pruning keeps the newest
 * keepModels versions plus whatever the release state still names (released, training base,
 * candidate), however old.
 */
const headSchema = z
  .object({
    version: z.literal(1),
    modelVersion: z.number().int().min(0),
    modelHash: z.string().regex(/^[0-9a-f]{64}$/),
    spec: modelSpecSchema,
    nextRound: z.number().int().min(1),
    optimizer: z.object({ config: serverOptimizerSchema, round: z.number().int().min(0) }).strict(),
    ledger: z.unknown(),
    /** Adaptive clipping: C for the next round. */
    clipNorm: z.number().positive().optional(),
    /** Absent in data directories from before release gates: every version was served, so the newest is released. */
    release: releaseStateSchema.optional(),
    /**
     * Server-optimizer steps behind each kept version (its optimizer file holds only the moments).
     * A version without an entry is from a linear history, where the steps equal the version.
     */
    optimizerRounds: z.record(z.string().regex(/^\d{1,9}$/), z.number().int().min(0)).optional(),
    updatedAt: z.string(),
  })
  .strict();
type Head = z.output<typeof headSchema>;

/** plan.json: the operator's accumulated plan changes; validated against the configured bounds by plan.ts. */
const planRecordSchema = z
  .object({
    version: z.literal(1),
    /** 1 for the first change, +1 for each later one. */
    revision: z.number().int().min(1),
    changedAt: z.string().max(40),
    overrides: z.record(z.string(), z.unknown()),
  })
  .strict();
export type PlanRecord = z.output<typeof planRecordSchema>;

/** A kept model version with what a round needs to train from it. */
export interface StoredModel {
  version: number;
  hash: string;
  weights: Float32Array;
  optimizer: ServerOptimizerState;
}

const RELEASED_FILE = 'released.json';

const pad = (n: number) => String(n).padStart(8, '0');

export interface InitialState {
  spec: ModelSpec;
  weights: Float32Array;
  optimizer: ServerOptimizerState;
}

export interface CommitInput {
  report: RoundReport;
  /** The ledger after the round, present when the round released a sum (committed or not). */
  ledger?: PrivacyLedger;
  /** Present when the round committed a new model version. */
  model?: { weights: Float32Array; optimizer: ServerOptimizerState; clipNorm?: number };
  /** The release state after the round (the gate's decisions at this commit). */
  release?: ReleaseState;
}

/** What a round whose sum was just unmasked leaves behind if the process stops before the round's own record. */
export interface ReleaseRecord {
  /** The aborted record (code INTERRUPTED) the round gets in that case. */
  report: RoundReport;
  /** The ledger with the released sum's entry. */
  ledger: PrivacyLedger;
}

const releaseRecordSchema = z.object({ version: z.literal(1), report: z.unknown(), ledger: z.unknown() }).strict();

/** A round record set aside on start because it failed validation. */
export interface QuarantinedRecord {
  round: number | null;
  file: string;
  reason: string;
}

export class DataStore {
  readonly dir: string;
  #head: Head;
  #weights: Float32Array;
  #optimizer: ServerOptimizerState;
  #ledger: PrivacyLedger;
  #latestPayload: Uint8Array;
  readonly #rounds: RoundReport[];
  readonly #keepModels: number;
  /** Older versions read from disk lately (a released or training base that is not the newest). */
  readonly #loaded = new Map<number, StoredModel>();
  #plan: PlanRecord | null = null;
  /** Records set aside by the last open, oldest first. */
  readonly quarantined: readonly QuarantinedRecord[];

  private constructor(
    dir: string,
    head: Head,
    weights: Float32Array,
    optimizer: ServerOptimizerState,
    ledger: PrivacyLedger,
    payload: Uint8Array,
    rounds: RoundReport[],
    keepModels: number,
    quarantined: QuarantinedRecord[],
  ) {
    this.dir = dir;
    this.#head = head;
    this.#weights = weights;
    this.#optimizer = optimizer;
    this.#ledger = ledger;
    this.#latestPayload = payload;
    this.#rounds = rounds;
    this.#keepModels = keepModels;
    this.quarantined = quarantined;
  }

  static open(dir: string, initial: () => InitialState, logger: Logger, keepModels = 50): DataStore {
    for (const sub of ['', 'models', 'rounds']) mkdirSync(join(dir, sub), { recursive: true });
    for (const sub of ['', 'models', 'rounds']) {
      for (const name of readdirSync(join(dir, sub))) if (name.endsWith('.tmp')) rmSync(join(dir, sub, name));
    }
    const headPath = join(dir, 'head.json');
    if (!existsSync(headPath)) {
      const { spec, weights, optimizer } = initial();
      const payload = encodeModelPayload({ version: 0, spec, weights });
      writeFileAtomic(join(dir, 'models', 'model-0.bin'), payload);
      writeFileAtomic(join(dir, 'models', 'optimizer-0.bin'), optimizerBytes(optimizer));
      const ledger = new PrivacyLedger();
      const head: Head = {
        version: 1,
        modelVersion: 0,
        modelHash: modelHash(spec, weights),
        spec,
        nextRound: 1,
        optimizer: { config: optimizer.config, round: optimizer.round },
        ledger: ledger.toJSON(),
        updatedAt: new Date().toISOString(),
      };
      writeFileAtomic(headPath, JSON.stringify(head));
      logger.info({ dir, parameters: weights.length }, 'data directory initialized with model version 0');
      return new DataStore(dir, head, weights, optimizer, ledger, payload, [], keepModels, []);
    }
    const head = headSchema.parse(JSON.parse(readFileSync(headPath, 'utf8')));
    const payload = new Uint8Array(readFileSync(join(dir, 'models', `model-${head.modelVersion}.bin`)));
    const model = decodeModelPayload(payload);
    if (model.hash !== head.modelHash || model.version !== head.modelVersion) {
      throw new Error(
        `${dir}: model-${head.modelVersion}.bin does not match head.json (hash ${model.hash.slice(0, 12)}…, expected ${head.modelHash.slice(0, 12)}…)`,
      );
    }
    const optimizer = parseOptimizer(head.optimizer, readFileSync(join(dir, 'models', `optimizer-${head.modelVersion}.bin`)), model.weights.length);
    const ledger = PrivacyLedger.fromJSON(head.ledger);
    const rounds: RoundReport[] = [];
    const quarantined: QuarantinedRecord[] = [];
    for (const name of readdirSync(join(dir, 'rounds')).sort()) {
      const round = /^\d{8}\.json$/.test(name) ? Number(name.slice(0, 8)) : null;
      const path = join(dir, 'rounds', name);
      // A record written after the last head.json belongs to a round the crash interrupted.
      if (round !== null && round >= head.nextRound) {
        rmSync(path);
        continue;
      }
      const read = round === null ? { ok: false as const, reason: 'not a round record name (expected 8 digits + .json)' } : readRecord(path, round);
      if (read.ok) rounds.push(read.report);
      else {
        quarantine(dir, name);
        quarantined.push({ round, file: name, reason: read.reason });
        logger.warn(
          { file: join('rounds', name), moved: join('quarantine', name), reason: read.reason },
          'round record failed validation: quarantined, starting without it',
        );
      }
    }
    for (const name of readdirSync(join(dir, 'models'))) {
      const version = Number(/^(?:model|optimizer)-(\d+)\.bin$/.exec(name)?.[1]);
      if (Number.isInteger(version) && version > head.modelVersion) rmSync(join(dir, 'models', name));
    }
    const release = head.release ?? initialReleaseState(head.modelVersion);
    for (const [role, version] of [
      ['released', release.released],
      ['training base', trainingBaseVersion(release)],
    ] as const) {
      if (version > head.modelVersion || !existsSync(join(dir, 'models', `model-${version}.bin`))) {
        throw new Error(`${dir}: head.json names v${version} as the ${role}, but models/model-${version}.bin is missing`);
      }
    }
    logger.info(
      {
        dir,
        modelVersion: head.modelVersion,
        released: release.released,
        trainingBase: trainingBaseVersion(release),
        nextRound: head.nextRound,
        rounds: rounds.length,
        quarantined: quarantined.length,
      },
      'resumed from the last committed round',
    );
    const store = new DataStore(dir, head, model.weights, optimizer, ledger, payload, rounds, keepModels, quarantined);
    store.#plan = readPlanRecord(dir, logger);
    store.#settleRelease(logger);
    return store;
  }

  get modelVersion(): number {
    return this.#head.modelVersion;
  }
  get modelHash(): string {
    return this.#head.modelHash;
  }
  get spec(): ModelSpec {
    return this.#head.spec;
  }
  get nextRound(): number {
    return this.#head.nextRound;
  }
  get weights(): Float32Array {
    return this.#weights;
  }
  get optimizer(): ServerOptimizerState {
    return this.#optimizer;
  }
  get ledger(): PrivacyLedger {
    return this.#ledger;
  }
  /** The adapted clip norm after the last committed round, if adaptive clipping ran. */
  get clipNorm(): number | null {
    return this.#head.clipNorm ?? null;
  }
  get rounds(): readonly RoundReport[] {
    return this.#rounds;
  }
  /** Released, candidate and training base (see fl-core's round/release.ts). */
  get release(): ReleaseState {
    return this.#head.release ?? initialReleaseState(this.#head.modelVersion);
  }
  /** The operator's saved plan changes, or null when the plan is as configured. */
  get plan(): PlanRecord | null {
    return this.#plan;
  }

  /** The model the next round trains from: weights, hash and optimizer state of the release state's training base. */
  trainingBase(): StoredModel {
    const version = trainingBaseVersion(this.release);
    const model = this.model(version);
    // Open and pruning keep every version the release state names, so this is a broken data directory.
    if (!model) throw new Error(`${this.dir}: the training base v${version} is not on disk`);
    return model;
  }

  /** A kept version with its optimizer state, or null when it is not on disk. */
  model(version: number): StoredModel | null {
    if (version === this.#head.modelVersion) return { version, hash: this.#head.modelHash, weights: this.#weights, optimizer: this.#optimizer };
    const cached = this.#loaded.get(version);
    if (cached) return cached;
    const payload = this.modelPayload(version);
    if (!payload) return null;
    const decoded = decodeModelPayload(payload);
    const rounds = this.#head.optimizerRounds?.[String(version)] ?? version;
    const optimizer = parseOptimizer(
      { config: this.#head.optimizer.config, round: rounds },
      readFileSync(join(this.dir, 'models', `optimizer-${version}.bin`)),
      decoded.weights.length,
    );
    const model: StoredModel = { version, hash: decoded.hash, weights: decoded.weights, optimizer };
    // Two at most: the released version and a training base other than the newest.
    if (this.#loaded.size >= 2) this.#loaded.delete(this.#loaded.keys().next().value as number);
    this.#loaded.set(version, model);
    return model;
  }

  /** Versions on disk (model and optimizer file), ascending. */
  keptVersions(): number[] {
    const names = new Set(readdirSync(join(this.dir, 'models')));
    const versions: number[] = [];
    for (const name of names) {
      const version = Number(/^model-(\d+)\.bin$/.exec(name)?.[1]);
      if (Number.isInteger(version) && version <= this.#head.modelVersion && names.has(`optimizer-${version}.bin`)) versions.push(version);
    }
    return versions.sort((a, b) => a - b);
  }

  hasVersion(version: number): boolean {
    return (
      Number.isInteger(version) &&
      version >= 0 &&
      version <= this.#head.modelVersion &&
      existsSync(join(this.dir, 'models', `model-${version}.bin`)) &&
      existsSync(join(this.dir, 'models', `optimizer-${version}.bin`))
    );
  }

  /** An operator's release or rollback: durable (head.json) before it returns. */
  setRelease(release: ReleaseState): void {
    const parsed = releaseStateSchema.parse(release);
    for (const version of [parsed.released, trainingBaseVersion(parsed)]) {
      if (!this.hasVersion(version)) throw new RangeError(`release state names v${version}, which is not kept`);
    }
    const head: Head = { ...this.#head, release: parsed, updatedAt: new Date().toISOString() };
    writeFileAtomic(join(this.dir, 'head.json'), JSON.stringify(head));
    this.#head = head;
  }

  /** Adaptive clipping: an operator's C becomes the next round's, here as after any round (one home for C). */
  setClipNorm(clipNorm: number): void {
    const head: Head = { ...this.#head, clipNorm, updatedAt: new Date().toISOString() };
    writeFileAtomic(join(this.dir, 'head.json'), JSON.stringify(head));
    this.#head = head;
  }

  /** Saves the operator's accumulated plan changes; durable before it returns. */
  savePlan(record: Omit<PlanRecord, 'version'>): void {
    const full = planRecordSchema.parse({ version: 1, ...record });
    writeFileAtomic(join(this.dir, 'plan.json'), JSON.stringify(full));
    this.#plan = full;
  }

  /** The MRM1 payload of a version still on disk, or null. */
  modelPayload(version: number): Uint8Array | null {
    if (version === this.#head.modelVersion) return this.#latestPayload;
    const path = join(this.dir, 'models', `model-${version}.bin`);
    if (!Number.isInteger(version) || version < 0 || version > this.#head.modelVersion || !existsSync(path)) return null;
    return new Uint8Array(readFileSync(path));
  }

  /**
   * Makes an unmasked sum's ledger entry durable before anything reads the sum (issue 16: "the
   * ledger entry is written the moment a sum is unmasked, whatever happens after"). The round's own
   * commit or abort replaces it; if the process stops first, the next open records the round as
   * aborted with this ledger, so a released sum is never missing from ε.
   */
  recordRelease({ report, ledger }: ReleaseRecord): void {
    this.#assertRecordable(report);
    if (report.status !== 'aborted') throw new RangeError(`round ${report.round}: a release is recorded with the aborted record it falls back to`);
    writeFileAtomic(join(this.dir, RELEASED_FILE), JSON.stringify({ version: 1, report, ledger: ledger.toJSON() }));
  }

  /** On open: a release left by a stopped process becomes its round's aborted record; one already recorded is dropped. */
  #settleRelease(logger: Logger): void {
    const path = join(this.dir, RELEASED_FILE);
    if (!existsSync(path)) return;
    const saved = releaseRecordSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    const report = roundReportSchema.parse(saved.report);
    if (report.round === this.#head.nextRound) {
      this.commit({ report, ledger: PrivacyLedger.fromJSON(saved.ledger) });
      logger.warn(
        { round: report.round, epsilon: report.privacy.epsilon },
        'a round released its sum before the process stopped: recorded as aborted, with its ledger entry',
      );
    }
    rmSync(path, { force: true });
  }

  #assertRecordable(report: RoundReport): void {
    const valid = roundReportSchema.safeParse(report);
    if (!valid.success)
      throw new RangeError(`round ${report.round}: the record is invalid and was not written: ${z.prettifyError(valid.error).replace(/\n/g, '; ')}`);
    if (report.round !== this.#head.nextRound) throw new RangeError(`round record ${report.round}: expected round ${this.#head.nextRound}`);
  }

  /**
   * Makes a finished round durable; returns only once head.json names it. Throws, writing
   * nothing, when the record fails fl-core's schema or is not the next round.
   */
  commit({ report, ledger, model, release }: CommitInput): void {
    this.#assertRecordable(report);
    const nextRound = report.round + 1;
    let head: Head = {
      ...this.#head,
      nextRound,
      updatedAt: new Date().toISOString(),
      ...(ledger ? { ledger: ledger.toJSON() } : {}),
      ...(release ? { release: releaseStateSchema.parse(release) } : {}),
    };
    let payload = this.#latestPayload;
    if (model) {
      const version = this.#head.modelVersion + 1;
      payload = encodeModelPayload({ version, spec: this.#head.spec, weights: model.weights });
      writeFileAtomic(join(this.dir, 'models', `model-${version}.bin`), payload);
      writeFileAtomic(join(this.dir, 'models', `optimizer-${version}.bin`), optimizerBytes(model.optimizer));
      head = {
        ...head,
        modelVersion: version,
        modelHash: modelHash(this.#head.spec, model.weights),
        optimizer: { config: model.optimizer.config, round: model.optimizer.round },
        optimizerRounds: { ...this.#head.optimizerRounds, [String(version)]: model.optimizer.round },
        ...(model.clipNorm !== undefined ? { clipNorm: model.clipNorm } : {}),
      };
    }
    writeFileAtomic(join(this.dir, 'rounds', `${pad(report.round)}.json`), JSON.stringify(report));
    writeFileAtomic(join(this.dir, 'head.json'), JSON.stringify(head));
    // head.json now holds this round's ledger, so its release record has served its purpose.
    rmSync(join(this.dir, RELEASED_FILE), { force: true });
    this.#head = head;
    this.#latestPayload = payload;
    this.#rounds.push(report);
    if (ledger) this.#ledger = ledger;
    if (model) {
      this.#weights = model.weights;
      this.#optimizer = model.optimizer;
      this.#prune();
    }
  }

  /**
   * Removes versions older than the newest keepModels, except those the release state names: the
   * released version must stay servable and the training base trainable however many candidates
   * came after them. A removal interrupted by a crash leaves an extra file, removed next time.
   */
  #prune(): void {
    const release = this.release;
    const named = new Set([release.released, trainingBaseVersion(release), ...(release.candidate ? [release.candidate.version] : [])]);
    const oldestKept = this.#head.modelVersion - this.#keepModels + 1;
    for (const name of readdirSync(join(this.dir, 'models'))) {
      const version = Number(/^(?:model|optimizer)-(\d+)\.bin$/.exec(name)?.[1]);
      if (Number.isInteger(version) && version < oldestKept && !named.has(version)) {
        rmSync(join(this.dir, 'models', name), { force: true });
        this.#loaded.delete(version);
      }
    }
  }
}

function readRecord(path: string, round: number): { ok: true; report: RoundReport } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return { ok: false, reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const parsed = roundReportSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error).replace(/\n/g, '; ') };
  if (parsed.data.round !== round) return { ok: false, reason: `holds round ${parsed.data.round}, expected ${round} from its name` };
  return { ok: true, report: parsed.data };
}

/** plan.json, or null when absent; one that does not parse is set aside in quarantine/ and the configured plan is used. */
function readPlanRecord(dir: string, logger: Logger): PlanRecord | null {
  const path = join(dir, 'plan.json');
  if (!existsSync(path)) return null;
  let reason: string;
  try {
    const parsed = planRecordSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (parsed.success) return parsed.data;
    reason = z.prettifyError(parsed.error).replace(/\n/g, '; ');
  } catch (error) {
    reason = `not JSON: ${error instanceof Error ? error.message : String(error)}`;
  }
  const target = join(dir, 'quarantine');
  mkdirSync(target, { recursive: true });
  renameSync(path, join(target, `plan-${Date.now()}.json`));
  fsyncDirectory(target);
  fsyncDirectory(dir);
  logger.warn({ file: 'plan.json', reason }, 'saved plan changes failed validation: quarantined, starting with the configured plan');
  return null;
}

/** Moves a record aside (kept for inspection, never served); a name already there gets a suffix. */
function quarantine(dir: string, name: string): void {
  const target = join(dir, 'quarantine');
  mkdirSync(target, { recursive: true });
  let destination = join(target, name);
  for (let i = 1; existsSync(destination); i++) destination = join(target, `${name}.${i}`);
  renameSync(join(dir, 'rounds', name), destination);
  fsyncDirectory(target);
  fsyncDirectory(join(dir, 'rounds'));
}

/** A server optimizer's moments as bytes (m then v, float32 LE): what a version's optimizer file, or the record's, holds. */
export function optimizerBytes(state: ServerOptimizerState): Uint8Array {
  const parts = [state.m, state.v].filter((x): x is Float32Array => x !== undefined);
  const total = parts.reduce((sum, p) => sum + p.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(out.buffer);
}

/** The optimizer state back from its configuration, step count and optimizerBytes. */
export function parseOptimizer(stored: Head['optimizer'], bytes: Uint8Array, dimension: number): ServerOptimizerState {
  // A copy: readFileSync may hand back a view into a shared pool buffer (Buffer#slice does not copy).
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const words = new Float32Array(copy.buffer);
  const moments = stored.config.name === 'fedavg' ? 0 : stored.config.name === 'fedavgm' ? 1 : 2;
  if (words.length !== moments * dimension) {
    throw new Error(`optimizer checkpoint: ${words.length} values, expected ${moments} × ${dimension} for ${stored.config.name}`);
  }
  const state: ServerOptimizerState = { config: stored.config, round: stored.round };
  if (moments >= 1) state.m = words.slice(0, dimension);
  if (moments === 2) state.v = words.slice(dimension, 2 * dimension);
  return state;
}
