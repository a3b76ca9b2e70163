import { deleteDB, openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import type { z } from 'zod';
import {
  calibrationRecordSchema,
  contributionRecordSchema,
  DEFAULT_DEVICE_CONTROLS,
  describeIssues,
  deviceControlsSchema,
  exampleRecordSchema,
  identityRecordSchema,
  modelRecordSchema,
  participationRecordSchema,
  settingsSchema,
  textRecordSchema,
  uploadMonthSchema,
  type CalibrationRecord,
  type ContributionRecord,
  type DeviceControls,
  type ExampleRecord,
  type IdentityRecord,
  type ModelRecord,
  type ParticipationRecord,
  type Settings,
  type TextRecord,
  type UploadMonth,
} from './schema';

export const DB_NAME = 'murmur';
export const DB_VERSION = 7;
/** Global model versions kept for offline use: the newest and the one before it. */
export const MODELS_KEPT = 2;
const SETTINGS_KEY = 'app';
/** The data and battery controls share the settings store under their own key. */
const CONTROLS_KEY = 'controls';
/** The one record of the identity store. */
const IDENTITY_KEY = 'device';

interface MurmurDB extends DBSchema {
  texts: { key: string; value: TextRecord; indexes: { byUpdatedAt: number } };
  settings: { key: string; value: Settings | DeviceControls };
  examples: { key: string; value: ExampleRecord };
  models: { key: number; value: ModelRecord };
  contributions: { key: number; value: ContributionRecord; indexes: { byAt: number } };
  calibrations: { key: string; value: CalibrationRecord };
  uploads: { key: string; value: UploadMonth };
  identity: { key: string; value: IdentityRecord };
  participations: { key: string; value: ParticipationRecord };
}

type UpgradeTransaction = IDBPTransaction<MurmurDB, StoreNames<MurmurDB>[], 'versionchange'>;

/**
 * Schema migrations, one per version, applied in order from the version on disk: a browser that
 * last ran version 1 of the app gets steps 2 and 3 when it opens this one. Never edit a shipped
 * step; add the next one.
 */
export const MIGRATIONS: readonly ((db: IDBPDatabase<MurmurDB>, tx: UpgradeTransaction) => void)[] = [
  // 1: the person's texts and the settings (consent).
  (db) => {
    db.createObjectStore('texts', { keyPath: 'id' }).createIndex('byUpdatedAt', 'updatedAt');
    db.createObjectStore('settings');
  },
  // 2: derived training examples, cached global models and the contribution log.
  (db) => {
    db.createObjectStore('examples', { keyPath: 'textId' });
    db.createObjectStore('models', { keyPath: 'version' });
    db.createObjectStore('contributions', { keyPath: 'id', autoIncrement: true }).createIndex('byAt', 'at');
  },
  // 3: cached backend calibrations (which tfjs backend trains fastest on this device).
  (db) => {
    db.createObjectStore('calibrations', { keyPath: 'key' });
  },
  // 4: the upload ledger (bytes uploaded for training, per calendar month).
  (db) => {
    db.createObjectStore('uploads', { keyPath: 'month' });
  },
  // 5: the device identity (a non-extractable signing key and its certificate). The aggregator's
  // HMAC enrollment token it replaces is dropped from the settings record: it no longer admits anyone.
  (db, tx) => {
    db.createObjectStore('identity');
    const settings = tx.objectStore('settings');
    void settings.get(SETTINGS_KEY).then((value) => {
      if (value === null || typeof value !== 'object' || !('enrollmentToken' in value)) return;
      const { enrollmentToken: _dropped, ...rest } = value as Record<string, unknown>;
      return settings.put(rest as Settings, SETTINGS_KEY);
    });
  },
  // 6: the rounds this device trained for, with their noise (the device's own ε). Rounds logged
  // before it have no record; the privacy page counts them from the contribution log and says so.
  (db) => {
    db.createObjectStore('participations', { keyPath: 'roundId' });
  },
  // 7: each participation keeps the plan's c and discrete block, so the device's own ε counts the
  // shares of σC/√(k_min − c) the plan calibrated and the rounding of discrete noise. Records
  // written before come from plans without either: c = 0, no discrete block. A record that is not
  // an object is left as it is (reads skip and report it). A failed rewrite aborts the upgrade, so
  // the database stays at version 6 rather than half migrated.
  (_db, tx) => {
    const store = tx.objectStore('participations');
    const migrate = async () => {
      let cursor = await store.openCursor();
      while (cursor) {
        const value: unknown = cursor.value;
        if (value !== null && typeof value === 'object') {
          await cursor.update({ colluders: 0, discrete: null, ...value } as ParticipationRecord);
        }
        cursor = await cursor.continue();
      }
    };
    migrate().catch(() => {
      try {
        tx.abort();
      } catch {
        // Already finished or aborted: nothing left to undo.
      }
    });
  },
];

export interface InvalidRecord {
  store: string;
  key: unknown;
  message: string;
}

export interface OpenOptions {
  /** @default 'murmur' */
  name?: string;
  /** Consent when the person never chose: false, except in a demo build. */
  defaultConsent: boolean;
  /** Told about every record that fails validation; such records are skipped, never used. */
  onInvalid?: (issue: InvalidRecord) => void;
  /** Upgrade only this far (tests of the migrations). @default DB_VERSION */
  version?: number;
}

export class StorageBlockedError extends Error {
  readonly code = 'STORAGE_BLOCKED';
}

/** What the privacy page shows under "what is stored". */
export interface StorageSummary {
  texts: number;
  demoTexts: number;
  characters: number;
  examples: number;
  models: { version: number; bytes: number }[];
  contributions: number;
  /** Rounds recorded for the device's own ε. */
  participations: number;
  calibrations: number;
  /** This device's enrollment, if any (the key itself cannot be read, so there is nothing more to show). */
  identity: { clientId: string; issuer: string; expiresAtMs: number } | null;
}

/** Everything stored, as JSON-ready data (typed arrays become counts: they are derived). */
export interface ExportBundle {
  exportedAt: string;
  format: 'murmur-export/1';
  settings: Settings;
  controls: DeviceControls;
  texts: TextRecord[];
  examples: { textId: string; count: number; contextLength: number }[];
  models: { version: number; hash: string; bytes: number; fetchedAt: number }[];
  contributions: ContributionRecord[];
  participations: ParticipationRecord[];
  calibrations: CalibrationRecord[];
  uploads: UploadMonth[];
}

export class LocalStore {
  private constructor(
    private readonly db: IDBPDatabase<MurmurDB>,
    private readonly options: OpenOptions,
  ) {}

  static async open(options: OpenOptions): Promise<LocalStore> {
    const version = options.version ?? DB_VERSION;
    const db = await openDB<MurmurDB>(options.name ?? DB_NAME, version, {
      upgrade(database, oldVersion, _newVersion, tx) {
        for (let step = oldVersion; step < version; step++) MIGRATIONS[step]?.(database, tx);
      },
      blocked() {
        // Another tab holds an older version open; it gets `versionchange` below and closes.
      },
    });
    // Let a newer tab (or deleteEverything in another tab) upgrade or delete instead of blocking.
    db.addEventListener('versionchange', () => db.close());
    return new LocalStore(db, options);
  }

  private parse<S extends z.ZodType>(schema: S, store: string, key: unknown, value: unknown): z.output<S> | null {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    this.options.onInvalid?.({ store, key, message: describeIssues(result.error) });
    return null;
  }

  /** `keyField` names the record's key, so a report can say which record failed. */
  private parseAll<S extends z.ZodType>(schema: S, store: string, values: unknown[], keyField: string): z.output<S>[] {
    return values.flatMap((value) => {
      const parsed = this.parse(schema, store, (value as Record<string, unknown> | null)?.[keyField], value);
      return parsed === null ? [] : [parsed];
    });
  }

  // Texts -------------------------------------------------------------------------------------

  /** Newest first. */
  async listTexts(): Promise<TextRecord[]> {
    const values = await this.db.getAllFromIndex('texts', 'byUpdatedAt');
    return this.parseAll(textRecordSchema, 'texts', values, 'id').reverse();
  }

  async getText(id: string): Promise<TextRecord | null> {
    const value = await this.db.get('texts', id);
    return value === undefined ? null : this.parse(textRecordSchema, 'texts', id, value);
  }

  async putText(record: TextRecord): Promise<void> {
    await this.db.put('texts', textRecordSchema.parse(record));
  }

  /** Deletes a text and the examples derived from it, atomically. */
  async deleteText(id: string): Promise<void> {
    const tx = this.db.transaction(['texts', 'examples'], 'readwrite');
    await Promise.all([tx.objectStore('texts').delete(id), tx.objectStore('examples').delete(id), tx.done]);
  }

  // Examples ----------------------------------------------------------------------------------

  async putExamples(record: ExampleRecord): Promise<void> {
    await this.db.put('examples', exampleRecordSchema.parse(record));
  }

  async listExamples(): Promise<ExampleRecord[]> {
    const values = await this.db.getAll('examples');
    return this.parseAll(exampleRecordSchema, 'examples', values, 'textId');
  }

  // Models ------------------------------------------------------------------------------------

  async getLatestModel(): Promise<ModelRecord | null> {
    const cursor = await this.db.transaction('models').store.openCursor(null, 'prev');
    return cursor ? this.parse(modelRecordSchema, 'models', cursor.key, cursor.value) : null;
  }

  /** Stores a verified model version and drops all but the newest MODELS_KEPT. */
  async putModel(record: ModelRecord): Promise<void> {
    const parsed = modelRecordSchema.parse(record);
    const tx = this.db.transaction('models', 'readwrite');
    await tx.store.put(parsed);
    const keys = await tx.store.getAllKeys();
    await Promise.all(keys.slice(0, Math.max(0, keys.length - MODELS_KEPT)).map((key) => tx.store.delete(key)));
    await tx.done;
  }

  private async listModels(): Promise<ModelRecord[]> {
    return this.parseAll(modelRecordSchema, 'models', await this.db.getAll('models'), 'version');
  }

  // Settings ----------------------------------------------------------------------------------

  async getSettings(): Promise<Settings> {
    const value = await this.db.get('settings', SETTINGS_KEY);
    const parsed = value === undefined ? null : this.parse(settingsSchema, 'settings', SETTINGS_KEY, value);
    return parsed ?? { consent: this.options.defaultConsent, consentChangedAt: null };
  }

  async putSettings(settings: Settings): Promise<void> {
    await this.db.put('settings', settingsSchema.parse(settings), SETTINGS_KEY);
  }

  /** The person's data and battery choices; the careful defaults until they choose. */
  async getControls(): Promise<DeviceControls> {
    const value = await this.db.get('settings', CONTROLS_KEY);
    const parsed = value === undefined ? null : this.parse(deviceControlsSchema, 'settings', CONTROLS_KEY, value);
    return parsed ?? DEFAULT_DEVICE_CONTROLS;
  }

  async putControls(controls: DeviceControls): Promise<void> {
    await this.db.put('settings', deviceControlsSchema.parse(controls), CONTROLS_KEY);
  }

  // Identity ----------------------------------------------------------------------------------

  /** This device's identity, or null before its first enrollment (or when the record is unreadable). */
  async getIdentity(): Promise<IdentityRecord | null> {
    const value = await this.db.get('identity', IDENTITY_KEY);
    return value === undefined ? null : this.parse(identityRecordSchema, 'identity', IDENTITY_KEY, value);
  }

  async putIdentity(record: IdentityRecord): Promise<void> {
    await this.db.put('identity', identityRecordSchema.parse(record), IDENTITY_KEY);
  }

  // Upload ledger -----------------------------------------------------------------------------

  /** Bytes recorded for `month` ('YYYY-MM'); 0 for a month with none. */
  async getUploadBytes(month: string): Promise<number> {
    const value = await this.db.get('uploads', month);
    return value === undefined ? 0 : (this.parse(uploadMonthSchema, 'uploads', month, value)?.bytes ?? 0);
  }

  /**
   * Adds `bytes` to `month` in one transaction (another tab may be recording too) and returns the
   * month's new total. An unreadable record restarts the month's count from these bytes.
   */
  async addUpload(month: string, bytes: number, at: number): Promise<number> {
    const tx = this.db.transaction('uploads', 'readwrite');
    const value = await tx.store.get(month);
    const previous = value === undefined ? 0 : (this.parse(uploadMonthSchema, 'uploads', month, value)?.bytes ?? 0);
    const record = uploadMonthSchema.parse({ month, bytes: previous + bytes, updatedAt: at });
    await tx.store.put(record);
    await tx.done;
    return record.bytes;
  }

  async listUploads(): Promise<UploadMonth[]> {
    return this.parseAll(uploadMonthSchema, 'uploads', await this.db.getAll('uploads'), 'month');
  }

  // Contribution log --------------------------------------------------------------------------

  async addContribution(record: ContributionRecord): Promise<number> {
    const { id: _ignored, ...rest } = contributionRecordSchema.parse(record);
    return this.db.add('contributions', rest);
  }

  /** Newest first. */
  async listContributions(): Promise<ContributionRecord[]> {
    const values = await this.db.getAllFromIndex('contributions', 'byAt');
    return this.parseAll(contributionRecordSchema, 'contributions', values, 'id').reverse();
  }

  // Participations (the device's own ε) ------------------------------------------------------

  /** Records a round this device trained for; the same round again (a re-sent plan) replaces it. */
  async putParticipation(record: ParticipationRecord): Promise<void> {
    await this.db.put('participations', participationRecordSchema.parse(record));
  }

  /** Oldest first. */
  async listParticipations(): Promise<ParticipationRecord[]> {
    const records = this.parseAll(participationRecordSchema, 'participations', await this.db.getAll('participations'), 'roundId');
    return records.sort((a, b) => a.at - b.at);
  }

  // Calibrations ------------------------------------------------------------------------------

  async getCalibration(key: string): Promise<CalibrationRecord | null> {
    const value = await this.db.get('calibrations', key);
    return value === undefined ? null : this.parse(calibrationRecordSchema, 'calibrations', key, value);
  }

  async putCalibration(record: CalibrationRecord): Promise<void> {
    await this.db.put('calibrations', calibrationRecordSchema.parse(record));
  }

  // Privacy page ------------------------------------------------------------------------------

  async summary(): Promise<StorageSummary> {
    const [texts, examples, models, contributions, participations, calibrations, identity] = await Promise.all([
      this.listTexts(),
      this.listExamples(),
      this.listModels(),
      this.db.count('contributions'),
      this.db.count('participations'),
      this.db.count('calibrations'),
      this.getIdentity(),
    ]);
    return {
      texts: texts.length,
      demoTexts: texts.filter((t) => t.source === 'demo').length,
      characters: texts.reduce((sum, t) => sum + t.body.length, 0),
      examples: examples.reduce((sum, e) => sum + e.count, 0),
      models: models.map((m) => ({ version: m.version, bytes: m.payload.byteLength })),
      contributions,
      participations,
      calibrations,
      identity: identity && { clientId: identity.clientId, issuer: identity.issuer.name, expiresAtMs: identity.expiresAtMs },
    };
  }

  async exportAll(): Promise<ExportBundle> {
    const [settings, controls, texts, examples, models, contributions, participations, calibrations, uploads] = await Promise.all([
      this.getSettings(),
      this.getControls(),
      this.listTexts(),
      this.listExamples(),
      this.listModels(),
      this.listContributions(),
      this.listParticipations(),
      this.db.getAll('calibrations'),
      this.listUploads(),
    ]);
    return {
      exportedAt: new Date().toISOString(),
      format: 'murmur-export/1',
      settings,
      controls,
      texts,
      examples: examples.map(({ textId, count, contextLength }) => ({ textId, count, contextLength })),
      models: models.map((m) => ({
        version: m.version,
        hash: m.hash,
        bytes: m.payload.byteLength,
        fetchedAt: m.fetchedAt,
      })),
      contributions,
      participations,
      calibrations: this.parseAll(calibrationRecordSchema, 'calibrations', calibrations, 'key'),
      uploads,
    };
  }

  close(): void {
    this.db.close();
  }

  /**
   * "Delete all my data": closes this connection and deletes the whole database, not just its
   * records. Rejects with StorageBlockedError if another connection does not let go in time.
   */
  async deleteEverything(timeoutMs = 5_000): Promise<void> {
    const name = this.db.name;
    this.db.close();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StorageBlockedError(`deleting IndexedDB "${name}" is blocked by another open tab`)), timeoutMs);
      deleteDB(name).then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}
