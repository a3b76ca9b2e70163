// The Stryker settings every package's mutation run shares (issue 14): each package's
// `stryker.config.mjs` spreads this and adds only what differs (what to mutate, what to leave out of
// the sandbox, the per-mutant timeout). docs/testing.md explains the choices.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export const strykerBase = {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  dryRunTimeoutMinutes: 20,
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // Vitest 4 gives Stryker no per-test coverage (docs/testing.md): each mutant runs the selected suites.
  coverageAnalysis: 'perTest',
  // Per-file runs use their own --tempDirName (.stryker-tmp-<name>); without this, each run copies the
  // others' sandboxes into its own (Stryker only ignores its default `.stryker-tmp`). A package that
  // ignores more lists this one too.
  ignorePatterns: ['.stryker-tmp*'],
  // Keeps results, so a run after a change tests only the mutants that change touches; after adding
  // tests rerun with --force on the lines concerned.
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
