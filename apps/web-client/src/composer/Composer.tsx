import { useEffect, useMemo, useRef, useState } from 'react';
import { applySuggestion } from '../suggest/apply';
import { SuggestionRequester } from '../suggest/requester';
import { useRuntime } from '../ui/use-runtime';
import { SuggestionStrip } from './SuggestionStrip';

/** Saving waits for a pause in typing, so IndexedDB and example derivation run once per pause. */
const SAVE_DEBOUNCE_MS = 500;

export function Composer() {
  const { runtime, state } = useRuntime();
  const [noteId, setNoteId] = useState<string | null>(null);
  const [body, setBody] = useState('');
  const [suggested, setSuggested] = useState<{ words: string[]; forText: string }>({ words: [], forText: '' });
  const editor = useRef<HTMLTextAreaElement>(null);
  const saveTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const pendingSave = useRef<Promise<string> | null>(null);
  /** The last draft is reopened once per mount, never after the person picked or started a note. */
  const restoredDraft = useRef(false);
  const requester = useMemo(
    () =>
      new SuggestionRequester(
        (text) => runtime.suggest(text),
        (answer, text) => setSuggested({ words: answer.words, forText: text }),
      ),
    [runtime],
  );
  useEffect(() => () => requester.dispose(), [requester]);

  const beforeCursor = () => {
    const element = editor.current;
    return element ? element.value.slice(0, element.selectionStart) : body;
  };

  // A new model (or the first one) changes what is suggested for the same text.
  const modelVersion = state.model?.version ?? null;
  const ready = state.phase === 'ready';
  useEffect(() => {
    // beforeCursor reads the editor itself, so it is not a dependency.
    if (ready && modelVersion !== null) requester.update(beforeCursor());
  }, [modelVersion, ready, requester]);

  const scheduleSave = (text: string) => {
    if (saveTimer.current) clearTimeout(saveTimer.current);
    saveTimer.current = setTimeout(() => {
      saveTimer.current = null;
      const previous = pendingSave.current ?? Promise.resolve(noteId);
      pendingSave.current = previous
        .then((id) => runtime.saveText(id, text))
        .then((id) => {
          setNoteId(id);
          return id;
        });
    }, SAVE_DEBOUNCE_MS);
  };

  // Reopen the most recently edited note: a reload used to show an empty editor, as if the draft
  // had been lost (it was saved, only not shown).
  const lastDraft = lastUserDraft(state.texts);
  useEffect(() => {
    if (restoredDraft.current || lastDraft === null) return;
    restoredDraft.current = true;
    setNoteId(lastDraft.id);
    setBody(lastDraft.body);
  }, [lastDraft]);

  const change = (text: string) => {
    restoredDraft.current = true;
    setBody(text);
    if (text.trim() !== '' || noteId !== null) scheduleSave(text);
    requester.update(beforeCursor());
  };

  const pick = (word: string) => {
    const element = editor.current;
    const cursor = element?.selectionStart ?? body.length;
    const head = applySuggestion(body.slice(0, cursor), word);
    const text = head + body.slice(cursor);
    change(text);
    requestAnimationFrame(() => {
      element?.setSelectionRange(head.length, head.length);
      requester.update(head);
    });
  };

  const open = (id: string | null) => {
    restoredDraft.current = true;
    const text = id === null ? '' : (state.texts.find((t) => t.id === id)?.body ?? '');
    setNoteId(id);
    setBody(text);
    requester.update(text);
    editor.current?.focus();
  };

  const userTexts = state.texts.filter((t) => t.source === 'user');
  const demoTexts = state.texts.filter((t) => t.source === 'demo');
  const editable = state.phase === 'ready' || state.phase === 'failed';

  return (
    <section className="composer" aria-label="Composer">
      <SuggestionStrip words={suggested.words} forText={suggested.forText} onPick={pick} />
      <textarea
        ref={editor}
        data-testid="composer"
        aria-label="Write a note"
        placeholder={state.model ? 'Write a note or a message…' : 'Write a note… (suggestions appear once the model has loaded)'}
        value={body}
        disabled={!editable}
        onChange={(event) => change(event.target.value)}
        onSelect={() => requester.update(beforeCursor())}
        rows={8}
      />
      <div className="notes">
        <button type="button" onClick={() => open(null)}>
          New note
        </button>
        <ul aria-label="Your notes">
          {userTexts.map((t) => (
            <li key={t.id}>
              <button type="button" className={t.id === noteId ? 'note active' : 'note'} onClick={() => open(t.id)}>
                {t.body.slice(0, 60) || '(empty)'}
              </button>
              <button type="button" aria-label="Delete note" onClick={() => void runtime.deleteText(t.id).then(() => t.id === noteId && open(null))}>
                ×
              </button>
            </li>
          ))}
        </ul>
        {demoTexts.length > 0 && (
          <p className="demo-note" data-testid="demo-texts">
            Demo data on this device: {demoTexts.map((t) => t.demoPartition).join(', ')} (State of the Union, public corpus). Not written by you.
          </p>
        )}
      </div>
    </section>
  );
}

/** The person's most recently edited note (demo text is never a draft), or null. */
export function lastUserDraft<T extends { source: 'user' | 'demo'; updatedAt: number }>(texts: readonly T[]): T | null {
  let latest: T | null = null;
  for (const text of texts) if (text.source === 'user' && (latest === null || text.updatedAt > latest.updatedAt)) latest = text;
  return latest;
}
