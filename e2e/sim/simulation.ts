import type { Browser } from '@playwright/test';
import type { AggregatorConfigInput } from '@murmur/aggregator';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { AggregatorProcess } from './aggregator-process';
import { core } from './core';
import { Device } from './device';
import { FAULT_PHASES, type FaultPhase, type ProgressEvent, type SimParams } from './params';

export const FAULT_KINDS = ['close', 'offline', 'reload'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  round: number;
  client: number;
  phase: FaultPhase;
  /**
   * `close`: the page is closed (reopened after the round); `offline`: context.setOffline until the
   * round ends; `reload`: the page reloads at once (its worker, and the round's state, are gone).
   */
  kind: FaultKind;
}

export interface FaultSchedule {
  faults: Fault[];
  kill: { round: number; phase: FaultPhase } | null;
}

/**
 * The fault schedule, a pure function of the parameters: per round ⌊dropout × clients⌉ distinct
 * clients, each with a phase and a kind; and the round the aggregator is killed in. Test logic,
 * not cryptography, so fl-core's seeded generator (never crypto.getRandomValues) makes it
 * reproducible from --seed.
 */
export function faultSchedule(params: Pick<SimParams, 'clients' | 'rounds' | 'dropout' | 'seed' | 'killAggregatorAt'>): FaultSchedule {
  const random = core.createSeededRandom(params.seed);
  const perRound = Math.round(params.dropout * params.clients);
  const faults: Fault[] = [];
  for (let round = 1; round <= params.rounds; round++) {
    for (const client of random.sampleIndices(params.clients, perRound).sort((a, b) => a - b)) {
      faults.push({
        round,
        client,
        phase: FAULT_PHASES[random.nextInt(FAULT_PHASES.length)] as FaultPhase,
        kind: FAULT_KINDS[random.nextInt(FAULT_KINDS.length)] as FaultKind,
      });
    }
  }
  const kill = params.killAggregatorAt ? { round: 1 + random.nextInt(params.rounds), phase: params.killAggregatorAt } : null;
  return { faults, kill };
}

/**
 * The aggregator's settings for a browser simulation: every device of the simulation is the
 * target (check-in waits up to 20 s for all of them, so cohorts are the same run to run), tiny
 * model, distributed DP, short deadlines after training.
 */
export function simAggregatorConfig(clients: number, seed: number): AggregatorConfigInput {
  return {
    model: 'tiny',
    seed,
    logLevel: 'info',
    round: {
      target: clients,
      overSelection: 1,
      minReports: Math.max(3, Math.ceil(clients / 2)),
      checkinMs: 20_000,
      pauseMs: 500,
      reconnectGraceMs: 1_000,
      minExamples: 10,
      deadlines: { advertiseKeysMs: 30_000, shareKeysMs: 10_000, maskedInputMs: 10_000, unmaskingMs: 10_000 },
    },
    training: { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 256, timeBudgetMs: 20_000, targets: 'last' },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.05 },
    // A device the fault schedule closes or takes offline mid-round is benched (participation.ts,
    // tested there); the production minute would keep it out of the next rounds the schedule plans.
    participation: { silenceBenchMs: 1_000 },
  };
}

export interface AppliedFault extends Fault {
  applied: boolean;
  note: string;
  /** Examples the device showed it trained on before the fault, if it got that far. */
  trainedExamples: number | null;
}

/**
 * Exact aggregation: the securely summed example count must be the survivors' logged counts plus,
 * for each masked input of a device that left after sending it (a fault at maskedInput or
 * unmasking), that device's trained count. Which of those devices got its masked input in before
 * it left is a race the harness cannot see, so the check asks for a subset of exactly
 * `cohort.masked − survivors` of them that makes the sum.
 */
export interface ExactCheck {
  securelySummed: number;
  survivorsLogged: number;
  survivorsExamples: number;
  leftAfterMasking: number[];
  exact: boolean;
  detail: string;
}

export function checkExactAggregation(record: RoundReport, survivorCounts: number[], candidates: number[]): ExactCheck {
  const summed = record.metrics?.examples ?? 0;
  const survivorsExamples = survivorCounts.reduce((a, b) => a + b, 0);
  const extra = record.cohort.masked - survivorCounts.length;
  const residual = summed - survivorsExamples;
  const subsets = (items: number[], size: number): number[][] =>
    size === 0 ? [[]] : items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));
  const match = extra < 0 ? undefined : subsets(candidates, extra).find((subset) => subset.reduce((a, b) => a + b, 0) === residual);
  return {
    securelySummed: summed,
    survivorsLogged: survivorCounts.length,
    survivorsExamples,
    leftAfterMasking: match ?? [],
    exact: match !== undefined,
    detail:
      match !== undefined
        ? `${summed} = ${survivorsExamples} (${survivorCounts.length} survivors' logs)${match.length ? ` + ${match.join(' + ')} (left after masking)` : ''}`
        : `${summed} securely summed, ${survivorsExamples} logged by ${survivorCounts.length} survivors, ${record.cohort.masked} masked inputs; no ${extra} of [${candidates.join(', ')}] make up ${residual}`,
  };
}

