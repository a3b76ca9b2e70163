import { describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createServerOptimizer } from '@murmur/fl-core/aggregate';
import { decodeModelPayload } from '@murmur/fl-core/model';
import { DEFAULT_PLAN_POLICY } from '@murmur/fl-core/participant';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { deadlinesSchema, type RoundReport } from '@murmur/fl-core/protocol';
import { initialReleaseState, planPrivacyFor, projectPrivacyBudget, rollBackByOperator, type ReleaseState } from '@murmur/fl-core/round';
import { AuditLog } from './audit';
import { DEFAULT_TRAINING, FLAGS, helpText, loadConfig, makeConfig } from './config';
import { applyPlanChange, configuredPlan, mergePlanChanges, validOverrides } from './plan';
import { describeVersions } from './release-gate';
import { writeFileAtomic } from './fs-atomic';
import { KeyedRateLimiter, TokenBucket } from './rate-limit';
import { poissonSample, secureRandomUnit } from './sampling';
import { DataStore } from './store';
import { bearerMatches } from './tokens';
import { tempDataDir } from './test-helpers';

const silent = pino({ level: 'silent' });

describe('configuration', () => {
  it('layers defaults < file < env < flags and validates the result', () => {
    const data = tempDataDir();
    const file = join(data.dir, 'config.json');
    writeFileSync(file, JSON.stringify({ port: 9000, round: { target: 50 }, privacy: { noiseMultiplier: 0.5 } }));
    const result = loadConfig(['--config', file, '--port', '9100', '--min-reports', '7'], { PORT: '9050', MURMUR_DATA_DIR: '/tmp/x', MURMUR_TARGET: '40' });
    if (!result.ok) throw new Error(result.message);
    expect(result.config).toMatchObject({
      port: 9100,
      dataDir: '/tmp/x',
      round: { target: 40, minReports: 7, overSelection: 1.3 },
      privacy: { noiseMultiplier: 0.5, mode: 'distributed' },
    });
    expect(loadConfig([], {})).toMatchObject({ ok: true, config: { port: 8080, dataDir: './data', host: '127.0.0.1' } });
    data.remove();
  });

  it('defaults to the CIFG model trained at every position, and takes the targets, the window cap and the client optimizer as flags', () => {
    const defaults = loadConfig([], {});
    if (!defaults.ok) throw new Error(defaults.message);
    expect(defaults.config.model).toBe('cifg');
    expect(defaults.config.training).toEqual({ ...DEFAULT_TRAINING });
    expect(defaults.config.training).toMatchObject({ targets: 'every', maxExamples: 64, batchSize: 16, learningRate: 1 });
    const last = loadConfig(['--training-targets', 'last', '--max-examples', '128'], { MURMUR_MODEL: 'tiny' });
    if (!last.ok) throw new Error(last.message);
    // One field set: the others keep the aggregator's defaults, not the training plan's own.
    expect(last.config).toMatchObject({ model: 'tiny', training: { ...DEFAULT_TRAINING, targets: 'last', maxExamples: 128 } });
    const data = tempDataDir();
    const file = join(data.dir, 'config.json');
    writeFileSync(file, JSON.stringify({ training: { epochs: 2 } }));
    const fromFile = loadConfig(['--config', file], { MURMUR_TRAINING_TARGETS: 'last' });
    if (!fromFile.ok) throw new Error(fromFile.message);
    expect(fromFile.config.training).toEqual({ ...DEFAULT_TRAINING, epochs: 2, targets: 'last' });
    data.remove();
    expect(loadConfig(['--training-targets', 'sometimes'], {})).toMatchObject({ ok: false, message: expect.stringContaining('targets') });
    const adam = loadConfig(['--client-optimizer', 'adam', '--client-lr', '0.004'], {});
    if (!adam.ok) throw new Error(adam.message);
    expect(adam.config.training).toEqual({ ...DEFAULT_TRAINING, optimizer: 'adam', learningRate: 0.004 });
    const sampled = loadConfig(['--client-sampled-softmax', '512'], {});
    if (!sampled.ok) throw new Error(sampled.message);
    expect(sampled.config.training).toEqual({ ...DEFAULT_TRAINING, sampledSoftmax: 512 });
    expect(loadConfig(['--client-sampled-softmax', '0'], {})).toMatchObject({ ok: false, message: expect.stringContaining('sampledSoftmax') });
    expect(loadConfig([], { MURMUR_CLIENT_OPTIMIZER: 'lion' })).toMatchObject({ ok: false, message: expect.stringContaining('optimizer') });
    expect(loadConfig([], { MURMUR_MODEL: 'huge' })).toMatchObject({ ok: false, message: expect.stringContaining('model') });
  });

  it('accepts exactly the phase deadlines a client accepts in a plan', () => {
    for (const [ms, ok] of [
      [99, false],
      [100, true],
      [600_000, true],
      [600_001, false],
    ] as const) {
      const config = loadConfig(['--phase-deadline-ms', String(ms)], {});
      expect(config.ok).toBe(ok);
      const wire = deadlinesSchema.safeParse({ advertiseKeysMs: 60_000, shareKeysMs: ms, maskedInputMs: ms, unmaskingMs: ms });
      expect(wire.success).toBe(ok);
    }
  });

  it('ships defaults that give a meaningful ε for the population they assume, never below what devices accept', () => {
    const defaults = loadConfig([], {});
    if (!defaults.ok) throw new Error(defaults.message);
    const { privacy, round } = defaults.config;
    expect(privacy).toMatchObject({ mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, targetDelta: 1e-5 });
    expect(round.minReports).toBe(10);
    expect(privacy.noiseMultiplier).toBeGreaterThanOrEqual(DEFAULT_PLAN_POLICY.minNoiseMultiplier);
    expect(round.minReports).toBeGreaterThanOrEqual(DEFAULT_PLAN_POLICY.minCohort);
    // docs/privacy.md, "Defaults": N = 10,000, the default cohort ⌈20 × 1.3⌉ = 26, so q = 0.0026; δ = 1e-5 < N^−1.1.
    const population = 10_000;
    const samplingRate = Math.ceil(round.target * round.overSelection) / population;
    expect(privacy.targetDelta).toBeLessThan(population ** -1.1);
    const plan = planPrivacyFor({ ...privacy, adaptiveClipping: false, minReports: round.minReports, samplingRate, population });
    const release = { round: 1, privacy: plan.privacy, samplingRate };
    const epsilonAfter = (rounds: number) => {
      const ledger = new PrivacyLedger();
      ledger.record({ round: 1, samplingRate, noiseMultiplier: plan.privacy.noiseMultiplier, steps: rounds });
      return ledger.epsilon(privacy.targetDelta).epsilon;
    };
    expect(epsilonAfter(1_000)).toBeCloseTo(0.888, 3);
    expect(epsilonAfter(3_000)).toBeCloseTo(1.033, 3);
    // The old defaults (σ = 0.05) spent ε ≈ 294 in one round of a small population (q = 1).
    const old = new PrivacyLedger();
    old.record({ round: 1, samplingRate: 1, noiseMultiplier: 0.05 });
    expect(old.epsilon(1e-5).epsilon).toBeGreaterThan(290);
    // An 8-ε budget allows tens of thousands of such rounds.
    expect(projectPrivacyBudget({ ledger: new PrivacyLedger(), release, targetDelta: privacy.targetDelta, epsilonBudget: 8 }).roundsLeft).toBeGreaterThan(
      10_000,
    );
  });

  it('takes the ε budget and the population from a flag, the environment or the file, and refuses a budget without noise', () => {
    const data = tempDataDir();
    const file = join(data.dir, 'config.json');
    writeFileSync(file, JSON.stringify({ privacy: { epsilonBudget: 4 } }));
    expect(loadConfig(['--config', file], {})).toMatchObject({ ok: true, config: { privacy: { epsilonBudget: 4 } } });
    expect(loadConfig(['--config', file], { MURMUR_EPSILON_BUDGET: '6', MURMUR_POPULATION: '50000' })).toMatchObject({
      ok: true,
      config: { privacy: { epsilonBudget: 6, population: 50_000 } },
    });
    expect(loadConfig(['--epsilon-budget', '8', '--population', '20000'], {})).toMatchObject({
      ok: true,
      config: { privacy: { epsilonBudget: 8, population: 20_000 } },
    });
    expect(loadConfig(['--epsilon-budget', '8', '--dp', 'off'], {})).toMatchObject({
      ok: false,
      message: expect.stringContaining('epsilonBudget needs privacy noise'),
    });
    expect(loadConfig([], { MURMUR_EPSILON_BUDGET: '0' })).toMatchObject({ ok: false, message: expect.stringContaining('epsilonBudget') });
    data.remove();
  });

  it('names the bad source of a bad value', () => {
    expect(loadConfig(['--port', 'eighty'], {})).toMatchObject({ ok: false, message: expect.stringContaining('--port') });
    expect(loadConfig([], { PORT: '70000' })).toMatchObject({ ok: false, message: expect.stringContaining('port') });
    expect(loadConfig(['--bogus'], {})).toMatchObject({ ok: false, message: expect.stringContaining('bogus') });
    expect(loadConfig(['--min-reports', '30', '--target', '10'], {})).toMatchObject({ ok: false, message: expect.stringContaining('minReports') });
    expect(loadConfig(['--dp', 'central'], {})).toMatchObject({ ok: false });
  });

  it('documents every flag in --help with its environment variable and default', () => {
    const help = helpText();
    for (const flag of FLAGS) {
      expect(help).toContain(`--${flag.flag}`);
      if (flag.env) expect(help).toContain(flag.env);
    }
    expect(help).toContain('[default "./data"]');
    expect(loadConfig(['--help'], {})).toMatchObject({ ok: true, help: true });
  });
});

