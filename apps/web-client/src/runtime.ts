import {
  concatExamples,
  enrollDevice,
  EnrollmentFailure,
  sameIssuer,
  type EnrollmentIssuer,
  type Eligibility as WireEligibility,
  type ExampleSet,
  type ModelSpec,
} from '@murmur/fl-core';
import { LocalStore, type ExportBundle, type StorageSummary } from './storage/db';
import {
  DEFAULT_DEVICE_CONTROLS,
  type ContributionRecord,
  type DeviceControls,
  type ExampleRecord,
  type IdentityRecord,
  type ParticipationRecord,
  type Settings,
  type TextRecord,
} from './storage/schema';
import { monthKey, UploadLedger } from './storage/upload-ledger';
import { estimateRoundUploadBytes, formatMegabytes, remainingBytes, type UploadUsage } from './scheduler/upload-budget';
import { fetchModelPayload } from './model-client';
import { calibrationKey, type CalibrationOptions, type CalibrationResult, type ParticipationEvent, type UploadAllowance } from './worker/protocol';
import { WorkerClient, type WorkerLike } from './worker/client';
import { decideEligibility, type Eligibility, type ParticipationPolicy } from './scheduler/eligibility';
import { DeviceMonitor } from './scheduler/environment';
import type { SuggestionAnswer } from './suggest/requester';
import { loadSeedPartition, seedTextId } from './seed/seed';
import { networkNotice, type Notice, type TrainingProgress } from './ui/status-text';

export interface RuntimeConfig {
  origin: string;
  /** `?seed=` partition to load as demo text, or null. */
  seed: string | null;
  policy: ParticipationPolicy;
  /** Consent before the person chooses: false, except in a demo build (VITE_DEMO_CONSENT). */
  defaultConsent: boolean;
  calibration: CalibrationOptions;
  /** How often to look for a new global model while the app is open. */
  modelRefreshMs: number;
  /**
   * Where to enroll (the enrollment service's base URL; the page's origin when npm start hosts it)
   * and, when the build names it (VITE_ENROLLMENT_ISSUER), the issuer to trust. Without one the
   * device pins the issuer of its first enrollment (trust on first use).
   */
  enrollment: { baseUrl: string; issuer: EnrollmentIssuer | null };
  createWorker: () => WorkerLike;
}

export interface LoadedModelInfo {
  version: number;
  hash: string;
  parameters: number;
  spec: ModelSpec;
  vocabularyFingerprint: string;
  source: 'network' | 'cache';
}

export interface RuntimeState {
  phase: 'starting' | 'ready' | 'failed' | 'deleted';
  /** The latest problem worth showing (offline, a failed download, …), or null. */
  notice: Notice | null;
  crossOriginIsolated: boolean | null;
  webgpuAdapter: string | null;
  calibration: CalibrationResult | null;
  model: LoadedModelInfo | null;
  texts: TextRecord[];
  examples: number;
  settings: Settings;
  /** The person's data and battery choices (the settings page). */
  controls: DeviceControls;
  /** This calendar month's training uploads against the budget (the upload ledger). */
  upload: UploadUsage & { month: string };
  /** Training steps of the round in progress, while it trains; null otherwise. */
  training: TrainingProgress | null;
  /** What the browser says about power and network (null: it does not say), for the settings' hints. */
  power: { charging: boolean | null; metered: boolean | null };
  eligibility: Eligibility;
  contributions: ContributionRecord[];
  /** Rounds this device trained for, oldest first: what its own ε is computed from. */
  participations: ParticipationRecord[];
  seed: { partition: string; status: 'loading' | 'loaded' | 'failed'; message: string | null } | null;
  storage: StorageSummary | null;
  participation: ParticipationState;
}

export interface ParticipationState {
  connection: 'off' | 'connecting' | 'connected' | 'disconnected';
  /** The latest thing that happened, in plain words for the status bar ("Training on this device"). */
  activity: string | null;
  /** The same event as the code saw it ("secure aggregation: awaitingUnmaskRequest"), for "details". */
  detail: string | null;
  roundId: string | null;
}

