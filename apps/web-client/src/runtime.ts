import type { EnrollmentIssuer } from '@murmur/fl-core/identity';
import { LocalStore, type ExportBundle } from './storage/db';
import { DEFAULT_DEVICE_CONTROLS, type ContributionRecord, type DeviceControls } from './storage/schema';
import { monthKey } from './storage/upload-ledger';
import type { CalibrationOptions } from './worker/protocol';
import { WorkerClient, type WorkerLike } from './worker/client';
import type { ParticipationPolicy } from './scheduler/eligibility';
import { DeviceMonitor } from './scheduler/environment';
import type { SuggestionAnswer } from './suggest/requester';
import { networkNotice } from './ui/status-text';
import { initialState, problem, RuntimeCore, type RuntimeState } from './runtime/core';
import { ModelService } from './runtime/model-service';
import { ExampleDeriver } from './runtime/example-deriver';
import { Participation } from './runtime/participation';

export type { LoadedModelInfo, ParticipationState, RuntimeState } from './runtime/core';

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

/**
 * The web client's one stateful service and the composition root of its parts: it opens the
 * IndexedDB store and the training worker, starts and stops everything, and wires the model
 * service, the example deriver and participation to one another. React reads one immutable
 * snapshot (`useSyncExternalStore`). The UI thread only moves data: tokenizing, inference and
 * training all happen in the worker.
 */
export class MurmurRuntime {
  readonly #config: RuntimeConfig;
  readonly #core: RuntimeCore;
  readonly #device: DeviceMonitor;
  readonly #model: ModelService;
  readonly #examples: ExampleDeriver;
  readonly #participation: Participation;
  readonly #timers: ReturnType<typeof setInterval>[] = [];

  constructor(config: RuntimeConfig) {
    this.#config = config;
    this.#core = new RuntimeCore(initialState(config));
    this.#device = new DeviceMonitor(() => this.#participation.onDeviceChange());
    this.#examples = new ExampleDeriver(this.#core, {
      origin: config.origin,
      onExamplesChange: () => this.#participation.recomputeEligibility(),
    });
    this.#participation = new Participation(this.#core, {
      origin: config.origin,
      policy: config.policy,
      enrollment: config.enrollment,
      device: this.#device,
      trainingSet: () => this.#examples.trainingSet(),
      refreshModel: () => this.refreshModel(),
      onStored: () => this.#refreshSummary(),
    });
    this.#model = new ModelService(this.#core, {
      origin: config.origin,
      calibration: config.calibration,
      onReplace: (previous, next) => this.#participation.modelReplaced(previous, next),
      onTokenizationChange: () => this.#examples.deriveMissing(),
    });
  }

  readonly subscribe = (listener: () => void): (() => void) => this.#core.subscribe(listener);

  readonly getState = (): RuntimeState => this.#core.state;

  async start(): Promise<void> {
    const core = this.#core;
    try {
      const store = await LocalStore.open({
        defaultConsent: this.#config.defaultConsent,
        onInvalid: (issue) => core.set({ notice: problem('storage', `Ignored an unreadable ${issue.store} record: ${issue.message}`) }),
      });
      core.store = store;
      core.set({ ...(await this.#participation.open(store)), texts: await store.listTexts() });
      await this.#device.start();
      const worker = new WorkerClient(this.#config.createWorker());
      core.worker = worker;
      worker.onEvent = (event) => {
        if (event.type === 'error') core.set({ notice: problem('worker', `The training worker reported a problem: ${event.message}`) });
        if (event.type === 'participation') void this.#participation.onEvent(event.event);
      };
      const hello = await worker.hello;
      core.set({ crossOriginIsolated: hello.crossOriginIsolated, webgpuAdapter: hello.webgpuAdapter });

      // The worker verifies the model first; its spec decides what calibration measures. A cached
      // copy that no longer verifies is replaced from the network.
      const { fromCache } = await this.#model.load();
      await this.#model.calibrate(hello.deviceKey);
      core.set({ phase: 'ready' });
      if (this.#config.seed !== null) await this.#examples.loadSeed(this.#config.seed);
      await this.#examples.deriveMissing();
      if (fromCache) void this.refreshModel();
      this.#timers.push(setInterval(() => void this.refreshModel(), this.#config.modelRefreshMs));
      // Idle time passes without events: re-check eligibility every second.
      this.#timers.push(setInterval(() => this.#participation.recomputeEligibility(), 1000));
      window.addEventListener('online', this.#onOnline);
    } catch (error) {
      core.set({ phase: core.state.phase === 'starting' ? 'failed' : core.state.phase, notice: networkNotice('start', error, navigator.onLine) });
    } finally {
      await this.#refreshSummary();
      this.#participation.recomputeEligibility();
    }
  }

  readonly #onOnline = () => void this.refreshModel();

  /** Looks for a newer global model (one 304 when there is none). */
  async refreshModel(): Promise<void> {
    if (this.#core.state.phase !== 'ready' || !this.#core.state.model) return;
    await this.#model.refresh();
    await this.#refreshSummary();
  }

  async saveText(id: string | null, body: string): Promise<string> {
    const saved = await this.#examples.saveText(id, body);
    await this.#refreshSummary();
    return saved;
  }

  async deleteText(id: string): Promise<void> {
    await this.#examples.deleteText(id);
    await this.#refreshSummary();
  }

  suggest(text: string): Promise<SuggestionAnswer> {
    return this.#model.suggest(text);
  }

  setConsent(consent: boolean): Promise<void> {
    return this.#participation.setConsent(consent);
  }

  setControls(change: Partial<Omit<DeviceControls, 'changedAt'>>): Promise<void> {
    return this.#participation.setControls(change);
  }

  addContribution(record: ContributionRecord): Promise<void> {
    return this.#participation.addContribution(record);
  }

  exportData(): Promise<ExportBundle> {
    return this.#core.requireStore().exportAll();
  }

  /** Stops everything and deletes the whole database; the app then holds nothing of the person's. */
  async deleteEverything(): Promise<void> {
    this.stop();
    await this.#core.requireStore().deleteEverything();
    this.#core.store = null;
    this.#participation.close();
    this.#core.set({
      phase: 'deleted',
      texts: [],
      examples: 0,
      contributions: [],
      participations: [],
      calibration: null,
      model: null,
      storage: null,
      settings: { consent: this.#config.defaultConsent, consentChangedAt: null },
      controls: DEFAULT_DEVICE_CONTROLS,
      upload: { month: monthKey(Date.now()), usedBytes: 0, budgetBytes: DEFAULT_DEVICE_CONTROLS.monthlyUploadBudgetBytes, nextRoundBytes: 0 },
      training: null,
      notice: null,
      participation: { connection: 'off', activity: null, detail: null, roundId: null },
    });
  }

  stop(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    window.removeEventListener('online', this.#onOnline);
    this.#device.stop();
    this.#core.worker?.terminate();
    this.#core.worker = null;
  }

  async #refreshSummary(): Promise<void> {
    const { store, state } = this.#core;
    if (store && state.phase !== 'deleted') this.#core.set({ storage: await store.summary() });
  }
}