describe('bearer tokens', () => {
  it('compares admin bearer tokens exactly', () => {
    expect(bearerMatches('Bearer secret-token-123456', 'secret-token-123456')).toBe(true);
    expect(bearerMatches('Bearer secret-token-12345', 'secret-token-123456')).toBe(false);
    expect(bearerMatches('secret-token-123456', 'secret-token-123456')).toBe(false);
    expect(bearerMatches(undefined, 'secret-token-123456')).toBe(false);
    expect(bearerMatches('Bearer ', 'secret-token-123456')).toBe(false);
  });
});

describe('sampling and rate limits', () => {
  it('draws each item independently with probability q (Poisson sampling), from the CSPRNG', () => {
    const items = [0, 1, 2, 3, 4, 5];
    const q = 1 / 3;
    const draws = 12_000;
    const counts = new Array<number>(6).fill(0);
    const sizes = new Array<number>(7).fill(0);
    for (let i = 0; i < draws; i++) {
      const pick = poissonSample(items, q);
      sizes[pick.length] = (sizes[pick.length] as number) + 1;
      for (const p of pick) counts[p] = (counts[p] as number) + 1;
    }
    // Each item's inclusion count is Binomial(12,000, 1/3): mean 4,000, sd 51.6; 5 sd either side.
    for (const c of counts) expect(Math.abs(c - draws * q)).toBeLessThan(5 * Math.sqrt(draws * q * (1 - q)));
    // The cohort size is Binomial(6, 1/3), not fixed: χ² over sizes 0..6 (6 dof, P[χ² > 27.9] ≈ 1e-4).
    const binomial = (k: number) => ([1, 6, 15, 20, 15, 6, 1][k] as number) * q ** k * (1 - q) ** (6 - k);
    const chi2 = sizes.reduce((sum, observed, k) => sum + (observed - draws * binomial(k)) ** 2 / (draws * binomial(k)), 0);
    expect(chi2).toBeLessThan(27.9);
    expect(poissonSample(items, 1)).toEqual(items);
    expect(() => poissonSample(items, 0)).toThrow(/probability must be in \(0, 1\], got 0/);
    for (let i = 0; i < 1000; i++) {
      const u = secureRandomUnit();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });

  it('token buckets allow the burst, then the rate', () => {
    let t = 0;
    const bucket = new TokenBucket(10, 3, () => t);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    t += 100;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    const keyed = new KeyedRateLimiter(1, 1, 2);
    expect([keyed.take('a'), keyed.take('a'), keyed.take('b')]).toEqual([true, false, true]);
  });
});

describe('data directory', () => {
  const spec = { architecture: 'gru' as const, vocabularySize: 100, contextLength: 2, embeddingDim: 2, hiddenUnits: 2 };
  const dimension = 100 * 2 + 3 * (2 * 2 + 2 * 2 + 2) + 2 * 100 + 100;
  const report = (round: number, to: number): RoundReport => ({
    round,
    roundId: `r${round}-00000000`,
    status: 'committed',
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:01.000Z',
    modelVersion: { from: to - 1, to },
    abort: null,
    cohort: { eligible: 3, selected: 3, advertised: 3, shared: 3, masked: 3, unmasked: 3 },
    secagg: { graph: 'full', degree: 2, threshold: 2, modulusBits: 32, vectorLength: dimension + 6 },
    metrics: { examples: 10, trainLoss: 1, eval: { count: 3, loss: 1, top1: 0.5, top3: 0.9 } },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, recordedNoiseMultiplier: 1, samplingRate: 0.5, epsilon: 1, delta: 1e-5 },
    bytes: { received: 1, sent: 1 },
    durationsMs: {},
    backends: { wasm: 3 },
  });

  it('writes atomically, commits in order, and resumes from head.json ignoring what a crash left behind', () => {
    const data = tempDataDir();
    const initial = () => ({ spec, weights: new Float32Array(dimension).fill(0.5), optimizer: createServerOptimizer({ name: 'fedavgm' }, dimension) });
    const store = DataStore.open(data.dir, initial, silent);
    const ledger = new PrivacyLedger();
    ledger.record({ round: 1, samplingRate: 0.5, noiseMultiplier: 1 });
    const optimizer = { ...store.optimizer, round: 1, m: new Float32Array(dimension).fill(0.25) };
    store.commit({ report: report(1, 1), ledger, model: { weights: new Float32Array(dimension).fill(1), optimizer } });
    // What a crash between the record and head.json would leave: a record of round 2, a model 2, a temp file.
    writeFileSync(join(data.dir, 'rounds', '00000002.json'), JSON.stringify(report(2, 2)));
    writeFileSync(join(data.dir, 'models', 'model-2.bin'), 'partial');
    writeFileSync(join(data.dir, 'models', '.model-2.bin.1.abc.tmp'), 'partial');
    const reopened = DataStore.open(data.dir, initial, silent);
    expect(reopened.modelVersion).toBe(1);
    expect(reopened.nextRound).toBe(2);
    expect(reopened.rounds.map((r) => r.round)).toEqual([1]);
    expect(reopened.weights[0]).toBe(1);
    expect(reopened.optimizer.m?.[0]).toBe(0.25);
    expect(reopened.ledger.entries).toHaveLength(1);
    expect(existsSync(join(data.dir, 'rounds', '00000002.json'))).toBe(false);
    expect(readdirSync(join(data.dir, 'models')).sort()).toEqual(['model-0.bin', 'model-1.bin', 'optimizer-0.bin', 'optimizer-1.bin']);
    expect(decodeModelPayload(reopened.modelPayload(0) as Uint8Array).weights[0]).toBe(0.5);
    expect(reopened.modelPayload(7)).toBeNull();
    data.remove();
  });

  it('keeps where and why clients dropped in the round record across a restart, and refuses a phase it does not know', () => {
    const data = tempDataDir();
    const initial = () => ({ spec, weights: new Float32Array(dimension).fill(0.5), optimizer: createServerOptimizer({ name: 'fedavg' }, dimension) });
    const store = DataStore.open(data.dir, initial, silent);
    const model = { weights: new Float32Array(dimension), optimizer: store.optimizer };
    const unknownPhase = { ...report(1, 1), dropouts: { training: { silent: 1, disconnected: 0 } } } as unknown as RoundReport;
    expect(() => store.commit({ report: unknownPhase, model })).toThrow(/invalid and was not written.*dropouts/s);
    const dropouts = { advertiseKeys: { silent: 2, disconnected: 1 }, shareKeys: { silent: 0, disconnected: 0 } };
    store.commit({ report: { ...report(1, 1), cohort: { eligible: 6, selected: 6, advertised: 3, shared: 3, masked: 3, unmasked: 3 }, dropouts }, model });
    expect(DataStore.open(data.dir, initial, silent).rounds[0]?.dropouts).toEqual(dropouts);
    data.remove();
  });

  it('refuses to write an invalid record or one out of order, leaving the directory as it was', () => {
    const data = tempDataDir();
    const initial = () => ({ spec, weights: new Float32Array(dimension).fill(0.5), optimizer: createServerOptimizer({ name: 'fedavg' }, dimension) });
    const store = DataStore.open(data.dir, initial, silent);
    const poisoned = { ...report(1, 1), metrics: { examples: -829791644, trainLoss: null, eval: { count: -1160812246, loss: null, top1: null, top3: null } } };
    expect(() => store.commit({ report: poisoned, model: { weights: new Float32Array(dimension), optimizer: store.optimizer } })).toThrow(
      /invalid and was not written.*examples/s,
    );
    expect(() => store.commit({ report: report(2, 1) })).toThrow(/expected round 1/);
    expect(readdirSync(join(data.dir, 'rounds'))).toEqual([]);
    expect(readdirSync(join(data.dir, 'models')).sort()).toEqual(['model-0.bin', 'optimizer-0.bin']);
    expect(DataStore.open(data.dir, initial, silent)).toMatchObject({ modelVersion: 0, nextRound: 1 });
    data.remove();
  });

  it('keeps what the release state names however old, serves and trains from it, and keeps the state across a restart', () => {
    const data = tempDataDir();
    const initial = () => ({ spec, weights: new Float32Array(dimension).fill(0.5), optimizer: createServerOptimizer({ name: 'fedavgm' }, dimension) });
    const keepModels = 2;
    const store = DataStore.open(data.dir, initial, silent, keepModels);
    // v1 released, then candidates v2–v5 that the gate refused: training continued from them (policy 'candidate').
    let release: ReleaseState = { ...initialReleaseState(0), released: 1 };
    for (let v = 1; v <= 5; v++) {
      const optimizer = { ...store.optimizer, round: v, m: new Float32Array(dimension).fill(v) };
      if (v >= 2) release = { ...release, trainFrom: v, candidate: { version: v, base: v - 1, outcome: 'refused' } };
      store.commit({ report: report(v, v), model: { weights: new Float32Array(dimension).fill(v), optimizer }, release });
    }
    // Newest two (v4, v5) by keepModels, v1 because it is released, v0 pruned.
    expect(store.keptVersions()).toEqual([1, 4, 5]);
    expect(describeVersions(store.keptVersions())).toBe('v1, v4–v5');
    // An operator released v5, then rolls back to v1.
    const rolled = rollBackByOperator({ ...store.release, released: 5 }, 1);
    if (!rolled.ok) throw new Error(rolled.error.message);
    store.setRelease(rolled.value);
    const reopened = DataStore.open(data.dir, initial, silent, keepModels);
    expect(reopened.release).toMatchObject({ released: 1, trainFrom: 'released', candidate: null });
    // The next round trains from v1: its weights and its own optimizer state, not the newest's.
    const base = reopened.trainingBase();
    expect(base).toMatchObject({ version: 1, optimizer: { round: 1 } });
    expect(base.weights[0]).toBe(1);
    expect(base.optimizer.m?.[0]).toBe(1);
    expect(base.hash).toBe(decodeModelPayload(reopened.modelPayload(1) as Uint8Array).hash);
    expect(() => reopened.setRelease({ ...rolled.value, released: 0 })).toThrow(/v0, which is not kept/);
    data.remove();
  });

  it('refuses to start when head.json names a released version whose file is gone', () => {
    const data = tempDataDir();
    const initial = () => ({ spec, weights: new Float32Array(dimension).fill(0.5), optimizer: createServerOptimizer({ name: 'fedavg' }, dimension) });
    const store = DataStore.open(data.dir, initial, silent);
    store.commit({ report: report(1, 1), model: { weights: new Float32Array(dimension), optimizer: store.optimizer }, release: initialReleaseState(0) });
    rmSync(join(data.dir, 'models', 'model-0.bin'));
    expect(() => DataStore.open(data.dir, initial, silent)).toThrow(/names v0 as the released, but models\/model-0.bin is missing/);
    data.remove();
  });

  it('replaces a file whole: readers see the old or the new content', () => {
    const data = tempDataDir();
    const path = join(data.dir, 'x.json');
    writeFileAtomic(path, 'old');
    writeFileAtomic(path, 'new');
    expect(readdirSync(data.dir)).toEqual(['x.json']);
    data.remove();
  });
});