/** A notice that is not about the network: its text is already meant for the person. */
function problem(source: string, text: string): Notice {
  return { text, detail: null, kind: 'problem', source };
}

/** Wait before enrolling again after a failure (offline, aggregator down). */
const ENROLL_RETRY_MS = 10_000;
/** Enroll again this long before the certificate expires, so a round never starts on a dying one. */
const RENEW_BEFORE_EXPIRY_MS = 86_400_000;

type Listener = () => void;

/**
 * The web client's one stateful service: it owns the IndexedDB store and the training worker and
 * keeps an immutable snapshot for React (`useSyncExternalStore`). The UI thread only moves data:
 * tokenizing, inference and training all happen in the worker.
 */
export class MurmurRuntime {
  private state: RuntimeState;
  private readonly listeners = new Set<Listener>();
  private store: LocalStore | null = null;
  private worker: WorkerClient | null = null;
  private readonly device: DeviceMonitor;
  private timers: ReturnType<typeof setInterval>[] = [];
  private deriving: Promise<void> = Promise.resolve();
  /** Whether the worker has a participation session, and what it was last told. */
  private session: { examples: number } | null = null;
  private enrollFailedAt = 0;
  /** The aggregator refused the stored certificate: enroll again before connecting. */
  private renewIdentity = false;
  /** Why this device stopped enrolling for good (revoked, or the enrollment key changed), in words. */
  private identityRefused: string | null = null;
  private syncing = false;
  /** A change arrived while a sync was running: run once more after it. */
  private resync = false;
  /** navigator.onLine as last passed on to the worker's participation session. */
  private lastOnline: boolean | null = null;
  private ledger: UploadLedger | null = null;
  /** Ledger writes and month changes, one at a time and in order. */
  private recording: Promise<void> = Promise.resolve();
  /** The worker's running upload total up to which the ledger has recorded (see UploadAllowance). */
  private accountedUploadBytes = 0;
  private loadingUploadMonth = false;
  /** The upload bound of the last plan this device was sent (its cohort may be larger than assumed). */
  private lastPlanUploadBytes = 0;

  constructor(private readonly config: RuntimeConfig) {
    this.device = new DeviceMonitor(() => this.onDeviceChange());
    this.state = {
      phase: 'starting',
      notice: null,
      crossOriginIsolated: null,
      webgpuAdapter: null,
      calibration: null,
      model: null,
      texts: [],
      examples: 0,
      settings: { consent: config.defaultConsent, consentChangedAt: null },
      controls: DEFAULT_DEVICE_CONTROLS,
      upload: { month: monthKey(Date.now()), usedBytes: 0, budgetBytes: DEFAULT_DEVICE_CONTROLS.monthlyUploadBudgetBytes, nextRoundBytes: 0 },
      training: null,
      power: { charging: null, metered: null },
      eligibility: { state: 'waiting', blocker: 'not-ready', reason: 'waiting: starting up' },
      contributions: [],
      participations: [],
      seed: config.seed === null ? null : { partition: config.seed, status: 'loading', message: null },
      storage: null,
      participation: { connection: 'off', activity: null, detail: null, roundId: null },
    };
  }

  readonly subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getState = (): RuntimeState => this.state;

  private set(change: Partial<RuntimeState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }

  private requireStore(): LocalStore {
    if (!this.store) throw new Error('local storage is not open');
    return this.store;
  }

  private requireWorker(): WorkerClient {
    if (!this.worker) throw new Error('the training worker is not running');
    return this.worker;
  }

