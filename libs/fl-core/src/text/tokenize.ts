/**
 * Sentence splitting and word tokenization, shared by the vocabulary builder, the corpus
 * partitioner and on-device training so all three cut text the same way.
 *
 * Word tokens follow SUBTLEX-US, the source of the fixed vocabulary: lowercase runs of letters and
 * digits, split at apostrophes ("don't" → "don", "t") and at every other punctuation mark
 * ("fellow-citizens" → "fellow", "citizens"). A number written with digits and internal `.` or `,`
 * separators ("3.5", "1,000,000") is one token: SUBTLEX has no numerals, so every number maps to
 * <unk> once, instead of splitting "1,000" into two unknowns or ending a sentence at "3.".
 *
 * Sentences end at a run of `.`, `!` or `?` (with any closing quotes or brackets) that is followed
 * by whitespace or the end of the text, at an ideographic full stop "。", and at a blank line.
 * Not at:
 * - a single newline: mail and many other texts hard-wrap lines at ~72 columns mid-sentence;
 * - a period right after a single letter or a common title ("U.S.", "John F. Kennedy", "e.g.",
 *   "Mr. Smith"), at the cost of merging two sentences when one really ends in "plan B.";
 * - a terminator followed by a non-space ("example.com", "3.5").
 * Text is NFKC-normalized first, so compatibility variants (ligatures, full-width letters, "…")
 * tokenize like their plain forms.
 */

/** A sentence as it appears in the text (whitespace collapsed) and its word tokens. */
interface ScannedSentence {
  text: string;
  tokens: string[];
}

// Titles whose period almost never ends a sentence; single letters are handled separately.
const ABBREVIATIONS: ReadonlySet<string> = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'st',
  'jr',
  'sr',
  'vs',
  'gen',
  'gov',
  'sen',
  'rep',
  'rev',
  'hon',
  'col',
  'capt',
  'lt',
  'sgt',
  'messrs',
]);

// Alternatives, first match wins at each position:
// - para: a blank line (two or more newlines with only other whitespace between them);
// - num: digits with internal . or , separators, not glued to letters (so "1990s" stays a word);
// - word: a run of letters, combining marks and digits;
// - stop: sentence terminators plus closing quotes/brackets, followed by whitespace or the end;
//   or an ideographic full stop, which CJK text writes without a following space.
const SCANNER =
  /(?<para>\n(?:[^\S\n]*\n)+)|(?<num>\p{N}+(?:[.,]\p{N}+)*(?![\p{L}\p{M}\p{N}]))|(?<word>[\p{L}\p{M}\p{N}]+)|(?<stop>[.!?]+[)\]}"'”’»]*(?=\s|$)|。[)\]}"'”’»」』]*)/gu;

const SINGLE_LETTER = /^\p{L}\p{M}*$/u;

function normalize(text: string): string {
  return text
    .normalize('NFKC')
    .replace(/\r\n?|\u2028/g, '\n')
    .replace(/\u2029/g, '\n\n');
}

function scanSentences(text: string): ScannedSentence[] {
  if (typeof text !== 'string') throw new TypeError(`tokenize: expected a string, got ${typeof text}`);
  const source = normalize(text);
  const sentences: ScannedSentence[] = [];
  let spanStart = 0;
  let tokens: string[] = [];
  let lastToken = '';
  let lastTokenEnd = -1;

  const close = (spanEnd: number): void => {
    if (tokens.length > 0) {
      sentences.push({ text: source.slice(spanStart, spanEnd).replace(/\s+/g, ' ').trim(), tokens });
    }
    tokens = [];
    spanStart = spanEnd;
  };

  for (const match of source.matchAll(SCANNER)) {
    const groups = match.groups ?? {};
    const start = match.index;
    const end = start + match[0].length;
    const token = groups.num ?? groups.word;
    if (token !== undefined) {
      lastToken = token.toLowerCase();
      lastTokenEnd = end;
      tokens.push(lastToken);
    } else if (groups.para !== undefined) {
      close(start);
    } else {
      const isAbbreviation = match[0] === '.' && lastTokenEnd === start && (SINGLE_LETTER.test(lastToken) || ABBREVIATIONS.has(lastToken));
      if (!isAbbreviation) close(end);
    }
  }
  close(source.length);
  return sentences;
}

/**
 * The sentences of `text` as they are written (whitespace runs collapsed to one space), skipping
 * those without a word token. Tokenizing one of them gives back exactly its own tokens, so a corpus
 * can be partitioned by sentence and each client's texts still tokenize as before.
 */
export function splitSentences(text: string): string[] {
  return scanSentences(text).map((sentence) => sentence.text);
}

/** Sentences of lowercase word tokens; sentences without any word token are left out. */
export function tokenize(text: string): string[][] {
  return scanSentences(text).map((sentence) => sentence.tokens);
}
