import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SecAggServerState, SecAggServerStepResult } from '@murmur/fl-core/secagg';

/** How long the thread may take to start (tsx compiles the worker's imports the first time). */
const START_TIMEOUT_MS = 60_000;

type Answer = { id: number; ok: true; step: SecAggServerStepResult } | { id: number; ok: false; error: string };

/**
 * Closes SecAgg's unmasking stage in a worker thread (unmask.worker.ts), one request at a time per
 * thread, so the process keeps serving its sockets while the masks are reconstructed. The
 * aggregator runs under tsx, whose loader Node 20 does not apply to a worker's entry file: the
 * worker imports its entry through tsx's API.
 */
export class UnmaskThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (answer: Answer) => void>();
  #next = 0;
  #failure: Error | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (answer: Answer) => {
      this.#pending.get(answer.id)?.(answer);
      this.#pending.delete(answer.id);
    });
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => this.#fail(new Error(`the unmasking thread exited (${code})`)));
  }

  /** Starts the thread and waits until it is ready. */
  static async start(logger: Logger): Promise<UnmaskThread> {
    const entry = new URL('./unmask.worker.ts', import.meta.url).href;
    const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}));`;
    const worker = new Worker(bootstrap, { eval: true });
    worker.unref();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the unmasking thread did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const settle = (error: Error | null) => {
        clearTimeout(timer);
        worker.off('message', ready);
        worker.off('error', settle);
        if (error) reject(error);
        else resolve();
      };
      const ready = (message: unknown) => {
        if ((message as { ready?: boolean }).ready) settle(null);
      };
      worker.on('message', ready);
      worker.on('error', settle);
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    logger.debug('unmasking runs in a worker thread');
    return new UnmaskThread(worker);
  }

  /** SecAgg's closeStage('unmasking') on a copy of `state`; the caller keeps its own state until it adopts the result. */
  closeUnmasking(state: SecAggServerState): Promise<SecAggServerStepResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (answer) => (answer.ok ? resolve(answer.step) : reject(new Error(`unmasking thread: ${answer.error}`))));
      this.#worker.postMessage({ id, state });
    });
  }

  async close(): Promise<void> {
    this.#failure ??= new Error('the unmasking thread is closed');
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const settle of this.#pending.values()) settle({ id: -1, ok: false, error: error.message });
    this.#pending.clear();
  }
}
