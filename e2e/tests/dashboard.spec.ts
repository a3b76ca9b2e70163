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

/**
 * Every shown row (newest first) equals /api/rounds: round number, eval loss and ε; a private
 * round's counts are withheld, on the page as in /api/rounds.
 */
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
    if (round.privacy.mode !== 'off') await expect(row.getByTestId('dash-cell-funnel')).toHaveText('withheld');
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
  // ε in plain words, next to the number it explains (issue 17): a population figure, and no budget set here.
  const plainWords = page.getByTestId('privacy-plain-words');
  await expect(plainWords.getByTestId('privacy-current-epsilon')).toContainText('Shown now: ε =');
  await expect(plainWords).toContainText('one figure for everyone taking part');
  await expect(plainWords.getByTestId('privacy-budget')).toContainText('No ε budget is set on this server');

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

  // Drill-down: the record shown is /api/rounds/:round. With privacy noise on (the fixture's
  // default), its securely summed metrics and exact counts stay inside the aggregator: /api/rounds
  // publishes none of them, the page says they are withheld, and the aggregator's own record in its
  // data directory has them.
  const newest = (await restRounds(aggregator, page)).rounds[0];
  if (!newest) throw new Error('/api/rounds is empty');
  expect(newest.privacy.mode).toBe('distributed');
  expect(newest.metrics).toBeNull();
  expect(newest.cohort).toMatchObject({ selected: 0, masked: 0, unmasked: 0 });
  expect(newest.dropouts).toBeUndefined();
  const stored = aggregator.storedRound(newest.round);
  expect(stored.roundId).toBe(newest.roundId);
  expect(stored.cohort.selected).toBeGreaterThanOrEqual(3);
  if (stored.status === 'committed') expect(stored.metrics?.examples).toBeGreaterThan(0);
  await page.getByRole('button', { name: `Open round ${newest.round}` }).click();
  const detail = page.getByTestId('dash-round-detail');
  await expect(detail.getByText(newest.roundId)).toBeVisible();
  await expect(detail.getByTestId('dash-detail-withheld')).toContainText(
    'A private round: its cohort counts and securely summed metrics stay inside the aggregator',
  );
  await expect(detail.getByTestId('dash-funnel-selected-clients')).toHaveCount(0);

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
    // Without privacy noise (virtual clients accept a plan with mode 'off'; browsers refuse one) the
    // aggregator publishes every exact count, so the funnel the page shows is compared number for number.
    test.use({ viewport, aggregatorSettings: { privacy: { mode: 'off' } } });

    test(`each round's funnel with a silent client's dropout, and a time range kept in the URL (${size})`, async ({ page, aggregator, virtualClients }) => {
      await virtualClients(3);
      await page.goto(`${aggregator.url}/dashboard`);
      await expect.poll(() => page.getByTestId('dash-round-row').count(), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
      // The operator's page shows the aggregator's figures, not this browser's own device status.
      await expect(page.getByRole('contentinfo', { name: 'Status' })).toHaveCount(0);
      await expect(page.getByTestId('model-version')).toHaveCount(0);

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

test.describe('the privacy budget, enforced', () => {
  test.use({ aggregatorSettings: { privacy: {} } });

  test('a budget that fits exactly one more round: it commits, the alert says so in words, and training pauses for the budget', async ({
    page,
    aggregator,
    virtualClients,
  }) => {
    const admin = { authorization: `Bearer ${aggregator.running.adminToken}` };
    const privacy = async () =>
      (await (await page.request.get(`${aggregator.url}/api/privacy`)).json()) as {
        epsilon: number | null;
        epsilonBudget: number | null;
        epsilonNextRound: number | null;
        projectedRoundsLeft: number | null;
        budgetExhausted: boolean;
      };
    // No budget yet and no client checked in: nothing has run, and the first round's ε is projected.
    const before = await privacy();
    expect(before).toMatchObject({ epsilon: null, epsilonBudget: null, budgetExhausted: false });
    const first = before.epsilonNextRound;
    if (first === null) throw new Error('/api/privacy projects no ε for the next round');
    // A budget a little above it: exactly one round fits, and that round alone spends 1/1.05 ≈ 95% of it (the alert is at 80%).
    const budget = Number((first * 1.05).toPrecision(6));
    const set = await page.request.post(`${aggregator.url}/api/admin/budget`, { headers: admin, data: { epsilonBudget: budget } });
    expect(set.status()).toBe(200);
    expect(await set.json()).toMatchObject({ epsilonBudget: budget, projectedRoundsLeft: 1, budgetExhausted: false });
    const refused = await page.request.post(`${aggregator.url}/api/admin/budget`, { data: { epsilonBudget: 1e6 } });
    expect(refused.status()).toBe(401);

    await virtualClients(3);
    await page.goto(`${aggregator.url}/dashboard`);
    await expect(page.getByTestId('dash-connection')).toHaveAttribute('data-connection', 'connected');
    // The one round that fits commits; no second one opens.
    await expect.poll(async () => (await privacy()).budgetExhausted, { timeout: 120_000 }).toBe(true);
    const after = await privacy();
    expect(after.epsilon).toBeCloseTo(first, 6);
    expect(after.epsilon as number).toBeLessThanOrEqual(budget);
    expect(after.epsilonNextRound as number).toBeGreaterThan(budget);
    const rounds = (await restRounds(aggregator, page)).rounds;
    expect(rounds.map((r) => [r.round, r.status])).toEqual([[1, 'committed']]);
    expect(aggregator.storedRound(1).status).toBe('committed');
    await expect(page.getByTestId('dash-round-row')).toHaveCount(1);
    await expect(rowOf(page, 1).getByTestId('dash-cell-funnel')).toHaveText('withheld');

    // The alert the aggregator evaluates, in words, on the page.
    const alert = page.locator('[data-testid="dash-alert"][data-kind="epsilon_budget"]');
    await expect(alert).toBeVisible({ timeout: 30_000 });
    await expect(alert).toContainText('The privacy budget is nearly spent');
    await expect(alert).toContainText(
      /Privacy budget nearly spent: ε [\d.,]+ of the budget [\d.,]+ \(9\d%; alert at 80%\)\. No round opens that would pass it\./,
    );
    const status = (await (await page.request.get(`${aggregator.url}/api/status`)).json()) as { alerts: { kind: string }[] };
    expect(status.alerts.map((a) => a.kind)).toContain('epsilon_budget');

    // Training is paused by the budget, on the page and in the API, and stays so.
    await expect(page.getByTestId('dash-budget-exhausted')).toContainText('Training paused by the privacy budget:');
    await expect(page.getByTestId('dash-budget-exhausted')).toContainText('Raise the budget (POST /api/admin/budget) or the noise (σ) to go on.');
    await expect(page.getByTestId('dash-current-phase')).toHaveAttribute('data-phase', 'paused');
    await page.waitForTimeout(3_000);
    expect((await restRounds(aggregator, page)).total).toBe(1);
    await page.getByTestId('dash-alerts').screenshot({ path: fileURLToPath(new URL('../reports/dashboard-budget.png', import.meta.url)) });
  });
});
