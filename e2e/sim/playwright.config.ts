import { defineConfig } from '@playwright/test';
import base from '../playwright.config';

/**
 * The simulation's own run (started by sim/cli.ts): the same browser settings as the suite, one
 * spec, and the HTML report written into the simulation's --out folder (MURMUR_SIM_OUT).
 */
const out = process.env.MURMUR_SIM_OUT ?? 'reports/sim';

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: 'sim.spec.ts',
  outputDir: `${out}/test-results`,
  use: { ...base.use, trace: 'retain-on-failure' },
  reporter: [['html', { outputFolder: `${out}/html`, open: 'never' }], ['line']],
});
