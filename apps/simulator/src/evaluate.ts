import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, setFlatWeights } from '@murmur/fl-core/model';
import { runNgramBaselines } from '@murmur/fl-core/sim';
import { BOS_ID, createVocabulary, EOS_ID, PAD_ID, textToSentences, UNK_ID, type ExampleSet } from '@murmur/fl-core/text';
import { evaluate, pairedRatioInterval, type EvaluationMetrics, type ExampleHits, type Interval } from '@murmur/fl-core/train';
import { useNodeBackend } from '@murmur/fl-core/node';
import jstat from 'jstat';
import { prepareData, type BaselineName } from './run';
import { loadSavedModel, splitFlags, type SavedModelMeta } from './saved-model';

/** The committed models behind the headline numbers in docs/learning.md: one per training seed. */
export const HEADLINE_DIR = fileURLToPath(new URL('../headline/', import.meta.url));

export function headlineModels(dir = HEADLINE_DIR): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.bin'))
    .sort()
    .map((name) => join(dir, name));
}

/**
 * Held-out examples the headline is scored on when the split has more: the floor for a
 * documented sample. Below it, every held-out example is used.
 */
export const HEADLINE_TEST_EXAMPLES = 50_000;

export interface EvaluateOptions {
  /** Models trained on one split (e.g. one per training seed), scored on the same held-out examples. */
  modelFiles: string[];
  /** Cap on held-out examples; default: HEADLINE_TEST_EXAMPLES. */
  maxTestExamples?: number;
  /** Write DIR/split.json: the training sentences and the held-out examples, as token ids. */
  dump?: string;
  onPhase?: (phase: string) => void;
}

export type Scores = {
  top1: number;
  top3: number;
  perplexity: number;
  examples: number;
  top1Interval: Interval;
  top3Interval: Interval;
  perplexityInterval: Interval;
  inVocabularyTop1: number;
};

/** A model over the n-gram with the best top-1, paired on the same examples. */
export interface BaselineRatio {
  best: BaselineName;
  top1: number;
  /**
   * One model: the 95% delta-method interval for paired proportions (pairedRatioInterval). Several:
   * the 95% Student-t interval of the per-model ratios, the spread across training seeds.
   */
  top1Interval: Interval;
  /** McNemar's z for model vs that n-gram on top-1 hits; over several models, the one nearest 0. */
  mcnemarZ: number;
  top3: number;
  top3Interval: Interval;
  perplexity: number;
}

export interface ModelEvaluation {
  modelFile: string;
  hash: string;
  trainedBy: SavedModelMeta['trainedBy'];
  scores: Scores;
  ratio: BaselineRatio;
}

export interface EvaluateReport {
  /**
   * One model: its scores with their intervals over the held-out examples. Several: the mean over
   * the models (perplexity: exp of the mean loss), intervals Student-t across them.
   */
  model: Scores;
  /** Each model on its own. */
  models: ModelEvaluation[];
  baselines: Record<BaselineName, Scores>;
  ratio: BaselineRatio;
  split: SavedModelMeta['data'] & {
    trainClients: number;
    testClients: number;
    testExamples: number;
    trainPositions: number;
    vocabularyFingerprint: string;
    /** Share of the held-out examples' target words (<eos> aside) outside the vocabulary: the <unk> rate. */
    testOovRate: number;
    /** The same over the training clients' words. */
    trainOovRate: number;
  };
  seconds: number;
}

function scores(metrics: EvaluationMetrics): Scores {
  return {
    top1: metrics.top1,
    top3: metrics.top3,
    perplexity: metrics.perplexity,
    examples: metrics.count,
    top1Interval: metrics.top1Interval,
    top3Interval: metrics.top3Interval,
    perplexityInterval: metrics.perplexityInterval,
    inVocabularyTop1: metrics.inVocabulary.top1,
  };
}

const emptyHits = (count: number): ExampleHits => ({ top1: new Uint8Array(count), top3: new Uint8Array(count) });

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** 95% Student-t interval of the mean of `values` (n ≥ 2), the spread across training seeds. */
export function acrossModelsInterval(values: number[]): Interval {
  const n = values.length;
  const centre = mean(values);
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - centre) ** 2, 0) / (n - 1));
  const half = jstat.jStat.studentt.inv(0.975, n - 1) * (sd / Math.sqrt(n));
  return { lower: centre - half, upper: centre + half };
}

/** The mean over models; perplexity and its interval on the log scale (the mean loss). */
function meanScores(all: Scores[]): Scores {
  if (all.length === 1) return all[0] as Scores;
  const logPerplexity = all.map((s) => Math.log(s.perplexity));
  const logInterval = acrossModelsInterval(logPerplexity);
  return {
    top1: mean(all.map((s) => s.top1)),
    top3: mean(all.map((s) => s.top3)),
    perplexity: Math.exp(mean(logPerplexity)),
    examples: all[0]?.examples ?? 0,
    top1Interval: acrossModelsInterval(all.map((s) => s.top1)),
    top3Interval: acrossModelsInterval(all.map((s) => s.top3)),
    perplexityInterval: { lower: Math.exp(logInterval.lower), upper: Math.exp(logInterval.upper) },
    inVocabularyTop1: mean(all.map((s) => s.inVocabularyTop1)),
  };
}

function meanRatio(all: BaselineRatio[]): BaselineRatio {
  if (all.length === 1) return all[0] as BaselineRatio;
  const top1 = all.map((r) => r.top1);
  const top3 = all.map((r) => r.top3);
  return {
    best: (all[0] as BaselineRatio).best,
    top1: mean(top1),
    top1Interval: acrossModelsInterval(top1),
    mcnemarZ: all.map((r) => r.mcnemarZ).reduce((a, b) => (Math.abs(b) < Math.abs(a) ? b : a)),
    top3: mean(top3),
    top3Interval: acrossModelsInterval(top3),
    perplexity: mean(all.map((r) => r.perplexity)),
  };
}

