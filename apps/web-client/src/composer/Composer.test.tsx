// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeRuntime, textRecord } from '../ui/fake-runtime';
import { RuntimeContext } from '../ui/use-runtime';
import { Composer, lastUserDraft } from './Composer';

afterEach(cleanup);

function renderComposer(runtime: FakeRuntime) {
  render(
    <RuntimeContext.Provider value={runtime.asRuntime()}>
      <Composer />
    </RuntimeContext.Provider>,
  );
  return screen.getByTestId('composer') as HTMLTextAreaElement;
}

describe('the last draft', () => {
  it('is the most recently edited note of the person, never demo text', () => {
    const older = textRecord('a', 'older note', 10);
    const newer = textRecord('b', 'newer note', 20);
    const demo = textRecord('d', 'demo text', 30, 'demo');
    expect(lastUserDraft([older, demo, newer])).toBe(newer);
    expect(lastUserDraft([demo])).toBeNull();
  });

  it('reopens after a reload: the editor shows it instead of an empty page', () => {
    const runtime = new FakeRuntime({
      texts: [textRecord('d', 'demo text', 30, 'demo'), textRecord('b', 'Dear Ann, the meeting', 20), textRecord('a', 'old', 10)],
    });
    expect(renderComposer(runtime).value).toBe('Dear Ann, the meeting');
  });

  it('reopens when the notes arrive after the first render (storage opens asynchronously)', () => {
    const runtime = new FakeRuntime({ phase: 'starting' });
    const editor = renderComposer(runtime);
    expect(editor.value).toBe('');
    act(() => runtime.update({ phase: 'ready', texts: [textRecord('b', 'saved before the reload', 20)] }));
    expect(editor.value).toBe('saved before the reload');
  });

  it('is edited in place: typing saves into the same note, not a new one', async () => {
    const runtime = new FakeRuntime({ texts: [textRecord('b', 'Dear Ann', 20)] });
    const editor = renderComposer(runtime);
    fireEvent.change(editor, { target: { value: 'Dear Ann, hello' } });
    await act(() => new Promise((resolve) => setTimeout(resolve, 700)));
    expect(runtime.saved).toEqual([{ id: 'b', body: 'Dear Ann, hello' }]);
  });

  it('does not come back once the person chose "New note"', () => {
    const runtime = new FakeRuntime({ texts: [textRecord('b', 'Dear Ann', 20)] });
    const editor = renderComposer(runtime);
    fireEvent.click(screen.getByRole('button', { name: 'New note' }));
    expect(editor.value).toBe('');
    act(() => runtime.update({ texts: [textRecord('b', 'Dear Ann', 20), textRecord('c', 'another', 25)] }));
    expect(editor.value).toBe('');
  });
});
