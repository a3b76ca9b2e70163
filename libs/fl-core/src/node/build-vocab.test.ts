import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildVocabularyFile, rankWords, VOCABULARY_FILE } from './build-vocab';

describe('build-vocab', () => {
  it('regenerates the shipped vocabulary-en.json byte for byte', () => {
    expect(buildVocabularyFile()).toBe(readFileSync(VOCABULARY_FILE, 'utf8'));
  });

  it('merges case variants, ranks by count then word, and drops what the tokenizer cannot produce', () => {
    const ranked = rankWords([
      { word: 'a', count: 7 },
      { word: 'The', count: 5 },
      { word: 'the', count: 3 },
      { word: 'x-ray', count: 100 },
      { word: "o'clock", count: 100 },
      { word: 'zeta', count: 2 },
      { word: 'beta', count: 2 },
    ]);
    expect(ranked).toEqual(['the', 'a', 'beta', 'zeta']);
  });
});
