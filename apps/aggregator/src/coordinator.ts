import type { Logger } from 'pino';
import {
  payloadBytes,
  protocolError,
  packSecAgg,
  type CheckInResult,
  type Eligibility,
  type PackedMessage,
  type PhaseEvent,
  type ProtocolError,
  type RoundPhase,
  type RoundPlan,
  type RoundReport,
  type SecAggUp,
  type ServerEventName,
  type ServerEventPayload,
  type LivePlan,
  PHASE_DEADLINE,
  SECAGG_PHASES,
  type SecAggPhase,
} from '@murmur/fl-core/protocol';
import { roundPlanHash, planPrivacyFor, projectPrivacyBudget, type BudgetProjection } from '@murmur/fl-core/round';
import { parameterCount } from '@murmur/fl-core/model';
import { addModInto } from '@murmur/fl-core/encode';
import {
  createCertificateLedger,
  createSecAggServer,
  defaultSuite,
  pendingClients,
  secAggServerStep,
  type CryptoSuite,
  type Outbound,
  type RoundConfig,
  type SecAggServerState,
  type SecAggServerStepOptions,
  type SecAggServerStepResult,
} from '@murmur/fl-core/secagg';
import type { AggregatorConfig } from './config';
import type { DataStore, StoredModel } from './store';
import type { AggregatorMetrics } from './metrics';
import { ParticipationBook, PhasePace } from './participation';
import type { ReleaseGate } from './release-gate';
import { abortedRound, concludeRound, maskedInputRefusal, planAggregatorRound, type AbortedRound, type RoundEnding, type RoundState } from './round-state';
import { capPerNetwork, poissonSample, secureRandomIndex, splitIntoGroups } from './sampling';
import { publicPhaseEvent, publicRoundRecord, withholds } from './public-view';

/** What an operator may change between rounds (admin API, validated against bounds there): fl-core's LivePlan. */
export type { LivePlan };

export interface CoordinatorDeps {
  config: AggregatorConfig;
  store: DataStore;
  logger: Logger;
  metrics: AggregatorMetrics;
  /** Decides each committed version's release (release-gate.ts). */
  gate: ReleaseGate;
  /** The plan rounds start with and its revision (plan.ts restores the operator's saved changes). */
  plan: { plan: LivePlan; revision: number };
  /** Emits to the client holding `tokenId`; false when it is not connected. */
  send<K extends ServerEventName>(tokenId: string, event: K, payload: ServerEventPayload<K>): boolean;
  isConnected(tokenId: string): boolean;
  /** The phase event as it may leave the aggregator (public-view.ts). */
  onPhase(event: PhaseEvent): void;
  /** The round record as it may leave the aggregator (public-view.ts); the store keeps the full one. */
  onReport(report: RoundReport): void;
  /**
   * The enrollment service's public key. When set, every round runs the authenticated protocol
   * (signed key advertisements, signed masking claims, Round 3 ConsistencyCheck, b commitments):
   * the SecAgg server machine verifies each signed message before it is relayed and refuses a bad
   * one as a protocol error to its sender. Certified clients refuse unauthenticated rounds.
   */
  enrollmentIssuer?: { name: string; publicKey: Uint8Array };
  /**
   * Closes SecAgg's unmasking stage off the event loop (unmask-thread.ts); null while that is not
   * available (the thread still starting, or failed), and absent: always on this thread.
   */
  unmasking?: { closeUnmasking(state: SecAggServerState): Promise<SecAggServerStepResult> | null };
  /**
   * The distributed mode (docs/scale-out.md): rounds are opened by the task's coordinator, this
   * process runs secure aggregation over its own groups and hands the sum of their unmasked sums on.
   * Absent: this process plans, selects and commits every round itself.
   */
  group?: GroupLink;
  /**
   * The distributed mode: what the population spent across its tasks (the replica's, as of its
   * last sync), which budgetProjection projects on instead of this task's ledger; null until known.
   */
  budgetLedger?: () => DataStore['ledger'] | null;
}

/** A round the task's coordinator opened (distributed mode): what this process's group plans from. */
export interface GroupOrder {
  round: number;
  roundId: string;
  /** q: every process samples its own pool with it, so the union is one Poisson sample. */
  samplingRate: number;
  /** N: m = q·N is every group's mean denominator. */
  population: number;
  /** The most reports all groups' sums may hold together: each group encodes for it. */
  maxClients: number;
  base: { version: number; hash: string };
  live: LivePlan;
  planRevision: number;
  /** Discrete noise: the round's rotation, the same for every group so their sums add in one rotated space (open-round). */
  rotationSeed?: Uint8Array;
}

/**
 * What a process hands on for a round: the sum of its SecAgg groups' unmasked sums (mod 2^k) and the
 * reports in each group's, so the ledger can record the weakest group of all processes.
 */
export interface GroupContribution {
  sum: Uint32Array;
  groupReports: number[];
}

export type GroupOutcome = { status: 'committed'; modelVersion: number } | { status: 'aborted'; reason: ProtocolError; modelVersion: number };

/** How a process's coordinator talks to the task's coordinator (distributed/group-link.ts over Redis and PostgreSQL). */
export interface GroupLink {
  /** This process's group id in the round's group sums. */
  readonly groupId: string;
  /** Most clients in one SecAgg group (distributed.groupSize): a larger draw runs several groups. */
  readonly groupSize: number;
  /** The next round the task's coordinator opens; null once interrupted. */
  nextOrder(): Promise<GroupOrder | null>;
  /** Makes a pending nextOrder resolve null (the coordinator is stopping or pausing). */
  interrupt(): void;
  /** The order's base model, from this process's replica of the record (brought up to date first). */
  baseModel(order: GroupOrder): Promise<StoredModel>;
  /** This process's unmasked groups' sum and each group's report count, or null: nothing from this process this round. */
  putSum(order: GroupOrder, contribution: GroupContribution | null): Promise<void>;
  /** The round's outcome as the task's coordinator recorded it (the replica is brought up to it first). */
  outcome(order: GroupOrder): Promise<GroupOutcome>;
  /** The task coordinator's abort of this round, once it has said so. */
  cancelled(round: number): ProtocolError | null;
  /** The task coordinator's latest pace-steering window for this process, or null (none, or stale). */
  paceSteering(): PaceSteering | null;
}

