import { defineConfig } from 'vitest/config';

/**
 * The suites that test the mutated modules (stryker.config.mjs): the coordinator's transitions
 * without sockets, and the simulator/aggregator parity of round planning and ending (round-state.ts).
 * MUTATE_TESTS (comma-separated globs) narrows the run, as in libs/fl-core.
 */
const suites = ['src/coordinator*.test.ts', 'src/round-plan-parity.test.ts'];

export default defineConfig({
  test: {
    include: process.env['MUTATE_TESTS']?.split(',') ?? suites,
    testTimeout: 60_000,
    pool: 'forks',
  },
});