  async start(): Promise<void> {
    try {
      this.store = await LocalStore.open({
        defaultConsent: this.config.defaultConsent,
        onInvalid: (issue) => this.set({ notice: problem('storage', `Ignored an unreadable ${issue.store} record: ${issue.message}`) }),
      });
      const store = this.store;
      this.ledger = new UploadLedger(store);
      const controls = await store.getControls();
      const usage = await this.ledger.current();
      this.set({
        settings: await store.getSettings(),
        controls,
        upload: { ...this.state.upload, ...usage, budgetBytes: controls.monthlyUploadBudgetBytes },
        texts: await store.listTexts(),
        contributions: await store.listContributions(),
        participations: await store.listParticipations(),
      });
      await this.device.start();
      this.worker = new WorkerClient(this.config.createWorker());
      this.worker.onEvent = (event) => {
        if (event.type === 'error') this.set({ notice: problem('worker', `The training worker reported a problem: ${event.message}`) });
        if (event.type === 'participation') void this.onParticipation(event.event);
      };
      const hello = await this.worker.hello;
      this.set({ crossOriginIsolated: hello.crossOriginIsolated, webgpuAdapter: hello.webgpuAdapter });

      // The worker verifies the model first; its spec decides what calibration measures. A cached
      // copy that no longer verifies is replaced from the network.
      const cached = await store.getLatestModel();
      const fromCache = cached
        ? await this.useModel(cached.payload, 'cache').then(
            () => true,
            () => false,
          )
        : false;
      if (!fromCache) {
        const fetched = await fetchModelPayload(this.config.origin);
        if (fetched.status !== 'ok') throw new Error('the aggregator answered 304 to a request without a cached model');
        await this.useModel(fetched.bytes, 'network');
      }
      await this.calibrate(this.requireModel().spec, hello.deviceKey);
      this.set({ phase: 'ready' });
      if (this.config.seed !== null) await this.seed(this.config.seed);
      await this.deriveMissing();
      if (fromCache) void this.refreshModel();
      this.timers.push(setInterval(() => void this.refreshModel(), this.config.modelRefreshMs));
      // Idle time passes without events: re-check eligibility every second.
      this.timers.push(setInterval(() => this.recomputeEligibility(), 1000));
      window.addEventListener('online', this.onOnline);
    } catch (error) {
      this.set({ phase: this.state.phase === 'starting' ? 'failed' : this.state.phase, notice: networkNotice('start', error, navigator.onLine) });
    } finally {
      await this.refreshSummary();
      this.recomputeEligibility();
    }
  }

  private readonly onOnline = () => void this.refreshModel();

  private requireModel(): LoadedModelInfo {
    if (!this.state.model) throw new Error('no global model loaded');
    return this.state.model;
  }

  private async calibrate(spec: ModelSpec, deviceKey: string): Promise<void> {
    const store = this.requireStore();
    const key = calibrationKey(deviceKey, spec);
    const cached = await store.getCalibration(key);
    const { response } = this.requireWorker().request({ type: 'calibrate', spec, options: this.config.calibration, cached });
    const { result } = await response;
    if (!result.fromCache) {
      const { fromCache: _, ...record } = result;
      await store.putCalibration(record);
    }
    this.set({ calibration: result });
  }

  /** Hands a payload to the worker, which verifies it; stores it only once it verified. */
  private async useModel(payload: Uint8Array, source: LoadedModelInfo['source']): Promise<void> {
    const keep = payload.slice();
    const { response } = this.requireWorker().request({ type: 'loadModel', payload }, [payload.buffer]);
    const loaded = await response;
    const previous = this.state.model;
    if (previous && previous.parameters !== loaded.parameters) this.lastPlanUploadBytes = 0;
    this.set({
      model: {
        version: loaded.version,
        hash: loaded.hash,
        parameters: loaded.parameters,
        spec: loaded.spec,
        vocabularyFingerprint: loaded.vocabularyFingerprint,
        source,
      },
    });
    if (source === 'network') {
      await this.requireStore().putModel({ version: loaded.version, spec: loaded.spec, hash: loaded.hash, payload: keep, fetchedAt: Date.now() });
    }
    if (previous && (previous.vocabularyFingerprint !== loaded.vocabularyFingerprint || previous.spec.contextLength !== loaded.spec.contextLength)) {
      await this.deriveMissing();
    }
  }

  /** Looks for a newer global model (one 304 when there is none). */
  async refreshModel(): Promise<void> {
    if (this.state.phase !== 'ready' || !this.state.model) return;
    try {
      const fetched = await fetchModelPayload(this.config.origin, { etag: this.state.model.hash });
      if (fetched.status === 'ok') await this.useModel(fetched.bytes, 'network');
      if (this.state.notice?.source === 'model update') this.set({ notice: null });
    } catch (error) {
      this.set({ notice: networkNotice('model update', error, navigator.onLine) });
    }
    await this.refreshSummary();
  }

