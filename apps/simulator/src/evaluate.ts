import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BOS_ID,
  buildModel,
  createVocabulary,
  EOS_ID,
  evaluate,
  pairedRatioInterval,
  PAD_ID,
  runNgramBaselines,
  setFlatWeights,
  textToSentences,
  UNK_ID,
  type EvaluationMetrics,
  type ExampleHits,
  type ExampleSet,
  type Interval,
} from '@murmur/fl-core';
import { useNodeBackend } from '@murmur/fl-core/node';
import { prepareData, type BaselineName } from './run';
import { loadSavedModel, type SavedModelMeta } from './saved-model';

/** The committed model behind the headline numbers in docs/learning.md. */
export const HEADLINE_MODEL = fileURLToPath(new URL('../headline/model.bin', import.meta.url));

/**
 * Held-out examples the headline is scored on when the split has more: the floor for a
 * documented sample. Below it, every held-out example is used.
 */
export const HEADLINE_TEST_EXAMPLES = 50_000;

export interface EvaluateOptions {
  modelFile: string;
  /** Cap on held-out examples; default: HEADLINE_TEST_EXAMPLES. */
  maxTestExamples?: number;
  /** Write DIR/split.json: the training sentences and the held-out examples, as token ids. */
  dump?: string;
  onPhase?: (phase: string) => void;
}

type Scores = { top1: number; top3: number; perplexity: number; examples: number; top1Interval: Interval; top3Interval: Interval; perplexityInterval: Interval; inVocabularyTop1: number };

export interface EvaluateReport {
  model: Scores;
  baselines: Record<BaselineName, Scores>;
  /** The model over the n-gram with the best top-1, paired on the same examples. */
  ratio: {
    best: BaselineName;
    top1: number;
    /** 95% delta-method interval for paired proportions (see pairedRatioInterval). */
    top1Interval: Interval;
    /** McNemar's z for model vs that n-gram on top-1 hits. */
    mcnemarZ: number;
    top3: number;
    top3Interval: Interval;
    perplexity: number;
  };
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
  trainedBy: SavedModelMeta['trainedBy'];
  modelFile: string;
  hash: string;
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

/**
 * Re-measures a saved model on the split it was trained on: rebuilds the training and held-out
 * clients from the data flags in FILE.json, checks the vocabulary fingerprint, scores the model and
 * the interpolated Kneser–Ney 2-, 3- and 4-grams counted on the pooled training clients on the
 * same held-out examples, and compares them pairwise.
 */
export async function evaluateSavedModel(options: EvaluateOptions): Promise<EvaluateReport> {
  const started = performance.now();
  const { spec, weights, meta } = loadSavedModel(options.modelFile);
  const vocabulary = createVocabulary({ size: spec.vocabularySize });
  if (vocabulary.fingerprint !== meta.vocabularyFingerprint) {
    throw new Error(`${options.modelFile} was trained on vocabulary ${meta.vocabularyFingerprint}, this build's ${spec.vocabularySize}-word vocabulary is ${vocabulary.fingerprint}`);
  }
  options.onPhase?.('data');
  const data = prepareData({ ...meta.data, maxTestExamples: options.maxTestExamples ?? HEADLINE_TEST_EXAMPLES });
  const { testExamples, pooled } = data;

  options.onPhase?.('model');
  await useNodeBackend('wasm');
  const model = buildModel(spec);
  setFlatWeights(model, weights);
  const modelHits = emptyHits(testExamples.count);
  const modelMetrics = await evaluate(model, testExamples, 256, modelHits);
  model.dispose();

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
  const top1 = pairedRatioInterval({ a: modelHits.top1, b: baselineHits[best].top1 });
  const top3 = pairedRatioInterval({ a: modelHits.top3, b: baselineHits[best].top3 });

  if (options.dump) {
    options.onPhase?.('dump');
    writeSplit(options.dump, spec.vocabularySize, data.trainTexts.flatMap((texts) => textToSentences(texts, vocabulary)), testExamples);
  }
  return {
    model: scores(modelMetrics),
    baselines,
    ratio: { best, top1: top1.ratio, top1Interval: top1.interval, mcnemarZ: top1.mcnemarZ, top3: top3.ratio, top3Interval: top3.interval, perplexity: modelMetrics.perplexity / baselines[best].perplexity },
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
    trainedBy: meta.trainedBy,
    modelFile: options.modelFile,
    hash: meta.hash,
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
