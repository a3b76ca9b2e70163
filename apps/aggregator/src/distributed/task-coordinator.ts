import type { Logger } from 'pino';
import type { PrivacyLedger } from '@murmur/fl-core/privacy';
import { PHASE_DEADLINE, protocolError, type LivePlan, type ProtocolError, type RoundReport, type TaskProgress } from '@murmur/fl-core/protocol';
import type { BudgetProjection } from '@murmur/fl-core/round';
import type { AggregatorConfig } from '../config';
import type { AggregatorMetrics } from '../metrics';
import type { ReleaseGate } from '../release-gate';
import { abortedRound, concludeRound, planAggregatorRound, roundStateFromJSON, roundStateToJSON, type RoundEnding, type RoundState } from '../round-state';
import type { StoredModel } from '../store';
import { TASK_ABORT_CODES, type Coordination, type GroupSum, type PoolCounts } from './coordination';
import type { DistributedConfig } from './config';
import { leaseRenewMs } from './config';
import { DistributedError, isDistributedError } from './errors';
import { LeaseKeeper, type Fence } from './lease';
import { populationLedger, storedLedgerFields } from './population-ledger';
import type { LedgerEntryInput, RecordStore, TaskHead } from './record-store';
import { modelBlobOf, type Replica } from './replica';

/** Time the groups get beyond the SecAgg stage deadlines (planning, model download, the put). */
export const GROUP_SLACK_MS = 10_000;
/** How often the coordinator looks at the group sums while it waits for them. */
const COLLECT_POLL_MS = 100;
/** How often, while it waits, the coordinator looks for processes whose pool count expired. */
const LIVENESS_POLL_MS = 1_000;
/** How long a coordinator with nothing to do (no lease, too few clients) waits before looking again. */
const IDLE_MS = 500;

export interface TaskCoordinatorDeps {
  records: RecordStore;
  coordination: Coordination;
  replica: Replica;
  taskId: string;
  /** Unique per process incarnation (a restarted process is a new holder). */
  holder: string;
  distributed: DistributedConfig;
  config: AggregatorConfig;
  gate: ReleaseGate;
  /** The plan rounds open with and its revision (this process's RoundCoordinator's). */
  plan: () => { plan: LivePlan; revision: number };
  /** The ε budget against a round at this plan and sampling, on top of `ledger`: the population's spend (this process's RoundCoordinator.projectRound). */
  project: (live: LivePlan, samplingRate: number, population: number, round: number, ledger: PrivacyLedger, sumClients: number) => BudgetProjection;
  metrics: AggregatorMetrics;
  logger: Logger;
  /** Each round this holder opens and how it ended, for the dashboard stream (fanned out to every process's viewers). */
  onProgress?: (event: TaskProgress) => void;
}

/** What the coordinator decided when it opened a round; the record's state is built from it once the reports are counted. */
interface PlannedTaskRound {
  round: number;
  roundId: string;
  live: LivePlan;
  revision: number;
  base: StoredModel;
  samplingRate: number;
  population: number;
  eligible: number;
  maxClients: number;
  /** Discrete noise: the round's rotation, drawn once the base is fixed and shared by every group. */
  rotationSeed?: Uint8Array;
}

/** How one round went, for the logs and the tests. */
export type TaskRoundResult =
  | { status: 'committed'; round: number; modelVersion: number; groups: number; reports: number; processes: number }
  | { status: 'aborted'; round: number; code: string };

/**
 * The task coordinator and master aggregator of the distributed mode (Bonawitz et al. 2019 §4.2;
 * docs/scale-out.md): whichever process holds the task's lease opens rounds on the control
 * stream, waits for the groups' unmasked sums, adds them, checks the report count, decodes, steps
 * the server optimizer and commits, all through the fenced record, so a deposed holder's commit
 * is refused by PostgreSQL. Every process's RoundCoordinator runs its own group (group-link.ts).
 *
 * Privacy: a round's group sums are unmasked on their processes as soon as the groups finish, so
 * before the open is announced the holder notes it in the record (markRoundOpen), and every
 * opened round ends in a record with a ledger entry: the weakest group's σ when the sums arrived,
 * else σ at k_min — the least any group could have carried, since no group unmasks below minReports.
 */