/** Pace steering: with `poolTarget` clients waiting, new check-ins come back at a uniform time in [fromMs, toMs]. */
export interface PaceSteering {
  poolTarget: number;
  fromMs: number;
  toMs: number;
}

/** The last message sent to a member, re-sent if it reconnects while the stage still waits on it. */
type LastSent = { event: 'roundPlan'; payload: RoundPlan } | { event: 'secagg'; payload: PackedMessage };

/**
 * A running round in this process: the plain, serializable RoundState (round-state.ts) beside what
 * only this process holds: the SecAgg server machine, the base model's weights, lookups, the
 * transport's re-send cache and the stage's start on this process's clock.
 */
interface ActiveRound {
  state: RoundState;
  server: SecAggServerState;
  /** The version this round trains from (and whose federated evaluation it reports). */
  base: StoredModel;
  participantOf: Map<string, number>;
  last: Map<string, LastSent>;
  stageStarted: number;
  /** The distributed mode's order this group round answers; absent when this process runs the round alone. */
  order?: GroupOrder;
}

/** A client waiting to be drawn; `network` is what the cohort cap counts it in (null: on its own). */
interface PoolEntry {
  eligibility: Eligibility;
  at: number;
  network: string | null;
}

/** Finished round ids remembered to answer late messages STALE_ROUND: several rounds' worth of groups. */
const FINISHED_ROUND_IDS = 1024;
/** After a group turn failed unexpectedly, how long before this process waits for the next order. */
const GROUP_RETRY_MS = 1_000;

/** The stage each client message answers. */
const STAGE_OF: Record<SecAggUp['type'], SecAggPhase> = {
  advertiseKeys: 'advertiseKeys',
  shareKeys: 'shareKeys',
  maskedInput: 'maskedInput',
  consistency: 'consistencyCheck',
  unmask: 'unmasking',
};

/**
 * The aggregator's round state machine: idle → checkin → (selection, configuration) →
 * advertiseKeys → shareKeys → maskedInput → unmasking → aggregate → commit, continuously, with a
 * pause between rounds. Protocol logic lives in fl-core (the SecAgg server machine, decoding,
 * server optimizers, the ledger); this class keeps time, selects, moves messages and persists.
 * Every step that touches the SecAgg state runs under one lock, so a message and a stage close
 * never interleave.
 */
export class RoundCoordinator {
  readonly #deps: CoordinatorDeps;
  /** Waiting clients; `network` is what the cohort cap counts them in (null: on its own). */
  readonly #pool = new Map<string, PoolEntry>();
  readonly #wakers = new Set<() => void>();
  #live: LivePlan;
  #planRevision: number;
  /** The running rounds: one, or in the distributed mode one per SecAgg group of this process's draw. */
  readonly #rounds = new Set<ActiveRound>();
  /** Each running round's members. */
  readonly #roundOfMember = new Map<string, ActiveRound>();
  #phase: RoundPhase = 'idle';
  #lastPhase: PhaseEvent = { round: 0, roundId: '', phase: 'idle', at: new Date().toISOString(), cohort: 0, pending: 0 };
  #paused = false;
  #stopped = false;
  #lock: Promise<unknown> = Promise.resolve();
  #loop: Promise<void> | null = null;
  #suite: CryptoSuite | null = null;
  /** Which peer certificates each client acknowledged: later rounds name them instead of re-sending them. */
  readonly #certificates = createCertificateLedger();
  /** Recent round ids, so a late or replayed message of a finished round is named as such. */
  readonly #finishedRoundIds = new Set<string>();
  readonly #disconnectedAt = new Map<string, number>();
  readonly #participation: ParticipationBook;
  readonly #pace: PhasePace;
  #lastSumRejected = false;
  /** ε allowed at the ledger's δ (privacy.epsilonBudget, raised by an operator at run time); null: none. */
  #epsilonBudget: number | null;
  /** Set when a round did not open because it would pass the budget; cleared by a new budget or plan. */
  #budgetHold: BudgetProjection | null = null;
  /** Clients eligible at the last selection: N for the projection when no population is configured. */
  #lastEligible: number | null = null;

  constructor(deps: CoordinatorDeps) {
    this.#deps = deps;
    const { round, participation } = deps.config;
    this.#participation = new ParticipationBook(participation);
    this.#pace = new PhasePace(round.adaptiveDeadlines);
    this.#live = deps.plan.plan;
    this.#planRevision = deps.plan.revision;
    this.#epsilonBudget = deps.config.privacy.epsilonBudget ?? null;
    deps.metrics.epsilonBudget.set(this.#epsilonBudget ?? Number.NaN);
    deps.metrics.budgetExhausted.set(0);
  }

  get phase(): RoundPhase {
    return this.#phase;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get plan(): LivePlan {
    return this.#live;
  }
  get planRevision(): number {
    return this.#planRevision;
  }
  /** The newest committed version (the latest candidate). */
  get modelVersion(): number {
    return this.#deps.store.modelVersion;
  }
  /** The version browsers suggest with. */
  get releasedVersion(): number {
    return this.#deps.store.release.released;
  }
  /** The SecAgg parameters of the round `tokenId` is a member of (they size its inbound messages), or null. */
  secAggConfigOf(tokenId: string): RoundConfig | null {
    return this.#roundOfMember.get(tokenId)?.state.plan.secagg ?? null;
  }
  /** The running round's plain state (round-state.ts; the first group's in the distributed mode), or null between rounds. */
  get roundState(): RoundState | null {
    return this.#firstRound()?.state ?? null;
  }
  #firstRound(): ActiveRound | undefined {
    return this.#rounds.values().next().value;
  }
  get poolSize(): number {
    return this.#pool.size;
  }
  /** The running round; with several groups, the first one's id and the cohort and pending members of all. */
  get currentRound(): { round: number; roundId: string; cohort: number; pending: number } | null {
    const first = this.#firstRound();
    if (!first) return null;
    let cohort = 0;
    let pending = 0;
    for (const r of this.#rounds) {
      cohort += r.state.members.length;
      pending += pendingClients(r.server).length;
    }
    return { round: first.state.round, roundId: first.state.roundId, cohort, pending };
  }