describe('audit log', () => {
  const pointers = { released: 3, trainingBase: 3, candidate: 4 };

  it('appends numbered, dated entries that survive a reopen, and cuts a torn last line', () => {
    const data = tempDataDir();
    const log = AuditLog.open(data.dir, silent);
    const first = log.append({
      actor: 'admin',
      action: 'rollback',
      version: 2,
      before: pointers,
      after: { released: 2, trainingBase: 2, candidate: null },
      note: 'σ',
    });
    expect(first).toMatchObject({ seq: 1, actor: 'admin', action: 'rollback' });
    expect(Date.parse(first.at)).toBeGreaterThan(0);
    // A crash mid-append leaves half a line.
    appendFileSync(join(data.dir, 'audit.jsonl'), '{"seq":2,"at":"2026');
    const reopened = AuditLog.open(data.dir, silent);
    expect(reopened.total).toBe(1);
    const second = reopened.append({ actor: 'gate', action: 'release', version: 4, before: pointers, after: { ...pointers, released: 4 }, note: null });
    expect(second.seq).toBe(2);
    const lines = readFileSync(join(data.dir, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { seq: number }).seq)).toEqual([1, 2]);
    expect(
      AuditLog.open(data.dir, silent)
        .recent(10)
        .map((e) => e.seq),
    ).toEqual([2, 1]);
    data.remove();
  });

  it('writes nothing for an invalid entry', () => {
    const data = tempDataDir();
    const log = AuditLog.open(data.dir, silent);
    expect(() => log.append({ actor: '', action: 'release', version: -1, before: pointers, after: pointers, note: null })).toThrow(/not written/);
    expect(existsSync(join(data.dir, 'audit.jsonl'))).toBe(false);
    data.remove();
  });
});

