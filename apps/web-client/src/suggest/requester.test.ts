import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SuggestionRequester, type SuggestionAnswer } from './requester';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function deferred() {
  let resolve: (answer: SuggestionAnswer) => void = () => {};
  const promise = new Promise<SuggestionAnswer>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('SuggestionRequester', () => {
  it('asks once per pause in typing', async () => {
    const asked: string[] = [];
    const requester = new SuggestionRequester(
      async (text) => {
        asked.push(text);
        return { words: [text], modelVersion: 1 };
      },
      () => {},
      60,
    );
    for (const text of ['h', 'he', 'hel', 'hell', 'hello ']) {
      requester.update(text);
      await vi.advanceTimersByTimeAsync(20);
    }
    await vi.advanceTimersByTimeAsync(60);
    expect(asked).toEqual(['hello ']);
  });

  it('never shows an answer older than the latest request', async () => {
    const answers = new Map<string, ReturnType<typeof deferred>>();
    const shown: string[] = [];
    const requester = new SuggestionRequester(
      (text) => {
        const d = deferred();
        answers.set(text, d);
        return d.promise;
      },
      (answer) => shown.push(answer.words.join(',')),
      10,
    );
    requester.update('see ');
    await vi.advanceTimersByTimeAsync(10);
    requester.update('see you ');
    await vi.advanceTimersByTimeAsync(10);
    answers.get('see you ')?.resolve({ words: ['soon'], modelVersion: 1 });
    await vi.advanceTimersByTimeAsync(0);
    answers.get('see ')?.resolve({ words: ['you'], modelVersion: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(shown).toEqual(['soon']);
  });

  it('keeps the last suggestions when a request fails', async () => {
    const shown: string[][] = [];
    let fail = false;
    const requester = new SuggestionRequester(
      async () => {
        if (fail) throw new Error('no model');
        return { words: ['a'], modelVersion: 1 };
      },
      (answer) => shown.push(answer.words),
      5,
    );
    requester.update('x ');
    await vi.advanceTimersByTimeAsync(5);
    fail = true;
    requester.update('x y ');
    await vi.advanceTimersByTimeAsync(5);
    expect(shown).toEqual([['a']]);
  });
});
