import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as base, expect, type Page } from '@playwright/test';
import { pino } from 'pino';
import { tsImport } from 'tsx/esm/api';
import type { AggregatorConfig, AggregatorConfigInput, RunningAggregator, VirtualClientPool } from '@murmur/aggregator';
import type { RoundReport } from '@murmur/fl-core/protocol';
import type { ContributionRecord } from '@murmur/web-client/testing';

// The aggregator and fl-core import JSON without import attributes, which Playwright's ESM loader
// refuses; tsx (the loader `npm start` runs them with) loads them as they are.
const load = <T>(path: string) => tsImport(path, import.meta.url) as Promise<T>;
const { startWithEnrollment, modelSpecOf, DEFAULT_TRAINING, makeConfig, stateOfTheUnionClients, startVirtualClients, startSilentClient } =
  await load<typeof import('@murmur/aggregator')>('@murmur/aggregator');
/** A client that checks in, is selected and never answers (a dropout the aggregator records as silent). */
export { startSilentClient };
const { useNodeBackend } = await load<typeof import('@murmur/fl-core/node')>('@murmur/fl-core/node');
/** What /api/rounds and /api/release serve, for specs that compare a page with them. */
export const { roundReportSchema, releaseViewSchema } = await load<typeof import('@murmur/fl-core/protocol')>('@murmur/fl-core/protocol');
const { DEFAULT_PLAN_POLICY, PRIVACY_OFF_PLAN_POLICY } = await load<typeof import('@murmur/fl-core/participant')>('@murmur/fl-core/participant');

/**
 * A finished round's full record as the aggregator stores it (`<dataDir>/rounds/<round>.json`, the
 * round padded to eight digits: apps/aggregator/src/store.ts), validated with fl-core's schema.
 */
export function readStoredRound(dataDir: string, round: number): RoundReport {
  const file = join(dataDir, 'rounds', `${String(round).padStart(8, '0')}.json`);
  if (!existsSync(file)) throw new Error(`round ${round} has no record in ${dataDir}`);
  return roundReportSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export const BUILT_CLIENT = fileURLToPath(new URL('../../apps/web-client/dist', import.meta.url));

/** A real aggregator serving the built web client, with a data directory of its own. */
export interface AggregatorHandle {
  url: string;
  config: AggregatorConfig;
  running: RunningAggregator;
  /** Its data directory (the store: head.json, rounds/, models/). */
  dataDir: string;
  /**
   * A finished round's full record from the data directory (`rounds/<round>.json`), as the operator
   * reads it: with privacy noise on, /api/rounds withholds its exact counts and metrics.
   */
  storedRound(round: number): RoundReport;
  /** Every finished round's full record from the data directory, newest first (as /api/rounds lists them). */
  storedRounds(): RoundReport[];
  /** Stops it and starts it again on the same port and data directory (an aggregator restart). */
  restart(): Promise<void>;
}

/**
 * The model the aggregator starts with: the tiny one keeps the fast set fast; 'cifg' is what
 * `npm start` serves (`test.use({ model: 'cifg' })`), trained with the aggregator's default plan.
 */
export type E2eModel = 'tiny' | 'cifg';

/** Settings a spec changes over the fixture's (`test.use({ aggregatorSettings: … })`): privacy and alerts. */
export type AggregatorSettings = Pick<AggregatorConfigInput, 'alerts'> & { privacy?: { epsilonBudget?: number; mode?: 'off' | 'distributed' } };

function config(dataDir: string, port: number, model: E2eModel, settings: AggregatorSettings): AggregatorConfig {
  return makeConfig({
    ...(settings.alerts ? { alerts: settings.alerts } : {}),
    port,
    host: '127.0.0.1',
    dataDir,
    model,
    seed: 3,
    logLevel: 'silent',
    // One browser and two virtual clients make a cohort; rounds start as soon as they check in.
    round: {
      target: 3,
      overSelection: 1,
      minReports: 3,
      minExamples: 10,
      checkinMs: 500,
      pauseMs: 500,
      deadlines: { advertiseKeysMs: 60_000, shareKeysMs: 15_000, maskedInputMs: 15_000, unmaskingMs: 15_000 },
    },
    training:
      model === 'tiny' ? { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 256, timeBudgetMs: 20_000, targets: 'last' } : { ...DEFAULT_TRAINING },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.05, ...settings.privacy },
  });
}

