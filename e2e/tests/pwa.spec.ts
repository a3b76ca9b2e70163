import { test, expect, waitForReady, databaseNames, QA_QUERY } from './fixtures';

test('the PWA loads, seeds a demo partition, shows its backend and suggests words; the manifest makes it installable', async ({ page, aggregator }) => {
  // Main-thread tasks over 50 ms, as the browser reports them.
  await page.addInitScript(() => {
    const seen: number[] = [];
    (window as unknown as { longTasks: number[] }).longTasks = seen;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) seen.push(entry.duration);
    }).observe({ type: 'longtask', buffered: true });
  });
  const longTasks = () => page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks.slice());
  await page.goto(`${aggregator.url}/?seed=0&${QA_QUERY}`);
  await waitForReady(page);
  await expect(page.getByTestId('demo-banner')).toContainText('partition 1790-george-washington');
  await expect(page.getByTestId('demo-texts')).toContainText('1790-george-washington');
  await expect(page.getByTestId('examples')).not.toHaveText(/^0 examples/);
  await expect(page.getByTestId('backend')).toHaveText(/^(webgpu|webgl|wasm|cpu)/);
  await expect(page.getByTestId('backend')).toHaveAttribute('title', /fastest in calibration/);

  // Typing asks for suggestions on every pause; inference runs in the worker, so the UI thread stays free.
  const beforeTyping = (await longTasks()).length;
  await page.getByTestId('composer').pressSequentially('We hold these truths to be self evident ', { delay: 30 });
  await expect(page.getByTestId('suggestion-strip')).toHaveAttribute('data-for', 'We hold these truths to be self evident ');
  expect((await longTasks()).slice(beforeTyping).filter((ms) => ms >= 200)).toEqual([]);

  await page.getByTestId('composer').fill('The people of the ');
  await expect(page.getByTestId('suggestion-strip')).toHaveAttribute('data-for', 'The people of the ');
  await expect(page.getByTestId('suggestion')).toHaveCount(3);
  const chosen = (await page.getByTestId('suggestion').first().textContent()) ?? '';
  await page.getByTestId('suggestion').first().click();
  await expect(page.getByTestId('composer')).toHaveValue(`The people of the ${chosen} `);

  const manifest = await page.evaluate(async () => {
    const link = document.querySelector<HTMLLinkElement>('link[rel=manifest]');
    return link ? ((await (await fetch(link.href)).json()) as { display?: string; icons?: { sizes: string }[]; start_url?: string }) : null;
  });
  expect(manifest?.display).toBe('standalone');
  expect(manifest?.icons?.map((i) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
});

test('an offline reload shows the app shell and still suggests from the cached model', async ({ page, context, aggregator }) => {
  await page.goto(`${aggregator.url}/?${QA_QUERY}`);
  await waitForReady(page);
  // The service worker must control the page before the network goes away.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  await waitForReady(page);

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Murmur' })).toBeVisible();
  await waitForReady(page);
  await expect(page.getByTestId('model-version')).toContainText('cache');
  await page.getByTestId('composer').fill('I think that ');
  await expect(page.getByTestId('suggestion-strip')).toHaveAttribute('data-for', 'I think that ');
  await expect(page.getByTestId('suggestion')).toHaveCount(3);
  await context.setOffline(false);
});

test('"delete all my data" deletes the IndexedDB database itself', async ({ page, aggregator }) => {
  await page.goto(`${aggregator.url}/?seed=1&${QA_QUERY}`);
  await waitForReady(page);
  await expect(page.getByTestId('examples')).not.toHaveText(/^0 examples/);
  expect(await databaseNames(page)).toContain('murmur');

  await page.getByRole('link', { name: 'Privacy' }).click();
  await expect(page.getByTestId('storage-summary')).toContainText('1 notes');
  await page.getByTestId('delete-all').click();
  await page.getByTestId('confirm-delete').click();
  await expect(page.getByTestId('deleted')).toBeVisible();
  expect(await databaseNames(page)).not.toContain('murmur');
});

test.describe('at a phone size (390 × 844)', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('the status bar is one line until opened, and covers neither "Export my data" nor "Delete all my data"', async ({ page, aggregator }) => {
    await page.goto(`${aggregator.url}/?seed=1&${QA_QUERY}`);
    await waitForReady(page);
    const status = page.getByRole('contentinfo', { name: 'Status' });
    expect((await status.boundingBox())?.height).toBeLessThan(40);

    await page.getByRole('link', { name: 'Privacy' }).click();
    await expect(page.getByTestId('storage-summary')).toBeVisible();
    await page.mouse.wheel(0, 100_000);
    // A trial click runs every actionability check, including that the control itself receives
    // the tap (nothing fixed on top of it), without acting.
    await page.getByTestId('export').click({ trial: true, timeout: 5_000 });
    await page.getByTestId('delete-all').click({ trial: true, timeout: 5_000 });

    await expect(page.getByTestId('backend')).toBeHidden();
    await status.locator('summary').click();
    await expect(page.getByTestId('backend')).toBeVisible();
    await expect(page.getByTestId('examples')).toBeVisible();
  });
});
