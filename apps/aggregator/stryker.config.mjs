// Mutation testing of the aggregator's round decisions (issue 14), mirroring libs/fl-core's setup:
// `npm run mutate` from the repo root runs fl-core's and this one; here, one file at a time:
//   nice -n 15 npx stryker run --mutate src/round-state.ts --concurrency 1 --timeoutMS 20000
// Not part of npm test (docs/testing.md). `incremental` keeps results, so a later run tests only the
// mutants a change touches; after adding tests rerun with --force on the lines concerned.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  dryRunTimeoutMinutes: 20,
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // Vitest 4 gives Stryker no per-test coverage (docs/testing.md): each mutant runs the selected suites.
  coverageAnalysis: 'perTest',
  mutate: ['src/coordinator.ts', 'src/round-state.ts'],
  ignorePatterns: ['.stryker-tmp*', 'reports', 'data'],
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  concurrency: 1,
  timeoutMS: 20_000,
  timeoutFactor: 1.5,
  cleanTempDir: 'always',
};
