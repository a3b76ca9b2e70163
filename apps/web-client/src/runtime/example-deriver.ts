import { concatExamples, type ExampleSet } from '@murmur/fl-core/text';
import { loadSeedPartition, seedTextId } from '../seed/seed';
import type { ExampleRecord, TextRecord } from '../storage/schema';
import { problem, type LoadedModelInfo, type RuntimeCore } from './core';

export interface ExampleDeriverOptions {
  /** Where `?seed=` partitions are served. */
  origin: string;
  /** The example count changed (training eligibility depends on it). */
  onExamplesChange: () => void;
}

/** Whether a stored example record was derived for this model's tokenization. */
export function fitsModel(record: ExampleRecord, model: LoadedModelInfo): boolean {
  return record.vocabularyFingerprint === model.vocabularyFingerprint && record.contextLength === model.spec.contextLength;
}

/** Whether `text` needs deriving again: no examples yet, the text changed since, or they fit another model. */
export function isStale(record: ExampleRecord | undefined, text: TextRecord, model: LoadedModelInfo): boolean {
  return !record || record.textUpdatedAt !== text.updatedAt || !fitsModel(record, model);
}

/**
 * The person's texts and the training examples derived from them. The worker tokenizes; this keeps
 * one example record per text in IndexedDB, current with the text and with the loaded model's
 * vocabulary and context length, and hands training the union of them. Writes `texts`, `examples`
 * and `seed` of the runtime's state.
 */
export class ExampleDeriver {
  readonly #core: RuntimeCore;
  readonly #options: ExampleDeriverOptions;
  /** Derivations run one at a time, in the order asked for. */
  #deriving: Promise<void> = Promise.resolve();

  constructor(core: RuntimeCore, options: ExampleDeriverOptions) {
    this.#core = core;
    this.#options = options;
  }

  /** Saves a new text (`id` null) or a new version of one, then derives its examples; returns its id. */
  async saveText(id: string | null, body: string): Promise<string> {
    const store = this.#core.requireStore();
    const now = Date.now();
    const existing = id === null ? null : await store.getText(id);
    // `updatedAt` must move even within one millisecond: it is what marks the examples stale.
    const record: TextRecord = existing
      ? { ...existing, body, updatedAt: Math.max(now, existing.updatedAt + 1) }
      : { id: id ?? crypto.randomUUID(), body, source: 'user', demoPartition: null, createdAt: now, updatedAt: now };
    await store.putText(record);
    this.#core.set({ texts: await store.listTexts() });
    await this.deriveMissing();
    return record.id;
  }

  async deleteText(id: string): Promise<void> {
    const store = this.#core.requireStore();
    await store.deleteText(id);
    this.#core.set({ texts: await store.listTexts() });
    await this.deriveMissing();
  }

  /** Stores a `?seed=` demo partition as one text, once; a failure is shown in `seed`, not thrown. */
  async loadSeed(partition: string): Promise<void> {
    const store = this.#core.requireStore();
    try {
      const loaded = await loadSeedPartition(this.#options.origin, partition);
      const id = seedTextId(loaded.id);
      if ((await store.getText(id)) === null) {
        const now = Date.now();
        await store.putText({ id, body: loaded.texts.join('\n\n'), source: 'demo', demoPartition: loaded.id, createdAt: now, updatedAt: now });
      }
      this.#core.set({
        seed: { partition: loaded.id, status: 'loaded', message: `${loaded.texts.length} sentences from ${loaded.corpus}` },
        texts: await store.listTexts(),
      });
    } catch (error) {
      this.#core.set({ seed: { partition, status: 'failed', message: (error as Error).message } });
    }
  }

  /** Derives examples for every text whose examples are missing or stale; a failure becomes the notice. */
  deriveMissing(): Promise<void> {
    // A failure was shown by the call that ran into it; the next derivation starts afresh rather
    // than inheriting the rejection (which would skip every later text until a reload).
    this.#deriving = this.#deriving
      .catch(() => undefined)
      .then(async () => {
        const { model } = this.#core.state;
        const store = this.#core.store;
        if (!model || !store) return;
        const records = new Map((await store.listExamples()).map((r) => [r.textId, r]));
        for (const text of await store.listTexts()) {
          if (!isStale(records.get(text.id), text, model)) continue;
          const { response } = this.#core.requireWorker().request({
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
        const current = (await store.listExamples()).filter((r) => fitsModel(r, model));
        this.#core.set({ examples: current.reduce((sum, r) => sum + r.count, 0) });
        this.#options.onExamplesChange();
      });
    return this.#deriving.catch((error: unknown) =>
      this.#core.set({ notice: problem('derive', `Could not prepare training examples: ${(error as Error).message}`) }),
    );
  }

  /** All examples that fit the loaded model, as one set (what a round trains on), or null when there are none. */
  async trainingSet(): Promise<ExampleSet | null> {
    const { model } = this.#core.state;
    if (!model) return null;
    const sets = (await this.#core.requireStore().listExamples()).filter((r) => fitsModel(r, model) && r.count > 0);
    return sets.length === 0 ? null : concatExamples(sets.map(({ contexts, targets, count, contextLength }) => ({ contexts, targets, count, contextLength })));
  }
}
