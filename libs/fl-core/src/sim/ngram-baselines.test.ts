import { describe, expect, it } from 'vitest';
import { countNgrams } from '../baselines/counts';
import { evaluateNextTokenModelSums } from '../baselines/evaluate';
import { kneserNey } from '../baselines/kneser-ney';
import { createVocabulary, textToExamples } from '../text/index';
import { summarizeEvaluation } from '../train/evaluate';
import { runNgramBaselines } from './ngram-baselines';

const vocabulary = createVocabulary({ size: 200 });
const train = textToExamples(
  ['We the people of the United States.', 'We hold these truths to be self-evident.', 'The people of the states hold the truths.'],
  vocabulary,
  4,
);
const test = textToExamples(['We the people hold these truths.'], vocabulary, 4);

describe('runNgramBaselines', () => {
  it('builds each order from one count and scores it on the held-out rows', () => {
    const result = runNgramBaselines({ trainExamples: train, testExamples: test, vocabularySize: 200 });
    expect(result.trainPositions).toBe(train.count);
    expect(result.baselines.map((b) => b.order)).toEqual([2, 3, 4]);
    const counts = countNgrams(train, { maxOrder: 4, vocabularySize: 200 });
    for (const baseline of result.baselines) {
      expect(baseline.test).toEqual(summarizeEvaluation(evaluateNextTokenModelSums(kneserNey(counts, baseline.order), test)));
      expect(baseline.discounts).toHaveLength(baseline.order);
    }
  });

  it('refuses mismatched context lengths and empty order lists', () => {
    const other = textToExamples(['We the people.'], vocabulary, 3);
    expect(() => runNgramBaselines({ trainExamples: train, testExamples: other, vocabularySize: 200 })).toThrow(
      /test examples have context length 3, training examples 4/,
    );
    expect(() => runNgramBaselines({ trainExamples: train, testExamples: test, vocabularySize: 200, orders: [] })).toThrow(/at least one order/);
  });
});
