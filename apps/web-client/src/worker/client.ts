import { fromWorkerSchema, RESPONSE_OF, type FromWorker, type WorkerErrorCode, type WorkerRequest } from './protocol';
import { describeIssues } from '../storage/schema';

export class WorkerRequestError extends Error {
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Hello = Extract<FromWorker, { type: 'hello' }>;
type ResponseTo<R extends WorkerRequest> = Extract<FromWorker, { type: (typeof RESPONSE_OF)[R['type']] }>;
type Unsolicited = Extract<FromWorker, { type: 'error' | 'participation' }>;

interface Pending {
  expected: FromWorker['type'];
  resolve: (message: FromWorker) => void;
  reject: (error: WorkerRequestError) => void;
}

/** The part of `Worker` this client uses (a MessagePort-like object in tests). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<unknown>) => void): void;
  addEventListener(type: 'error', listener: (event: ErrorEvent) => void): void;
  terminate(): void;
}

/**
 * The UI thread's handle on the training worker: numbered requests, responses validated with the
 * protocol's schemas and matched by id. Participation events and stray errors go to `onEvent`.
 */
export class WorkerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  readonly hello: Promise<Hello>;
  onEvent: (message: Unsolicited) => void = () => {};

  constructor(private readonly worker: WorkerLike) {
    let resolveHello: (hello: Hello) => void = () => {};
    this.hello = new Promise((resolve) => {
      resolveHello = resolve;
    });
    worker.addEventListener('message', (event) => {
      const parsed = fromWorkerSchema.safeParse(event.data);
      if (!parsed.success) {
        const id = (event.data as { id?: unknown } | null)?.id;
        const error = new WorkerRequestError('BAD_MESSAGE', `worker sent an invalid message: ${describeIssues(parsed.error)}`);
        if (typeof id === 'number' && this.pending.has(id)) this.settle(id, error);
        else this.onEvent({ type: 'error', id: null, code: 'BAD_MESSAGE', message: error.message });
        return;
      }
      const message = parsed.data;
      if (message.type === 'hello') {
        resolveHello(message);
        return;
      }
      if (message.type === 'participation') {
        this.onEvent(message);
        return;
      }
      const waiting = message.id === null ? undefined : this.pending.get(message.id);
      if (message.type === 'error' && waiting && message.id !== null) {
        this.settle(message.id, new WorkerRequestError(message.code, message.message));
      } else if (message.type === 'error') {
        this.onEvent(message);
      } else if (waiting && message.type === waiting.expected) {
        this.pending.delete(message.id);
        waiting.resolve(message);
      }
    });
    worker.addEventListener('error', (event) => {
      // An uncaught error in the worker: nothing in flight will be answered.
      const error = new WorkerRequestError('INTERNAL', `training worker failed: ${event.message}`);
      for (const id of [...this.pending.keys()]) this.settle(id, error);
    });
  }

  private settle(id: number, error: WorkerRequestError): void {
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    waiting?.reject(error);
  }

  /** Sends a request; `transfer` moves buffers instead of copying them (they become unusable here). */
  request<R extends WorkerRequest>(request: R, transfer: Transferable[] = []): { id: number; response: Promise<ResponseTo<R>> } {
    const id = this.nextId++;
    const expected = RESPONSE_OF[request.type];
    const response = new Promise<ResponseTo<R>>((resolve, reject) => {
      if (expected !== null) this.pending.set(id, { expected, resolve: resolve as (m: FromWorker) => void, reject });
    });
    this.worker.postMessage({ ...request, id }, transfer);
    return { id, response };
  }

  /** Stops the worker at once, mid-batch included; everything in flight is rejected as cancelled. */
  terminate(): void {
    this.worker.terminate();
    const error = new WorkerRequestError('CANCELLED', 'training worker was stopped');
    for (const id of [...this.pending.keys()]) this.settle(id, error);
  }
}
