// Mutation testing of the aggregator's round decisions (issue 14), with the settings fl-core's run
// uses (../../stryker.base.mjs): `npm run mutate` from the repo root runs fl-core's and this one;
// here, one file at a time:
//   nice -n 15 npx stryker run --mutate src/round-state.ts --concurrency 1 --timeoutMS 20000
// Not part of npm test (docs/testing.md).
import { strykerBase } from '../../stryker.base.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...strykerBase,
  mutate: ['src/coordinator.ts', 'src/round-state.ts'],
  ignorePatterns: [...strykerBase.ignorePatterns, 'reports', 'data'],
  // The coordinator suites run whole rounds; 5 s plus 1.5x the dry run timed out live mutants on a
  // loaded two-core machine (docs/testing.md, "Timeouts on a loaded machine are not hangs").
  timeoutMS: 20_000,
};
