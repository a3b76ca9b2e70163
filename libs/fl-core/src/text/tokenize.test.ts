import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitSentences, tokenize } from './tokenize';

describe('tokenize', () => {
  it('gives nothing for empty, blank and punctuation-only text', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize(' \n\t\n  ')).toEqual([]);
    expect(tokenize('... !!! ?? -- () "" \'')).toEqual([]);
    expect(splitSentences('?!.')).toEqual([]);
  });

  it('lowercases words and drops punctuation', () => {
    expect(tokenize('Hello, WORLD; (good-bye) "friends"')).toEqual([['hello', 'world', 'good', 'bye', 'friends']]);
  });

  it('splits contractions at apostrophes like SUBTLEX-US, straight or curly', () => {
    expect(tokenize("Don't you're I'm it's")).toEqual([['don', 't', 'you', 're', 'i', 'm', 'it', 's']]);
    expect(tokenize('I’ll, won’t')).toEqual([['i', 'll', 'won', 't']]);
    expect(tokenize("rock 'n' roll")).toEqual([['rock', 'n', 'roll']]);
  });

  it('keeps a number with internal separators as one token, and digits glued to letters as a word', () => {
    expect(tokenize('It cost $3.5 million, or 1,000,000 dollars, in the 1990s')).toEqual([
      ['it', 'cost', '3.5', 'million', 'or', '1,000,000', 'dollars', 'in', 'the', '1990s'],
    ]);
    expect(tokenize('In 1990. Then 2.')).toEqual([
      ['in', '1990'],
      ['then', '2'],
    ]);
  });

  it('ends sentences at . ! ? followed by space, and at blank lines, not at single newlines', () => {
    expect(tokenize('One. Two! Three? Four?! "Five." (Six.) Seven\nstill seven\n\nEight\n \nNine')).toEqual([
      ['one'],
      ['two'],
      ['three'],
      ['four'],
      ['five'],
      ['six'],
      ['seven', 'still', 'seven'],
      ['eight'],
      ['nine'],
    ]);
    expect(tokenize('a\r\n\r\nb')).toEqual([['a'], ['b']]);
    expect(tokenize('see example.com now')).toEqual([['see', 'example', 'com', 'now']]);
  });

  it('does not end a sentence after initials or common titles', () => {
    expect(tokenize('Mr. Smith met John F. Kennedy in the U.S. capital, e.g. Washington. Done.')).toEqual([
      ['mr', 'smith', 'met', 'john', 'f', 'kennedy', 'in', 'the', 'u', 's', 'capital', 'e', 'g', 'washington'],
      ['done'],
    ]);
  });

  it('handles Unicode letters and compatibility forms', () => {
    expect(tokenize('Café NAÏVE Straße')).toEqual([['café', 'naïve', 'straße']]);
    // Decomposed é and the composed form give the same token; ligatures and full-width letters
    // normalize to plain ones (NFKC).
    expect(tokenize('cafe\u0301 ﬁne ＡＢＣ')).toEqual([['café', 'fine', 'abc']]);
    expect(tokenize('日本語です。次')).toEqual([['日本語です'], ['次']]);
    expect(tokenize('🙂 émoji 👍')).toEqual([['émoji']]);
  });

  it('is deterministic', () => {
    const text = 'The quick brown fox. It jumped!\n\nOver the lazy dog’s back?';
    expect(tokenize(text)).toEqual(tokenize(text));
    expect(tokenize(text)).toEqual([
      ['the', 'quick', 'brown', 'fox'],
      ['it', 'jumped'],
      ['over', 'the', 'lazy', 'dog', 's', 'back'],
    ]);
  });

  it('rejects non-strings', () => {
    expect(() => tokenize(42 as unknown as string)).toThrow(/expected a string, got number/);
  });
});

describe('splitSentences', () => {
  it('returns sentences as written, whitespace collapsed', () => {
    expect(splitSentences('  Hello   there.\nGeneral\tKenobi!\n\n(Applause.) ... ok')).toEqual([
      'Hello there.',
      'General Kenobi!',
      '(Applause.)',
      // The free-standing "..." is a sentence of its own, without words, so it is dropped.
      'ok',
    ]);
  });

  it('gives sentences that tokenize back to exactly the tokens of the whole text (property)', () => {
    const pieces = ['a', 'Mr', 'B', 'é', '3', '1,5', ' ', ' ', '\n', '\n\n', '.', '.', '!', '?', "'", '’', '"', ')', ',', '-', '。', 'x.y'];
    const text = fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, (t) => {
        const sentences = splitSentences(t);
        expect(sentences.map((s) => tokenize(s))).toEqual(tokenize(t).map((tokens) => [tokens]));
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
