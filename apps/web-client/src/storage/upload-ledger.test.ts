import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStore } from './db';
import { monthKey, UploadLedger } from './upload-ledger';

let counter = 0;
const open = (name: string) => LocalStore.open({ name, defaultConsent: false });
const stores: LocalStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

/** A clock the test moves; local time, as the person's calendar is. */
function clock(start: Date) {
  let now = start.getTime();
  return { now: () => now, set: (date: Date) => (now = date.getTime()) };
}

describe('monthKey', () => {
  it("is the person's local calendar month", () => {
    expect(monthKey(new Date(2026, 0, 1, 0, 0, 0).getTime())).toBe('2026-01');
    expect(monthKey(new Date(2026, 11, 31, 23, 59, 59, 999).getTime())).toBe('2026-12');
    expect(monthKey(new Date(2027, 0, 1, 0, 0, 0).getTime())).toBe('2027-01');
  });
});

describe('UploadLedger', () => {
  it('adds up the bytes of the month and keeps them across a reopen', async () => {
    const name = `ledger-${++counter}`;
    const time = clock(new Date(2026, 11, 4, 10, 0));
    const first = await open(name);
    const ledger = new UploadLedger(first, time.now);
    expect(await ledger.current()).toEqual({ month: '2026-12', usedBytes: 0 });
    await ledger.record(613_000);
    expect(await ledger.record(1_024)).toEqual({ month: '2026-12', usedBytes: 614_024 });
    first.close();

    const again = await open(name);
    stores.push(again);
    expect(await new UploadLedger(again, time.now).current()).toEqual({ month: '2026-12', usedBytes: 614_024 });
  });

  it('starts a new month at zero and keeps the old one', async () => {
    const store = await open(`ledger-${++counter}`);
    stores.push(store);
    const time = clock(new Date(2026, 11, 31, 23, 59, 59));
    const ledger = new UploadLedger(store, time.now);
    await ledger.record(48 * 1_000_000);
    time.set(new Date(2027, 0, 1, 0, 0, 1));
    expect(await ledger.current()).toEqual({ month: '2027-01', usedBytes: 0 });
    expect(await ledger.record(500)).toEqual({ month: '2027-01', usedBytes: 500 });
    expect((await store.listUploads()).map(({ month, bytes }) => [month, bytes])).toEqual([
      ['2026-12', 48_000_000],
      ['2027-01', 500],
    ]);
  });

  it('counts every write when two tabs record at once', async () => {
    const name = `ledger-${++counter}`;
    const [a, b] = [await open(name), await open(name)];
    stores.push(a, b);
    const time = clock(new Date(2026, 5, 15));
    await Promise.all(Array.from({ length: 20 }, (_, i) => new UploadLedger(i % 2 === 0 ? a : b, time.now).record(100)));
    expect(await new UploadLedger(a, time.now).current()).toEqual({ month: '2026-06', usedBytes: 2_000 });
  });

  it('refuses a negative or fractional byte count', async () => {
    const store = await open(`ledger-${++counter}`);
    stores.push(store);
    const ledger = new UploadLedger(store);
    await expect(ledger.record(-1)).rejects.toThrow(/whole number of bytes ≥ 0, got -1/);
    await expect(ledger.record(1.5)).rejects.toThrow(RangeError);
  });

  it('reports an unreadable month and counts it from zero rather than trusting it', async () => {
    const name = `ledger-${++counter}`;
    const issues: string[] = [];
    const store = await LocalStore.open({ name, defaultConsent: false, onInvalid: (issue) => issues.push(`${issue.store}:${String(issue.key)}`) });
    stores.push(store);
    const raw = await openDB(name);
    await raw.put('uploads', { month: '2026-03', bytes: -5, updatedAt: 0 });
    raw.close();
    expect(await new UploadLedger(store, () => new Date(2026, 2, 9).getTime()).current()).toEqual({ month: '2026-03', usedBytes: 0 });
    expect(issues).toEqual(['uploads:2026-03']);
  });
});
