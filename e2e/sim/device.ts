import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import type { ContributionRecord } from '@murmur/web-client/testing';
import { webClientSchema } from './core';

/** Query knobs that make a QA browser eager: no idle wait, a low example threshold, quick model checks. */
export const QA_QUERY = 'idleMs=0&minExamples=10&calibrationBatches=2&modelRefreshMs=1000';

/** What a page's status bar said about its participation, timestamped. */
export interface Activity {
  at: number;
  text: string;
}

/** Per round, what this device showed: selected, and how many examples it trained on. */
export interface DeviceRound {
  selected: boolean;
  trainedExamples: number | null;
}

const BINDING = '__murmurSimActivity';

/**
 * One simulated device: its own browser context (so its own IndexedDB, service worker and
 * network switch) with the web client at `?seed=<partition>`. The page's participation line is
 * watched by a MutationObserver and reported through a binding, so the harness knows which round
 * each device was selected for and how many examples it trained on, without any test-only hook in
 * the app.
 */
export class Device {
  page: Page | null = null;
  readonly activity: Activity[] = [];
  readonly rounds = new Map<number, DeviceRound>();
  private currentRound: number | null = null;
  backend: string | null = null;

  private constructor(
    readonly index: number,
    readonly context: BrowserContext,
    readonly url: string,
  ) {}

  static async create(browser: Browser, index: number, baseUrl: string, partition: number = index): Promise<Device> {
    const context = await browser.newContext();
    const device = new Device(index, context, `${baseUrl}/?seed=${partition}&${QA_QUERY}`);
    await context.exposeBinding(BINDING, (_source, text: unknown) => {
      if (typeof text === 'string') device.onActivity(text);
    });
    await context.addInitScript((binding) => {
      let last = '';
      const report = () => {
        // The developer wording ("round 3: selected, training"), kept behind the status bar's disclosure.
        const text = document.querySelector('[data-testid=participation-detail]')?.textContent ?? '';
        if (text === last) return;
        last = text;
        void (window as unknown as Record<string, (t: string) => Promise<void>>)[binding]?.(text);
      };
      new MutationObserver(report).observe(document, { subtree: true, childList: true, characterData: true });
    }, BINDING);
    return device;
  }

  private onActivity(text: string): void {
    this.activity.push({ at: Date.now(), text });
    const selected = /round (\d+): selected/.exec(text);
    if (selected) {
      this.currentRound = Number(selected[1]);
      this.rounds.set(this.currentRound, { selected: true, trainedExamples: null });
    }
    const trained = /trained on (\d+) examples/.exec(text);
    const round = this.currentRound === null ? undefined : this.rounds.get(this.currentRound);
    if (trained && round) round.trainedExamples = Number(trained[1]);
  }

  /** Opens (or reopens) the app and waits until it has a model and a backend. */
  async open(): Promise<Page> {
    const page = await this.context.newPage();
    this.page = page;
    await page.goto(this.url);
    await expect(page.getByTestId('phase')).toHaveAttribute('data-phase', 'ready', { timeout: 120_000 });
    await expect(page.getByTestId('backend')).not.toHaveText(/choosing/, { timeout: 120_000 });
    this.backend = ((await page.getByTestId('backend').textContent()) ?? '').split(/[ ,]/)[0] ?? null;
    return page;
  }

  requirePage(): Page {
    if (!this.page) throw new Error(`device ${this.index}: no page open`);
    return this.page;
  }

  /** Turns consent on where a person would: the Privacy page's switch. */
  async consent(): Promise<void> {
    const page = this.requirePage();
    await page.getByRole('link', { name: 'Privacy' }).click();
    await page.getByTestId('consent').check();
    await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'connected', { timeout: 60_000 });
  }

  /** The app closed mid-round (a tab closed, a phone killing the app). */
  async close(): Promise<void> {
    const page = this.page;
    this.page = null;
    this.currentRound = null;
    await page?.close();
  }

  /** A reload mid-round: the page and its training worker start over; IndexedDB stays. */
  async reload(): Promise<void> {
    this.currentRound = null;
    await this.requirePage().reload();
  }

  setOffline(offline: boolean): Promise<void> {
    return this.context.setOffline(offline);
  }

  /**
   * The contribution log as the page keeps it in IndexedDB (what the Privacy page shows), parsed
   * with the web client's schema. Read from a same-origin non-app URL when the app is closed.
   */
  async contributions(): Promise<ContributionRecord[]> {
    let page = this.page;
    const own = page === null;
    if (!page) {
      page = await this.context.newPage();
      await page.goto(new URL('/favicon.svg', this.url).href);
    }
    try {
      return await readContributions(page);
    } finally {
      if (own) await page.close();
    }
  }

  async dispose(): Promise<void> {
    await this.context.close();
  }
}

/** A page's contribution log straight from its IndexedDB, parsed with the web client's schema. */
export async function readContributions(page: Page): Promise<ContributionRecord[]> {
  const raw = await page.evaluate(async () => {
    if (!(await indexedDB.databases()).some((d) => d.name === 'murmur')) return [];
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('murmur');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    try {
      if (!db.objectStoreNames.contains('contributions')) return [];
      return await new Promise<unknown[]>((resolve, reject) => {
        const request = db.transaction('contributions').objectStore('contributions').getAll();
        request.onsuccess = () => resolve(request.result as unknown[]);
        request.onerror = () => reject(request.error);
      });
    } finally {
      db.close();
    }
  });
  return raw.map((r) => webClientSchema.contributionRecordSchema.parse(r));
}
