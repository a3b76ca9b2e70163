import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The distributed suite (`npm run test:distributed`): real PostgreSQL and Redis started by
 * apps/aggregator/scripts/stores.sh, child processes, SIGKILL/SIGSTOP and store restarts. Kept out
 * of `npm test` (its files end in .distributed-test.ts, which the default config does not match),
 * and run one file at a time because the files restart the shared stores.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['src/distributed/**/*.distributed-test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
