/**
 * `npm start` from the repository root. Two things the plain `nx run @murmur/aggregator:start`
 * got wrong:
 * - `--help` built the web client first (12 s) before printing a page of text: help needs no build.
 * - nx runs the app's own `npm start` inside apps/aggregator, and npm then sets INIT_CWD to that
 *   folder, so `./data` (the README's word) became apps/aggregator/data. Run from here, INIT_CWD is
 *   where `npm start` was typed, which is what main.ts resolves relative paths against.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** What `npm start -- <argv>` has to do: print help only, or build the web client and serve it. */
export function launchPlan(argv: readonly string[]): 'help' | 'build-and-start' {
  // Flags end at `--`; anything after it is not ours to read.
  const end = argv.indexOf('--');
  const flags = end === -1 ? argv : argv.slice(0, end);
  return flags.some((arg) => arg === '--help' || arg === '-h') ? 'help' : 'build-and-start';
}

async function launch(): Promise<void> {
  if (launchPlan(process.argv.slice(2)) === 'build-and-start') {
    // nx's cache makes an unchanged client a no-op; its output explains a failure better than we could.
    const build = spawnSync('npx', ['nx', 'run', '@murmur/web-client:build'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (build.status !== 0) {
      console.error(
        `npm start: building the web client failed (${build.error?.message ?? `exit ${build.status ?? build.signal}`}); not starting the aggregator`,
      );
      process.exit(1);
    }
  }
  // main.ts reads process.argv itself and prints the help when asked.
  await import('./main');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await launch();
