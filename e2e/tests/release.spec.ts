import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { test, expect, QA_QUERY, releaseViewSchema, roundReportSchema, type AggregatorHandle } from './fixtures';

/**
 * Release gates as an operator meets them (issue 17): σ raised from 0.05 to 1.0 in the dashboard's
 * Admin panel makes a candidate the gate refuses, a person's page keeps suggesting with the
 * released version, and the operator rolls back from the Release panel. At desktop and phone size.
 */

const VIEWPORTS = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
] as const;

async function restRelease(page: Page, aggregator: AggregatorHandle) {
  return releaseViewSchema.parse(await (await page.request.get(`${aggregator.url}/api/release`)).json());
}

/** The first committed round that ran with the operator's first plan change, once there is one (pages are newest first). */
async function firstHarmfulRound(page: Page, aggregator: AggregatorHandle) {
  const body = (await (await page.request.get(`${aggregator.url}/api/rounds?limit=100`)).json()) as { rounds: unknown[] };
  const rounds = body.rounds.map((r) => roundReportSchema.parse(r)).filter((r) => r.status === 'committed' && r.planRevision === 1);
  return rounds.at(-1) ?? null;
}

for (const [size, viewport] of VIEWPORTS) {
  test.describe(`at ${size} size`, () => {
    test.use({ viewport });

    test(`a harmful plan change: the gate refuses the candidate, suggestions stay on the released version, the operator rolls back (${size})`, async ({
      page,
      browser,
      aggregator,
      virtualClients,
    }) => {
      await virtualClients(3);
      // A person's browser beside the operator's dashboard (which shows no device status): its
      // status bar names the model it suggests with, refreshed every second under QA_QUERY.
      const person = await browser.newContext({ viewport });
      const personPage = await person.newPage();
      await personPage.goto(`${aggregator.url}/?${QA_QUERY}`);
      await page.goto(`${aggregator.url}/dashboard`);
      const panel = page.getByRole('region', { name: 'Release' });
      // A candidate is released once the next round has evaluated it.
      await expect(panel.getByTestId('dash-released-version')).not.toHaveText('v0', { timeout: 120_000 });

      const admin = page.getByRole('form', { name: 'Admin' });
      await admin.getByLabel('Admin token').fill(aggregator.running.adminToken);
      await admin.getByRole('button', { name: 'Unlock' }).click();
      const controls = page.getByRole('region', { name: 'Admin' });
      await controls.getByRole('spinbutton', { name: /^noiseMultiplier/ }).fill('1');
      await controls.getByRole('button', { name: 'Apply 1 change' }).click();
      await expect(controls.getByRole('status')).toHaveText(/saved in the data directory .* survives a restart/);

      // The first candidate trained with σ = 1 is refused (its update norm alone is far past the bound).
      await expect.poll(async () => (await firstHarmfulRound(page, aggregator))?.modelVersion.to ?? null, { timeout: 120_000 }).not.toBeNull();
      const harmful = (await firstHarmfulRound(page, aggregator))?.modelVersion.to as number;
      await expect
        .poll(async () => (await restRelease(page, aggregator)).decisions.find((d) => d.version === harmful && d.outcome !== 'pending')?.outcome, {
          timeout: 60_000,
        })
        .toBe('refused');
      const released = (await restRelease(page, aggregator)).released;
      expect(released).toBeLessThan(harmful);
      await expect(panel.getByTestId('dash-released-version')).toHaveText(`v${released}`);
      await expect(panel.getByTestId('dash-decisions')).toContainText(`v${harmful} refused`);
      await expect(panel.getByTestId('dash-audit')).toContainText('admin plan revision 1: noiseMultiplier 0.05 → 1');
      await expect(page.getByTestId('dash-cell-plan').filter({ hasText: '✎' }).first()).toBeVisible();
      // The person's page suggests with the released version, not the newer candidates.
      await expect(personPage.getByTestId('model-version')).toContainText(`model v${released} (`);
      const served = await page.request.get(`${aggregator.url}/api/model/released`);
      expect(served.headers()['x-model-version']).toBe(String(released));
      // Under e2e/reports/ (ignored); docs/release-panel.png is a copy of the desktop one.
      await panel.screenshot({ path: fileURLToPath(new URL(`../reports/release-panel-${size}.png`, import.meta.url)) });

      // The operator rolls back one version from the Release panel, with a note for the audit log.
      const target = released - 1;
      await panel.getByLabel('Note for the audit log').fill('σ = 1 ruined the model');
      await panel.getByRole('combobox').selectOption(String(target));
      await panel.getByRole('button', { name: `Roll back to v${target}` }).click();
      await expect(panel.getByRole('status')).toHaveText(new RegExp(`^Rolled back to v${target}:`));
      await expect(panel.getByTestId('dash-released-version')).toHaveText(`v${target}`);
      await expect(panel.getByTestId('dash-audit')).toContainText(
        `admin rolled back to v${target} (from v${released}); training from v${target} — σ = 1 ruined the model`,
      );
      await expect(personPage.getByTestId('model-version')).toContainText(`model v${target} (`);
      const after = await restRelease(page, aggregator);
      expect(after.audit[0]).toMatchObject({ action: 'rollback', actor: 'admin', version: target, before: { released }, note: 'σ = 1 ruined the model' });
      await person.close();
    });
  });
}
