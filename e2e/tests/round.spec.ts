import { test, expect, waitForReady, QA_QUERY } from './fixtures';

test('with consent, the worker trains and contributes a round; suggestions change with the new model; it resumes after an aggregator restart', async ({
  page,
  aggregator,
  virtualClients,
}) => {
  await virtualClients(2);
  await page.goto(`${aggregator.url}/?seed=0&${QA_QUERY}`);
  await waitForReady(page);
  await expect(page.getByTestId('model-version')).toContainText('model v0');
  const probe = 'Gentlemen of the Senate and of the ';
  await page.getByTestId('composer').fill(probe);
  await expect(page.getByTestId('suggestion-strip')).toHaveAttribute('data-for', probe);
  await expect(page.getByTestId('suggestion')).toHaveCount(3);
  const before = await page.getByTestId('suggestion').allTextContents();
  // The probe is not a note worth keeping: clear it so only the demo partition trains.
  await page.getByTestId('composer').fill('');

  await expect(page.getByTestId('eligibility')).toHaveAttribute('data-state', 'off');
  await page.getByRole('link', { name: 'Privacy' }).click();
  await expect(page.getByTestId('backend-detail')).toContainText('fastest in calibration');
  await page.getByTestId('consent').check();
  await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'connected');
  await expect(page.getByTestId('contribution-row').first()).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('contribution-row').first()).toContainText('contributed');
  await expect(page.getByTestId('contribution-backend').first()).toHaveText(/^(webgpu|webgl|wasm|cpu)$/);

  await expect(page.getByTestId('model-version')).not.toContainText('model v0 ');
  await page.getByRole('link', { name: 'Write' }).click();
  await page.getByTestId('composer').fill(probe);
  await expect(page.getByTestId('suggestion-strip')).toHaveAttribute('data-for', probe);
  // Answered by the new model (the strip re-asks when the model version changes).
  await expect.poll(async () => (await page.getByTestId('suggestion').allTextContents()).join(' ')).not.toBe(before.join(' '));

  await page.getByRole('link', { name: 'Privacy' }).click();
  const logged = await page.getByTestId('contribution-row').count();
  await aggregator.restart();
  await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'connected', { timeout: 60_000 });
  await expect.poll(() => page.getByTestId('contribution-row').count(), { timeout: 120_000 }).toBeGreaterThan(logged);
});

test('after a network loss it reconnects and contributes again', async ({ page, context, aggregator, virtualClients }) => {
  await virtualClients(2);
  await page.goto(`${aggregator.url}/?seed=2&${QA_QUERY}`);
  await waitForReady(page);
  await page.getByRole('link', { name: 'Privacy' }).click();
  await page.getByTestId('consent').check();
  await expect(page.getByTestId('contribution-row').first()).toBeVisible({ timeout: 120_000 });

  await context.setOffline(true);
  await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'disconnected');
  await expect(page.getByTestId('eligibility')).toHaveText('waiting: offline');
  const logged = await page.getByTestId('contribution-row').count();
  await context.setOffline(false);
  await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'connected');
  await expect.poll(() => page.getByTestId('contribution-row').count(), { timeout: 120_000 }).toBeGreaterThan(logged);
  await expect(page.getByTestId('contribution-row').first()).toContainText('contributed');
});
