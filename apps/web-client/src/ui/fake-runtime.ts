import type { MurmurRuntime, RuntimeState } from '../runtime';
import { DEFAULT_DEVICE_CONTROLS, type DeviceControls, type TextRecord } from '../storage/schema';

/**
 * A stand-in for MurmurRuntime in component tests: the state React reads through
 * `useSyncExternalStore`, settable from the test, and the calls components make recorded. Tests
 * that need the real runtime and engine use App.test.tsx's in-process worker instead.
 */
export class FakeRuntime {
  private readonly listeners = new Set<() => void>();
  readonly saved: { id: string | null; body: string }[] = [];
  readonly consentChanges: boolean[] = [];
  readonly controlChanges: Partial<DeviceControls>[] = [];
  state: RuntimeState;

  constructor(change: Partial<RuntimeState> = {}) {
    this.state = { ...baseState(), ...change };
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getState = (): RuntimeState => this.state;

  /** Replaces part of the state and tells subscribers, as the runtime's own `set` does. */
  update(change: Partial<RuntimeState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }

  suggest(): Promise<{ words: string[]; modelVersion: number }> {
    return Promise.resolve({ words: [], modelVersion: 0 });
  }

  saveText(id: string | null, body: string): Promise<string> {
    this.saved.push({ id, body });
    return Promise.resolve(id ?? `note-${this.saved.length}`);
  }

  setConsent(consent: boolean): Promise<void> {
    this.consentChanges.push(consent);
    this.update({ settings: { ...this.state.settings, consent, consentChangedAt: 1 } });
    return Promise.resolve();
  }

  setControls(change: Partial<DeviceControls>): Promise<void> {
    this.controlChanges.push(change);
    const controls = { ...this.state.controls, ...change, changedAt: 1 };
    this.update({ controls, upload: { ...this.state.upload, budgetBytes: controls.monthlyUploadBudgetBytes } });
    return Promise.resolve();
  }

  deleteText(): Promise<void> {
    return Promise.resolve();
  }

  /** The shape React components receive through RuntimeContext. */
  asRuntime(): MurmurRuntime {
    return this as unknown as MurmurRuntime;
  }
}

export function textRecord(id: string, body: string, updatedAt: number, source: TextRecord['source'] = 'user'): TextRecord {
  return { id, body, source, demoPartition: source === 'demo' ? 'demo-partition' : null, createdAt: 0, updatedAt };
}

function baseState(): RuntimeState {
  return {
    phase: 'ready',
    notice: null,
    crossOriginIsolated: false,
    webgpuAdapter: null,
    calibration: null,
    model: null,
    texts: [],
    examples: 0,
    settings: { consent: false, consentChangedAt: null },
    controls: DEFAULT_DEVICE_CONTROLS,
    upload: { month: '2026-12', usedBytes: 0, budgetBytes: DEFAULT_DEVICE_CONTROLS.monthlyUploadBudgetBytes, nextRoundBytes: 0 },
    training: null,
    power: { charging: null, metered: null },
    eligibility: { state: 'off', reason: 'off: you have not agreed to help train' },
    contributions: [],
    participations: [],
    seed: null,
    storage: null,
    participation: { connection: 'off', activity: null, detail: null, roundId: null },
  };
}
