import { describe, expect, it, vi } from 'vitest';
import { initialState, problem, RuntimeCore } from './core';

describe('initialState', () => {
  it('starts with the build’s default consent and a demo partition still loading', () => {
    expect(initialState({ defaultConsent: true, seed: '3' })).toMatchObject({
      phase: 'starting',
      settings: { consent: true, consentChangedAt: null },
      seed: { partition: '3', status: 'loading', message: null },
      eligibility: { state: 'waiting', blocker: 'not-ready' },
    });
    expect(initialState({ defaultConsent: false, seed: null }).seed).toBeNull();
  });
});

describe('RuntimeCore', () => {
  it('replaces the snapshot on every change and tells each subscriber until it unsubscribes', () => {
    const core = new RuntimeCore(initialState({ defaultConsent: false, seed: null }));
    const listener = vi.fn();
    const unsubscribe = core.subscribe(listener);
    const before = core.state;
    core.set({ examples: 3 });
    expect(core.state).not.toBe(before);
    expect(core.state).toMatchObject({ examples: 3, phase: 'starting' });
    expect(before.examples).toBe(0);
    expect(listener).toHaveBeenCalledTimes(1);
    unsubscribe();
    core.set({ notice: problem('test', 'shown') });
    expect(listener).toHaveBeenCalledTimes(1);
    expect(core.state.notice).toEqual({ text: 'shown', detail: null, kind: 'problem', source: 'test' });
  });

  it('says which part is missing when asked for it too early', () => {
    const core = new RuntimeCore(initialState({ defaultConsent: false, seed: null }));
    expect(() => core.requireStore()).toThrow('local storage is not open');
    expect(() => core.requireWorker()).toThrow('the training worker is not running');
    expect(() => core.requireModel()).toThrow('no global model loaded');
  });
});
