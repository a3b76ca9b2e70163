import type { LocalStore } from './db';

/**
 * The person's calendar month, 'YYYY-MM', in their own time zone: a budget "per month" means the
 * month on their calendar (and their phone plan's bill), not UTC's.
 */
export function monthKey(atMs: number): string {
  const date = new Date(atMs);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}`;
}

/** What the ledger knows about the current month. */
export interface MonthUsage {
  month: string;
  usedBytes: number;
}

/**
 * Bytes this device uploaded for training, per calendar month, in IndexedDB (store `uploads`).
 * A new month starts at zero by itself: every read and write goes to the month of the clock's
 * "now", and earlier months stay in the store (the export shows them).
 */
export class UploadLedger {
  constructor(
    private readonly store: Pick<LocalStore, 'getUploadBytes' | 'addUpload'>,
    private readonly now: () => number = Date.now,
  ) {}

  async current(): Promise<MonthUsage> {
    const month = monthKey(this.now());
    return { month, usedBytes: await this.store.getUploadBytes(month) };
  }

  /** Adds `bytes` to the current month; returns the month's new total. */
  async record(bytes: number): Promise<MonthUsage> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`UploadLedger.record: expected a whole number of bytes ≥ 0, got ${bytes}`);
    const at = this.now();
    const month = monthKey(at);
    return { month, usedBytes: await this.store.addUpload(month, bytes, at) };
  }
}
