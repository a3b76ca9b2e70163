// Kept apart from context.ts so the UI bundle does not pull fl-core's training code (and tfjs) in.
/** The letters of the word under the cursor (tokenizer's word characters). */
export const TRAILING_WORD = /[\p{L}\p{M}\p{N}]+$/u;

/** The text after tapping a suggestion: it replaces the word being typed, followed by a space. */
export function applySuggestion(text: string, word: string): string {
  const fragment = TRAILING_WORD.exec(text)?.[0] ?? '';
  const before = text.slice(0, text.length - fragment.length);
  const separator = before === '' || /\s$/u.test(before) || fragment !== '' ? '' : ' ';
  return `${before}${separator}${word} `;
}