export interface SimRound {
  record: RoundReport;
  faults: AppliedFault[];
  killedHere: boolean;
  /** Committed rounds only. */
  exact: ExactCheck | null;
}

export interface SimClient {
  index: number;
  partition: number;
  backend: string | null;
  /** Round numbers this device logged as contributed (its Privacy page / IndexedDB). */
  roundsContributed: number[];
  logEntries: number;
  faults: number;
  examplesPerRound: Record<number, number | null>;
}

export interface SimResult {
  params: SimParams;
  startedAt: string;
  wallMs: number;
  setupMs: number;
  url: string;
  restarts: number;
  /** Round ids the aggregator ran per round number: two when a round was lost to a kill and rerun. */
  attempts: Record<number, string[]>;
  schedule: FaultSchedule;
  rounds: SimRound[];
  clients: SimClient[];
}

/** What a scenario may change; the CLI uses neither. */
export interface SimOptions {
  /** A hand-written schedule instead of the seeded one. */
  schedule?: FaultSchedule;
  /** Changes to the aggregator's settings (e.g. a higher minReports). */
  configure?: (config: AggregatorConfigInput) => AggregatorConfigInput;
}

/**
 * Runs one simulation: a real aggregator process, `clients` browser contexts that consent on the
 * Privacy page, `rounds` rounds, faults injected at the aggregator's phase changes (seen on its
 * /dashboard stream), then the round records and every page's contribution log, cross-checked.
 */
