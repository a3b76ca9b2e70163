import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AggregatorConfigInput } from '../../config';

/** An aggregator child process (main.ts, the real entry point) in the distributed mode. */
export interface AggregatorProcess {
  processId: string;
  child: ChildProcessWithoutNullStreams;
  url: string;
  /** stdout + stderr so far (pino's JSON lines included), for failure messages and log assertions. */
  output: () => string;
  /** pino lines parsed so far. */
  logs: () => Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const MAIN = fileURLToPath(new URL('../../main.ts', import.meta.url));

/**
 * Starts `main.ts --config <file>` with the stores' MURMUR_* environment and waits for its
 * "Murmur aggregator: <url>" line. The config is written to <dir>/config.json; the data directory
 * is <dir>/data, so every process has its own replica.
 */
export async function spawnAggregator(input: {
  dir: string;
  processId: string;
  config: AggregatorConfigInput;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<AggregatorProcess> {
  mkdirSync(input.dir, { recursive: true });
  const configFile = join(input.dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ ...input.config, dataDir: join(input.dir, 'data') }));
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', configFile], { stdio: ['pipe', 'pipe', 'pipe'], env: input.env });
  let output = '';
  const logs: Record<string, unknown>[] = [];
  const collect = (line: string) => {
    output += `${line}\n`;
    if (line.startsWith('{')) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial line: kept in output only
      }
    }
  };
  createInterface({ input: child.stderr }).on('line', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${input.processId}: no "Murmur aggregator:" line within ${input.timeoutMs ?? 60_000} ms:\n${output}`)),
      input.timeoutMs ?? 60_000,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      collect(line);
      const match = /^Murmur aggregator: (http:\/\/\S+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${input.processId} exited (${code ?? signal}) before serving:\n${output}`));
    });
  });
  return { processId: input.processId, child, url, output: () => output, logs: () => logs, exited };
}
