import { defineConfig } from 'vitest/config';

/** The suites that test the mutated modules (stryker.config.mjs): mutants run against these only. */
const suites = ['src/privacy/*.test.ts', 'src/encode/*.test.ts', 'src/aggregate/*.test.ts', 'src/train/evaluate.test.ts', 'src/train/intervals.test.ts'];

export default defineConfig({
  test: {
    // MUTATE_TESTS (comma-separated globs) narrows the run to one file's suites, so a one-file run
    // does not dry-run every suite above: `MUTATE_TESTS=src/encode/*.test.ts npx stryker run --mutate …`.
    include: process.env['MUTATE_TESTS']?.split(',') ?? suites,
    testTimeout: 60_000,
    pool: 'forks',
  },
});
