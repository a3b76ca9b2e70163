import type { ModelSpec } from '@murmur/fl-core/model';
import type { LocalStore, StorageSummary } from '../storage/db';
import {
  DEFAULT_DEVICE_CONTROLS,
  type ContributionRecord,
  type DeviceControls,
  type ParticipationRecord,
  type Settings,
  type TextRecord,
} from '../storage/schema';
import { monthKey } from '../storage/upload-ledger';
import type { UploadUsage } from '../scheduler/upload-budget';
import type { Eligibility } from '../scheduler/eligibility';
import type { CalibrationResult } from '../worker/protocol';
import type { WorkerClient } from '../worker/client';
import type { Notice, TrainingProgress } from '../ui/status-text';

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
export function problem(source: string, text: string): Notice {
  return { text, detail: null, kind: 'problem', source };
}

/** The snapshot before `start`: the person's choices at their defaults until the store is read. */
export function initialState(config: { defaultConsent: boolean; seed: string | null }): RuntimeState {
  return {
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

type Listener = () => void;

/**
 * What the runtime's parts share: the one immutable snapshot React reads
 * (`useSyncExternalStore`), and the store and worker the runtime opens in `start` and drops on
 * stop or delete. Each part writes its own fields of the snapshot; a part that needs another's
 * work done is handed a callback by the runtime, never the other part.
 */
export class RuntimeCore {
  #state: RuntimeState;
  readonly #listeners = new Set<Listener>();
  store: LocalStore | null = null;
  worker: WorkerClient | null = null;

  constructor(initial: RuntimeState) {
    this.#state = initial;
  }

  get state(): RuntimeState {
    return this.#state;
  }

  set(change: Partial<RuntimeState>): void {
    this.#state = { ...this.#state, ...change };
    for (const listener of this.#listeners) listener();
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  requireStore(): LocalStore {
    if (!this.store) throw new Error('local storage is not open');
    return this.store;
  }

  requireWorker(): WorkerClient {
    if (!this.worker) throw new Error('the training worker is not running');
    return this.worker;
  }

  requireModel(): LoadedModelInfo {
    if (!this.#state.model) throw new Error('no global model loaded');
    return this.#state.model;
  }
}