  start(): void {
    if (!this.#loop) this.#loop = this.#run();
  }

  /** Stops after the current step; an unfinished round is aborted (model untouched). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#deps.group?.interrupt();
    this.#wake();
    await this.#loop;
  }

  pause(): void {
    this.#paused = true;
    this.#deps.group?.interrupt();
    this.#wake();
  }

  resume(): void {
    this.#paused = false;
    this.#wake();
  }

  /** Applies from the next round on; the running round keeps the plan it announced. */
  setPlan(plan: LivePlan, revision: number): void {
    this.#live = plan;
    this.#planRevision = revision;
    // A plan with more noise or fewer rounds' worth of sampling may fit the budget: check again.
    this.#releaseBudgetHold();
  }

  get epsilonBudget(): number | null {
    return this.#epsilonBudget;
  }

  /** Whether rounds are held because the next one would pass the ε budget. */
  get budgetExhausted(): boolean {
    return this.#budgetHold !== null;
  }

  /** An operator's new budget (admin API): rounds held for the old one are checked against it. */
  setEpsilonBudget(budget: number | null): void {
    this.#epsilonBudget = budget;
    this.#deps.metrics.epsilonBudget.set(budget ?? Number.NaN);
    this.#releaseBudgetHold();
  }

  #releaseBudgetHold(): void {
    if (!this.#budgetHold) return;
    this.#budgetHold = null;
    this.#deps.metrics.budgetExhausted.set(0);
    this.#wake();
  }

  /**
   * The budget against the next round at the current plan: ε spent, ε after it, rounds left. The
   * population is the configured one, else the clients eligible at the last selection, else the
   * round's own size (q = 1, the most a round can cost).
   */
  budgetProjection(): BudgetProjection {
    const { config, store } = this.#deps;
    const live = this.#live;
    const wanted = Math.ceil(live.target * live.overSelection);
    const population = config.privacy.population ?? Math.max(wanted, this.#lastEligible ?? wanted);
    return this.#project(live, Math.min(1, wanted / population), population, store.nextRound, this.#deps.budgetLedger?.() ?? store.ledger);
  }

  /**
   * The budget against a round at this plan and sampling on top of `ledger` (the distributed mode's
   * task coordinator: the population's spend); `sumClients`, the round's sum bound, is the cohort a
   * discrete round's scale is chosen for (every group plans with it).
   */
  projectRound(
    live: LivePlan,
    samplingRate: number,
    population: number,
    round: number,
    ledger = this.#deps.store.ledger,
    sumClients?: number,
  ): BudgetProjection {
    return this.#project(live, samplingRate, population, round, ledger, sumClients);
  }

  #project(
    live: LivePlan,
    samplingRate: number,
    population: number,
    round: number,
    ledger = this.#deps.store.ledger,
    sumClients = Math.max(live.minReports, Math.ceil(live.target * live.overSelection)),
  ): BudgetProjection {
    const { config, store } = this.#deps;
    const dimension = parameterCount(store.spec);
    // Discrete noise: Δ₂ depends on the cohort the scale is chosen for; the projection takes the
    // largest the draw is likely to give (its scale is the finest, Δ₂ closest to C·scale, so the
    // difference from the actual round's entry is far below anything that moves ε).
    const discrete =
      config.privacy.noise === 'discrete'
        ? {
            dimension,
            clientCount: sumClients,
            modulusBits: config.round.modulusBits,
            rotationSeed: new Uint8Array(32),
          }
        : undefined;
    const { privacy } = planPrivacyFor(
      {
        mode: config.privacy.mode,
        clipNorm: live.clipNorm,
        noiseMultiplier: live.noiseMultiplier,
        adaptiveClipping: config.privacy.adaptiveClipping !== undefined,
        minReports: live.minReports,
        samplingRate,
        population,
        colluders: config.privacy.colluders,
        noise: config.privacy.noise,
      },
      discrete,
    );
    return projectPrivacyBudget({
      ledger,
      release: { round, privacy, samplingRate, dimension },
      targetDelta: config.privacy.targetDelta,
      epsilonBudget: this.#epsilonBudget,
    });
  }

  /** The round this token is selected for, so a reconnecting client knows whether to resume. */
  cohortRoundIdOf(tokenId: string): string | null {
    return this.#roundOfMember.get(tokenId)?.state.roundId ?? null;
  }

  /**
   * A client offers to train. `network` (network.ts: its /24 or /56) is what round.maxPerNetwork
   * counts; null counts it on its own. Eligibility is the device's yes or no: it compared its own
   * example count with `welcome.minExamples` and carries none (protocol 8).
   */
  checkIn(tokenId: string, eligibility: Eligibility, network: string | null = null): CheckInResult {
    if (this.#roundOfMember.has(tokenId)) return { status: 'waiting', retryAfterMs: 0 };
    if (this.#paused || this.#stopped || this.#budgetHold) return { status: 'paused', retryAfterMs: 5_000 };
    const bench = this.#participation.bench(tokenId);
    if (bench.remainingMs > 0) {
      this.#pool.delete(tokenId);
      const seconds = Math.ceil(bench.remainingMs / 1000);
      return {
        status: 'ineligible',
        reason: protocolError('BENCHED', `checkIn: ${bench.why}; not selected for another ${seconds} s`),
        retryAfterMs: bench.remainingMs,
      };
    }
    if (!eligibility.consent) {
      this.#pool.delete(tokenId);
      return { status: 'ineligible', reason: protocolError('NOT_ELIGIBLE', 'checkIn: no consent'), retryAfterMs: 60_000 };
    }
    const pace = this.#paceSteering();
    if (pace && !this.#pool.has(tokenId) && this.#pool.size >= pace.poolTarget) {
      this.#deps.metrics.paced.inc();
      return { status: 'later', retryAfterMs: pace.fromMs + secureRandomIndex(pace.toMs - pace.fromMs + 1) };
    }
    this.#pool.set(tokenId, { eligibility, at: Date.now(), network });
    this.#deps.metrics.funnel.inc({ stage: 'checked_in' });
    this.#wake();
    return { status: 'waiting', retryAfterMs: 0 };
  }

  /**
   * The pool this process keeps before it answers `later` (round.paceSteering): the task
   * coordinator's window in the distributed mode, else poolFactor × the cohort the plan wants.
   */
  #paceSteering(): PaceSteering | null {
    const link = this.#deps.group;
    if (link) return link.paceSteering();
    const { poolFactor, fromMs, toMs } = this.#deps.config.round.paceSteering;
    if (poolFactor === 0) return null;
    return { poolTarget: Math.ceil(poolFactor * Math.ceil(this.#live.target * this.#live.overSelection)), fromMs, toMs };
  }

  connected(tokenId: string): void {
    this.#disconnectedAt.delete(tokenId);
    const r = this.#roundOfMember.get(tokenId);
    const participantId = r?.participantOf.get(tokenId);
    const last = r?.last.get(tokenId);
    if (!r || participantId === undefined || !last) return;
    // Re-send what it may have missed while away, if the stage still waits on it.
    if (pendingClients(r.server).includes(participantId)) this.#deps.send(tokenId, last.event, last.payload as never);
  }

  disconnected(tokenId: string): void {
    this.#pool.delete(tokenId);
    if (this.#roundOfMember.has(tokenId)) {
      this.#disconnectedAt.set(tokenId, performance.now());
      const grace = this.#deps.config.round.reconnectGraceMs;
      setTimeout(() => this.#wake(), grace + 5).unref();
    }
    this.#wake();
  }

  /** Whether a member has been gone for longer than the reconnection grace. */
  #gone(tokenId: string): boolean {
    if (this.#deps.isConnected(tokenId)) return false;
    const since = this.#disconnectedAt.get(tokenId);
    return since === undefined || performance.now() - since >= this.#deps.config.round.reconnectGraceMs;
  }

  /** One inbound secure-aggregation message; the rejection (if any) goes back to its sender. */
  async handleSecAgg(tokenId: string, message: SecAggUp, bytes: number): Promise<ProtocolError | null> {
    if (this.#finishedRoundIds.has(message.roundId)) return protocolError('STALE_ROUND', `secagg ${message.type}: round ${message.roundId} is over`);
    const running = this.#firstRound();
    if (!running) return protocolError('NO_ROUND', `secagg ${message.type}: no round is running`);
    const r = this.#roundOfMember.get(tokenId);
    const from = r?.participantOf.get(tokenId);
    if (!r || from === undefined) return protocolError('NOT_IN_COHORT', `secagg ${message.type}: this client is not in round ${running.state.round}'s cohort`);
    return this.#withLock(async () => {
      if (!this.#rounds.has(r)) return protocolError('STALE_ROUND', `secagg ${message.type}: round ${r.state.round} is over`);
      const step = await secAggServerStep(r.server, { type: 'message', from, message }, await this.#stepOptions(r));
      if (!step.ok) return step.error;
      r.server = step.state;
      this.#pace.record(STAGE_OF[message.type], performance.now() - r.stageStarted);
      r.state.bytes.received += bytes;
      this.#deps.metrics.bytes.inc({ direction: 'received' }, bytes);
      this.#wake();
      return null;
    });
  }

  /** Certificates travel only in authenticated rounds, so only those rounds keep the certificate ledger. */
  async #stepOptions(r: ActiveRound): Promise<SecAggServerStepOptions> {
    const suite = await this.#cryptoSuite();
    return r.server.auth ? { suite, certificateLedger: this.#certificates } : { suite };
  }

  async #cryptoSuite(): Promise<CryptoSuite> {
    this.#suite ??= await defaultSuite();
    return this.#suite;
  }

  #withLock<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task, task);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** Resolves once `predicate` holds (checked on every wake) or `timeoutMs` passed; callers read their state again. */
  #waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        this.#wakers.delete(check);
        if (timer) clearTimeout(timer);
        resolve();
      };
      const check = () => {
        if (predicate()) finish();
      };
      const timer = Number.isFinite(timeoutMs) ? setTimeout(finish, timeoutMs) : null;
      this.#wakers.add(check);
    });
  }

  /** The latest phase change, for a dashboard that connects in the middle of a round. */
  get lastPhaseEvent(): PhaseEvent {
    return this.#lastPhase;
  }

  #setPhase(phase: RoundPhase): void {
    this.#phase = phase;
    const r = this.#firstRound();
    const event = {
      round: r?.state.round ?? 0,
      roundId: r?.state.roundId ?? '',
      phase,
      at: new Date().toISOString(),
      cohort: r?.state.members.length ?? 0,
      pending: r ? pendingClients(r.server).length : 0,
    };
    this.#lastPhase = publicPhaseEvent(event, this.#deps.config.privacy.mode);
    this.#deps.onPhase(this.#lastPhase);
  }

  #candidates(): string[] {
    return [...this.#pool.keys()].filter((tokenId) => this.#deps.isConnected(tokenId));
  }

  async #run(): Promise<void> {
    const link = this.#deps.group;
    while (!this.#stopped) {
      if (link && !this.#paused) {
        try {
          await this.#runGroupTurn(link);
        } catch (error) {
          // A bug or a broken link must not end the process's rounds: its group sits this turn out
          // (the task coordinator's deadline covers a missing answer) and waits for the next order.
          this.#deps.logger.error({ err: error }, 'group turn failed unexpectedly; waiting for the next order');
          await this.#waitFor(() => this.#stopped, GROUP_RETRY_MS);
        }
        continue;
      }
      if (this.#paused || this.#budgetHold) {
        this.#setPhase('paused');
        await this.#waitFor(() => !(this.#paused || this.#budgetHold) || this.#stopped, Infinity);
        continue;
      }
      this.#setPhase('checkin');
      // A plan and its revision are taken together: the record names the revision the round ran with.
      const live = this.#live;
      const planRevision = this.#planRevision;
      const wanted = Math.ceil(live.target * live.overSelection);
      const interrupted = () => this.#stopped || this.#paused;
      await this.#waitFor(() => interrupted() || this.#candidates().length >= live.minReports, Infinity);
      if (interrupted()) continue;
      await this.#waitFor(() => interrupted() || this.#candidates().length >= wanted, live.checkinMs);
      if (interrupted()) continue;
      const candidates = this.#candidates();
      if (candidates.length < live.minReports) continue;
      try {
        await this.#runRound(live, planRevision, candidates, wanted);
      } catch (error) {
        // A bug or a disk error must not take the service down: record the round as aborted if
        // the disk allows, tell its clients, keep serving. The store changes its in-memory state
        // only after a commit's writes succeed, so the model is untouched either way.
        this.#deps.logger.error({ err: error }, 'round failed unexpectedly; model untouched');
        for (const r of [...this.#rounds]) {
          try {
            this.#abort(r, protocolError('INTERNAL', `round ${r.state.round}: ${error instanceof Error ? error.message : String(error)}`));
          } catch (again) {
            this.#deps.logger.error({ err: again }, 'could not record the failed round');
            this.#finish(r);
          }
        }
      }
      this.#setPhase('idle');
      if (!this.#stopped) await this.#waitFor(() => this.#stopped, live.pauseMs);
    }
  }

  async #runRound(live: LivePlan, planRevision: number, candidates: string[], wanted: number): Promise<void> {
    const { config, store, metrics, logger } = this.#deps;
    const round = store.nextRound;
    // A fresh id per attempt: after a restart the same round number runs again, and messages
    // from the interrupted attempt must be refused as stale.
    const roundId = `r${round}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString('hex')}`;
    const eligible = candidates.length;
    const population = config.privacy.population ?? eligible;
    // After a rejected sum, sample fewer: rounds with and without the culprit tell it apart
    // (participation.ts). q is what the ledger records, so the accounting follows. Never below
    // minReports expected, though: the plan's k_min follows m = q·N down, and devices that require
    // a cohort of minReports (plan-policy.ts) refuse such a plan, go silent and are benched for it.
    const cap = this.#lastSumRejected ? config.participation.rejectedSamplingCap : 1;
    const drawnFrom = Math.max(1, population);
    const samplingRate = Math.max(Math.min(1, live.minReports / drawnFrom), Math.min(cap, wanted / drawnFrom));
    this.#lastEligible = eligible;
    // Before anyone is drawn or told anything: a round that could take ε past the budget never opens.
    const budget = this.#project(live, samplingRate, population, round);
    metrics.budgetRoundsLeft.set(budget.roundsLeft ?? Number.NaN);
    if (!budget.allowed) {
      this.#budgetHold = budget;
      metrics.budgetExhausted.set(1);
      metrics.budgetRefusals.inc();
      logger.warn(
        { round, epsilonSpent: budget.spent, epsilonNext: budget.next, epsilonBudget: budget.epsilonBudget, delta: config.privacy.targetDelta, samplingRate },
        'privacy budget: the next round would pass the ε budget; training paused until an operator raises the budget or the noise',
      );
      return;
    }
    // Poisson draw, then at most round.maxPerNetwork per network: one network's (fake) clients
    // cannot fill a cohort. Those over the cap keep waiting (docs/privacy.md, "Fake clients").
    const drawn = poissonSample(candidates, samplingRate);
    const { kept: selected, capped } = capPerNetwork(drawn, (tokenId) => this.#pool.get(tokenId)?.network ?? null, config.round.maxPerNetwork);
    if (capped.length > 0) {
      metrics.cappedByNetwork.inc(capped.length);
      logger.info(
        { round, maxPerNetwork: config.round.maxPerNetwork, ...(withholds(config.privacy.mode) ? {} : { capped: capped.length }) },
        'cohort cap per network: clients drawn beyond it are not selected this round',
      );
    }
    if (selected.length < live.minReports) {
      // The draw alone decided this (not anyone's data): nobody was told anything, draw again next time.
      logger.info(
        { round, eligible, samplingRate, ...(withholds(config.privacy.mode) ? {} : { selected: selected.length }), minReports: live.minReports },
        'Poisson draw below minReports: no round this time',
      );
      return;
    }
    const entries = new Map(selected.map((tokenId) => [tokenId, this.#pool.get(tokenId)]));
    for (const tokenId of selected) this.#pool.delete(tokenId);
    const n = selected.length;
    // The release state's training base: the pending candidate (this round evaluates it), or by
    // policy the refused candidate or the released version (fl-core round/release.ts).
    const base = store.trainingBase();
    const issuer = this.#deps.enrollmentIssuer;
    const plan = planAggregatorRound({
      config,
      live,
      round,
      roundId,
      base,
      spec: store.spec,
      clientCount: n,
      samplingRate,
      population,
      graphSeed: crypto.getRandomValues(new Uint8Array(32)),
      // Discrete noise: a fresh round-public rotation, drawn after the base model is fixed.
      ...(config.privacy.noise === 'discrete' ? { rotationSeed: crypto.getRandomValues(new Uint8Array(32)) } : {}),
      authenticated: issuer !== undefined,
    });
    const r = this.#startCohort({ plan, live, planRevision, base, selected, entries, eligible, samplingRate });
    if (!r) return;
    const result = await this.#runStages(r);
    if (!result) return;
    // The sum is unmasked: its ledger entry is durable before anything reads it (store.recordRelease).
    const interrupted = protocolError('INTERRUPTED', `round ${round}: the aggregator stopped after unmasking the sum`);
    const fallback = abortedRound(this.#ending(r), interrupted, result);
    if (fallback.ledger) this.#deps.store.recordRelease({ report: fallback.report, ledger: fallback.ledger });
    await this.#aggregateAndCommit(r, result);
  }

  /**
   * One round of the distributed mode from this process's side: wait for the task coordinator's
   * order, draw this process's own pool with the order's q, split the draw into SecAgg groups
   * (distributed.groupSize, each ≥ minReports), run them at once, hand on the sum of the groups'
   * unmasked sums with each group's report count, and tell the members how the round ended. Every
   * path that can answers the order (a sum or nothing), so the task coordinator rarely waits on
   * this process until its deadline.
   */
  async #runGroupTurn(link: GroupLink): Promise<void> {
    const { config, store, metrics, logger } = this.#deps;
    this.#setPhase('checkin');
    const order = await link.nextOrder();
    if (!order || this.#stopped || this.#paused) return;
    const { round, live } = order;
    const candidates = this.#candidates();
    const drawn = poissonSample(candidates, order.samplingRate);
    const { kept: selected, capped } = capPerNetwork(drawn, (tokenId) => this.#pool.get(tokenId)?.network ?? null, config.round.maxPerNetwork);
    if (capped.length > 0) metrics.cappedByNetwork.inc(capped.length);
    // Every group must hold minReports to be private on its own (its noise is calibrated to k_min),
    // and the draw no more than the round's sum bound: the draw decided, so nobody is told anything.
    if (selected.length < live.minReports || selected.length > order.maxClients) {
      logger.info(
        {
          round,
          eligible: candidates.length,
          samplingRate: order.samplingRate,
          minReports: live.minReports,
          ...(withholds(config.privacy.mode) ? {} : { selected: selected.length }),
        },
        'group: the draw on this process is outside [minReports, maxClients]: no group here this round',
      );
      await this.#answerOrder(link, order, null);
      return;
    }
    const entries = new Map(selected.map((tokenId) => [tokenId, this.#pool.get(tokenId)]));
    for (const tokenId of selected) this.#pool.delete(tokenId);
    const started: ActiveRound[] = [];
    let answered = false;
    try {
      const base = await link.baseModel(order);
      const groups = splitIntoGroups(selected, link.groupSize, live.minReports);
      for (const [index, members] of groups.entries()) {
        const plan = planAggregatorRound({
          config,
          live,
          round,
          // One SecAgg instance per group: the process and group index keep the groups' messages apart.
          roundId: `${order.roundId}-${link.groupId}.${index}`,
          base,
          spec: store.spec,
          clientCount: members.length,
          sumClients: order.maxClients,
          samplingRate: order.samplingRate,
          population: order.population,
          graphSeed: crypto.getRandomValues(new Uint8Array(32)),
          ...(order.rotationSeed ? { rotationSeed: order.rotationSeed } : {}),
          authenticated: this.#deps.enrollmentIssuer !== undefined,
        });
        const r = this.#startCohort({
          plan,
          live,
          planRevision: order.planRevision,
          base,
          selected: members,
          entries: new Map(members.map((tokenId) => [tokenId, entries.get(tokenId)])),
          eligible: candidates.length,
          samplingRate: order.samplingRate,
          order,
        });
        if (r) started.push(r);
      }
      const results = await Promise.all(started.map((r) => this.#runStages(r)));
      const unmasked = started.flatMap((r, index) => {
        const result = results[index];
        return result ? [{ r, result }] : [];
      });
      const [first, ...others] = unmasked;
      if (!first) {
        await this.#answerOrder(link, order, null);
        return;
      }
      // The groups' sums add mod 2^k without wrapping: every group encoded for the round's bound.
      const sum = new Uint32Array(first.result.sum);
      for (const { result } of others) addModInto(sum, result.sum, first.r.state.plan.encoding.modulusBits);
      this.#setPhase('aggregate');
      answered = true;
      await link.putSum(order, { sum, groupReports: unmasked.map(({ result }) => result.survivors.length) });
      this.#setPhase('commit');
      const outcome = await link.outcome(order);
      for (const { r, result } of unmasked) {
        this.#endGroupRound(
          r,
          outcome,
          result.survivors.map((id) => this.#tokenOf(r, id)),
        );
      }
    } catch (error) {
      // Redis or PostgreSQL gone mid-round: the members hear of it, the task coordinator records the abort.
      const reason = protocolError('INTERNAL', `round ${round}: ${error instanceof Error ? error.message : String(error)}`);
      logger.warn({ round, err: error }, 'group round failed; the task coordinator records the round');
      for (const r of started) if (this.#rounds.has(r)) this.#abort(r, reason);
      // The drawn clients no group took were told nothing: they wait for the next draw.
      const told = new Set(started.flatMap((r) => r.state.members.map((member) => member.tokenId)));
      for (const [tokenId, entry] of entries) if (entry && !told.has(tokenId) && !this.#pool.has(tokenId)) this.#pool.set(tokenId, entry);
      if (!answered) await this.#answerOrder(link, order, null);
    }
  }

  /** Answers an order with this process's contribution (or none); a failure is logged, the task coordinator's deadline covers it. */
  async #answerOrder(link: GroupLink, order: GroupOrder, contribution: GroupContribution | null): Promise<void> {
    try {
      await link.putSum(order, contribution);
    } catch (error) {
      this.#deps.logger.warn({ round: order.round, err: error }, 'group: could not answer the round; the task coordinator will go on without this process');
    }
  }

  /** The members hear the task coordinator's outcome; the record itself is the task coordinator's (the replica has it). */
  #endGroupRound(r: ActiveRound, outcome: GroupOutcome, survivors: string[]): void {
    const { metrics, logger } = this.#deps;
    const { state } = r;
    for (const { tokenId } of state.members) {
      this.#sendTo(r, tokenId, 'roundEnd', {
        roundId: state.roundId,
        round: state.round,
        status: outcome.status,
        modelVersion: outcome.modelVersion,
        ...(outcome.status === 'aborted' ? { reason: { code: outcome.reason.code, message: outcome.reason.message } } : {}),
      });
    }
    if (outcome.status === 'committed') for (const tokenId of survivors) this.#participation.completed(tokenId);
    metrics.rounds.inc({ status: outcome.status });
    logger.info({ round: state.round, roundId: state.roundId, status: outcome.status, modelVersion: outcome.modelVersion }, 'group round ended');
    this.#finish(r);
  }

  /**
   * The SecAgg server for a drawn cohort, the round's plain state, and the plan sent to every member.
   * Null when SecAgg cannot be configured for the cohort: nobody was told anything, so the clients
   * go back to the pool for the next selection.
   */
  #startCohort(input: {
    plan: RoundPlan;
    live: LivePlan;
    planRevision: number;
    base: StoredModel;
    selected: string[];
    entries: Map<string, PoolEntry | undefined>;
    eligible: number;
    samplingRate: number;
    order?: GroupOrder;
  }): ActiveRound | null {
    const { config, metrics, logger } = this.#deps;
    const { plan, live, planRevision, base, selected, entries, eligible, samplingRate } = input;
    const { round, roundId } = plan;
    const n = selected.length;
    const issuer = this.#deps.enrollmentIssuer;
    const { secagg } = plan;
    // The plan hash every member signs: a member shown another plan or model cannot verify the others.
    const created = createSecAggServer(secagg, issuer ? { enrollmentIssuer: issuer, planHash: roundPlanHash(plan) } : undefined);
    if (!created.ok) {
      logger.error({ round, error: created.error }, 'cannot configure secure aggregation for this cohort');
      // Nobody was told anything: the clients go back to waiting for the next selection.
      for (const [tokenId, entry] of entries) if (entry) this.#pool.set(tokenId, entry);
      return null;
    }
    const members = selected.map((tokenId) => ({ tokenId, backend: entries.get(tokenId)?.eligibility.backend ?? 'unknown' }));
    const backends: Record<string, number> = {};
    for (const member of members) backends[member.backend] = (backends[member.backend] ?? 0) + 1;
    const r: ActiveRound = {
      state: {
        round,
        roundId,
        startedAt: new Date().toISOString(),
        plan,
        live,
        planRevision,
        base: { version: base.version, hash: base.hash },
        members,
        eligible,
        samplingRate,
        funnel: { eligible, selected: n, advertised: 0, shared: 0, masked: 0, unmasked: 0 },
        dropouts: {},
        bytes: { received: 0, sent: 0 },
        durationsMs: {},
        backends,
      },
      server: created.state,
      base,
      participantOf: new Map(selected.map((tokenId, participantId) => [tokenId, participantId])),
      last: new Map(),
      stageStarted: performance.now(),
      ...(input.order ? { order: input.order } : {}),
    };
    this.#rounds.add(r);
    for (const tokenId of selected) this.#roundOfMember.set(tokenId, r);
    metrics.funnel.inc({ stage: 'eligible' }, eligible);
    metrics.funnel.inc({ stage: 'selected' }, n);
    const exact = !withholds(config.privacy.mode);
    logger.info(
      {
        round,
        roundId,
        eligible,
        ...(exact ? { selected: n, threshold: secagg.threshold } : {}),
        graph: secagg.graph.kind,
        trainingBase: base.version,
        planRevision,
      },
      'round started',
    );
    selected.forEach((tokenId, participantId) => this.#sendTo(r, tokenId, 'roundPlan', { ...plan, participantId }));
    return r;
  }

  /**
   * Runs the SecAgg stages with their deadlines: the unmasked sum and its survivors, or null when
   * the round ended on the way (it is then aborted and its members told).
   */
  async #runStages(r: ActiveRound): Promise<NonNullable<SecAggServerState['result']> | null> {
    const { config, metrics, logger } = this.#deps;
    const { round } = r.state;
    const exact = !withholds(config.privacy.mode);
    const link = this.#deps.group;
    for (const stage of SECAGG_PHASES) {
      // Round 3 (ConsistencyCheck) runs in authenticated rounds only.
      if (stage === 'consistencyCheck' && r.server.stage !== stage) continue;
      if (r.server.stage !== stage) break;
      this.#setPhase(stage);
      r.stageStarted = performance.now();
      const deadlineMs = this.#pace.deadlineMs(stage, config.round.deadlines[PHASE_DEADLINE[stage]]);
      const cancelled = () => (link ? link.cancelled(round) : null);
      await this.#waitFor(() => this.#stopped || cancelled() !== null || pendingClients(r.server).every((id) => this.#gone(this.#tokenOf(r, id))), deadlineMs);
      const interruption = this.#stopped ? protocolError('SHUTTING_DOWN', `round ${round}: the aggregator is shutting down`) : cancelled();
      if (interruption) {
        this.#abort(r, interruption);
        return null;
      }
      const silent = pendingClients(r.server).map((id) => this.#tokenOf(r, id));
      for (const tokenId of silent) this.#participation.silent(tokenId, stage);
      const disconnected = silent.filter((tokenId) => !this.#deps.isConnected(tokenId)).length;
      r.state.dropouts[stage] = { silent: silent.length - disconnected, disconnected };
      if (silent.length > disconnected) metrics.dropouts.inc({ phase: stage, reason: 'silent' }, silent.length - disconnected);
      if (disconnected > 0) metrics.dropouts.inc({ phase: stage, reason: 'disconnected' }, disconnected);
      if (silent.length > 0 && exact)
        logger.info({ round, stage, deadlineMs, silent: silent.length }, 'phase closed without some clients; they sit out a while');
      const failure = await this.#withLock(async () => {
        const refusal = stage === 'maskedInput' ? maskedInputRefusal(r.state, r.server.masked.length) : null;
        if (refusal) return refusal;
        const offThread = stage === 'unmasking' ? (this.#deps.unmasking?.closeUnmasking(r.server) ?? null) : null;
        const closed = await (offThread ?? secAggServerStep(r.server, { type: 'closeStage', stage }, await this.#stepOptions(r)));
        if (!closed.ok) return closed.error;
        r.server = closed.state;
        this.#deliver(r, closed.outbound);
        return null;
      });
      this.#closeStageMetrics(r, stage);
      if (failure) {
        this.#abort(r, failure);
        return null;
      }
    }
    if (r.server.stage !== 'done' || !r.server.result) {
      this.#abort(r, r.server.abort ?? protocolError('ABORTED', `round ${round}: secure aggregation did not finish`));
      return null;
    }
    return r.server.result;
  }

  /** The token of participant `id` (ids come from the SecAgg machine, which only knows 0 … n − 1). */
  #tokenOf(r: ActiveRound, id: number): string {
    const member = r.state.members[id];
    if (!member) throw new RangeError(`round ${r.state.round}: participant ${id} is not in the cohort of ${r.state.members.length}`);
    return member.tokenId;
  }

  #sendTo<K extends 'roundPlan' | 'secagg' | 'roundEnd'>(r: ActiveRound, tokenId: string, event: K, payload: ServerEventPayload<K>): void {
    if (event === 'roundPlan' || event === 'secagg') r.last.set(tokenId, { event, payload } as LastSent);
    const bytes = payloadBytes(payload);
    r.state.bytes.sent += bytes;
    this.#deps.metrics.bytes.inc({ direction: 'sent' }, bytes);
    this.#deps.send(tokenId, event, payload);
  }

  #deliver(r: ActiveRound, outbound: Outbound[]): void {
    for (const { to, message } of outbound) this.#sendTo(r, this.#tokenOf(r, to), 'secagg', packSecAgg(message));
  }

  #closeStageMetrics(r: ActiveRound, stage: SecAggPhase): void {
    const ms = performance.now() - r.stageStarted;
    r.state.durationsMs[stage] = ms;
    this.#deps.metrics.phaseSeconds.observe({ phase: stage }, ms / 1000);
    const s = r.server;
    // ConsistencyCheck's signers are logged, not a funnel field: the record schema keeps its counts.
    const counts: Record<SecAggPhase, [keyof RoundReport['cohort'], number] | null> = {
      advertiseKeys: ['advertised', s.advertised.length],
      shareKeys: ['shared', s.shared.length],
      maskedInput: ['masked', s.masked.length],
      consistencyCheck: null,
      unmasking: ['unmasked', s.unmaskResponses.length],
    };
    const count = counts[stage];
    if (!count) {
      if (!withholds(this.#deps.config.privacy.mode)) {
        this.#deps.logger.info({ round: r.state.round, signed: s.consistency.length, survivors: s.survivors.length }, 'consistency check closed');
      }
      return;
    }
    const [field, value] = count;
    r.state.funnel[field] = value;
    this.#deps.metrics.funnel.inc({ stage: field }, value);
  }

  /** Where a round ends: what the store, the gate and the members are told, from the state and the ledger. */
  #ending(r: ActiveRound): RoundEnding {
    return { state: r.state, ledger: this.#deps.store.ledger, targetDelta: this.#deps.config.privacy.targetDelta, endedAt: new Date().toISOString() };
  }

  /**
   * Ends a round without touching the model: durable record first, then the announcement. A sum
   * that was already unmasked was released to this server, so it is in the ledger all the same.
   */
  #abort(r: ActiveRound, reason: ProtocolError): void {
    if (r.order) return this.#abortGroup(r, reason);
    this.#recordAbort(r, reason, abortedRound(this.#ending(r), reason, r.server.result));
  }

  /**
   * A group round that ends early: its members are told; the turn hands on the other groups' sums,
   * or nothing (the task coordinator records the round and its ledger; this process records nothing).
   */
  #abortGroup(r: ActiveRound, reason: ProtocolError): void {
    this.#tellAborted(r, reason);
    this.#deps.metrics.rounds.inc({ status: 'aborted' });
    this.#deps.logger.warn({ round: r.state.round, roundId: r.state.roundId, code: reason.code, reason: reason.message }, 'group round aborted');
    this.#finish(r);
  }

  /** Tells the members still in the protocol, in its own terms, that nothing more will come, and how the round ended. */
  #tellAborted(r: ActiveRound, reason: ProtocolError): void {
    const { state } = r;
    if (r.server.stage !== 'aborted') {
      for (const { tokenId } of state.members) {
        this.#sendTo(r, tokenId, 'secagg', packSecAgg({ type: 'abort', roundId: state.roundId, reason: { code: reason.code, message: reason.message } }));
      }
    }
    for (const { tokenId } of state.members) {
      this.#sendTo(r, tokenId, 'roundEnd', {
        roundId: state.roundId,
        round: state.round,
        status: 'aborted',
        modelVersion: this.#deps.store.modelVersion,
        reason: { code: reason.code, message: reason.message },
      });
    }
  }

  #recordAbort(r: ActiveRound, reason: ProtocolError, ended: AbortedRound): void {
    const { store, metrics, logger } = this.#deps;
    const { state } = r;
    const { report, ledger } = ended;
    this.#setPhase('commit');
    store.commit({ report, ...(ledger ? { ledger } : {}) });
    this.#tellAborted(r, reason);
    metrics.rounds.inc({ status: 'aborted' });
    const shown = publicRoundRecord(report);
    logger.warn(
      { round: state.round, roundId: state.roundId, code: reason.code, reason: reason.message, cohort: shown.cohort },
      'round aborted; model untouched',
    );
    this.#finish(r);
    this.#deps.onReport(shown);
  }

