import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './chromium';

/** Real headless Chromium (see chromium.ts) against a real aggregator (see tests/fixtures.ts). */

export default defineConfig({
  testDir: 'tests',
  // Under e2e/reports/, which .gitignore leaves out.
  outputDir: 'reports/test-results',
  // Two shared cores: one browser at a time, each test with its own aggregator.
  workers: 1,
  fullyParallel: false,
  timeout: 180_000,
  expect: { timeout: 60_000 },
  retries: 0,
  // `npm test` runs the fast set; `npm run e2e:full` (MURMUR_E2E_FULL=1) adds the specs tagged @full.
  ...(process.env.MURMUR_E2E_FULL ? {} : { grepInvert: /@full/ }),
  reporter: process.env.CI ? 'list' : [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: chromiumLaunchOptions(),
  },
});
