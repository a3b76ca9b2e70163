import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSimulationArgs } from './config';
import { acrossModelsInterval, evaluateSavedModels } from './evaluate';
import { runSimulation } from './run';

const dir = mkdtempSync(join(tmpdir(), 'murmur-evaluate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(flags: string) {
  const parsed = parseSimulationArgs(flags.split(' '));
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.config;
}

describe('npm run evaluate on a saved model', () => {
  it('re-measures the model and the baselines exactly as the run that saved it did, and dumps the split', async () => {
    const modelFile = join(dir, 'model.bin');
    const simulated = await runSimulation(
      config(`--clients 3 --per-round 2 --rounds 2 --max-examples 32 --max-test-examples 400 --seed 5 --quiet --save-model ${modelFile}`),
    );
    const report = await evaluateSavedModels({ modelFiles: [modelFile], maxTestExamples: 400, dump: dir });

    // Same split, same held-out sample, same weights: the same numbers.
    expect(report.split).toMatchObject({ seed: 5, unit: 'group', trainClients: 3, testExamples: 400 });
    expect(report.model.top1).toBe(simulated.model.top1);
    expect(report.model.perplexity).toBeCloseTo(simulated.model.perplexity, 6);
    for (const name of ['kn2', 'kn3', 'kn4'] as const) {
      expect(report.baselines[name].top1).toBe(simulated.baselines?.[name].top1);
      expect(report.baselines[name].perplexity).toBeCloseTo(simulated.baselines?.[name].perplexity ?? 0, 9);
    }
    expect(report.ratio.top1).toBeCloseTo(report.model.top1 / report.baselines[report.ratio.best].top1, 12);
    expect(report.ratio.top1Interval.lower).toBeLessThan(report.ratio.top1);
    expect(report.models).toHaveLength(1);
    expect(report.models[0]?.scores).toEqual(report.model);

    // split.json holds exactly what the numbers were computed on.
    const split = JSON.parse(readFileSync(join(dir, 'split.json'), 'utf8')) as {
      vocabularySize: number;
      special: Record<string, number>;
      train: number[][];
      test: { contexts: number[][]; targets: number[] };
    };
    expect(split.vocabularySize).toBe(2000);
    expect(split.special).toEqual({ pad: 0, unk: 1, bos: 2, eos: 3 });
    expect(split.train.every((s) => s[0] === 2 && s.at(-1) === 3)).toBe(true);
    // Every training position after <bos> is one n-gram position the baselines counted.
    expect(split.train.reduce((n, s) => n + s.length - 1, 0)).toBe(report.split.trainPositions);
    expect(split.test.targets).toHaveLength(400);
    expect(split.test.contexts.every((c) => c.length === 8)).toBe(true);
  });

  it('refuses a model whose weights do not match its description', async () => {
    const modelFile = join(dir, 'model.bin');
    const bytes = readFileSync(modelFile);
    bytes.writeUInt8((bytes.at(-1) as number) ^ 0xff, bytes.length - 1);
    const tampered = join(dir, 'tampered.bin');
    writeFileSync(tampered, bytes);
    copyFileSync(`${modelFile}.json`, `${tampered}.json`);
    await expect(evaluateSavedModels({ modelFiles: [tampered] })).rejects.toThrow(/hash/);
  });

  it('summarises training seeds on one split by their mean and the spread across them, and refuses another split', async () => {
    const seeds = [11, 12, 13].map((seed) => join(dir, `seed-${seed}.bin`));
    for (const [i, file] of seeds.entries()) {
      await runSimulation(
        config(
          `--clients 3 --per-round 2 --rounds 1 --max-examples 32 --max-test-examples 300 --seed ${11 + i} --split-seed 4 --quiet --no-baselines --save-model ${file}`,
        ),
      );
    }
    const report = await evaluateSavedModels({ modelFiles: seeds, maxTestExamples: 300 });
    expect(report.models.map((m) => m.trainedBy.config.seed)).toEqual([11, 12, 13]);
    const top1 = report.models.map((m) => m.scores.top1);
    expect(report.model.top1).toBeCloseTo((top1[0]! + top1[1]! + top1[2]!) / 3, 12);
    expect(report.model.top1Interval).toEqual(acrossModelsInterval(top1));
    expect(report.ratio.top1).toBeCloseTo(report.models.reduce((a, m) => a + m.ratio.top1, 0) / 3, 12);
    for (const m of report.models) expect(m.ratio.top1).toBeCloseTo(m.scores.top1 / report.baselines[report.ratio.best].top1, 12);

    const otherSplit = join(dir, 'other-split.bin');
    await runSimulation(
      config(`--clients 3 --per-round 2 --rounds 1 --max-examples 32 --max-test-examples 300 --seed 9 --quiet --no-baselines --save-model ${otherSplit}`),
    );
    await expect(evaluateSavedModels({ modelFiles: [seeds[0]!, otherSplit], maxTestExamples: 300 })).rejects.toThrow(/another split/);
  });

  it('gives the Student-t interval across seeds: mean ± t(0.975, n − 1)·s/√n', () => {
    // 0.20, 0.22, 0.24: mean 0.22, s = 0.02, t(0.975, 2) = 4.302653 (published tables: 4.303).
    const { lower, upper } = acrossModelsInterval([0.2, 0.22, 0.24]);
    const half = (4.302652729749464 * 0.02) / Math.sqrt(3);
    expect(lower).toBeCloseTo(0.22 - half, 9);
    expect(upper).toBeCloseTo(0.22 + half, 9);
  });

  it('runs as the command npm run evaluate runs (tsx, Node ESM), not only under the test runner', () => {
    // Vitest's module interop hid a CommonJS named import that Node's ESM loader refuses.
    const help = execFileSync(process.execPath, ['--import', 'tsx', 'src/evaluate-cli.ts', '--help'], {
      cwd: join(dirname(fileURLToPath(import.meta.url)), '..'),
      encoding: 'utf8',
    });
    expect(help).toContain('Usage: npm run evaluate');
  });
});
