import { describe, expect, it } from 'vitest';
import { BOS_ID, createVocabulary, EOS_ID, PAD_ID, textToExamples, UNK_ID } from '@murmur/fl-core/text';
import { suggestionQuery, topSuggestions } from './context';
import { applySuggestion } from './apply';

const vocabulary = createVocabulary({ size: 2000 });

describe('suggestionQuery', () => {
  it('builds the same window training uses for the next word', () => {
    const text = 'We hold these truths to be self evident that all men';
    const examples = textToExamples([`${text} are`], vocabulary, 8);
    const row = examples.count - 2; // predicts "are" (the last row predicts <eos>)
    const expected = examples.contexts.slice(row * 8, (row + 1) * 8);
    const query = suggestionQuery(`${text} `, vocabulary, 8);
    expect(Array.from(query.context)).toEqual(Array.from(expected));
    expect(query).toMatchObject({ prefix: '', sentenceStart: false });
  });

  it('pads a short context and starts with <bos>', () => {
    const query = suggestionQuery('thank ', vocabulary, 4);
    expect(Array.from(query.context)).toEqual([PAD_ID, PAD_ID, BOS_ID, vocabulary.idOf('thank')]);
  });

  it('treats the word under the cursor as a prefix to complete', () => {
    const query = suggestionQuery('see you tom', vocabulary, 4);
    expect(query.prefix).toBe('tom');
    expect(Array.from(query.context)).toEqual([PAD_ID, BOS_ID, vocabulary.idOf('see'), vocabulary.idOf('you')]);
  });

  it('starts a new sentence after a full stop, but not after "Mr."', () => {
    expect(suggestionQuery('It rained. ', vocabulary, 3)).toMatchObject({ sentenceStart: true, prefix: '' });
    expect(Array.from(suggestionQuery('It rained. ', vocabulary, 3).context)).toEqual([PAD_ID, PAD_ID, BOS_ID]);
    const mister = suggestionQuery('I met Mr. ', vocabulary, 3);
    expect(mister.sentenceStart).toBe(false);
    expect(Array.from(mister.context)).toEqual([vocabulary.idOf('i'), vocabulary.idOf('met'), vocabulary.idOf('mr')]);
  });

  it('maps unknown words to <unk>', () => {
    expect(suggestionQuery('the zyxwvut ', vocabulary, 2).context[1]).toBe(UNK_ID);
  });
});

describe('topSuggestions', () => {
  const logits = new Float32Array(vocabulary.size);
  logits[EOS_ID] = 100;
  logits[UNK_ID] = 90;
  logits[vocabulary.idOf('the')] = 5;
  logits[vocabulary.idOf('to')] = 4;
  logits[vocabulary.idOf('tomorrow')] = 3;
  logits[vocabulary.idOf('and')] = 2;
  logits[vocabulary.idOf('i')] = 1;

  it('ranks by score and never offers <eos>, <unk>, <pad> or <bos>', () => {
    expect(topSuggestions(logits, vocabulary, { prefix: '', sentenceStart: false })).toEqual(['the', 'to', 'tomorrow']);
  });

  it('completes the prefix being typed', () => {
    expect(topSuggestions(logits, vocabulary, { prefix: 'tom', sentenceStart: false })[0]).toBe('tomorrow');
  });

  it('capitalizes at the start of a sentence and always writes "I"', () => {
    expect(topSuggestions(logits, vocabulary, { prefix: '', sentenceStart: true })).toEqual(['The', 'To', 'Tomorrow']);
    expect(topSuggestions(logits, vocabulary, { prefix: 'i', sentenceStart: false })[0]).toBe('I');
  });
});

describe('applySuggestion', () => {
  it('replaces the word being typed and adds a space', () => {
    expect(applySuggestion('see you tom', 'tomorrow')).toBe('see you tomorrow ');
  });
  it('appends after a space, and adds one after punctuation', () => {
    expect(applySuggestion('see you ', 'soon')).toBe('see you soon ');
    expect(applySuggestion('Hello,', 'world')).toBe('Hello, world ');
    expect(applySuggestion('', 'Hi')).toBe('Hi ');
  });
});