export async function runSimulation(
  browser: Browser,
  params: SimParams,
  progress: (event: ProgressEvent) => void,
  options: SimOptions = {},
): Promise<SimResult> {
  const started = Date.now();
  const schedule = options.schedule ?? faultSchedule(params);
  const config = simAggregatorConfig(params.clients, params.seed);
  const aggregator = await AggregatorProcess.start(params.out, options.configure ? options.configure(config) : config);
  const devices: Device[] = [];
  let setupMs = 0;
  try {
    const applied: AppliedFault[] = [];
    const pending: Promise<void>[] = [];
    let killed: { round: number } | null = null;
    let restarting: Promise<void> | null = null;
    const restore = async (round: number) => {
      for (const fault of applied.filter((f) => f.round === round && f.applied)) {
        const device = devices[fault.client] as Device;
        if (fault.kind === 'offline') await device.setOffline(false);
        else if (fault.kind === 'close' && device.page === null) await device.open();
      }
    };
    const apply = async (fault: Fault): Promise<void> => {
      const device = devices[fault.client];
      if (!device) return;
      // At advertiseKeys the plan is on its way: give the page a moment to show it was selected.
      const deadline = Date.now() + (fault.phase === 'advertiseKeys' ? 5_000 : 0);
      while (!device.rounds.get(fault.round)?.selected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const inCohort = device.rounds.get(fault.round)?.selected === true && device.page !== null;
      if (inCohort) {
        if (fault.kind === 'close') await device.close();
        else if (fault.kind === 'offline') await device.setOffline(true);
        else await device.reload();
      }
      const record: AppliedFault = {
        ...fault,
        applied: inCohort,
        note: inCohort ? `${fault.kind} at ${fault.phase}` : 'not in this cohort',
        trainedExamples: device.rounds.get(fault.round)?.trainedExamples ?? null,
      };
      applied.push(record);
      progress({ kind: 'fault', text: `round ${fault.round}: client ${fault.client} ${record.note}` });
    };
    const stopListening = aggregator.onPhase((event) => {
      progress({ kind: 'phase', round: event.round, phase: event.phase, pending: event.pending, cohort: event.cohort });
      if (killed === null && schedule.kill && event.round === schedule.kill.round && event.phase === schedule.kill.phase) {
        killed = { round: event.round };
        progress({ kind: 'fault', text: `round ${event.round}: SIGKILL the aggregator at ${event.phase}` });
        restarting = aggregator.killAndRestart().then(() => restore(event.round));
        pending.push(restarting);
        return;
      }
      if (restarting !== null) return;
      for (const fault of schedule.faults.filter(
        (f) => f.round === event.round && f.phase === event.phase && !applied.some((a) => a.round === f.round && a.client === f.client),
      )) {
        pending.push(apply(fault));
      }
    });

    const rounds: SimRound[] = [];
    try {
      progress({ kind: 'stage', text: `aggregator on ${aggregator.url}; opening ${params.clients} browser contexts` });
      for (let i = 0; i < params.clients; i++) devices.push(await Device.create(browser, i, aggregator.url));
      // Two at a time: each page calibrates its backends on first start, and there are two cores.
      for (let i = 0; i < devices.length; i += 2) await Promise.all(devices.slice(i, i + 2).map((d) => d.open()));
      for (const device of devices) await device.consent();
      setupMs = Date.now() - started;
      progress({ kind: 'stage', text: `${params.clients} devices consented in ${(setupMs / 1000).toFixed(1)} s` });

      for (let round = 1; round <= params.rounds; round++) {
        const record = await aggregator.waitForRound(round, 300_000);
        if (restarting) await restarting;
        restarting = null;
        await Promise.all(pending.splice(0));
        progress({ kind: 'round', round, status: record.status });
        await restore(round);
        // A phase the round never reached (it aborted first), or a rerun after a kill, triggers nothing.
        for (const fault of schedule.faults.filter((f) => f.round === round && !applied.some((a) => a.round === round && a.client === f.client))) {
          const note =
            killed !== null && (killed as { round: number }).round === round ? 'the round was lost to the kill and rerun' : `phase ${fault.phase} not reached`;
          applied.push({ ...fault, applied: false, note, trainedExamples: null });
        }
        rounds.push({
          record,
          faults: applied.filter((f) => f.round === round),
          killedHere: (killed as { round: number } | null)?.round === round,
          exact: null,
        });
      }
      // Hold further rounds while the logs are read; one already started still finishes, and its
      // log entries are left out below (only the simulated rounds' ids count).
      await aggregator.admin('pause');
    } finally {
      stopListening();
    }

    // A page logs a round after its roundEnd, once it fetched the round's ε: give the last round's
    // cohort (those still open) a moment to write theirs before the logs are read.
    const last = rounds[rounds.length - 1]?.record;
    const readLogs = () => Promise.all(devices.map((d) => d.contributions()));
    let logs = await readLogs();
    for (const deadline = Date.now() + 15_000; last && Date.now() < deadline; logs = await readLogs()) {
      const waiting = devices.filter(
        (d, i) =>
          d.page !== null &&
          d.rounds.get(last.round)?.selected &&
          !applied.some((f) => f.applied && f.round === last.round && f.client === d.index) &&
          !logs[i]?.some((c) => c.roundId === last.roundId),
      );
      if (waiting.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const byRoundId = new Map(rounds.map((r) => [r.record.roundId, r.record.round]));
    for (const round of rounds) {
      if (round.record.status !== 'committed') continue;
      const survivors = logs.flatMap((log) => log.filter((c) => c.roundId === round.record.roundId && c.status === 'contributed').map((c) => c.numExamples));
      const candidates = round.faults
        .filter((f) => f.applied && (f.phase === 'maskedInput' || f.phase === 'unmasking') && f.trainedExamples !== null)
        .map((f) => f.trainedExamples as number);
      round.exact = checkExactAggregation(round.record, survivors, candidates);
    }
    const clients: SimClient[] = devices.map((device, i) => {
      const log = logs[i] ?? [];
      return {
        index: device.index,
        partition: device.index,
        backend: device.backend,
        roundsContributed: log
          .flatMap((c) => (c.status === 'contributed' && byRoundId.has(c.roundId) ? [byRoundId.get(c.roundId) as number] : []))
          .sort((a, b) => a - b),
        logEntries: log.length,
        faults: applied.filter((f) => f.client === i && f.applied).length,
        // The aggregator may have started one more round before it stopped: only the simulated ones.
        examplesPerRound: Object.fromEntries([...device.rounds].filter(([round]) => round <= params.rounds).map(([round, r]) => [round, r.trainedExamples])),
      };
    });
    return {
      params,
      startedAt: new Date(started).toISOString(),
      wallMs: Date.now() - started,
      setupMs,
      url: aggregator.url,
      restarts: aggregator.restarts,
      attempts: Object.fromEntries(
        rounds.map((r) => [r.record.round, [...new Set(aggregator.phases.filter((p) => p.round === r.record.round).map((p) => p.roundId))]]),
      ),
      schedule,
      rounds,
      clients,
    };
  } finally {
    for (const device of devices) await device.dispose();
    await aggregator.stop();
  }
}