  private async seed(partition: string): Promise<void> {
    const store = this.requireStore();
    try {
      const loaded = await loadSeedPartition(this.config.origin, partition);
      const id = seedTextId(loaded.id);
      if ((await store.getText(id)) === null) {
        const now = Date.now();
        await store.putText({ id, body: loaded.texts.join('\n\n'), source: 'demo', demoPartition: loaded.id, createdAt: now, updatedAt: now });
      }
      this.set({
        seed: { partition: loaded.id, status: 'loaded', message: `${loaded.texts.length} sentences from ${loaded.corpus}` },
        texts: await store.listTexts(),
      });
    } catch (error) {
      this.set({ seed: { partition, status: 'failed', message: (error as Error).message } });
    }
  }

  private stale(record: ExampleRecord | undefined, text: TextRecord, model: LoadedModelInfo): boolean {
    return (
      !record ||
      record.textUpdatedAt !== text.updatedAt ||
      record.vocabularyFingerprint !== model.vocabularyFingerprint ||
      record.contextLength !== model.spec.contextLength
    );
  }

  /** Derives examples for every text whose examples are missing or stale; serialized. */
  private deriveMissing(): Promise<void> {
    this.deriving = this.deriving.then(async () => {
      const model = this.state.model;
      if (!model || !this.store) return;
      const store = this.store;
      const records = new Map((await store.listExamples()).map((r) => [r.textId, r]));
      for (const text of await store.listTexts()) {
        if (!this.stale(records.get(text.id), text, model)) continue;
        const { response } = this.requireWorker().request({
          type: 'derive',
          textId: text.id,
          body: text.body,
          vocabularySize: model.spec.vocabularySize,
          contextLength: model.spec.contextLength,
        });
        const derived = await response;
        // The text may have been deleted while the worker tokenized it.
        if ((await store.getText(text.id)) === null) continue;
        await store.putExamples({
          textId: text.id,
          vocabularyFingerprint: derived.vocabularyFingerprint,
          contextLength: derived.examples.contextLength,
          count: derived.examples.count,
          contexts: derived.examples.contexts,
          targets: derived.examples.targets,
          textUpdatedAt: text.updatedAt,
        });
      }
      const current = (await store.listExamples()).filter(
        (r) => r.vocabularyFingerprint === model.vocabularyFingerprint && r.contextLength === model.spec.contextLength,
      );
      this.set({ examples: current.reduce((sum, r) => sum + r.count, 0) });
      this.recomputeEligibility();
    });
    return this.deriving.catch((error: unknown) => this.set({ notice: problem('derive', `Could not prepare training examples: ${(error as Error).message}`) }));
  }

  /** All current examples as one set (for a training round), or null when there are none. */
  private async localExamples(): Promise<ExampleSet | null> {
    const model = this.state.model;
    if (!model) return null;
    const sets = (await this.requireStore().listExamples()).filter(
      (r) => r.vocabularyFingerprint === model.vocabularyFingerprint && r.contextLength === model.spec.contextLength && r.count > 0,
    );
    return sets.length === 0 ? null : concatExamples(sets.map(({ contexts, targets, count, contextLength }) => ({ contexts, targets, count, contextLength })));
  }

  async saveText(id: string | null, body: string): Promise<string> {
    const store = this.requireStore();
    const now = Date.now();
    const existing = id === null ? null : await store.getText(id);
    const record: TextRecord = existing
      ? { ...existing, body, updatedAt: Math.max(now, existing.updatedAt + 1) }
      : { id: id ?? crypto.randomUUID(), body, source: 'user', demoPartition: null, createdAt: now, updatedAt: now };
    await store.putText(record);
    this.set({ texts: await store.listTexts() });
    await this.deriveMissing();
    await this.refreshSummary();
    return record.id;
  }

