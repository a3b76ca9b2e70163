import { defineConfig } from 'vitest/config';

/**
 * The suites that test the mutated modules (stryker.config.mjs): mutants run against these only.
 * secagg/'s fast ones only: its whole-round suites (secagg.test.ts, privacy.test.ts, attacks/)
 * take minutes per mutant; name them in MUTATE_TESTS when a run needs them (docs/testing.md).
 */
const suites = [
  'src/privacy/*.test.ts',
  'src/secagg/*.test.ts',
  'src/encode/*.test.ts',
  'src/aggregate/*.test.ts',
  'src/train/evaluate.test.ts',
  'src/train/intervals.test.ts',
];
const slow = ['src/secagg/secagg.test.ts', 'src/secagg/privacy.test.ts'];

export default defineConfig({
  test: {
    // MUTATE_TESTS (comma-separated globs) narrows the run to one file's suites, so a one-file run
    // does not dry-run every suite above: `MUTATE_TESTS=src/encode/*.test.ts npx stryker run --mutate …`.
    include: process.env['MUTATE_TESTS']?.split(',') ?? suites,
    exclude: process.env['MUTATE_TESTS'] ? [] : slow,
    testTimeout: 60_000,
    pool: 'forks',
  },
});
