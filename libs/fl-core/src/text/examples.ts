import type { SeededRandom } from '../random/index';
import { tokenize } from './tokenize';
import { BOS_ID, EOS_ID, PAD_ID, type Vocabulary } from './vocabulary';

/**
 * (context → next token) examples, the unit training consumes. Row i's context is
 * `contexts[i·contextLength … (i+1)·contextLength)`, oldest token first, and its target is
 * `targets[i]`.
 */
export interface ExampleSet {
  contexts: Int32Array;
  targets: Int32Array;
  count: number;
  contextLength: number;
}

export const MIN_CONTEXT_LENGTH = 1;
export const MAX_CONTEXT_LENGTH = 64;

function assertContextLength(contextLength: number): void {
  if (!Number.isInteger(contextLength) || contextLength < MIN_CONTEXT_LENGTH || contextLength > MAX_CONTEXT_LENGTH) {
    throw new RangeError(`contextLength must be an integer in [${MIN_CONTEXT_LENGTH}, ${MAX_CONTEXT_LENGTH}], got ${contextLength}`);
  }
}

function assertExampleSet(set: ExampleSet, where: string): void {
  assertContextLength(set.contextLength);
  if (!Number.isInteger(set.count) || set.count < 0 || set.targets.length !== set.count || set.contexts.length !== set.count * set.contextLength) {
    throw new RangeError(
      `${where}: inconsistent example set: count ${set.count}, ${set.targets.length} targets, ` +
        `${set.contexts.length} context ids (expected count × ${set.contextLength})`,
    );
  }
}

/** Every sentence of every text as token ids [<bos>, w1 … wn, <eos>], in order. */
export function textToSentences(texts: readonly string[], vocab: Vocabulary): Int32Array[] {
  return texts.flatMap((text) =>
    tokenize(text).map((tokens) => {
      const ids = vocab.encode(tokens);
      const sequence = new Int32Array(ids.length + 2);
      sequence[0] = BOS_ID;
      sequence.set(ids, 1);
      sequence[ids.length + 1] = EOS_ID;
      return sequence;
    }),
  );
}

/**
 * Every sentence of every text becomes [<bos>, w1 … wn, <eos>] (textToSentences), and each position
 * after <bos> becomes one example predicting that token from up to `contextLength` tokens before
 * it, left-padded with <pad>. So a sentence of n words gives n + 1 examples, the last predicting
 * <eos>; no target is ever <bos> or <pad>.
 */
export function textToExamples(texts: readonly string[], vocab: Vocabulary, contextLength: number): ExampleSet {
  assertContextLength(contextLength);
  const sentences = textToSentences(texts, vocab);
  const count = sentences.reduce((sum, sequence) => sum + sequence.length - 1, 0);
  const contexts = new Int32Array(count * contextLength).fill(PAD_ID);
  const targets = new Int32Array(count);
  let row = 0;
  for (const sequence of sentences) {
    for (let position = 1; position < sequence.length; position++) {
      const from = Math.max(0, position - contextLength);
      // Right-align the window so missing history stays <pad> on the left.
      contexts.set(sequence.subarray(from, position), (row + 1) * contextLength - (position - from));
      targets[row] = sequence[position] as number;
      row++;
    }
  }
  return { contexts, targets, count, contextLength };
}

/**
 * The rows that, trained at every position (targets 'every'), cover each target of a
 * `textToExamples` set exactly once: per sentence, the row predicting <eos> and every
 * `contextLength`-th row before it. Row p's window predicts targets p − T + 1 … p, so consecutive
 * kept rows tile the sentence; the first keeps leading <pad>/<bos> positions, which training masks.
 * Sentence ends are found by their <eos> target, so the rows must be in textToExamples order (a
 * concatenation of such sets is); the last row is always kept. Returns a copy, in order.
 */
export function everyPositionWindows(set: ExampleSet): ExampleSet {
  assertExampleSet(set, 'everyPositionWindows');
  const kept: number[] = [];
  // The last row is always kept, so a set that does not end on <eos> still trains its tail.
  let sinceKept = set.contextLength - 1;
  for (let row = set.count - 1; row >= 0; row--) {
    sinceKept += 1;
    if (set.targets[row] === EOS_ID || sinceKept === set.contextLength) {
      kept.push(row);
      sinceKept = 0;
    }
  }
  return selectExamples(set, kept.reverse());
}

/** All rows of `sets`, in order; they must share one context length. */
export function concatExamples(sets: readonly ExampleSet[]): ExampleSet {
  const first = sets[0];
  if (first === undefined) throw new RangeError('concatExamples: expected at least one example set, got none');
  const { contextLength } = first;
  sets.forEach((set, i) => {
    assertExampleSet(set, `concatExamples: set ${i}`);
    if (set.contextLength !== contextLength) {
      throw new RangeError(`concatExamples: set ${i} has context length ${set.contextLength}, expected ${contextLength} like set 0`);
    }
  });
  const count = sets.reduce((sum, set) => sum + set.count, 0);
  const contexts = new Int32Array(count * contextLength);
  const targets = new Int32Array(count);
  let row = 0;
  for (const set of sets) {
    contexts.set(set.contexts, row * contextLength);
    targets.set(set.targets, row);
    row += set.count;
  }
  return { contexts, targets, count, contextLength };
}

/** Rows [start, end) as a copy. */
export function sliceExamples(set: ExampleSet, start: number, end: number): ExampleSet {
  assertExampleSet(set, 'sliceExamples');
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > set.count) {
    throw new RangeError(`sliceExamples: expected integers 0 ≤ start ≤ end ≤ ${set.count}, got start ${start}, end ${end}`);
  }
  const { contextLength } = set;
  return {
    contexts: set.contexts.slice(start * contextLength, end * contextLength),
    targets: set.targets.slice(start, end),
    count: end - start,
    contextLength,
  };
}

/** The given rows, in the given order, as a copy (rows may repeat). */
export function selectExamples(set: ExampleSet, rows: readonly number[]): ExampleSet {
  assertExampleSet(set, 'selectExamples');
  const { contextLength } = set;
  const contexts = new Int32Array(rows.length * contextLength);
  const targets = new Int32Array(rows.length);
  rows.forEach((from, to) => {
    if (!Number.isInteger(from) || from < 0 || from >= set.count) {
      throw new RangeError(`selectExamples: row ${from} is outside [0, ${set.count})`);
    }
    contexts.set(set.contexts.subarray(from * contextLength, (from + 1) * contextLength), to * contextLength);
    targets[to] = set.targets[from] as number;
  });
  return { contexts, targets, count: rows.length, contextLength };
}

/** The rows in a uniformly random order drawn from `random`, as a copy. */
export function shuffleExamples(set: ExampleSet, random: SeededRandom): ExampleSet {
  return selectExamples(set, random.shuffle(Array.from({ length: set.count }, (_, i) => i)));
}

/** `max` distinct rows drawn uniformly (kept in their original order), or the set itself if smaller. */
export function sampleExamples(set: ExampleSet, max: number, random: SeededRandom): ExampleSet {
  if (set.count <= max) return set;
  return selectExamples(
    set,
    random.sampleIndices(set.count, max).sort((a, b) => a - b),
  );
}