  async deleteText(id: string): Promise<void> {
    const store = this.requireStore();
    await store.deleteText(id);
    this.set({ texts: await store.listTexts() });
    await this.deriveMissing();
    await this.refreshSummary();
  }

  suggest(text: string): Promise<SuggestionAnswer> {
    return this.requireWorker()
      .request({ type: 'suggest', text })
      .response.then(({ words, modelVersion }) => ({ words, modelVersion }));
  }

  /** Shown at once (the switch follows the tap), then stored; put back if storing fails. */
  async setConsent(consent: boolean): Promise<void> {
    const previous = this.state.settings;
    const settings: Settings = { ...previous, consent, consentChangedAt: Date.now() };
    this.set({ settings });
    try {
      await this.requireStore().putSettings(settings);
    } catch (error) {
      this.set({ settings: previous, notice: problem('consent', `Could not save your choice: ${(error as Error).message}`) });
    }
    this.recomputeEligibility();
  }

  /** Like consent: shown at once, then stored; put back if storing fails. */
  async setControls(change: Partial<Omit<DeviceControls, 'changedAt'>>): Promise<void> {
    const previous = this.state.controls;
    const controls: DeviceControls = { ...previous, ...change, changedAt: Date.now() };
    this.set({ controls, upload: { ...this.state.upload, budgetBytes: controls.monthlyUploadBudgetBytes } });
    try {
      await this.requireStore().putControls(controls);
    } catch (error) {
      this.set({
        controls: previous,
        upload: { ...this.state.upload, budgetBytes: previous.monthlyUploadBudgetBytes },
        notice: problem('controls', `Could not save your choice: ${(error as Error).message}`),
      });
    }
    this.sendUploadAllowance();
    this.recomputeEligibility();
  }

  /** What the worker may still upload this month, against its running total (see UploadAllowance). */
  private uploadAllowance(): UploadAllowance {
    return { remainingBytes: remainingBytes(this.state.upload), accountedBytes: this.accountedUploadBytes };
  }

  private sendUploadAllowance(): void {
    if (this.session && this.worker) this.worker.request({ type: 'updateParticipation', upload: this.uploadAllowance() });
  }

  /** Every byte the worker sent for training goes into this month's ledger, in the order sent. */
  private recordUpload(bytes: number, totalBytes: number): void {
    this.recording = this.recording
      .then(async () => {
        if (!this.ledger || this.state.phase === 'deleted') return;
        const usage = await this.ledger.record(bytes);
        this.accountedUploadBytes = totalBytes;
        this.set({ upload: { ...this.state.upload, ...usage } });
        this.sendUploadAllowance();
        this.recomputeEligibility();
      })
      .catch((error: unknown) => this.set({ notice: problem('uploads', `Could not record this month's uploads: ${(error as Error).message}`) }));
  }

  /** A new calendar month starts with the ledger's count for it (zero, unless another tab wrote). */
  private loadUploadMonth(): void {
    if (this.loadingUploadMonth) return;
    this.loadingUploadMonth = true;
    this.recording = this.recording
      .then(async () => {
        if (!this.ledger || this.state.phase === 'deleted') return;
        this.set({ upload: { ...this.state.upload, ...(await this.ledger.current()) } });
        this.sendUploadAllowance();
        this.recomputeEligibility();
      })
      .catch((error: unknown) => this.set({ notice: problem('uploads', `Could not read this month's uploads: ${(error as Error).message}`) }))
      .finally(() => {
        this.loadingUploadMonth = false;
      });
  }

  /** The next round's upload bound: from the model's size, or the last plan's when that was larger. */
  private nextRoundBytes(): number {
    const model = this.state.model;
    return model ? Math.max(estimateRoundUploadBytes(model.spec), this.lastPlanUploadBytes) : 0;
  }

  async addContribution(record: ContributionRecord): Promise<void> {
    const store = this.requireStore();
    await store.addContribution(record);
    this.set({ contributions: await store.listContributions() });
    await this.refreshSummary();
  }

