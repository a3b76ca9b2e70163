import { describe, expect, it } from 'vitest';
import shipped from './vocabulary-en.json';
import { tokenize } from './tokenize';
import { BOS_ID, createVocabulary, EOS_ID, MAX_VOCABULARY_SIZE, PAD_ID, SPECIAL_TOKENS, UNK_ID } from './vocabulary';

describe('createVocabulary', () => {
  it('keeps the special tokens at fixed ids for every size', () => {
    expect(SPECIAL_TOKENS).toEqual(['<pad>', '<unk>', '<bos>', '<eos>']);
    for (const size of [100, 5000, 10_004]) {
      const vocab = createVocabulary({ size });
      expect([PAD_ID, UNK_ID, BOS_ID, EOS_ID].map((id) => vocab.wordOf(id))).toEqual(['<pad>', '<unk>', '<bos>', '<eos>']);
      expect(['<pad>', '<unk>', '<bos>', '<eos>'].map((t) => vocab.idOf(t))).toEqual([0, 1, 2, 3]);
    }
  });

  it('numbers the most frequent words after the specials and maps everything else to <unk>', () => {
    const vocab = createVocabulary({ size: 100 });
    expect(vocab.size).toBe(100);
    expect(vocab.idOf('you')).toBe(4);
    expect(vocab.idOf('i')).toBe(5);
    expect(vocab.idOf('the')).toBe(6);
    expect(vocab.wordOf(99)).toBe(shipped.words[95]);
    // In the shipped list, but beyond this vocabulary's size.
    expect(vocab.idOf(shipped.words[96] as string)).toBe(UNK_ID);
    expect(vocab.idOf('zyzzyva')).toBe(UNK_ID);
    // Ids are for tokenizer output, which is lowercase.
    expect(vocab.idOf('The')).toBe(UNK_ID);
    expect(Array.from(vocab.encode(['you', 'know', 'zyzzyva', 'the']))).toEqual([4, 33, UNK_ID, 6]);
    expect(vocab.encode([])).toEqual(new Int32Array(0));
  });

  it('round-trips every id', () => {
    const vocab = createVocabulary({ size: 10_004 });
    for (let id = 0; id < vocab.size; id++) expect(vocab.idOf(vocab.wordOf(id))).toBe(id);
  });

  it('defaults to 5000 tokens and is deterministic, with a pinned fingerprint', () => {
    const a = createVocabulary();
    const b = createVocabulary({ size: 5000 });
    expect(a.size).toBe(5000);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    // Changing the shipped list or the special tokens changes this value: models built for the
    // old ids must then be rejected, so update it only together with a new model version.
    expect(a.fingerprint).toBe(FINGERPRINT_5000);
    expect(createVocabulary({ size: 4999 }).fingerprint).not.toBe(a.fingerprint);
  });

  it('is frozen', () => {
    const vocab = createVocabulary({ size: 100 });
    expect(Object.isFrozen(vocab)).toBe(true);
  });

  it('rejects sizes outside [100, 10004] and ids outside the vocabulary', () => {
    expect(MAX_VOCABULARY_SIZE).toBe(10_004);
    for (const size of [99, 10_005, 5000.5, Number.NaN]) {
      expect(() => createVocabulary({ size })).toThrow(/vocabulary size must be an integer in \[100, 10004\], got/);
    }
    const vocab = createVocabulary({ size: 100 });
    for (const id of [-1, 100, 1.5, Number.NaN]) expect(() => vocab.wordOf(id)).toThrow(/token id must be an integer in \[0, 99\], got/);
  });
});

describe('vocabulary-en.json', () => {
  it('holds 10,000 distinct lowercase words, each one token of the tokenizer', () => {
    expect(shipped.words).toHaveLength(10_000);
    expect(new Set(shipped.words).size).toBe(10_000);
    for (const word of shipped.words) expect(tokenize(word)).toEqual([[word]]);
  });
});

// SHA-256 of "<pad>\n<unk>\n<bos>\n<eos>\nyou\ni\n…" (the 5000 tokens), cross-checked with
// node:crypto when it was pinned.
const FINGERPRINT_5000 = 'bb63a68e14cd65ce500993ab623dfc82f8998492e097274edd5f1879831837e6';
