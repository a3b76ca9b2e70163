import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSimulationArgs } from './config';
import { runSimulation, trainingPhases } from './run';

function config(flags: string) {
  const parsed = parseSimulationArgs(flags.split(' ').filter(Boolean));
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.config;
}

describe('runSimulation', () => {
  it('runs federated rounds on real State of the Union clients, a central baseline and Kneser–Ney baselines, reporting the documented JSON', async () => {
    const parsed = parseSimulationArgs('--clients 12 --per-round 4 --rounds 3 --max-examples 64 --max-test-examples 500 --central --seed 3'.split(' '));
    if (parsed.help) throw new Error('unexpected --help');
    const report = await runSimulation(parsed.config);
    expect(report.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    for (const round of report.rounds) {
      expect(Object.keys(round)).toEqual(expect.arrayContaining(['round', 'trainLoss', 'testLoss', 'top1', 'top3', 'examples', 'seconds']));
      expect(round.examples).toBe(4 * 64);
      expect(round.top1).toBeGreaterThanOrEqual(0);
      expect(round.top3).toBeGreaterThanOrEqual(round.top1 ?? 0);
    }
    expect(report.rounds[2]?.testLoss).toBeLessThan(report.rounds[0]?.testLoss ?? 0);
    expect(report.config).toMatchObject({ trainClients: 12, testExamples: 500, parameters: 156_512 });
    expect(report.central?.examplesProcessed).toBe(3 * 4 * 64);
    expect(report.central?.top1Ratio).toBeCloseTo((report.rounds[2]?.top1 ?? 0) / (report.central?.top1 ?? 1), 10);
    expect(report.central?.top1Interval.lower).toBeLessThanOrEqual(report.central?.top1 ?? Number.NaN);

    // The model's final metrics carry intervals, like every evaluated round.
    expect(report.model.count).toBe(500);
    expect(report.model.top1).toBe(report.rounds[2]?.top1);
    expect(report.rounds[2]?.top1Interval).toEqual(report.model.top1Interval);
    expect(report.model.top1Interval.lower).toBeLessThan(report.model.top1);
    expect(report.model.top1Interval.upper).toBeGreaterThan(report.model.top1);

    // Baselines: counted on the 12 training clients' examples, scored on the same 500 held-out rows.
    const { baselines, comparison, baselineCounting } = report;
    expect(Object.keys(baselines ?? {})).toEqual(['kn2', 'kn3', 'kn4']);
    for (const [name, baseline] of Object.entries(baselines ?? {})) {
      expect(baseline.order).toBe(Number(name.slice(2)));
      expect(baseline.count).toBe(500);
      expect(baseline.top3).toBeGreaterThanOrEqual(baseline.top1);
      expect(baseline.perplexity).toBeGreaterThan(1);
      expect(baseline.perplexityInterval.lower).toBeLessThan(baseline.perplexity);
      expect(baseline.top1Interval.upper).toBeGreaterThan(baseline.top1);
      expect(baseline.inVocabulary.count).toBe(report.model.inVocabulary.count);
    }
    expect(baselineCounting?.trainExamples).toBeGreaterThan(10_000);
    const best = baselines?.[comparison?.best ?? 'kn2'];
    expect(Math.max(...Object.values(baselines ?? {}).map((b) => b.top1))).toBe(best?.top1);
    expect(comparison?.top1Ratio).toBeCloseTo(report.model.top1 / (best?.top1 ?? 1), 12);
  });

  it('skips the baselines with --no-baselines', async () => {
    const parsed = parseSimulationArgs('--clients 2 --per-round 1 --rounds 1 --max-examples 16 --max-test-examples 50 --no-baselines'.split(' '));
    if (parsed.help) throw new Error('unexpected --help');
    const report = await runSimulation(parsed.config);
    expect(report.baselines).toBeUndefined();
    expect(report.comparison).toBeUndefined();
    expect(report.model.count).toBe(50);
  });

  it('resumes a federated run from its checkpoint, and refuses one made under other flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'murmur-checkpoint-'));
    try {
      const flags = `--clients 4 --per-round 2 --max-examples 16 --max-test-examples 100 --no-baselines --quiet --checkpoint ${dir}`;
      const first = await runSimulation(config(`${flags} --rounds 2`));
      const resumed = await runSimulation(config(`${flags} --rounds 3`));
      expect(resumed.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
      // Rounds 1–2 come from the checkpoint as recorded; round 3 samples the cohort an unbroken run would.
      expect(resumed.rounds.slice(0, 2)).toEqual(first.rounds);
      const unbroken = await runSimulation(config(flags.replace(`--checkpoint ${dir}`, '--rounds 3')));
      expect(resumed.rounds[2]?.examples).toBe(unbroken.rounds[2]?.examples);
      await expect(runSimulation(config(`${flags} --rounds 3 --batch-size 8`))).rejects.toThrow(/saved by a different run/);
      // The client learning rate alone may change (lowered by hand on a plateau); each round records its own.
      const lowered = await runSimulation(config(`${flags} --rounds 4 --lr 0.1`));
      expect(lowered.rounds.map((r) => r.learningRate)).toEqual([0.5, 0.5, 0.5, 0.1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warm-starts from a saved model of the same shape and split, and refuses any other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'murmur-warm-'));
    try {
      const flags = '--clients 4 --per-round 2 --max-examples 32 --max-test-examples 100 --no-baselines --quiet --optimizer fedavg';
      const fresh = await runSimulation(config(`${flags} --rounds 3 --save-model ${dir}/model.bin`));
      const warm = await runSimulation(config(`${flags} --rounds 1 --init-model ${dir}/model.bin`));
      const [firstFresh, lastFresh] = [fresh.rounds[0], fresh.rounds.at(-1)];
      // The warm run's first round starts where the saved run ended, not from fresh weights.
      expect(warm.rounds[0]?.trainLoss).toBeLessThan(firstFresh?.trainLoss ?? 0);
      expect(warm.model.loss).toBeLessThan(firstFresh?.testLoss ?? 0);
      expect(lastFresh?.testLoss).toBeLessThan(firstFresh?.testLoss ?? 0);
      await expect(runSimulation(config(`${flags} --rounds 1 --split-seed 2 --init-model ${dir}/model.bin`))).rejects.toThrow(/another split/);
      await expect(runSimulation(config(`${flags} --rounds 1 --hidden-units 8 --init-model ${dir}/model.bin`))).rejects.toThrow(/is not this run's/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trains centrally only, with a learning curve, and resumes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'murmur-central-'));
    try {
      const flags = `--clients 2 --central-only --central-optimizer adam --central-lr 0.003 --central-eval-every 0.01 --max-test-examples 100 --no-baselines --quiet --checkpoint ${dir}`;
      const first = await runSimulation(config(`${flags} --central-epochs 0.02`));
      expect(first.mode).toBe('central');
      expect(first.rounds).toEqual([]);
      expect(first.curve).toHaveLength(2);
      const resumed = await runSimulation(config(`${flags} --central-epochs 0.03`));
      expect(resumed.curve?.slice(0, 2)).toEqual(first.curve);
      expect(resumed.curve?.map((p) => Number(p.epochs.toFixed(2)))).toEqual([0.01, 0.02, 0.03]);
      expect(resumed.model).toEqual(resumed.curve?.at(-1)?.test);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trains the CIFG with a sampled softmax, federated and central, scores it with the full one, and may finish on the full one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'murmur-sampled-'));
    try {
      const common = '--clients 2 --model cifg --targets every --max-examples 16 --batch-size 8 --max-test-examples 50 --no-baselines --quiet';
      const federatedFlags = `${common} --per-round 2 --optimizer fedavg --checkpoint ${dir}`;
      const federated = await runSimulation(config(`${federatedFlags} --sampled-softmax 64 --rounds 1`));
      expect(federated.config.sampledSoftmax).toBe(64);
      expect(federated.rounds.map((r) => r.sampledSoftmax)).toEqual([64]);
      expect(federated.model.perplexity).toBeGreaterThan(1);
      // Resumed without --sampled-softmax: the next round trains on the full softmax.
      const finished = await runSimulation(config(`${federatedFlags} --rounds 2`));
      expect(finished.rounds.map((r) => r.sampledSoftmax)).toEqual([64, null]);
      expect(trainingPhases(finished)).toEqual([
        { from: 0, to: 1, learningRate: 0.5, serverLearningRate: 1, sampledSoftmax: 64 },
        { from: 1, to: 2, learningRate: 0.5, serverLearningRate: 1, sampledSoftmax: null },
      ]);
      const centralFlags = `${common} --central-only --central-optimizer adam --central-lr 0.003 --central-eval-every 0.001 --checkpoint ${dir}/central`;
      const central = await runSimulation(config(`${centralFlags} --sampled-softmax 64 --central-epochs 0.001`));
      expect(central.mode).toBe('central');
      expect(Number.isFinite(central.model.loss)).toBe(true);
      const centralFinished = await runSimulation(config(`${centralFlags} --central-epochs 0.002`));
      expect(centralFinished.curve?.map((point) => point.sampledSoftmax ?? null)).toEqual([64, null]);
      expect(trainingPhases(centralFinished).map((phase) => [phase.learningRate, phase.sampledSoftmax])).toEqual([
        [0.003, 64],
        [0.003, null],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses more clients than the partition has', async () => {
    const parsed = parseSimulationArgs(['--clients', '100000', '--rounds', '1']);
    if (parsed.help) throw new Error('unexpected --help');
    await expect(runSimulation(parsed.config)).rejects.toThrow(/--clients 100000 exceeds the \d+ training clients/);
  });
});
