import { resolve } from 'node:path';

/** A path the user typed, resolved against where they typed it: npm runs workspace scripts in the workspace folder. */
export function fromInvocationDir(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

/** Runs a CLI's main: exits with its code, or prints an uncaught error's message and exits 1. */
export function runCli(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
