import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A holder.ts child process with its stdout events collected; see holder.ts for the commands. */
export interface HolderEvent {
  event: string;
  pid: number;
  holder: string;
  epoch?: number;
  code?: string;
  round?: number;
  version?: number;
  [key: string]: unknown;
}

export interface HolderProcess {
  child: ChildProcessWithoutNullStreams;
  holder: string;
  events: HolderEvent[];
  send(line: string): void;
  /** The first event (counting from `from`) that matches, waiting up to timeoutMs. */
  next(match: (event: HolderEvent) => boolean, timeoutMs?: number, from?: number): Promise<HolderEvent>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

const HOLDER = fileURLToPath(new URL('./holder.ts', import.meta.url));

export function spawnHolder(args: { schema: string; taskId: string; holder: string; ttlMs: number; renewMs: number; d: number }): HolderProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  const events: HolderEvent[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as HolderEvent);
    } catch {
      stderr += `(stdout) ${line}\n`;
    }
    for (const wake of waiters) wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters) wake();
    });
  });
  return {
    child,
    holder: args.holder,
    events,
    send: (line) => child.stdin.write(`${line}\n`),
    stderr: () => stderr,
    next(match, timeoutMs = 30_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).find(match);
          if (found) {
            cleanup();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(
              new Error(`${args.holder} exited (${child.exitCode ?? child.signalCode}) before the event; events: ${JSON.stringify(events)}; stderr: ${stderr}`),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${args.holder}: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(events)}; stderr: ${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    exited,
  };
}
