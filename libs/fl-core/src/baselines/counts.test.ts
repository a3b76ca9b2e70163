import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOS_ID, EOS_ID, PAD_ID, type ExampleSet } from '../text/index';
import { countNgrams, type NgramCounts } from './counts';
import { PairTable } from './pair-table';

/** Rows as textToExamples cuts the sentences <bos> 6 7 <eos> and <bos> 6 <eos> with 2 tokens of context. */
const TWO_SENTENCES: ExampleSet = {
  contexts: Int32Array.from([PAD_ID, BOS_ID, BOS_ID, 6, 6, 7, PAD_ID, BOS_ID, BOS_ID, 6]),
  targets: Int32Array.from([6, 7, EOS_ID, 6, EOS_ID]),
  count: 5,
  contextLength: 2,
};

/** [count, distinct left extensions] of the n-gram `tokens` (oldest first), or undefined if unseen. */
function lookup(counts: NgramCounts, tokens: number[]): [number, number] | undefined {
  let history = 0;
  for (let i = tokens.length - 2; i >= 0 && history >= 0; i--) history = counts.extendHistory(history, tokens[i] as number);
  const target = tokens.at(-1);
  for (let g = 0; g < counts.gramToken.length; g++) {
    if (counts.gramHistory[g] === history && counts.gramToken[g] === target) return [counts.gramCount[g] as number, counts.gramExtensions[g] as number];
  }
  return undefined;
}

describe('countNgrams', () => {
  it('counts every n-gram ending at a predicted position, and its distinct left extensions', () => {
    const counts = countNgrams(TWO_SENTENCES, { maxOrder: 3, vocabularySize: 10 });
    expect(counts.positions).toBe(5);
    // Unigrams: 6 follows <bos> only; <eos> follows 7 and 6.
    expect(lookup(counts, [6])).toEqual([2, 1]);
    expect(lookup(counts, [7])).toEqual([1, 1]);
    expect(lookup(counts, [EOS_ID])).toEqual([2, 2]);
    expect(lookup(counts, [BOS_ID, 6])).toEqual([2, 1]); // always after <pad>
    expect(lookup(counts, [6, EOS_ID])).toEqual([1, 1]);
    // Trigrams are the highest order: extensions are not counted there.
    expect(lookup(counts, [PAD_ID, BOS_ID, 6])).toEqual([2, 0]);
    expect(lookup(counts, [BOS_ID, 6, 7])).toEqual([1, 0]);
    expect(lookup(counts, [6, 6])).toBeUndefined();
    expect(counts.gramToken).toHaveLength(3 + 4 + 4);
    // Histories: root, <bos>, 6, 7, <pad> <bos>, <bos> 6, 6 7.
    expect(Array.from(counts.historyDepth).sort()).toEqual([0, 1, 1, 1, 2, 2, 2]);
  });

  it('names what does not fit', () => {
    expect(() => countNgrams(TWO_SENTENCES, { maxOrder: 4, vocabularySize: 10 })).toThrow(
      /countNgrams: maxOrder must be an integer in \[1, context length \+ 1 = 3\], got 4/,
    );
    expect(() => countNgrams(TWO_SENTENCES, { maxOrder: 2, vocabularySize: 7 })).toThrow(/countNgrams: context id 5 is 7, expected an id in \[0, 7\)/);
    const padTarget = { ...TWO_SENTENCES, targets: Int32Array.from([6, 7, EOS_ID, 6, PAD_ID]) };
    expect(() => countNgrams(padTarget, { maxOrder: 2, vocabularySize: 10 })).toThrow(/target 4 is <pad> or <bos> \(id 0\)/);
    expect(() => countNgrams({ ...TWO_SENTENCES, count: 4 }, { maxOrder: 2, vocabularySize: 10 })).toThrow(/inconsistent example set: count 4, 5 targets/);
  });
});

describe('PairTable', () => {
  it('gives pairs dense ids in first-seen order, like a Map of string keys, through many resizes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: -1, max: 40 }), fc.integer({ min: -1, max: 2_000_000 })), { maxLength: 3000 }), (pairs) => {
        const table = new PairTable(1);
        const reference = new Map<string, number>();
        for (const [a, b] of pairs) {
          const key = `${a},${b}`;
          if (!reference.has(key)) reference.set(key, reference.size);
          expect(table.intern(a, b)).toBe(reference.get(key));
        }
        expect(table.size).toBe(reference.size);
        for (const [key, id] of reference) {
          const [a, b] = key.split(',').map(Number) as [number, number];
          expect(table.idOf(a, b)).toBe(id);
          expect([table.firsts[id], table.seconds[id]]).toEqual([a, b]);
        }
        expect(table.idOf(41, 0)).toBe(-1);
      }),
      { numRuns: 50 },
    );
  });
});
