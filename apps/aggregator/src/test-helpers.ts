import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { ModelSpec } from '@murmur/fl-core/model';
import { DEFAULT_PLAN_POLICY, type PlanPolicy } from '@murmur/fl-core/participant';
import { makeConfig, type AggregatorConfig, type AggregatorConfigInput } from './config';

/**
 * Shared set-up of the integration tests: a model small enough that a round of real training,
 * real secure aggregation and real sockets takes about a second on two cores.
 */
export const TEST_SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 200, contextLength: 6, embeddingDim: 16, hiddenUnits: 16 };

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

/**
 * σ of the test configuration: small enough that five rounds of six clients of TEST_SPEC visibly
 * learn, and below the σ = 0.05 floor devices ship with (DEFAULT_PLAN_POLICY).
 */
export const TEST_NOISE_MULTIPLIER = 0.02;

/**
 * What the tests' virtual clients accept from a test server: the shipped device policy with its σ
 * floor lowered to TEST_NOISE_MULTIPLIER, every other minimum (modes, cohort, threshold, C) as
 * shipped. Tests of a server whose operator turned privacy off use PRIVACY_OFF_PLAN_POLICY.
 */
export const TEST_PLAN_POLICY: PlanPolicy = Object.freeze({ ...DEFAULT_PLAN_POLICY, minNoiseMultiplier: TEST_NOISE_MULTIPLIER });

export function tempDataDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'murmur-agg-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function testConfig(dataDir: string, overrides: AggregatorConfigInput = {}): AggregatorConfig {
  return makeConfig(testConfigInput(dataDir, overrides));
}

/** The raw settings behind testConfig, e.g. to write a --config file for a child process. */
export function testConfigInput(dataDir: string, overrides: AggregatorConfigInput = {}): AggregatorConfigInput {
  return {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    adminToken: TEST_ADMIN_TOKEN,
    model: TEST_SPEC,
    seed: 7,
    logLevel: 'silent',
    ...overrides,
    round: {
      target: 6,
      overSelection: 1,
      minReports: 4,
      checkinMs: 300,
      pauseMs: 50,
      reconnectGraceMs: 800,
      // Dozens of aggregators start in the suite: none compiles a worker it does not need
      // (unmask-thread.test.ts and the distributed suite's processes run the thread).
      unmaskInWorker: false,
      deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 5_000, unmaskingMs: 5_000 },
      ...overrides.round,
    },
    // 'last': the suites' expectations (example counts, loss falls) were set with one target per window.
    training: { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 128, timeBudgetMs: 10_000, targets: 'last', ...overrides.training },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: TEST_NOISE_MULTIPLIER, ...overrides.privacy },
  };
}

export function testLogger(): Logger {
  return pino({ level: process.env.MURMUR_TEST_LOG ?? 'silent' });
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
