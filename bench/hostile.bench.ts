/**
 * A demo run under attack: one aggregator (in this process, the tiny model, secure aggregation and
 * distributed DP as `npm start` runs them) with honest State of the Union devices, one poisoner
 * sending uniformly random masked input, and silent Sybils that check in and never answer. The
 * table is one row per finished round: who was in it, what the aggregator decided, and what the
 * cohort's securely summed evaluation of the model says. What it must show: no round with the
 * poisoner's input commits, the poisoner and the Sybils end up sitting out, honest rounds keep
 * committing and the model keeps improving.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { pino } from 'pino';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import {
  makeConfig,
  modelSpecOf,
  startPoisoningClient,
  startSilentClient,
  startVirtualClients,
  startWithEnrollment,
  stateOfTheUnionClients,
} from '@murmur/aggregator';
import { writeReport, type Row } from './report';

function positiveInt(name: string, raw: string | undefined, min = 1): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new RangeError(`--${name} must be an integer ≥ ${min}, got ${raw}`);
  return value;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      honest: { type: 'string', default: '8' },
      poisoners: { type: 'string', default: '1' },
      sybils: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '16' },
      target: { type: 'string', default: '6' },
    },
  });
  const honest = positiveInt('honest', values.honest, 3);
  const poisoners = positiveInt('poisoners', values.poisoners, 0);
  const sybils = positiveInt('sybils', values.sybils, 0);
  const rounds = positiveInt('rounds', values.rounds);
  const target = positiveInt('target', values.target, 3);

  await useNodeBackend('wasm');
  const dataDir = mkdtempSync(join(tmpdir(), 'murmur-hostile-'));
  const config = makeConfig({
    port: 0,
    dataDir,
    logLevel: 'silent',
    // The tiny model and the training plan its results were measured with (npm start's defaults
    // until the CIFG model became the default).
    model: 'tiny',
    training: { epochs: 1, batchSize: 16, learningRate: 0.5, maxExamples: 256, timeBudgetMs: 30_000, targets: 'last' },
    round: { target, overSelection: 1, minReports: 3, checkinMs: 1_000, pauseMs: 200 },
  });
  const aggregator = await startWithEnrollment(config, { logger: pino({ level: 'silent' }) });
  const pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(modelSpecOf(config), honest) });
  const bad = await Promise.all(Array.from({ length: poisoners }, () => startPoisoningClient(aggregator.url)));
  const silent = await Promise.all(Array.from({ length: sybils }, () => startSilentClient(aggregator.url)));

  const bar = new cliProgress.SingleBar(
    { format: 'hostile demo |{bar}| {value}/{total} rounds {last}', stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  bar.start(rounds, 0, { last: '' });
  const started = Date.now();
  while (aggregator.store.rounds.length < rounds) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const last = aggregator.store.rounds.at(-1);
    bar.update(aggregator.store.rounds.length, { last: last ? `(round ${last.round}: ${last.status}${last.abort ? ` ${last.abort.code}` : ''})` : '' });
  }
  bar.stop();
  const seconds = (Date.now() - started) / 1000;

  const inRound = (report: RoundReport, clients: typeof bad) => clients.filter((c) => c.plans.some((p) => p.roundId === report.roundId)).length;
  const rows: Row[] = aggregator.store.rounds.map((report) => ({
    round: report.round,
    status: report.status,
    reason: report.abort?.code ?? null,
    selected: report.cohort.selected,
    masked: report.cohort.masked,
    'poisoner in sum': bad.some((c) => c.contributedRounds.has(report.roundId)) && report.cohort.masked >= config.round.minReports,
    'sybils selected': inRound(report, silent),
    'keys phase s': (report.durationsMs.advertiseKeys ?? 0) / 1000,
    'eval loss': report.metrics?.eval.loss ?? null,
    'eval top-1': report.metrics?.eval.top1 ?? null,
    q: report.privacy.samplingRate,
  }));
  const committed = aggregator.store.rounds.filter((r) => r.status === 'committed');
  const poisoned = rows.filter((r) => r['poisoner in sum'] === true);
  const firstLoss = committed[0]?.metrics?.eval.loss ?? null;
  const lastLoss = committed.at(-1)?.metrics?.eval.loss ?? null;
  const notes = [
    `${rows.length} rounds in ${seconds.toFixed(0)} s: ${committed.length} committed, ${rows.length - committed.length} aborted.`,
    `Rounds with the poisoner's input in the sum: ${poisoned.length}, of which committed: ${poisoned.filter((r) => r.status === 'committed').length} (every one must be REJECTED_SUM).`,
    `Poisoner selected ${bad.map((c) => c.plans.length).join(', ')} time(s) in ${rows.length} rounds; Sybils selected ${silent.map((c) => c.plans.length).join(', ')} time(s), ${silent.filter((c) => c.refusals.length > 0).length} of ${sybils} told to sit out.`,
    `Held-out loss of the committed models (securely summed federated evaluation): first ${firstLoss?.toFixed(3) ?? '—'} → last ${lastLoss?.toFixed(3) ?? '—'} nats.`,
    ...bad.flatMap((c) => c.errors.slice(0, 5).map((e) => `Poisoner saw: ${e}`)),
    'Reproduce: npm run bench -- hostile [--honest 8 --poisoners 1 --sybils 4 --rounds 16 --target 6].',
  ];
  for (const client of [...bad, ...silent]) client.close();
  await pool.close();
  await aggregator.close();
  rmSync(dataDir, { recursive: true, force: true });
  writeReport({
    name: 'hostile',
    title: 'One poisoner and silent Sybils against honest devices (tiny model, SecAgg, distributed DP)',
    columns: ['round', 'status', 'reason', 'selected', 'masked', 'poisoner in sum', 'sybils selected', 'keys phase s', 'eval loss', 'eval top-1', 'q'],
    rows,
    config: {
      honest,
      poisoners,
      sybils,
      rounds,
      target,
      model: config.model,
      round: config.round,
      participation: config.participation,
      privacy: config.privacy,
    },
    notes,
  });
}