  /** A round this device trained for, stored before its masked update goes out (the device's own ε). */
  private async addParticipation(record: ParticipationRecord): Promise<void> {
    const store = this.requireStore();
    await store.putParticipation(record);
    this.set({ participations: await store.listParticipations() });
    await this.refreshSummary();
  }

  private async refreshSummary(): Promise<void> {
    if (this.store && this.state.phase !== 'deleted') this.set({ storage: await this.store.summary() });
  }

  private onDeviceChange(): void {
    const { online } = this.device.current;
    if (this.session && this.worker && online !== this.lastOnline) this.worker.request({ type: 'updateParticipation', online });
    this.lastOnline = online;
    this.recomputeEligibility();
  }

  private recomputeEligibility(): void {
    const snapshot = this.device.current;
    const before = this.state.eligibility;
    if (this.ledger && monthKey(Date.now()) !== this.state.upload.month) this.loadUploadMonth();
    if (snapshot.charging !== this.state.power.charging || snapshot.metered !== this.state.power.metered) {
      this.set({ power: { charging: snapshot.charging, metered: snapshot.metered } });
    }
    const nextRoundBytes = this.nextRoundBytes();
    if (nextRoundBytes !== this.state.upload.nextRoundBytes) this.set({ upload: { ...this.state.upload, nextRoundBytes } });
    const eligibility = decideEligibility(
      {
        consent: this.state.settings.consent,
        examples: this.state.examples,
        idleForMs: this.device.idleForMs(Date.now()),
        charging: snapshot.charging,
        metered: snapshot.metered,
        online: snapshot.online,
        ready: this.state.phase === 'ready' && this.state.model !== null,
        upload: this.state.upload,
      },
      this.config.policy,
      this.state.controls,
    );
    // Ticks every second: re-render only when what is shown changes.
    if (eligibility.reason !== before.reason) this.set({ eligibility });
    if (before.state !== eligibility.state || (this.session && this.session.examples !== this.state.examples)) void this.syncParticipation();
  }

  /** What the aggregator is told at check-in: nothing about the text, only that it may train now. */
  private wireEligibility(): WireEligibility | null {
    if (this.state.eligibility.state !== 'eligible' || !this.state.calibration) return null;
    const snapshot = this.device.current;
    return {
      consent: true,
      exampleCount: this.state.examples,
      idle: true,
      ...(snapshot.charging !== null ? { charging: snapshot.charging } : {}),
      ...(snapshot.metered !== null ? { unmetered: !snapshot.metered } : {}),
      backend: this.state.calibration.backend,
    };
  }

  /**
   * This device's identity: the stored one while its certificate is good, else a new enrollment
   * (a new non-extractable key, a proof of possession, a certificate) under the issuer this device
   * trusts. The key never leaves the browser: IndexedDB and the worker hold the CryptoKey itself.
   */
  private async deviceIdentity(): Promise<IdentityRecord | null> {
    if (this.identityRefused !== null) return null;
    const store = this.requireStore();
    const stored = await store.getIdentity();
    const configured = this.config.enrollment.issuer;
    const usable =
      stored !== null &&
      !this.renewIdentity &&
      Date.now() < stored.expiresAtMs - RENEW_BEFORE_EXPIRY_MS &&
      (configured === null || sameIssuer(configured, stored.issuer));
    if (usable) return stored;
    if (Date.now() - this.enrollFailedAt < ENROLL_RETRY_MS) return null;
    // A build-configured issuer wins; otherwise the one this device met first stays pinned.
    const pinned = configured ?? stored?.issuer ?? null;
    try {
      const identity = await enrollDevice({ baseUrl: this.config.enrollment.baseUrl, ...(pinned ? { pinnedIssuer: pinned } : {}) });
      const record: IdentityRecord = {
        clientId: identity.clientId,
        certificate: identity.certificate,
        privateKey: identity.privateKey,
        publicKey: identity.publicKey,
        issuer: { name: identity.issuer.name, publicKey: identity.issuer.publicKey },
        issuerSource: configured ? 'configured' : (stored?.issuerSource ?? 'first-use'),
        enrolledAt: Date.now(),
        expiresAtMs: identity.expiresAtMs,
      };
      await store.putIdentity(record);
      this.renewIdentity = false;
      return record;
    } catch (error) {
      if (error instanceof EnrollmentFailure && error.code === 'ISSUER_CHANGED') {
        this.identityRefused = 'The Murmur server now vouches for browsers with a different key than the one this browser trusts, so it stays out of training';
        this.set({ participation: { ...this.state.participation, activity: this.identityRefused, detail: `enrollment refused: ${error.message}` } });
        return null;
      }
      this.enrollFailedAt = Date.now();
      this.set({
        participation: {
          ...this.state.participation,
          activity: 'Cannot reach the Murmur server to register this browser; trying again shortly',
          detail: `could not enroll: ${(error as Error).message}`,
        },
      });
      return null;
    }
  }

