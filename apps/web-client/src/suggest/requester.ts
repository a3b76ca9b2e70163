/**
 * Debounced, latest-wins suggestion requests: typing fires at most one request per pause of
 * `debounceMs`, and an answer is shown only if no newer request was made meanwhile, so a slow
 * answer for an old prefix never overwrites a fresh one.
 */
export interface SuggestionAnswer {
  words: string[];
  modelVersion: number;
}

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class SuggestionRequester {
  private timer: unknown = null;
  private sequence = 0;

  constructor(
    private readonly ask: (text: string) => Promise<SuggestionAnswer>,
    private readonly show: (answer: SuggestionAnswer, text: string) => void,
    private readonly debounceMs = 60,
    private readonly timers: Timers = realTimers,
  ) {}

  /** The text before the cursor changed (or the model did: ask again for the same text). */
  update(text: string): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    const sequence = ++this.sequence;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.ask(text).then(
        (answer) => {
          if (sequence === this.sequence) this.show(answer, text);
        },
        // No model yet, or the worker restarted: keep the strip as it is; the next keystroke asks again.
        () => {},
      );
    }, this.debounceMs);
  }

  dispose(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.sequence++;
  }
}
