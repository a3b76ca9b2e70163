import type { WorkerLike } from '../worker/client';
import type { FromWorker, ToWorker } from '../worker/protocol';

/** What a worker answers a request with; the request's id is added on sending. */
export type ScriptedReply = FromWorker extends infer T ? (T extends { id: unknown } ? Omit<T, 'id'> : never) : never;

/**
 * A stand-in for the training worker in the runtime's unit tests (App.test.tsx runs the real
 * engine): every request is recorded, and answered with what `answer` returns for it (null: no
 * answer yet, or none, as for `updateParticipation`). Replies pass through `WorkerClient`'s schema checks and
 * arrive on a later task, as a real worker's do.
 */
export class ScriptedWorker implements WorkerLike {
  readonly requests: ToWorker[] = [];
  readonly #listeners: ((event: MessageEvent<unknown>) => void)[] = [];
  readonly #answer: (request: ToWorker) => ScriptedReply | null;

  constructor(answer: (request: ToWorker) => ScriptedReply | null) {
    this.#answer = answer;
    this.#deliver({ type: 'hello', deviceKey: 'scripted', crossOriginIsolated: false, webgpuAdapter: null });
  }

  postMessage(message: unknown): void {
    const request = message as ToWorker;
    this.requests.push(request);
    const reply = this.#answer(request);
    if (reply !== null) this.#deliver({ ...reply, id: request.id });
  }

  addEventListener(type: 'message' | 'error', listener: ((event: MessageEvent<unknown>) => void) | ((event: ErrorEvent) => void)): void {
    if (type === 'message') this.#listeners.push(listener as (event: MessageEvent<unknown>) => void);
  }

  terminate(): void {}

  /** Answers a request `answer` left unanswered, when the test is ready for it. */
  reply(id: number, reply: ScriptedReply): void {
    this.#deliver({ ...reply, id });
  }

  #deliver(data: unknown): void {
    setTimeout(() => {
      for (const listener of this.#listeners) listener({ data } as MessageEvent<unknown>);
    });
  }
}