  /**
   * Keeps the worker's participation in line with consent and eligibility: connected while the
   * person consents (so reconnection and round resumption work), checking in only while eligible.
   */
  private async syncParticipation(): Promise<void> {
    if (this.syncing) {
      this.resync = true;
      return;
    }
    if (!this.worker || this.state.phase !== 'ready' || !this.state.calibration) return;
    this.syncing = true;
    try {
      if (!this.state.settings.consent) {
        if (this.session) this.worker.request({ type: 'stopParticipating' });
        this.session = null;
        this.set({ participation: { connection: 'off', activity: null, detail: null, roundId: null } });
        return;
      }
      const eligibility = this.wireEligibility();
      const examplesChanged = this.session !== null && this.session.examples !== this.state.examples;
      const examples = this.session === null || examplesChanged ? await this.localExamples() : undefined;
      if (this.session === null) {
        const identity = await this.deviceIdentity();
        if (identity === null || !this.worker) return;
        this.set({
          participation: { connection: 'connecting', activity: 'Connecting to the Murmur server…', detail: 'connecting to the aggregator', roundId: null },
        });
        await this.worker.request({
          type: 'participate',
          origin: this.config.origin,
          identity: { certificate: identity.certificate, privateKey: identity.privateKey, issuer: identity.issuer },
          eligibility,
          examples: examples ?? null,
          upload: this.uploadAllowance(),
        }).response;
      } else {
        this.worker.request({ type: 'updateParticipation', eligibility, ...(examples !== undefined ? { examples } : {}) });
      }
      this.session = { examples: this.state.examples };
    } catch (error) {
      this.set({ notice: problem('participation', `Could not start helping train: ${(error as Error).message}`) });
    } finally {
      this.syncing = false;
      if (this.resync) {
        this.resync = false;
        void this.syncParticipation();
      }
    }
  }

