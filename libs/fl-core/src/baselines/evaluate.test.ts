import { describe, expect, it } from 'vitest';
import { EOS_ID, UNK_ID, type ExampleSet } from '../text/index';
import { evaluateNextTokenModelSums } from './evaluate';
import type { NextTokenModel } from './kneser-ney';

describe('evaluateNextTokenModelSums', () => {
  it('scores a distribution model by the evaluator rule: <eos>/<unk> never suggested, always in the loss', () => {
    // Whatever the context: <eos> 0.4, <unk> 0.2, then 4: 0.15, 5: 0.1, 6: 0.08, 7: 0.07.
    const fixed = Float64Array.from([0, 0.2, 0, 0.4, 0.15, 0.1, 0.08, 0.07]);
    const model: NextTokenModel = {
      vocabularySize: 8,
      distribution: (_context, into = new Float64Array(8)) => {
        into.set(fixed);
        return into;
      },
    };
    const examples: ExampleSet = { contexts: new Int32Array(12), targets: Int32Array.from([EOS_ID, UNK_ID, 4, 5, 6, 7]), count: 6, contextLength: 2 };
    const sums = evaluateNextTokenModelSums(model, examples);
    // Suggestions are 4, 5, 6: one top-1 hit (4), three top-3 hits (4, 5, 6).
    expect(sums).toMatchObject({ count: 6, inVocabularyCount: 4, top1Hits: 1, top3Hits: 3 });
    // Σ −ln p and Σ (ln p)² over 0.4, 0.2, 0.15, 0.1, 0.08, 0.07, in Python (math.log).
    expect(sums.lossSum).toBeCloseTo(11.910422403429216, 12);
    expect(sums.lossSquaredSum).toBeCloseTo(25.78181057553745, 12);
  });

  it('refuses a target outside the vocabulary', () => {
    const model: NextTokenModel = { vocabularySize: 8, distribution: (_c, into = new Float64Array(8)) => into.fill(1 / 8) };
    const examples: ExampleSet = { contexts: new Int32Array(2), targets: Int32Array.from([9]), count: 1, contextLength: 2 };
    expect(() => evaluateNextTokenModelSums(model, examples)).toThrow(/target 0 is 9, expected an id in \[0, 8\)/);
  });
});
