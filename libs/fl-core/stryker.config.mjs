// Mutation testing of the code whose bugs no one would see in a demo (issue 14): `npm run mutate`
// from the repo root, or `npx stryker run --mutate <glob>` here for one file. Not part of npm test:
// a full run takes several hours on two cores (docs/testing.md). Shared settings: ../../stryker.base.mjs.
import { strykerBase } from '../../stryker.base.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...strykerBase,
  mutate: [
    'src/privacy/*.ts',
    'src/secagg/*.ts',
    'src/encode/*.ts',
    'src/aggregate/*.ts',
    'src/train/evaluate.ts',
    '!src/**/*.test.ts',
    '!src/**/index.ts',
    '!src/privacy/test-random.ts',
  ],
};
