import { defineConfig } from 'vitest/config';

/** The suites that test the mutated modules (stryker.config.mjs): mutants run against these only. */
export default defineConfig({
  test: {
    include: ['src/privacy/*.test.ts', 'src/encode/*.test.ts', 'src/aggregate/*.test.ts', 'src/train/evaluate.test.ts', 'src/train/intervals.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