/** The flags that fix the split: with --split-seed, the training seed does not move it. */

/**
 * Re-measures saved models on the split they were trained on: rebuilds the training and held-out
 * clients from the data flags in FILE.json, checks the vocabulary fingerprint, scores each model and
 * the interpolated Kneser–Ney 2-, 3- and 4-grams counted on the pooled training clients on the
 * same held-out examples, and compares them pairwise. Several models (training seeds) must share
 * one split; the report then gives their mean with the spread across them.
 */
export async function evaluateSavedModels(options: EvaluateOptions): Promise<EvaluateReport> {
  const started = performance.now();
  if (options.modelFiles.length === 0) throw new Error('evaluate: no model files');
  const saved = options.modelFiles.map((file) => ({ file, ...loadSavedModel(file) }));
  const first = saved[0] as (typeof saved)[number];
  const { spec, meta } = first;
  const vocabulary = createVocabulary({ size: spec.vocabularySize });
  for (const { file, meta: other, spec: otherSpec } of saved) {
    if (vocabulary.fingerprint !== other.vocabularyFingerprint) {
      throw new Error(
        `${file} was trained on vocabulary ${other.vocabularyFingerprint}, this build's ${spec.vocabularySize}-word vocabulary is ${vocabulary.fingerprint}`,
      );
    }
    if (splitFlags(other.data) !== splitFlags(meta.data) || otherSpec.vocabularySize !== spec.vocabularySize) {
      throw new Error(`${file} was trained on another split than ${first.file}: models compared together must share their data flags and split seed`);
    }
  }
  options.onPhase?.('data');
  const data = prepareData({ ...meta.data, maxTestExamples: options.maxTestExamples ?? HEADLINE_TEST_EXAMPLES });
  const { testExamples, pooled } = data;

  options.onPhase?.('baselines');
  const counted = runNgramBaselines({ trainExamples: pooled, testExamples, vocabularySize: spec.vocabularySize, orders: [2, 3, 4], collectHits: true });
  const baselineHits = {} as Record<BaselineName, ExampleHits>;
  const baselines = {} as Record<BaselineName, Scores>;
  for (const { order, test, hits } of counted.baselines) {
    const name = `kn${order}` as BaselineName;
    baselineHits[name] = hits as ExampleHits;
    baselines[name] = scores(test);
  }
  const best = (Object.keys(baselines) as BaselineName[]).reduce((a, b) => (baselines[b].top1 > baselines[a].top1 ? b : a));

  await useNodeBackend('wasm');
  const models: ModelEvaluation[] = [];
  for (const [i, entry] of saved.entries()) {
    options.onPhase?.(saved.length === 1 ? 'model' : `model ${i + 1}/${saved.length}`);
    const model = buildModel(entry.spec);
    setFlatWeights(model, entry.weights);
    const hits = emptyHits(testExamples.count);
    const metrics = await evaluate(model, testExamples, 256, hits);
    model.dispose();
    const top1 = pairedRatioInterval({ a: hits.top1, b: baselineHits[best].top1 });
    const top3 = pairedRatioInterval({ a: hits.top3, b: baselineHits[best].top3 });
    models.push({
      modelFile: entry.file,
      hash: entry.meta.hash,
      trainedBy: entry.meta.trainedBy,
      scores: scores(metrics),
      ratio: {
        best,
        top1: top1.ratio,
        top1Interval: top1.interval,
        mcnemarZ: top1.mcnemarZ,
        top3: top3.ratio,
        top3Interval: top3.interval,
        perplexity: metrics.perplexity / baselines[best].perplexity,
      },
    });
  }

  if (options.dump) {
    options.onPhase?.('dump');
    writeSplit(
      options.dump,
      spec.vocabularySize,
      data.trainTexts.flatMap((texts) => textToSentences(texts, vocabulary)),
      testExamples,
    );
  }
  return {
    model: meanScores(models.map((m) => m.scores)),
    models,
    baselines,
    ratio: meanRatio(models.map((m) => m.ratio)),
    split: {
      ...meta.data,
      trainClients: data.population.length,
      testClients: data.testClients,
      testExamples: testExamples.count,
      trainPositions: pooled.count,
      vocabularyFingerprint: vocabulary.fingerprint,
      testOovRate: data.testOovRate,
      trainOovRate: data.trainOovRate,
    },
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * DIR/split.json, so anyone can check the numbers with other tools: the training sentences
 * (<bos> … <eos>) the baselines were counted on and the model trained on, and the held-out
 * examples (contexts left-padded with <pad>) every number is computed on.
 */
function writeSplit(dir: string, vocabularySize: number, train: Int32Array[], test: ExampleSet): void {
  mkdirSync(dir, { recursive: true });
  const { contextLength } = test;
  const contexts = Array.from({ length: test.count }, (_, i) => Array.from(test.contexts.subarray(i * contextLength, (i + 1) * contextLength)));
  // Streamed by hand: a JSON.stringify of 1.6M ids in nested arrays is slow and memory-hungry.
  const lines = [
    `{"vocabularySize":${vocabularySize},"special":${JSON.stringify({ pad: PAD_ID, unk: UNK_ID, bos: BOS_ID, eos: EOS_ID })},`,
    `"train":[`,
    train.map((sentence) => `[${sentence.join(',')}]`).join(',\n'),
    `],`,
    `"test":{"contexts":[`,
    contexts.map((row) => `[${row.join(',')}]`).join(',\n'),
    `],"targets":[${test.targets.join(',')}]}}`,
  ];
  writeFileSync(join(dir, 'split.json'), `${lines.join('\n')}\n`);
}
