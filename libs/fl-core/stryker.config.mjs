// Mutation testing of the code whose bugs no one would see in a demo (issue 14): `npm run mutate`
// from the repo root, or `npx stryker run --mutate <glob>` here for one file. Not part of npm test:
// a full run takes several hours on two cores (docs/testing.md). `incremental` keeps results, so a run
// after a change tests only the mutants that change touches.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  dryRunTimeoutMinutes: 20,
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/privacy/*.ts',
    'src/encode/*.ts',
    'src/aggregate/*.ts',
    'src/train/evaluate.ts',
    '!src/**/*.test.ts',
    '!src/**/index.ts',
    '!src/privacy/test-random.ts',
  ],
  // Per-file runs use their own --tempDirName (.stryker-tmp-<name>); without this, each run copies the
  // others' sandboxes into its own (Stryker only ignores its default `.stryker-tmp`).
  ignorePatterns: ['.stryker-tmp*'],
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  concurrency: 1,
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  cleanTempDir: 'always',
};