  private async onParticipation(event: ParticipationEvent): Promise<void> {
    const participation = this.state.participation;
    // `words` is what the status bar says; `detail` keeps the protocol's own terms for "details".
    const at = (words: string, detail: string, change: Partial<ParticipationState> = {}) =>
      this.set({ participation: { ...participation, activity: words, detail, ...change } });
    switch (event.kind) {
      case 'connection':
        if (event.status === 'connected') at('Connected to the Murmur server', 'connected', { connection: event.status });
        else
          at('Not connected to the Murmur server: reconnecting by itself', `disconnected (${event.detail ?? 'unknown'}); reconnecting`, {
            connection: event.status,
          });
        return;
      case 'identityRejected': {
        this.session = null;
        if (event.code === 'REVOKED_IDENTITY') {
          // An operator took this device out; enrolling again under a new id would undo that.
          this.identityRefused = 'The Murmur server has removed this browser from training';
          this.set({ participation: { connection: 'off', activity: this.identityRefused, detail: `identity ${event.code}: ${event.message}`, roundId: null } });
          return;
        }
        // Not accepted (expired, or the aggregator trusts another issuer): enroll again, under the pinned issuer.
        this.renewIdentity = true;
        this.set({
          participation: {
            connection: 'disconnected',
            activity: 'Registering this browser with the server again',
            detail: `identity ${event.code}; enrolling again`,
            roundId: null,
          },
        });
        void this.syncParticipation();
        return;
      }
      case 'welcome':
        at('Connected to the Murmur server', `connected; global model v${event.modelVersion}`, { connection: 'connected' });
        if (this.state.model && event.modelVersion !== this.state.model.version) void this.refreshModel();
        return;
      case 'checkedIn':
        at(
          event.status === 'paused' ? 'Training is paused by the server for now' : 'Ready to help when the next training round starts',
          `checked in: ${event.status}`,
        );
        return;
      case 'selected':
        this.lastPlanUploadBytes = event.uploadBytes;
        this.set({ training: null });
        at('Training on this device…', `round ${event.round}: selected, training`, { roundId: event.roundId });
        return;
      case 'progress':
        if (participation.roundId === event.roundId) this.set({ training: { step: event.step, steps: event.steps } });
        return;
      case 'uploaded':
        this.recordUpload(event.bytes, event.totalBytes);
        return;
      case 'declined':
        this.lastPlanUploadBytes = Math.max(this.lastPlanUploadBytes, event.uploadBytes);
        this.set({ training: null });
        at(
          `Skipped a round: it uploads up to ${formatMegabytes(event.uploadBytes, 'up')} MB, more than is left of this month's upload budget`,
          `round ${event.roundId}: declined; upload bound ${event.uploadBytes} bytes, ${event.remainingBytes} bytes left this month`,
          { roundId: null },
        );
        this.recomputeEligibility();
        return;
      case 'refused':
        this.set({ training: null });
        at(
          'Skipped a round: the server asked for less privacy than this device accepts',
          `round ${event.roundId}: refused by this device's plan policy: ${event.reasons.join('; ')}`,
          { roundId: null },
        );
        return;
      case 'participated':
        await this.addParticipation(event.record);
        return;
      case 'trained':
        this.set({ training: null });
        at(
          'Sending a protected update (your text never leaves this device)',
          `trained on ${event.numExamples} examples in ${event.seconds.toFixed(1)} s${event.wasClipped ? ' (update clipped)' : ''}; secure aggregation`,
        );
        return;
      case 'phase':
        at('Combining your protected update with other people’s', `secure aggregation: ${event.stage}`);
        return;
      case 'roundEnd':
        this.set({ training: null });
        at(
          event.status === 'committed' ? 'Round finished: thank you for helping' : 'This round ended without a result; your device will try again later',
          `round ${event.status}; model v${event.modelVersion}`,
          { roundId: null },
        );
        if (event.status === 'committed') void this.refreshModel();
        return;
      case 'error':
        at(
          event.from === 'server'
            ? 'The server could not use this round’s update; it will try again'
            : 'Training on this device hit a problem; it will try again',
          `${event.from === 'server' ? 'aggregator' : 'this device'}: ${event.code}: ${event.message}`,
        );
        return;
      case 'contribution':
        await this.addContribution(event.record);
        return;
      default: {
        const unknown: never = event;
        throw new Error(`unhandled participation event ${JSON.stringify(unknown)}`);
      }
    }
  }

  exportData(): Promise<ExportBundle> {
    return this.requireStore().exportAll();
  }

  /** Stops everything and deletes the whole database; the app then holds nothing of the person's. */
  async deleteEverything(): Promise<void> {
    this.stop();
    await this.requireStore().deleteEverything();
    this.store = null;
    this.ledger = null;
    this.set({
      phase: 'deleted',
      texts: [],
      examples: 0,
      contributions: [],
      participations: [],
      calibration: null,
      model: null,
      storage: null,
      settings: { consent: this.config.defaultConsent, consentChangedAt: null },
      controls: DEFAULT_DEVICE_CONTROLS,
      upload: { month: monthKey(Date.now()), usedBytes: 0, budgetBytes: DEFAULT_DEVICE_CONTROLS.monthlyUploadBudgetBytes, nextRoundBytes: 0 },
      training: null,
      notice: null,
      participation: { connection: 'off', activity: null, detail: null, roundId: null },
    });
  }

  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    window.removeEventListener('online', this.onOnline);
    this.device.stop();
    this.worker?.terminate();
    this.worker = null;
  }
}
