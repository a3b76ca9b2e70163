import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { FAULT_PHASES, PARAMS_ENV, PROGRESS_ENV, progressEventSchema, simParamsSchema, type ProgressEvent, type SimParams } from './params';
import { phaseLine } from './progress-text';

const E2E_DIR = fileURLToPath(new URL('..', import.meta.url));
const BUILT_CLIENT = fileURLToPath(new URL('../../apps/web-client/dist/index.html', import.meta.url));

const HELP = `Usage: npm run e2e:sim -- [flags]

Murmur QA: N real headless Chromium devices (each its own browser context, IndexedDB and
?seed=<i> partition) against a real aggregator process; they consent, run rounds, and suffer
faults chosen from --seed. Writes report.json, summary.md and Playwright's HTML report.

  --clients N                browser devices (3-16)                       [default 8]
  --rounds N                 rounds to finish (1-50)                      [default 3]
  --dropout F                share of each cohort dropped by a fault,
                             closed page or offline context (0-0.5)       [default 0.25]
  --seed N                   seeds the fault schedule and the model       [default 1]
  --kill-aggregator-at P     SIGKILL the aggregator at phase P of one round and restart it
                             (${FAULT_PHASES.map((p) => p.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(' | ')})
  --out DIR                  report folder             [default e2e/reports/sim-<timestamp>]
  -h, --help                 this text

Needs the built web client (npm run build -w @murmur/web-client). See docs/qa.md.
`;

/** A numeric flag as typed: `--seed ''` or `--rounds 2x` is an error, not 0 or NaN. */
const numberFlag = (fallback: number) =>
  z
    .string()
    .default(String(fallback))
    .pipe(z.string().trim().min(1, 'expected a number'))
    .transform(Number)
    .pipe(z.number({ error: 'expected a number' }));

/** Flags as typed: strings from parseArgs, converted here and checked by the shared schema. */
const flagsSchema = z.object({
  clients: numberFlag(8),
  rounds: numberFlag(3),
  dropout: numberFlag(0.25),
  seed: numberFlag(1),
  'kill-aggregator-at': z.string().optional(),
  out: z.string().optional(),
});

function parse(argv: string[]): SimParams | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        clients: { type: 'string' },
        rounds: { type: 'string' },
        dropout: { type: 'string' },
        seed: { type: 'string' },
        'kill-aggregator-at': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
  if (values.help) return 'help';
  const flags = flagsSchema.safeParse(values);
  if (!flags.success) throw new UsageError(issuesText(flags.error));
  const invokedFrom = process.env.INIT_CWD ?? process.cwd();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = flags.data.out ? (isAbsolute(flags.data.out) ? flags.data.out : resolve(invokedFrom, flags.data.out)) : join(E2E_DIR, 'reports', `sim-${stamp}`);
  const params = simParamsSchema.safeParse({
    clients: flags.data.clients,
    rounds: flags.data.rounds,
    dropout: flags.data.dropout,
    seed: flags.data.seed,
    killAggregatorAt: flags.data['kill-aggregator-at'] ?? null,
    out,
  });
  if (!params.success) throw new UsageError(issuesText(params.error));
  return params.data;
}

class UsageError extends Error {}

/** `--clients: Too big: expected number to be <=16`, one line per problem, named by flag. */
function issuesText(error: z.ZodError): string {
  const flag = (key: PropertyKey | undefined) => `--${String(key ?? '?').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return error.issues.map((issue) => `${flag(issue.path[0])}: ${issue.message}`).join('\n');
}

/** Follows the spec's JSON-lines progress file and draws it on stderr (a bar on a terminal, lines otherwise). */
function followProgress(file: string, params: SimParams): () => void {
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: 'rounds {bar} {value}/{total} | {status}', hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(params.rounds, 0, { status: 'starting' });
  const say = (line: string) => (bar ? bar.update({ status: line }) : process.stderr.write(`${line}\n`));
  const log = (line: string) => {
    if (bar) {
      bar.stop();
      process.stderr.write(`${line}\n`);
      bar.start(params.rounds, done, { status: line });
    } else process.stderr.write(`${line}\n`);
  };
  let offset = 0;
  let done = 0;
  const render = (event: ProgressEvent) => {
    switch (event.kind) {
      case 'stage':
        log(event.text);
        return;
      case 'fault':
        log(`fault: ${event.text}`);
        return;
      case 'phase':
        say(phaseLine(event, done));
        return;
      case 'round':
        done = event.round;
        bar?.update(done);
        log(`round ${event.round} ${event.status}`);
        return;
      default: {
        const unknown: never = event;
        throw new Error(`unknown progress event ${JSON.stringify(unknown)}`);
      }
    }
  };
  const poll = () => {
    if (!existsSync(file) || statSync(file).size <= offset) return;
    const text = readFileSync(file, 'utf8').slice(offset);
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    offset += Buffer.byteLength(complete);
    for (const line of complete.split('\n').filter(Boolean)) {
      const parsed = progressEventSchema.safeParse(JSON.parse(line));
      if (parsed.success) render(parsed.data);
    }
  };
  const timer = setInterval(poll, 250);
  return () => {
    clearInterval(timer);
    poll();
    bar?.stop();
  };
}

async function main(): Promise<number> {
  let params: SimParams | 'help';
  try {
    params = parse(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (params === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (!existsSync(BUILT_CLIENT)) {
    process.stderr.write('the web client is not built: run npm run build -w @murmur/web-client first\n');
    return 2;
  }
  mkdirSync(params.out, { recursive: true });
  const progressFile = join(params.out, 'progress.jsonl');
  const stopProgress = followProgress(progressFile, params);
  const playwrightLog = join(params.out, 'playwright.log');
  const cli = createRequire(import.meta.url).resolve('@playwright/test/cli');
  const child = spawn(process.execPath, [cli, 'test', '-c', 'sim/playwright.config.ts'], {
    cwd: E2E_DIR,
    env: { ...process.env, [PARAMS_ENV]: JSON.stringify(params), [PROGRESS_ENV]: progressFile, MURMUR_SIM_OUT: params.out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(playwrightLog);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const code = await new Promise<number>((resolveExit) => child.once('exit', (exitCode) => resolveExit(exitCode ?? 1)));
  stopProgress();
  log.end();
  const summary = join(params.out, 'summary.md');
  if (existsSync(summary)) process.stdout.write(`${readFileSync(summary, 'utf8')}\n`);
  process.stderr.write(
    `${code === 0 ? 'passed' : `FAILED (playwright exit ${code}; see ${playwrightLog})`}\nreport: ${params.out}/{summary.md,report.json}, HTML: npx playwright show-report ${join(params.out, 'html')}\n`,
  );
  return code;
}

process.exitCode = await main();
