import { TRAILING_WORD } from './apply';
import { BOS_ID, PAD_ID, tokenize, type Vocabulary } from '@murmur/fl-core/text';
import { suggestionIds } from '@murmur/fl-core/train';

/**
 * What the suggestion strip asks the model: the context window before the cursor, cut exactly as
 * training examples are (fl-core's tokenizer; [<bos>, …] left-padded with <pad>), plus the
 * fragment of a word being typed, which turns next-word prediction into completion.
 */
export interface SuggestionQuery {
  context: Int32Array;
  /** Lowercase letters of the word under the cursor; '' right after a space or punctuation. */
  prefix: string;
  /** The next word starts a sentence (so it is shown capitalized). */
  sentenceStart: boolean;
}

// A token no vocabulary holds: whether it lands in a sentence of its own tells if one just ended.
const PROBE = 'zzmurmurprobezz';

export function suggestionQuery(text: string, vocabulary: Vocabulary, contextLength: number): SuggestionQuery {
  const fragment = TRAILING_WORD.exec(text)?.[0] ?? '';
  const before = text.slice(0, text.length - fragment.length);
  // Tokenizing with a probe word appended reuses the tokenizer's sentence rules (abbreviations,
  // "3.5", blank lines) instead of guessing here whether the text ends a sentence.
  const sentence = tokenize(`${before} ${PROBE}`).at(-1) ?? [PROBE];
  const words = sentence.slice(0, -1);
  const ids = [BOS_ID, ...vocabulary.encode(words)].slice(-contextLength);
  const context = new Int32Array(contextLength).fill(PAD_ID);
  context.set(ids, contextLength - ids.length);
  return { context, prefix: fragment.toLowerCase(), sentenceStart: words.length === 0 };
}

/**
 * The `k` highest-scoring words that complete `prefix` (any word when it is empty), by fl-core's
 * suggestion rule, the one evaluation scores.
 */
export function topSuggestions(logits: Float32Array, vocabulary: Vocabulary, query: Pick<SuggestionQuery, 'prefix' | 'sentenceStart'>, k = 3): string[] {
  const completes = (id: number) => query.prefix === '' || vocabulary.wordOf(id).startsWith(query.prefix);
  return suggestionIds(logits, k, completes).map((id) => display(vocabulary.wordOf(id), query.sentenceStart));
}

function display(word: string, sentenceStart: boolean): string {
  if (word === 'i') return 'I';
  return sentenceStart ? word.charAt(0).toUpperCase() + word.slice(1) : word;
}
