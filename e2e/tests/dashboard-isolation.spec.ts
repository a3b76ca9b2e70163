import type { Page } from '@playwright/test';
import { test, expect, databaseNames } from './fixtures';

/**
 * The operator dashboard is a page of its own (dashboard.html at /dashboard), not a route of the
 * participant PWA: opening it starts nothing of the participant runtime, and the participant's
 * service worker neither precaches it nor answers for it (issue 14; docs/dashboard.md).
 */

const VIEWPORTS = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
] as const;

/** Same-origin files the page has fetched so far (scripts, styles, wasm, API answers), as paths. */
const loadedPaths = (page: Page) =>
  page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .map((entry) => new URL(entry.name))
      .filter((url) => url.origin === window.location.origin)
      .map((url) => url.pathname),
  );

for (const [size, viewport] of VIEWPORTS) {
  test.describe(`at ${size} size`, () => {
    test.use({ viewport });

    test(`the dashboard shows rounds with no IndexedDB database, no worker and no service worker created (${size})`, async ({
      page,
      aggregator,
      virtualClients,
    }) => {
      const workers: string[] = [];
      page.on('worker', (worker) => workers.push(worker.url()));
      const serviceWorkers: string[] = [];
      page.context().on('serviceworker', (worker) => serviceWorkers.push(worker.url()));
      // The page's CSP refuses wasm and workers: a refusal would show up here before anywhere else.
      const refusals: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) refusals.push(message.text());
      });

      await virtualClients(3);
      await page.goto(`${aggregator.url}/dashboard`);
      await expect(page.getByTestId('dash-connection')).toHaveAttribute('data-connection', 'connected');
      await expect.poll(() => page.getByTestId('dash-round-row').count(), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
      // Nothing of the participant app on the page: no device status, no composer.
      await expect(page.getByTestId('phase')).toHaveCount(0);
      await expect(page.getByRole('link', { name: 'Write' })).toHaveCount(0);
      // Not installable as the participant app: no link to its web manifest.
      await expect(page.locator('link[rel=manifest]')).toHaveCount(0);

      expect(await databaseNames(page)).toEqual([]);
      expect(workers).toEqual([]);
      expect(serviceWorkers).toEqual([]);
      expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
      // No worker script, no tfjs kernels, no model download, no enrollment: only the dashboard's
      // own files and the read-only API.
      const loaded = await loadedPaths(page);
      expect(loaded.filter((path) => /training\.worker|\.wasm$|^\/api\/(model|enrollment)\//.test(path))).toEqual([]);
      expect(loaded).toEqual(expect.arrayContaining(['/api/status']));
      expect(refusals).toEqual([]);
    });
  });
}

test('an old #/dashboard link to the participant app lands on /dashboard before the app starts anything', async ({ page, aggregator }) => {
  const workers: string[] = [];
  page.on('worker', (worker) => workers.push(worker.url()));
  await page.goto(`${aggregator.url}/#/dashboard`);
  await expect(page).toHaveURL(`${aggregator.url}/dashboard`);
  await expect(page.getByTestId('dashboard')).toBeVisible();
  expect(await databaseNames(page)).toEqual([]);
  expect(workers).toEqual([]);
  expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
});

test("the participant's service worker leaves the dashboard to the network and precaches none of its files", async ({ page, aggregator }) => {
  await page.goto(`${aggregator.url}/`);
  // The worker controls pages loaded after it activated (it does not claim open ones).
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  const participantFiles = new Set(await loadedPaths(page));
  const precached = await page.evaluate(async () => {
    const paths: string[] = [];
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
    }
    return paths;
  });
  expect(precached).toEqual(expect.arrayContaining(['/index.html']));

  // Under the worker's scope, /dashboard would get the cached app shell if the navigation
  // fallback answered it; the dashboard itself has to come back.
  await page.goto(`${aggregator.url}/dashboard`);
  await expect(page.getByTestId('dashboard')).toBeVisible();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  await expect(page.getByTestId('phase')).toHaveCount(0);

  // The dashboard's own files (its entry chunk and styles at least) are not in the precache; the
  // chunks it shares with the participant's page (React, zod) are.
  const dashboardOnly = (await loadedPaths(page)).filter((path) => /^\/assets\/.+\.(js|css)$/.test(path) && !participantFiles.has(path));
  expect(dashboardOnly).toEqual(expect.arrayContaining([expect.stringMatching(/^\/assets\/dashboard-.+\.js$/)]));
  expect(precached.filter((path) => dashboardOnly.includes(path) || /^\/dashboard/.test(path))).toEqual([]);
});
