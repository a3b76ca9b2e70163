import { fetchModelPayload } from '../model-client';
import type { SuggestionAnswer } from '../suggest/requester';
import { networkNotice } from '../ui/status-text';
import { calibrationKey, type CalibrationOptions } from '../worker/protocol';
import type { LoadedModelInfo, RuntimeCore } from './core';

export interface ModelServiceOptions {
  /** Where the aggregator serves the released model. */
  origin: string;
  calibration: CalibrationOptions;
  /** A verified model is about to replace `previous` (null on the first load). */
  onReplace: (previous: LoadedModelInfo | null, next: LoadedModelInfo) => void;
  /** The new model tokenizes differently (another vocabulary or context length): stored examples no longer fit. */
  onTokenizationChange: () => Promise<void>;
}

/** Whether examples derived for `previous` are stale under `next`. */
export function tokenizationChanged(previous: LoadedModelInfo, next: LoadedModelInfo): boolean {
  return previous.vocabularyFingerprint !== next.vocabularyFingerprint || previous.spec.contextLength !== next.spec.contextLength;
}

/**
 * The global model this page suggests with: downloaded (one 304 when unchanged), verified by the
 * worker before anything else sees it, cached in IndexedDB once verified, and the backend
 * calibration measured for its spec. Writes `model` and `calibration` of the runtime's state.
 */
export class ModelService {
  readonly #core: RuntimeCore;
  readonly #options: ModelServiceOptions;

  constructor(core: RuntimeCore, options: ModelServiceOptions) {
    this.#core = core;
    this.#options = options;
  }

  /**
   * Start-up: the cached model if it still verifies, else the network's. Returns whether the cache
   * served, in which case a newer model may be waiting on the network.
   */
  async load(): Promise<{ fromCache: boolean }> {
    const cached = await this.#core.requireStore().getLatestModel();
    const fromCache = cached
      ? await this.#use(cached.payload, 'cache').then(
          () => true,
          () => false,
        )
      : false;
    if (!fromCache) {
      const fetched = await fetchModelPayload(this.#options.origin);
      if (fetched.status !== 'ok') throw new Error('the aggregator answered 304 to a request without a cached model');
      await this.#use(fetched.bytes, 'network');
    }
    return { fromCache };
  }

  /** Measures the backends for the loaded model's spec, or reuses this device's cached measurement. */
  async calibrate(deviceKey: string): Promise<void> {
    const store = this.#core.requireStore();
    const spec = this.#core.requireModel().spec;
    const cached = await store.getCalibration(calibrationKey(deviceKey, spec));
    const { response } = this.#core.requireWorker().request({ type: 'calibrate', spec, options: this.#options.calibration, cached });
    const { result } = await response;
    if (!result.fromCache) {
      const { fromCache: _, ...record } = result;
      await store.putCalibration(record);
    }
    this.#core.set({ calibration: result });
  }

  /** Looks for a newer global model (one 304 when there is none); a failure becomes the notice. */
  async refresh(): Promise<void> {
    const { phase, model } = this.#core.state;
    if (phase !== 'ready' || !model) return;
    try {
      const fetched = await fetchModelPayload(this.#options.origin, { etag: model.hash });
      if (fetched.status === 'ok') await this.#use(fetched.bytes, 'network');
      if (this.#core.state.notice?.source === 'model update') this.#core.set({ notice: null });
    } catch (error) {
      this.#core.set({ notice: networkNotice('model update', error, navigator.onLine) });
    }
  }

  suggest(text: string): Promise<SuggestionAnswer> {
    return this.#core
      .requireWorker()
      .request({ type: 'suggest', text })
      .response.then(({ words, modelVersion }) => ({ words, modelVersion }));
  }

  /** Hands a payload to the worker, which verifies it; stores it only once it verified. */
  async #use(payload: Uint8Array, source: LoadedModelInfo['source']): Promise<void> {
    // The payload's buffer moves to the worker; the copy is what the cache keeps.
    const keep = payload.slice();
    const { response } = this.#core.requireWorker().request({ type: 'loadModel', payload }, [payload.buffer]);
    const loaded = await response;
    const previous = this.#core.state.model;
    const model: LoadedModelInfo = {
      version: loaded.version,
      hash: loaded.hash,
      parameters: loaded.parameters,
      spec: loaded.spec,
      vocabularyFingerprint: loaded.vocabularyFingerprint,
      source,
    };
    this.#options.onReplace(previous, model);
    this.#core.set({ model });
    if (source === 'network') {
      await this.#core.requireStore().putModel({ version: loaded.version, spec: loaded.spec, hash: loaded.hash, payload: keep, fetchedAt: Date.now() });
    }
    if (previous && tokenizationChanged(previous, model)) await this.#options.onTokenizationChange();
  }
}
