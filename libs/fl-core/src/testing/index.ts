/**
 * `@murmur/fl-core/testing`: drivers and seeded fixtures for tests, benchmarks and the e2e harness,
 * never for production code (eslint.config.mjs forbids this entry outside test files, bench/ and
 * e2e/). Each helper trades a guarantee for reproducibility: the SecAgg driver runs every party in one
 * process, the keystream random source is seeded, the plan is a fixed small round.
 */
export { runSecAggRound, messageBytes, type SecAggRoundOptions, type SecAggRoundResult, type SecAggRoundCost, type SecAggDropouts } from '../secagg/driver';
export { keystreamRandomBytes } from '../privacy/test-random';
export { testPlan, TEST_SPEC } from '../participant/test-plan';