export const test = base.extend<{
  model: E2eModel;
  aggregatorSettings: AggregatorSettings;
  aggregator: AggregatorHandle;
  virtualClients: (count: number) => Promise<VirtualClientPool>;
}>({
  model: ['tiny', { option: true }],
  aggregatorSettings: [{}, { option: true }],
  aggregator: async ({ model, aggregatorSettings }, use) => {
    await useNodeBackend('wasm');
    const dataDir = mkdtempSync(join(tmpdir(), 'murmur-e2e-'));
    const logger = pino({ level: process.env.MURMUR_E2E_LOG ?? 'silent' });
    let running = await startWithEnrollment(config(dataDir, 0, model, aggregatorSettings), { logger, staticDir: BUILT_CLIENT });
    const port = running.port;
    const handle: AggregatorHandle = {
      url: running.url,
      config: running.config,
      running,
      dataDir,
      storedRound: (round) => readStoredRound(dataDir, round),
      storedRounds: () =>
        readdirSync(join(dataDir, 'rounds'))
          .filter((name) => /^\d+\.json$/.test(name))
          .map((name) => readStoredRound(dataDir, Number.parseInt(name, 10)))
          .sort((a, b) => b.round - a.round),
      async restart() {
        await running.close();
        running = await startWithEnrollment(config(dataDir, port, model, aggregatorSettings), { logger, staticDir: BUILT_CLIENT });
        handle.running = running;
      },
    };
    await use(handle);
    await handle.running.close();
    rmSync(dataDir, { recursive: true, force: true });
  },
  virtualClients: async ({ aggregator }, use) => {
    const pools: VirtualClientPool[] = [];
    await use(async (count) => {
      // Addresses other than the browser's seed partition (index 0), so every device holds its own text.
      const clients = stateOfTheUnionClients(modelSpecOf(aggregator.config), count + 5).slice(-count);
      // Devices accept what the browser's build accepts: privacy off only where the spec's server turned it off.
      const planPolicy = aggregator.config.privacy.mode === 'off' ? PRIVACY_OFF_PLAN_POLICY : DEFAULT_PLAN_POLICY;
      const pool = await startVirtualClients({ url: aggregator.url, clients, planPolicy });
      pools.push(pool);
      return pool;
    });
    for (const pool of pools) await pool.close();
  },
});

export { expect };

export { QA_QUERY } from '../sim/device';

export async function waitForReady(page: Page): Promise<void> {
  await expect(page.getByTestId('phase')).toHaveAttribute('data-phase', 'ready');
  await expect(page.getByTestId('backend')).not.toHaveText(/choosing/);
}

/** The names of this origin's IndexedDB databases. */
export function databaseNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));
}

/** Writes one record straight into the page's IndexedDB store, as the app would have left it (auto keys where the store has them). */
export async function putRecord(page: Page, store: string, record: unknown): Promise<void> {
  await page.evaluate(
    ({ store, record }) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('murmur');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const transaction = open.result.transaction(store, 'readwrite');
          transaction.objectStore(store).put(record);
          transaction.oncomplete = () => {
            open.result.close();
            resolve();
          };
          transaction.onerror = () => reject(transaction.error);
        };
      }),
    { store, record },
  );
}

/**
 * A contribution as the worker logs it after a round, written straight into IndexedDB: a long
 * round id, as real ones are, and a population ε like the ones issue 17 saw.
 */
export async function logContribution(page: Page): Promise<void> {
  const record: ContributionRecord = {
    at: Date.now(),
    roundId: 'round-0007-4c1d9a2e-7f0b-4d7e-9a55-3f1c6b8e2d10',
    modelVersion: 7,
    status: 'contributed',
    reason: null,
    bytesSent: 627_712,
    bytesReceived: 5_345_280,
    epsilon: 2918.37,
    delta: 1e-5,
    backend: 'wasm',
    durationMs: 12_345,
    numExamples: 64,
  };
  await putRecord(page, 'contributions', record);
}
