import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import shipped from './vocabulary-en.json';

/** Special tokens; their ids are fixed for every vocabulary size. */
export const SPECIAL_TOKENS = Object.freeze(['<pad>', '<unk>', '<bos>', '<eos>'] as const);
export const PAD_ID = 0;
export const UNK_ID = 1;
export const BOS_ID = 2;
export const EOS_ID = 3;

export const MIN_VOCABULARY_SIZE = 100;
/** The 4 specials plus every word in the shipped list. */
export const MAX_VOCABULARY_SIZE = SPECIAL_TOKENS.length + shipped.words.length;
export const DEFAULT_VOCABULARY_SIZE = 5000;

export interface VocabularyOptions {
  /** Tokens including the 4 specials, in [100, 10004]. @default 5000 */
  size?: number;
}

/**
 * A fixed token ↔ id mapping: the specials, then the `size − 4` most frequent SUBTLEX-US words.
 * Built from public data only, so it reveals nothing about any client's text.
 */
export interface Vocabulary {
  readonly size: number;
  /** Hex SHA-256 of the tokens in id order, one per line: a model checks it was built for these ids. */
  readonly fingerprint: string;
  /** Id of a token as produced by `tokenize`; <unk> for anything outside the vocabulary. */
  idOf(word: string): number;
  wordOf(id: number): string;
  encode(tokens: readonly string[]): Int32Array;
}

export function createVocabulary(options: VocabularyOptions = {}): Vocabulary {
  const size = options.size ?? DEFAULT_VOCABULARY_SIZE;
  if (!Number.isInteger(size) || size < MIN_VOCABULARY_SIZE || size > MAX_VOCABULARY_SIZE) {
    throw new RangeError(`vocabulary size must be an integer in [${MIN_VOCABULARY_SIZE}, ${MAX_VOCABULARY_SIZE}], got ${size}`);
  }
  const tokens: readonly string[] = Object.freeze([...SPECIAL_TOKENS, ...shipped.words.slice(0, size - SPECIAL_TOKENS.length)]);
  const ids = new Map(tokens.map((token, id) => [token, id]));
  const idOf = (word: string): number => ids.get(word) ?? UNK_ID;
  return Object.freeze({
    size,
    fingerprint: bytesToHex(sha256(utf8ToBytes(tokens.join('\n')))),
    idOf,
    wordOf(id: number): string {
      const token = Number.isInteger(id) ? tokens[id] : undefined;
      if (token === undefined) throw new RangeError(`token id must be an integer in [0, ${size - 1}], got ${id}`);
      return token;
    },
    encode(words: readonly string[]): Int32Array {
      return Int32Array.from(words, idOf);
    },
  });
}
