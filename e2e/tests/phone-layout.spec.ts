import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { test, expect, waitForReady, QA_QUERY, logContribution } from './fixtures';

/**
 * Issue 17, "tables reflow": at the narrowest phones people use (360 px) and a common one (390 px)
 * no page scrolls sideways — the composer, the privacy page with its contribution log, the
 * settings and the operator's dashboard with its round table, the release gate's checks, the
 * audit log and the unlocked admin panel — and every control on them can really be clicked
 * (Playwright's actionability checks: visible, stable, enabled, and the one that receives the
 * click, not something fixed on top of it).
 */

const WIDTHS = [360, 390] as const;

/** The page's own sideways scroll: what a person would have to pan. */
function pageOverflow(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  return page.evaluate(() => {
    const root = document.scrollingElement ?? document.documentElement;
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth };
  });
}

async function expectNoSidewaysScroll(page: Page, where: string): Promise<void> {
  const { scrollWidth, clientWidth } = await pageOverflow(page);
  expect(scrollWidth, `${where}: the page is ${scrollWidth} px wide on a ${clientWidth} px screen`).toBeLessThanOrEqual(clientWidth);
}

/**
 * Every visible, enabled control on the page (buttons, links, form fields, disclosure summaries)
 * gets a trial click: all of Playwright's actionability checks, including that the control itself
 * would receive the tap, without acting. Windowed rows a scroll has since replaced, and controls a
 * re-render removed, are skipped.
 */
async function expectEveryControlClickable(page: Page, where: string): Promise<number> {
  const count = await page.evaluate(() => {
    let n = 0;
    for (const element of document.querySelectorAll<HTMLElement>('button, a[href], input:not([type=hidden]), select, textarea, summary')) {
      element.removeAttribute('data-e2e-control');
      const box = element.getBoundingClientRect();
      const style = getComputedStyle(element);
      if (box.width === 0 || box.height === 0 || style.visibility === 'hidden' || element.matches(':disabled')) continue;
      element.setAttribute('data-e2e-control', String(n++));
    }
    return n;
  });
  expect(count, `${where}: controls found`).toBeGreaterThan(0);
  for (let i = 0; i < count; i++) {
    const control = page.locator(`[data-e2e-control="${i}"]`);
    // A control re-rendered away between the count and the read, or during the click (suggestions
    // follow each new model), is skipped too.
    const name = await control
      .evaluate(
        (element) =>
          `${element.tagName.toLowerCase()} "${(element.textContent ?? '').trim().slice(0, 40) || element.getAttribute('aria-label') || element.getAttribute('name') || ''}"`,
        undefined,
        { timeout: 2_000 },
      )
      .catch(() => null);
    if (name === null) continue;
    await test.step(`${where}: ${name} is clickable`, async () => {
      try {
        await control.click({ trial: true, timeout: 5_000 });
      } catch (error) {
        // Re-rendered away during the click (the new chip lacks the marker): nothing left to click.
        if ((await control.count()) === 0) return;
        throw error;
      }
    });
  }
  return count;
}

/** The right edge of an element, to compare with the screen's width. */
const rightEdge = (page: Page, testId: string) => page.getByTestId(testId).evaluate((element) => element.getBoundingClientRect().right);

for (const width of WIDTHS) {
  test.describe(`at ${width} px wide`, () => {
    test.use({ viewport: { width, height: 800 } });

    test(`no page scrolls sideways, tables reflow into cards, and every control can be clicked (${width} px)`, async ({ page, aggregator, virtualClients }) => {
      await virtualClients(3);

      // A person's pages.
      await page.goto(`${aggregator.url}/?${QA_QUERY}`);
      await waitForReady(page);
      // The runtime reads the log at start: write one, then load the page again.
      await logContribution(page);
      await page.reload();
      await waitForReady(page);
      await expectNoSidewaysScroll(page, 'composer');
      await expectEveryControlClickable(page, 'composer');

      await page.getByRole('link', { name: 'Privacy' }).click();
      await expect(page.getByTestId('contribution-log')).toBeVisible();
      await expect(page.getByTestId('contribution-log').getByRole('cell').first()).toBeVisible();
      await expectNoSidewaysScroll(page, 'privacy');
      expect(await rightEdge(page, 'contribution-log')).toBeLessThanOrEqual(width);
      // The log's header row is out of sight; each cell names itself instead.
      await expect(page.getByTestId('contribution-log').locator('thead')).not.toBeInViewport();
      await expectEveryControlClickable(page, 'privacy');

      await page.getByRole('link', { name: 'Settings' }).click();
      await expectNoSidewaysScroll(page, 'settings');
      await expectEveryControlClickable(page, 'settings');

      // The operator's dashboard once rounds were committed and the gate decided on a candidate.
      await page.goto(`${aggregator.url}/dashboard`);
      await expect.poll(() => page.getByTestId('dash-round-row').count(), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
      const release = page.getByRole('region', { name: 'Release' });
      await expect(release.getByTestId('dash-gate-decision')).toBeVisible({ timeout: 60_000 });
      const admin = page.getByRole('form', { name: 'Admin' });
      await admin.getByLabel('Admin token').fill(aggregator.running.adminToken);
      await admin.getByRole('button', { name: 'Unlock' }).click();
      await expect(page.getByTestId('dash-operator')).toContainText('admin');
      await expect(page.getByTestId('dash-plan-bound').first()).toBeVisible();
      await expect(release.getByRole('combobox')).toBeVisible();

      const table = page.getByTestId('dash-round-table');
      await expect(table.getByRole('table')).toHaveAttribute('data-layout', 'cards');
      // Nor does the round table scroll sideways inside its own box.
      const inner = await table.evaluate((element) => ({ scrollWidth: element.scrollWidth, clientWidth: element.clientWidth }));
      expect(inner.scrollWidth, 'the round table scrolls sideways inside its box').toBeLessThanOrEqual(inner.clientWidth);
      expect(await rightEdge(page, 'dash-round-table')).toBeLessThanOrEqual(width);
      const checks = release.locator('table.dash-checks');
      expect(await checks.evaluate((element) => element.getBoundingClientRect().right)).toBeLessThanOrEqual(width);
      expect(await release.getByTestId('dash-audit').evaluate((element) => element.getBoundingClientRect().right)).toBeLessThanOrEqual(width);
      await expectNoSidewaysScroll(page, 'dashboard');
      await expectEveryControlClickable(page, 'dashboard');

      // A round card opens its record.
      await table.getByRole('button').first().click();
      await expect(page.getByTestId('dash-round-detail')).toBeVisible();
      await expectNoSidewaysScroll(page, 'dashboard with a round open');

      if (width === 360) {
        // Under e2e/reports/ (ignored); docs/dashboard-rounds-phone.png is a copy.
        await page
          .getByRole('region', { name: 'Rounds' })
          .screenshot({ path: fileURLToPath(new URL(`../reports/dashboard-rounds-${width}.png`, import.meta.url)) });
      }
    });
  });
}