  #finish(r: ActiveRound): void {
    this.#rounds.delete(r);
    for (const { tokenId } of r.state.members) {
      this.#disconnectedAt.delete(tokenId);
      if (this.#roundOfMember.get(tokenId) === r) this.#roundOfMember.delete(tokenId);
    }
    this.#finishedRoundIds.add(r.state.roundId);
    if (this.#finishedRoundIds.size > FINISHED_ROUND_IDS) this.#finishedRoundIds.delete(this.#finishedRoundIds.values().next().value as string);
  }

  async #aggregateAndCommit(r: ActiveRound, result: NonNullable<SecAggServerState['result']>): Promise<void> {
    const { store, metrics, logger, config } = this.#deps;
    const { state } = r;
    this.#setPhase('aggregate');
    const started = performance.now();
    const survivors = result.survivors.map((id) => this.#tokenOf(r, id));
    const concluded = concludeRound({
      ...this.#ending(r),
      result,
      base: r.base,
      nextVersion: store.modelVersion + 1,
      adaptive: config.privacy.adaptiveClipping,
    });
    if (concluded.status === 'aborted') {
      // Secure aggregation hid every input: a sum no honest cohort produces benches its survivors.
      if (concluded.rejectedSum) {
        for (const tokenId of survivors) this.#participation.rejected(tokenId);
        this.#lastSumRejected = true;
      }
      return this.#recordAbort(r, concluded.reason, concluded);
    }
    const { ledger, model } = concluded;
    state.durationsMs.aggregate = performance.now() - started;
    metrics.phaseSeconds.observe({ phase: 'aggregate' }, state.durationsMs.aggregate / 1000);
    const report: RoundReport = { ...concluded.report, durationsMs: { ...state.durationsMs } };
    const { epsilon, nextClipNorm } = report.privacy;
    const to = report.modelVersion.to;
    this.#setPhase('commit');
    const commitStarted = performance.now();
    // The new version is a candidate: the gate decides (this round's evaluation of its base first),
    // and the release state is written with the round.
    const gate = this.#deps.gate.atCommit(report, r.base, { version: to, weights: model.weights });
    store.commit({ report, ledger, model, release: gate.state });
    this.#deps.gate.afterCommit(gate);
    for (const tokenId of survivors) this.#participation.completed(tokenId);
    this.#lastSumRejected = false;
    if (nextClipNorm !== undefined) this.#live = { ...this.#live, clipNorm: nextClipNorm };
    metrics.phaseSeconds.observe({ phase: 'commit' }, (performance.now() - commitStarted) / 1000);
    metrics.rounds.inc({ status: 'committed' });
    metrics.modelVersion.set(store.modelVersion);
    if (epsilon !== null) metrics.epsilon.set(epsilon);
    for (const { tokenId } of state.members) {
      this.#sendTo(r, tokenId, 'roundEnd', { roundId: state.roundId, round: state.round, status: 'committed', modelVersion: store.modelVersion });
    }
    const shown = publicRoundRecord(report);
    logger.info(
      {
        round: state.round,
        roundId: state.roundId,
        modelVersion: store.modelVersion,
        trainedFrom: state.base.version,
        released: store.release.released,
        ...(shown.metrics ? { survivors: survivors.length, eval: shown.metrics.eval } : {}),
        epsilon,
        durationsMs: report.durationsMs,
      },
      'round committed',
    );
    this.#finish(r);
    this.#deps.onReport(shown);
  }
}