/** Clients a pool count says will be in the next draw: checked in, or in a round that ends first. */
function inDraw(counts: Pick<PoolCounts, 'eligible' | 'busy'>): number {
  return counts.eligible + counts.busy;
}

export class TaskCoordinator {
  readonly #deps: TaskCoordinatorDeps;
  readonly #keeper: LeaseKeeper;
  #stopped = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  /** The last round this process ran as coordinator (tests and the dashboard). */
  last: TaskRoundResult | null = null;

  constructor(deps: TaskCoordinatorDeps) {
    this.#deps = deps;
    const { distributed, metrics, logger, taskId, holder } = deps;
    this.#keeper = new LeaseKeeper(deps.records.leases, {
      taskId,
      holder,
      ttlMs: distributed.leaseTtlMs,
      renewMs: leaseRenewMs(distributed),
      onAcquired: (grant) => {
        metrics.leaseHeld.set(1);
        logger.info({ taskId, epoch: grant.epoch }, 'task lease acquired: this process coordinates the task');
        this.#wake?.();
      },
      onLost: (error) => {
        metrics.leaseHeld.set(0);
        logger.warn({ taskId, err: error }, 'task lease lost: another process coordinates the task');
      },
    });
  }

  /** The lease this process holds, or null. */
  get fence(): Fence | null {
    return this.#keeper.fence();
  }

  start(): void {
    this.#keeper.start();
    this.#loop ??= this.#run();
  }

  /** Stops opening rounds, waits for the one in flight, and releases the lease. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    await this.#keeper.stop();
    this.#deps.metrics.leaseHeld.set(0);
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => done();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = wake;
    });
    this.#wake = null;
  }

  /** The round this holder opened last, so its end can be reported with it. */
  #opened: { round: number; roundId: string; processes: number } | null = null;

  #progress(
    stage: TaskProgress['stage'],
    opened: { round: number; roundId: string; processes: number },
    end: { modelVersion?: number; answered?: number; abort?: string } = {},
  ): void {
    this.#deps.onProgress?.({
      taskId: this.#deps.taskId,
      coordinator: this.#deps.coordination.processId,
      ...opened,
      stage,
      modelVersion: end.modelVersion ?? null,
      answered: end.answered ?? null,
      abort: end.abort ?? null,
      at: new Date().toISOString(),
    });
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const fence = this.#keeper.fence();
      if (!fence) {
        await this.#sleep(IDLE_MS);
        continue;
      }
      let pauseMs = IDLE_MS;
      try {
        const result = await this.runRound(fence);
        const opened = this.#opened;
        if (result && opened?.round === result.round) {
          this.#progress(
            result.status,
            opened,
            result.status === 'committed' ? { modelVersion: result.modelVersion, answered: result.processes } : { abort: result.code },
          );
        }
        if (result) {
          this.last = result;
          pauseMs = this.#deps.plan().plan.pauseMs;
        }
      } catch (error) {
        this.#deps.logger.error({ err: error }, 'task coordinator: round failed; trying again');
        pauseMs = 1_000;
      }
      if (!this.#stopped) await this.#sleep(pauseMs);
    }
  }

  /**
   * One round as the task's coordinator: null when no round could open (too few clients, the
   * budget, a replica behind), else how it ended. Public for the tests, which drive it directly.
   */
  async runRound(fence: Fence): Promise<TaskRoundResult | null> {
    const { records, coordination, replica, taskId, config, logger } = this.#deps;
    await replica.sync();
    const head = await records.head(taskId);
    const interrupted = head.state.open;
    if (interrupted !== undefined) return this.#recordInterrupted(fence, head, interrupted);
    const store = replica.store;
    const { plan: live, revision } = this.#deps.plan();
    const counts = await coordination.poolCounts(taskId);
    // A group must hold minReports on its own: processes with fewer cannot form one this round.
    // Sockets count too: clients still finishing the last round are back for this draw, and a group
    // the round did not wait for would unmask a sum that neither the model nor the ledger counts.
    const expected = counts.processes.filter((p) => Math.max(inDraw(p), p.connected) >= live.minReports).map((p) => p.processId);
    // Open only when some process can form a group from clients that will be in the draw: sockets
    // that never check in would open rounds nobody joins, each charging the ledger at k_min.
    if (!counts.processes.some((p) => inDraw(p) >= live.minReports)) return null;
    const wanted = Math.ceil(live.target * live.overSelection);
    // N over the clients the groups draw from: the checked-in ones and those still in the last
    // round (back for this draw). Not every socket: one that never checks in (an ineligible device,
    // a pace-steered wait) is never drawn, and counting it would shrink q and every cohort with it.
    const population = config.privacy.population ?? Math.max(1, inDraw(counts));
    const samplingRate = Math.min(1, wanted / Math.max(1, population));
    const round = head.nextRound;
    const base = store.trainingBase();
    if (base.version !== head.modelVersion || base.hash !== head.modelHash) {
      throw new Error(
        `round ${round}: the training base v${base.version} is not the record's head v${head.modelVersion} (the distributed mode trains from the newest version)`,
      );
    }
    // Every group encodes for this many reports, so the groups' sums add without wrapping; a draw
    // above it (a pool that more than doubled since it was counted) is refused by its process.
    // Counted on the sockets, not only the clients in the draw: clients that connect between the
    // count and the draw still fit, at the price of a coarser encoding when many sockets idle.
    const maxClients = 2 * Math.max(counts.eligible, counts.connected) + live.minReports;
    const roundId = `r${round}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString('hex')}`;
    const deadlineMs = Object.values(PHASE_DEADLINE).reduce((sum, key) => sum + config.round.deadlines[key], 0) + GROUP_SLACK_MS;
    const planned: PlannedTaskRound = {
      round,
      roundId,
      live,
      revision,
      base,
      samplingRate,
      population,
      eligible: counts.eligible,
      maxClients,
      // Discrete noise: one rotation for the round, drawn after the base model is fixed, for every group.
      ...(config.privacy.noise === 'discrete' ? { rotationSeed: crypto.getRandomValues(new Uint8Array(32)) } : {}),
    };
    const state = this.#roundState({ ...planned, reports: maxClients });
    // The budget is the population's (every task training on these people), checked as the round
    // opens, under the record's population lock, against the other tasks' open rounds too.
    let budget: BudgetProjection | undefined;
    const allowed = await records.markRoundOpen({
      taskId,
      fence,
      round,
      open: roundStateToJSON(state) as unknown as Record<string, unknown>,
      budget: (spend) => {
        budget = this.#deps.project(live, samplingRate, population, round, populationLedger(spend), maxClients);
        return { allowed: budget.allowed, charge: budget.charge && storedLedgerFields(budget.charge) };
      },
    });
    if (!allowed) {
      logger.warn(
        { round, population: head.population, epsilonSpent: budget?.spent, epsilonNext: budget?.next, epsilonBudget: budget?.epsilonBudget },
        "privacy budget: the next round would pass the population's ε budget; no round opens",
      );
      return null;
    }
    const opened = performance.now();
    await coordination.publish(taskId, {
      kind: 'open-round',
      epoch: fence.epoch,
      round,
      roundId,
      samplingRate,
      population,
      maxClients,
      base: { version: base.version, hash: base.hash },
      live,
      planRevision: revision,
      deadlineMs,
      ...(planned.rotationSeed ? { rotationSeed: Buffer.from(planned.rotationSeed).toString('hex') } : {}),
    });
    logger.info({ round, roundId, samplingRate, population, processes: expected.length, deadlineMs }, 'task coordinator: round opened');
    this.#opened = { round, roundId, processes: expected.length };
    this.#progress('opened', this.#opened);
    await this.#steerPace(fence, wanted, counts.processes.length);
    let sums: GroupSum[];
    try {
      sums = await this.#collect(round, expected, opened + deadlineMs);
    } catch (error) {
      if (!isDistributedError(error) || error.code !== 'COORDINATION_UNAVAILABLE') throw error;
      return this.#abort(fence, state, protocolError('COORDINATION_UNAVAILABLE', `round ${round}: ${error.message}`), null);
    }
    this.#deps.metrics.phaseSeconds.observe({ phase: 'groups' }, (performance.now() - opened) / 1000);
    return this.#conclude(fence, head, { ...planned, startedAt: state.startedAt }, sums);
  }

  /**
   * Waits until every expected process put its group's answer, or the deadline; the lease must
   * hold throughout. A process whose pool count expired from Redis (killed, frozen, cut off) will
   * not answer: once that is seen the round stops waiting for its group (a restart under the same
   * id reports again, but the new incarnation never took this round's order).
   */
  async #collect(round: number, expected: string[], deadline: number): Promise<GroupSum[]> {
    const { coordination, taskId, logger } = this.#deps;
    let waitingOn = expected;
    let livenessAt = performance.now() + LIVENESS_POLL_MS;
    for (;;) {
      const sums = await coordination.groupSums(taskId, round);
      const answered = new Set(sums.map((sum) => sum.groupId));
      const missing = waitingOn.filter((id) => !answered.has(id));
      if (missing.length === 0 || performance.now() >= deadline || this.#stopped) return sums;
      if (performance.now() >= livenessAt) {
        livenessAt = performance.now() + LIVENESS_POLL_MS;
        const live = new Set((await coordination.poolCounts(taskId)).processes.map((p) => p.processId));
        const gone = missing.filter((id) => !live.has(id));
        if (gone.length > 0) {
          logger.warn({ round, gone }, 'task coordinator: processes gone mid-round (pool count expired); not waiting for their groups');
          waitingOn = waitingOn.filter((id) => !gone.includes(id));
          continue;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, COLLECT_POLL_MS));
    }
  }

  /**
   * Pace steering (§2.3): each process keeps its share of poolFactor × the wanted cohort waiting and
   * tells later check-ins when to come back. Best effort: a lost message leaves processes pooling all.
   */
  async #steerPace(fence: Fence, wanted: number, processes: number): Promise<void> {
    const { poolFactor, fromMs, toMs } = this.#deps.config.round.paceSteering;
    if (poolFactor === 0) return;
    const poolTarget = Math.max(1, Math.ceil((poolFactor * wanted) / Math.max(1, processes)));
    await this.#announce(() => this.#deps.coordination.publish(this.#deps.taskId, { kind: 'retry-window', epoch: fence.epoch, poolTarget, fromMs, toMs }));
  }

  #roundState(input: PlannedTaskRound & { reports: number; startedAt?: string }): RoundState {
    const { config, replica } = this.#deps;
    // The round-level plan every group derived its own from: the same privacy, encoding and
    // metrics (the SecAgg block describes one group holding all the reports).
    const plan = planAggregatorRound({
      config,
      live: input.live,
      round: input.round,
      roundId: input.roundId,
      base: input.base,
      spec: replica.store.spec,
      // Capped at the bound: a round whose reports exceed it is recorded REJECTED_SUM with this plan.
      clientCount: Math.min(Math.max(input.reports, input.live.minReports), input.maxClients),
      sumClients: input.maxClients,
      samplingRate: input.samplingRate,
      population: input.population,
      graphSeed: new Uint8Array(32),
      ...(input.rotationSeed ? { rotationSeed: input.rotationSeed } : {}),
      authenticated: false,
    });
    const n = input.reports;
    return {
      round: input.round,
      roundId: input.roundId,
      startedAt: input.startedAt ?? new Date().toISOString(),
      plan,
      live: input.live,
      planRevision: input.revision,
      base: { version: input.base.version, hash: input.base.hash },
      members: [],
      eligible: input.eligible,
      samplingRate: input.samplingRate,
      // The groups report their survivors only: the record counts reports at every stage.
      funnel: { eligible: input.eligible, selected: n, advertised: n, shared: n, masked: n, unmasked: n },
      dropouts: {},
      bytes: { received: 0, sent: 0 },
      durationsMs: {},
      backends: {},
    };
  }

  #ending(state: RoundState): RoundEnding {
    return { state, ledger: this.#deps.replica.store.ledger, targetDelta: this.#deps.config.privacy.targetDelta, endedAt: new Date().toISOString() };
  }

  /** Adds the group sums, then fl-core's decode → check → summarize; commits or aborts in the record. */
  async #conclude(fence: Fence, head: TaskHead, opened: PlannedTaskRound & { startedAt: string }, sums: GroupSum[]): Promise<TaskRoundResult> {
    const { config, coordination, taskId, metrics, logger } = this.#deps;
    const { round, base, maxClients } = opened;
    // A process answers once, with the sum of its SecAgg groups' sums and each group's report count.
    const contributing = sums.filter((sum) => sum.reports > 0);
    const groupReports = contributing.flatMap((sum) => sum.groupReports);
    const reports = contributing.reduce((total, sum) => total + sum.reports, 0);
    const weakest = groupReports.length > 0 ? Math.min(...groupReports) : 0;
    const groups = groupReports.length;
    const bytes = await coordination.roundBytes(taskId, round).catch(() => 0);
    metrics.roundGroups.set(groups);
    metrics.coordinationBytes.set(bytes);
    const state = this.#roundState({ ...opened, reports });
    state.bytes.received = bytes;
    if (groups === 0 || reports < opened.live.minReports) {
      return this.#abort(
        fence,
        state,
        protocolError('BELOW_THRESHOLD', `round ${round}: ${groups} groups with ${reports} reports, need minReports ${opened.live.minReports}`),
        null,
      );
    }
    const released = { survivors: Array.from({ length: reports }, (_, i) => i) };
    if (reports > maxClients) {
      return this.#abort(fence, state, protocolError('REJECTED_SUM', `round ${round}: ${reports} reports, above the round's bound ${maxClients}`), {
        released,
        weakest,
      });
    }
    const sum = addGroupSums(contributing, state.plan.secagg.vectorLength, config.round.modulusBits);
    if (!sum.ok) return this.#abort(fence, state, protocolError('INTERNAL', `round ${round}: ${sum.message}`), { released, weakest });
    const started = performance.now();
    const concluded = concludeRound({
      ...this.#ending(state),
      result: { sum: sum.value, survivors: released.survivors },
      base: { weights: base.weights, optimizer: base.optimizer },
      nextVersion: head.modelVersion + 1,
      adaptive: config.privacy.adaptiveClipping,
      weakestGroupReports: weakest,
    });
    if (concluded.status === 'aborted') return this.#recordAbort(fence, state, concluded.reason, concluded.report, ledgerInputOf(concluded.ledger, round));
    const report = { ...concluded.report, durationsMs: { ...concluded.report.durationsMs, aggregate: performance.now() - started } };
    const { gate, records, replica } = this.#deps;
    const gateOutcome = gate.atCommit(report, base, { version: head.modelVersion + 1, weights: concluded.model.weights });
    const model = modelBlobOf(replica.store.spec, concluded.model.weights, concluded.model.optimizer, {
      ...(concluded.model.clipNorm !== undefined ? { clipNorm: concluded.model.clipNorm } : {}),
      release: gateOutcome.state,
    });
    const commitStarted = performance.now();
    try {
      await records.commitRound({
        taskId,
        fence,
        round,
        parent: { version: head.modelVersion, hash: head.modelHash },
        model,
        record: report,
        ledger: ledgerInputOf(concluded.ledger, round) ?? { samplingRate: state.samplingRate, noiseMultiplier: 0 },
        state: {},
      });
    } catch (error) {
      if (!(isDistributedError(error) && error.code === 'COMMIT_OUTCOME_UNKNOWN')) throw error;
      // The connection broke during COMMIT: the record says whether it landed.
      const found = await records.findRound(taskId, round);
      if (found?.status !== 'committed' || found.record.roundId !== report.roundId) throw error;
    }
    metrics.phaseSeconds.observe({ phase: 'commit' }, (performance.now() - commitStarted) / 1000);
    // The round is durable from here on: a replica that cannot catch up now (PostgreSQL restarting)
    // catches up on its next sync, and must not keep the groups from hearing of the commit.
    await replica
      .sync()
      .catch((error: unknown) => logger.warn({ round, err: error }, 'task coordinator: replica sync after the commit failed; retried next round'));
    gate.afterCommit(gateOutcome);
    const modelVersion = head.modelVersion + 1;
    metrics.modelVersion.set(modelVersion);
    await this.#announce(() => coordination.publish(taskId, { kind: 'round-end', epoch: fence.epoch, round, roundId: opened.roundId, modelVersion }));
    await coordination.dropRound(taskId, round).catch(() => undefined);
    logger.info(
      { round, roundId: opened.roundId, modelVersion, groups, processes: contributing.length, coordinationBytes: bytes },
      'task coordinator: round committed',
    );
    return { status: 'committed', round, modelVersion, groups, reports, processes: contributing.length };
  }

  /**
   * Ends an opened round without a model. `released` says the group sums arrived (their reports
   * and the weakest group); without it, groups may still have unmasked, so the entry is σ at k_min.
   */
  async #abort(
    fence: Fence,
    state: RoundState,
    reason: ProtocolError,
    released: { released: { survivors: number[] }; weakest: number } | null,
  ): Promise<TaskRoundResult> {
    const conservative = { survivors: Array.from({ length: state.plan.privacy.minSurvivors }, (_, i) => i) };
    const ended = released
      ? abortedRound(this.#ending(state), reason, released.released, released.weakest)
      : abortedRound(this.#ending(state), reason, conservative);
    return this.#recordAbort(fence, state, reason, ended.report, ledgerInputOf(ended.ledger, state.round));
  }

  async #recordAbort(fence: Fence, state: RoundState, reason: ProtocolError, record: RoundReport, ledger: LedgerEntryInput | null): Promise<TaskRoundResult> {
    const { records, replica, coordination, taskId, metrics, logger } = this.#deps;
    await records.abortRound({ taskId, fence, round: state.round, record, ...(ledger ? { ledger } : {}), state: {} });
    await replica.sync();
    metrics.rounds.inc({ status: 'aborted' });
    const code = TASK_ABORT_CODES.find((known) => known === reason.code) ?? 'ABORTED';
    await this.#announce(() =>
      coordination.publish(taskId, { kind: 'abort-round', epoch: fence.epoch, round: state.round, reason: { code, message: reason.message } }),
    );
    await coordination.dropRound(taskId, state.round).catch(() => undefined);
    logger.warn({ round: state.round, code: reason.code, reason: reason.message }, 'task coordinator: round aborted; model kept');
    return { status: 'aborted', round: state.round, code: reason.code };
  }

  /** A round a previous holder (or this one, before a failure) opened and never recorded: recorded now, with σ at k_min. */
  async #recordInterrupted(fence: Fence, head: TaskHead, open: unknown): Promise<TaskRoundResult> {
    const state = roundStateFromJSON(open);
    if (state.round !== head.nextRound)
      throw new DistributedError(
        'COORDINATION_CORRUPT',
        `task ${this.#deps.taskId}`,
        `the open note names round ${state.round}, the head is at ${head.nextRound}`,
      );
    const reason = protocolError('INTERRUPTED', `round ${state.round}: its coordinator stopped before the round's record`);
    return this.#abort(fence, state, reason, null);
  }

  /** Control messages are a courtesy (the groups time out without them); a failed one is logged, not fatal. */
  async #announce(publish: () => Promise<unknown>): Promise<void> {
    try {
      await publish();
    } catch (error) {
      this.#deps.logger.warn({ err: error }, 'task coordinator: could not announce the round end; groups will time out');
    }
  }
}

/** The entry the record stores for a round: the last of the ledger if it is this round's. */
function ledgerInputOf(ledger: PrivacyLedger | null, round: number): LedgerEntryInput | null {
  const entry = ledger?.entries.at(-1);
  return entry && entry.round === round ? storedLedgerFields(entry) : null;
}

/**
 * The master aggregator's sum (§6): the groups' unmasked sums are plain vectors mod 2^k, so they
 * add coordinate-wise mod 2^k, like the clients' inputs inside one group.
 */
export function addGroupSums(
  groups: readonly GroupSum[],
  vectorLength: number,
  modulusBits: number,
): { ok: true; value: Uint32Array } | { ok: false; message: string } {
  const modulus = 2 ** modulusBits;
  const total = new Uint32Array(vectorLength);
  for (const group of groups) {
    if (group.bytes.byteLength !== vectorLength * 4) {
      return { ok: false, message: `group ${group.groupId}: ${group.bytes.byteLength} bytes, expected ${vectorLength} words of 4` };
    }
    const words = new Uint32Array(group.bytes.slice().buffer);
    for (let i = 0; i < vectorLength; i++) total[i] = ((total[i] as number) + (words[i] as number)) % modulus;
  }
  return { ok: true, value: total };
}
