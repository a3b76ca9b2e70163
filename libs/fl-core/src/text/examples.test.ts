import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../random/index';
import { concatExamples, everyPositionWindows, shuffleExamples, sliceExamples, textToExamples, type ExampleSet } from './examples';
import { createVocabulary } from './vocabulary';

const vocab = createVocabulary({ size: 100 });

/** Rows as [context…, target] so sets compare row by row. */
function rows(set: ExampleSet): number[][] {
  return Array.from({ length: set.count }, (_, i) => [...set.contexts.subarray(i * set.contextLength, (i + 1) * set.contextLength), set.targets[i] as number]);
}

describe('textToExamples', () => {
  it('makes one example per token after <bos>, left-padded, written out by hand', () => {
    // Ids in the size-100 vocabulary: you 4, i 5, what 15, know 33; "zebra" is <unk> (1).
    // <pad> 0, <bos> 2, <eos> 3.
    const set = textToExamples(['I know you. Zebra!', 'What?'], vocab, 3);
    expect(set.count).toBe(8);
    expect(set.contextLength).toBe(3);
    expect(rows(set)).toEqual([
      // "I know you." → <bos> i know you <eos>
      [0, 0, 2, 5],
      [0, 2, 5, 33],
      [2, 5, 33, 4],
      [5, 33, 4, 3],
      // "Zebra!" → <bos> <unk> <eos>
      [0, 0, 2, 1],
      [0, 2, 1, 3],
      // "What?" → <bos> what <eos>
      [0, 0, 2, 15],
      [0, 2, 15, 3],
    ]);
    expect(set.contexts).toBeInstanceOf(Int32Array);
    expect(set.targets).toBeInstanceOf(Int32Array);
  });

  it('keeps only the last contextLength tokens of a long history', () => {
    const set = textToExamples(['you know what i know'], vocab, 2);
    expect(rows(set)).toEqual([
      [0, 2, 4],
      [2, 4, 33],
      [4, 33, 15],
      [33, 15, 5],
      [15, 5, 33],
      [5, 33, 3],
    ]);
  });

  it('never targets <pad> or <bos>, and gives nothing for text without words', () => {
    const set = textToExamples(['A b c. D!', '...', ''], vocab, 1);
    expect(Array.from(set.targets).some((t) => t === 0 || t === 2)).toBe(false);
    expect(textToExamples(['', ' ?! '], vocab, 4)).toEqual({ contexts: new Int32Array(0), targets: new Int32Array(0), count: 0, contextLength: 4 });
  });

  it('rejects a context length outside [1, 64]', () => {
    for (const contextLength of [0, 65, 2.5]) {
      expect(() => textToExamples(['hi'], vocab, contextLength)).toThrow(/contextLength must be an integer in \[1, 64\], got/);
    }
    expect(textToExamples(['hi'], vocab, 64).contexts).toHaveLength(2 * 64);
  });
});

describe('concatExamples / sliceExamples / shuffleExamples', () => {
  const a = textToExamples(['I know you.'], vocab, 3);
  const b = textToExamples(['What?'], vocab, 3);

  it('concatenates rows in order into new arrays', () => {
    const both = concatExamples([a, b]);
    expect(both.count).toBe(a.count + b.count);
    expect(rows(both)).toEqual([...rows(a), ...rows(b)]);
    expect(both.contexts.buffer).not.toBe(a.contexts.buffer);
    expect(() => concatExamples([])).toThrow(/expected at least one example set, got none/);
    expect(() => concatExamples([a, textToExamples(['x'], vocab, 2)])).toThrow(/set 1 has context length 2, expected 3/);
  });

  it('slices a copy of rows [start, end)', () => {
    const slice = sliceExamples(a, 1, 3);
    expect(rows(slice)).toEqual(rows(a).slice(1, 3));
    slice.targets[0] = 99;
    expect(a.targets[1]).not.toBe(99);
    expect(sliceExamples(a, 2, 2).count).toBe(0);
    expect(() => sliceExamples(a, 2, 1)).toThrow(/expected integers 0 ≤ start ≤ end ≤ 4, got start 2, end 1/);
    expect(() => sliceExamples(a, 0, 5)).toThrow(/got start 0, end 5/);
  });

  it('shuffles rows reproducibly by seed, as a permutation', () => {
    const set = textToExamples(['one two three four five six seven eight nine ten. you know what'], vocab, 3);
    const first = shuffleExamples(set, createSeededRandom(1));
    const again = shuffleExamples(set, createSeededRandom(1));
    const other = shuffleExamples(set, createSeededRandom(2));
    expect(rows(first)).toEqual(rows(again));
    expect(rows(first)).not.toEqual(rows(other));
    expect(rows(first)).not.toEqual(rows(set));
    const sorted = (r: number[][]) => r.map((row) => row.join(',')).sort();
    expect(sorted(rows(first))).toEqual(sorted(rows(set)));
  });

  it('rejects inconsistent sets', () => {
    const broken: ExampleSet = { contexts: new Int32Array(5), targets: new Int32Array(2), count: 2, contextLength: 3 };
    expect(() => sliceExamples(broken, 0, 1)).toThrow(/inconsistent example set: count 2, 2 targets, 5 context ids/);
    expect(() => shuffleExamples(broken, createSeededRandom(0))).toThrow(/inconsistent/);
  });
});

describe('everyPositionWindows', () => {
  it('keeps the <eos> row and every T-th row before it, written out by hand', () => {
    // <bos> i know you <eos> | <bos> <unk> <eos> with T = 2.
    const set = everyPositionWindows(textToExamples(['I know you. Zebra!'], vocab, 2));
    expect(rows(set)).toEqual([
      [2, 5, 33], // i from <bos>, know from <bos> i
      [33, 4, 3], // you from know, <eos> from know you
      [2, 1, 3], // <unk> from <bos>, <eos> from <bos> <unk>
    ]);
  });

  it('covers every target of a long text exactly once, each with its full in-sentence history', () => {
    const texts = [
      'We hold these truths to be self-evident, that all men are created equal. Yes.',
      'Four score and seven years ago our fathers brought forth on this continent a new nation.',
    ];
    for (const length of [1, 3, 4, 10]) {
      const all = textToExamples(texts, vocab, 64);
      const windows = everyPositionWindows(textToExamples(texts, vocab, length));
      // Rebuild the (history → target) pairs each kept window trains on and compare them with all
      // targets of the text, each with its whole history clipped to the window.
      const trained: string[] = [];
      for (const row of rows(windows)) {
        for (let j = 1; j < row.length; j++) {
          const target = row[j] as number;
          if (target === 0 || target === 2) continue;
          trained.push(
            `${row
              .slice(0, j)
              .filter((id) => id !== 0)
              .join(' ')} → ${target}`,
          );
        }
      }
      const expected = rows(all).map((row) => {
        const history = row.slice(0, -1).filter((id) => id !== 0);
        return { history, target: row.at(-1) as number };
      });
      expect(trained).toHaveLength(expected.length);
      // Each expected target appears once, its history ending in the expected history's suffix.
      expected.forEach(({ history, target }, i) => {
        const [context, got] = (trained[i] as string).split(' → ');
        expect(Number(got)).toBe(target);
        const ids = (context as string).split(' ').map(Number);
        expect(ids.length).toBeGreaterThanOrEqual(1);
        expect(history.slice(-ids.length)).toEqual(ids);
      });
    }
  });
});