describe('saved plan changes', () => {
  const config = makeConfig({ privacy: { noiseMultiplier: 0.05 }, round: { target: 20, minReports: 3 } });

  it('merge field by field, training included', () => {
    expect(mergePlanChanges({ target: 30, training: { epochs: 2 } }, { noiseMultiplier: 1, training: { learningRate: 0.5 } })).toEqual({
      target: 30,
      noiseMultiplier: 1,
      training: { epochs: 2, learningRate: 0.5 },
    });
  });

  it('drop what the configuration no longer allows, naming it, and keep the rest', () => {
    const raised = makeConfig({ privacy: { noiseMultiplier: 0.5 } });
    const { overrides, dropped } = validOverrides(raised, { target: 30, noiseMultiplier: 0.1, training: { epochs: 2, momentum: 0.9 } });
    expect(overrides).toEqual({ target: 30, training: { epochs: 2 } });
    expect(dropped).toHaveLength(2);
    expect(dropped).toEqual(expect.arrayContaining([expect.stringMatching(/^noiseMultiplier: .*floor 0\.5/), expect.stringMatching(/^training\.momentum: /)]));
  });

  it('apply on top of the configured plan, refusing minReports above target', () => {
    const data = tempDataDir();
    const store = DataStore.open(
      data.dir,
      () => ({
        spec: { architecture: 'gru', vocabularySize: 100, contextLength: 2, embeddingDim: 2, hiddenUnits: 2 },
        weights: new Float32Array(530),
        optimizer: createServerOptimizer({ name: 'fedavg' }, 530),
      }),
      silent,
    );
    const plan = configuredPlan(config, store);
    expect(applyPlanChange(plan, { noiseMultiplier: 1, training: { epochs: 3 } })).toMatchObject({
      ok: true,
      value: { noiseMultiplier: 1, target: 20, training: { epochs: 3, batchSize: 16 } },
    });
    expect(applyPlanChange(plan, { minReports: 25 })).toMatchObject({
      ok: false,
      error: { code: 'OUT_OF_BOUNDS', message: expect.stringMatching(/exceeds target 20/) },
    });
    data.remove();
  });
});
