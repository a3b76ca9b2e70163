import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
// Pure formatting (no fl-core, whose JSON imports Playwright's loader refuses): a static import is fine.
import { formatNumber } from '@murmur/web-client/dashboard-format';
import { test, expect, roundReportSchema, startSilentClient, type AggregatorHandle } from './fixtures';

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
  await page.goto(`${aggregator.url}/dashboard`);
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

  // Plan changes: the bounds GET /api/admin/plan sends are shown and enforced in the form, and the
  // server refuses the same value; a rule across fields only the server checks shows its reason;
  // a valid change applies.
  const controls = page.getByRole('region', { name: 'Admin' });
  await expect(controls.getByTestId('dash-operator')).toContainText('admin');
  const overSelection = controls.getByRole('spinbutton', { name: /^overSelection/ });
  await expect(overSelection).toHaveAttribute('max', '3');
  await overSelection.fill('5');
  await expect(controls.getByText('expected 1 … 3, got 5')).toBeVisible();
  await expect(controls.getByRole('button', { name: /^Apply/ })).toBeDisabled();
  const refused = await page.request.post(`${aggregator.url}/api/admin/plan`, {
    headers: { authorization: `Bearer ${aggregator.running.adminToken}` },
    data: { overSelection: 5 },
  });
  expect(refused.status()).toBe(400);
  expect(((await refused.json()) as { code: string }).code).toBe('OUT_OF_BOUNDS');
  await overSelection.fill('1');
  await controls.getByRole('spinbutton', { name: /^minReports/ }).fill('50');
  await controls.getByRole('button', { name: /^Apply/ }).click();
  await expect(controls.getByRole('alert')).toHaveText(/OUT_OF_BOUNDS: plan change: minReports 50 exceeds target/);
  await controls.getByRole('spinbutton', { name: /^minReports/ }).fill('3');
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

const VIEWPORTS = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
] as const;

/** The shown row of `round` (rows are newest first). */
const rowOf = (page: Page, round: number) =>
  page.getByTestId('dash-round-row').filter({ has: page.getByRole('button', { name: `Open round ${round}`, exact: true }) });

for (const [size, viewport] of VIEWPORTS) {
  test.describe(`the operator's view at ${size} size`, () => {
    // ε after one round of 3 clients at σ = 0.05 is far above 10: the budget alert fires with the first round.
    test.use({ viewport, aggregatorSettings: { privacy: { epsilonBudget: 10 } } });

    test(`alerts in words, each round's funnel, and a time range kept in the URL (${size})`, async ({ page, aggregator, virtualClients }) => {
      await virtualClients(3);
      await page.goto(`${aggregator.url}/dashboard`);
      await expect.poll(() => page.getByTestId('dash-round-row').count(), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
      // The operator's page shows the aggregator's figures, not this browser's own device status.
      await expect(page.getByRole('contentinfo', { name: 'Status' })).toHaveCount(0);
      await expect(page.getByTestId('model-version')).toHaveCount(0);

      // The alert the aggregator evaluates, in words, on the page.
      const alert = page.locator('[data-testid="dash-alert"][data-kind="epsilon_budget"]');
      await expect(alert).toBeVisible();
      await expect(alert).toContainText('The privacy budget is spent');
      await expect(alert).toContainText(/Privacy budget spent: ε [\d.,]+ of the budget 10 \(\d+%; alert at 80%\)/);
      const status = (await (await page.request.get(`${aggregator.url}/api/status`)).json()) as { alerts: { kind: string }[] };
      expect(status.alerts.map((a) => a.kind)).toContain('epsilon_budget');

      // A device that is selected and never answers: the round it is drawn into closes key
      // advertisement without it (at a deadline learnt from the first rounds' answers).
      const silent = await startSilentClient(aggregator.url);
      try {
        let dropped: Awaited<ReturnType<typeof restRounds>>['rounds'][number] | undefined;
        await expect
          .poll(
            async () => {
              dropped = (await restRounds(aggregator, page)).rounds.find((r) => r.dropouts?.advertiseKeys?.silent === 1);
              return dropped?.round ?? null;
            },
            { timeout: 120_000 },
          )
          .not.toBeNull();
        if (!dropped) throw new Error('no round recorded the silent client');
        // Its row's funnel equals its record and says where the device dropped and why.
        const inSum = dropped.status === 'committed' ? dropped.cohort.masked : 0;
        const funnel = rowOf(page, dropped.round).getByTestId('dash-cell-funnel');
        await expect(funnel).toHaveText(`${dropped.cohort.selected} → ${inSum}`);
        await expect(funnel).toHaveAttribute(
          'aria-label',
          new RegExp(
            `^Selected ${dropped.cohort.selected}, Keys advertised ${dropped.cohort.advertised} \\(−1: 1 silent, 0 disconnected\\), .*Committed ${inSum}`,
          ),
        );
        await rowOf(page, dropped.round).getByRole('button').click();
        const detail = page.getByTestId('dash-round-detail');
        await expect(detail.getByTestId('dash-funnel-advertised-dropped')).toHaveText('−1');
        await expect(detail.getByTestId('dash-funnel-advertised-why')).toHaveText('1 silent, 0 disconnected');
        await expect(detail.getByTestId('dash-funnel-committed-clients')).toHaveText(String(inSum));
      } finally {
        silent.close();
      }
      const report = (name: string) => fileURLToPath(new URL(`../reports/dashboard-${name}-${size}.png`, import.meta.url));
      await page.getByTestId('dash-alerts').screenshot({ path: report('alerts') });
      await page.getByRole('region', { name: 'Rounds' }).screenshot({ path: report('rounds') });

      // A time range applies to the charts and the table and survives a reload through the URL.
      await page.getByRole('radio', { name: 'Last 15 minutes' }).check();
      await expect(page).toHaveURL(/[?&]range=15m(&|#|$)/);
      await expect(page.getByTestId('dash-rounds-shown')).toContainText('in last 15 minutes');
      await page.reload();
      await expect(page.getByRole('radio', { name: 'Last 15 minutes' })).toBeChecked();
      await expect.poll(() => page.getByTestId('dash-round-row').count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
      await expect(page.locator('[data-testid^="dash-chart-"]').first()).toBeVisible();

      // Twenty minutes on (the server's clock, which the page reads from /api/status's Date header):
      // every round ended more than 15 minutes ago, and all of them within the hour.
      // The page keeps polling after the test: once the fixture has stopped the aggregator, the fetch
      // is refused, and an unhandled refusal here would crash the Playwright worker.
      await page.route('**/api/status', async (route) => {
        const response = await route.fetch().catch(() => null);
        if (!response) return route.abort('connectionrefused').catch(() => undefined);
        return route.fulfill({ response, headers: { ...response.headers(), date: new Date(Date.now() + 20 * 60_000).toUTCString() } });
      });
      await page.reload();
      await expect(page.getByTestId('dash-range-empty')).toBeVisible();
      await expect(page.getByTestId('dash-round-row')).toHaveCount(0);
      await expect(page.locator('[data-testid^="dash-chart-"]')).toHaveCount(0);
      await page.getByRole('radio', { name: 'Last hour' }).check();
      await expect(page).toHaveURL(/[?&]range=1h(&|#|$)/);
      await expect.poll(() => page.getByTestId('dash-round-row').count()).toBeGreaterThanOrEqual(2);
      await expect(page.locator('[data-testid^="dash-chart-"]').first()).toBeVisible();
      await page.getByRole('region', { name: 'Over time' }).screenshot({ path: report('time-range') });
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    });
  });
}
