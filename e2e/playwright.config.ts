import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

/**
 * Real headless Chromium against a real aggregator (see tests/fixtures.ts). Playwright cannot
 * download its browsers here: use Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium)
 * and fall back to Playwright's own where that is missing (a developer machine).
 */
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

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
    launchOptions: {
      ...(existsSync(chromiumPath) ? { executablePath: chromiumPath } : {}),
      args: [
        '--no-sandbox',
        // Without these Chromium floods the closed network with refused connections.
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        '--enable-unsafe-webgpu',
      ],
    },
  },
});
