export interface SuggestionStripProps {
  words: string[];
  /** The text before the cursor these suggestions answer (tests wait on it). */
  forText: string;
  onPick: (word: string) => void;
}

/** Gboard-style strip: up to three chips; the most likely word sits in the middle. */
export function SuggestionStrip({ words, forText, onPick }: SuggestionStripProps) {
  const ordered = words.length === 3 ? [words[1], words[0], words[2]] : words;
  return (
    <div className="strip" role="toolbar" aria-label="Suggestions" data-testid="suggestion-strip" data-for={forText}>
      {ordered.map((word, i) =>
        word === undefined ? null : (
          <button
            key={`${i}-${word}`}
            type="button"
            className={word === words[0] ? 'chip best' : 'chip'}
            data-testid="suggestion"
            // Keep the caret in the editor: a tap must not move focus to the chip.
            onPointerDown={(event) => event.preventDefault()}
            onClick={() => onPick(word)}
          >
            {word}
          </button>
        ),
      )}
    </div>
  );
}
