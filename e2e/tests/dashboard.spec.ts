import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
// Pure formatting (no fl-core, whose JSON imports Playwright's loader refuses): a static import is fine.
import { formatNumber } from '@murmur/web-client/dashboard-format';
import { test, expect, roundReportSchema, type AggregatorHandle } from './fixtures';

// Under e2e/reports/ (ignored): docs/dashboard.png is a longer real run, kept by hand.
const SCREENSHOT = fileURLToPath(new URL('../reports/dashboard.png', import.meta.url));

async function restRounds(aggregator: AggregatorHandle, page: Page) {
  const body = (await (await page.request.get(`${aggregator.url}/api/rounds?limit=100`)).json()) as { total: number; rounds: unknown[] };
  return { total: body.total, rounds: body.rounds.map((r) => roundReportSchema.parse(r)) };
}

/** Every shown row (newest first) equals /api/rounds: round number, eval loss and ε. */
async function expectTableEqualsRest(page: Page, aggregator: AggregatorHandle): Promise<void> {
  const rest = await restRounds(aggregator, page);
  await expect(page.getByTestId('dash-rounds-loaded')).toHaveText(rest.total.toLocaleString());
  const rows = page.getByTestId('dash-round-row');
  const shown = Math.min(await rows.count(), rest.rounds.length);
  expect(shown).toBeGreaterThanOrEqual(3);
  for (let i = 0; i < shown; i++) {
    const row = rows.nth(i);
    const round = rest.rounds[i];
    if (!round) throw new Error(`row ${i}: /api/rounds has no round`);
    await expect(row.getByRole('button').first()).toHaveText(String(round.round));
    await expect(row.getByTestId('dash-cell-loss')).toHaveText(formatNumber(round.metrics?.eval.loss));
    await expect(row.getByTestId('dash-cell-epsilon')).toHaveText(formatNumber(round.privacy.epsilon));
  }
}

test('the dashboard follows live rounds; paused by an admin, its numbers equal /api/rounds; it survives an aggregator restart', async ({
  page,
  aggregator,
  virtualClients,
}) => {
  await virtualClients(3);
  await page.goto(`${aggregator.url}/#/dashboard`);
  await expect(page.getByTestId('dash-connection')).toHaveAttribute('data-connection', 'connected');
  // Rounds arrive over the /dashboard stream: the table grows without a reload.
  await expect.poll(() => page.getByTestId('dash-round-row').count(), { timeout: 120_000 }).toBeGreaterThanOrEqual(3);
  // ε in plain words, next to the number it explains (issue 17): a population figure, the budget not enforced.
  const plainWords = page.getByTestId('privacy-plain-words');
  await expect(plainWords.getByTestId('privacy-current-epsilon')).toContainText('Shown now: ε =');
  await expect(plainWords).toContainText('one figure for everyone taking part');
  await expect(plainWords.getByTestId('privacy-budget')).toContainText('not enforced');

  // Admin: a wrong token is refused by the server and unlocks nothing; the right one pauses.
  const admin = page.getByRole('form', { name: 'Admin' });
  await admin.getByLabel('Admin token').fill('not-the-token');
  await admin.getByRole('button', { name: 'Unlock' }).click();
  await expect(page.getByRole('alert').filter({ hasText: /UNAUTHORIZED/ })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Pause rounds' })).toHaveCount(0);
  await admin.getByLabel('Admin token').fill(aggregator.running.adminToken);
  await admin.getByRole('button', { name: 'Unlock' }).click();
  await page.getByRole('button', { name: 'Pause rounds' }).click();
  await expect(page.getByTestId('dash-current-phase')).toHaveAttribute('data-phase', 'paused', { timeout: 90_000 });
  await expectTableEqualsRest(page, aggregator);

  // Drill-down: the record shown is /api/rounds/:round.
  const newest = (await restRounds(aggregator, page)).rounds[0];
  if (!newest) throw new Error('/api/rounds is empty');
  await page.getByRole('button', { name: `Open round ${newest.round}` }).click();
  const detail = page.getByTestId('dash-round-detail');
  await expect(detail.getByText(newest.roundId)).toBeVisible();
  await expect(detail.getByTestId('dash-funnel-selected-clients')).toHaveText(String(newest.cohort.selected));

  // Plan changes: the server's bound is enforced and its reason shown; a valid change applies.
  const controls = page.getByRole('region', { name: 'Admin' });
  await controls.getByRole('spinbutton', { name: /^overSelection/ }).fill('5');
  await controls.getByRole('button', { name: /^Apply/ }).click();
  await expect(controls.getByRole('alert')).toHaveText(/OUT_OF_BOUNDS: plan change: .*overSelection/);
  await controls.getByRole('spinbutton', { name: /^overSelection/ }).fill('1');
  await controls.getByRole('spinbutton', { name: /^pauseMs/ }).fill('200');
  await controls.getByRole('button', { name: 'Apply 1 change' }).click();
  // The aggregator's own answer: saved before it applies.
  await expect(controls.getByRole('status')).toHaveText(/^Plan revision 1 saved in the data directory .* survives a restart\.$/);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // The same service comes back on the same port and data directory (a pause is not durable; the
  // plan change is): the page reconnects on its own, loses no round and streams the new ones.
  const before = (await restRounds(aggregator, page)).total;
  await aggregator.restart();
  await expect(page.getByTestId('dash-connection')).toHaveAttribute('data-connection', 'connected');
  const restarted = (await (await page.request.get(`${aggregator.url}/api/status`)).json()) as { plan: { pauseMs: number }; planRevision: number };
  expect(restarted).toMatchObject({ plan: { pauseMs: 200 }, planRevision: 1 });
  await expect
    .poll(async () => Number((await page.getByTestId('dash-rounds-loaded').textContent())?.replace(/\D/g, '')), { timeout: 120_000 })
    .toBeGreaterThan(before);
  await page.getByRole('button', { name: 'Pause rounds' }).click();
  await expect(page.getByTestId('dash-current-phase')).toHaveAttribute('data-phase', 'paused', { timeout: 90_000 });
  await expectTableEqualsRest(page, aggregator);
});
