import type { Logger } from 'pino';
import {
  ADAPTIVE_CLIPPING_DEFAULTS,
  applyServerUpdate,
  checkDecodedSum,
  modelUpdateNoiseMultiplier,
  updateClipNorm,
  contributionMetricsSpec,
  createMetricsLayout,
  createSecAggServer,
  decodeSumWithMetrics,
  defaultSuite,
  encodingParams,
  payloadBytes,
  pendingClients,
  PrivacyLedger,
  protocolError,
  PROTOCOL_VERSION,
  roundNoiseMultiplier,
  secAggPlusParameters,
  secAggServerStep,
  packSecAgg,
  type CheckInResult,
  type CryptoSuite,
  type Eligibility,
  type Outbound,
  type PackedMessage,
  type PhaseEvent,
  type ProtocolError,
  type RoundConfig,
  roundPlanHash,
  type RoundPhase,
  type RoundPlan,
  type RoundReport,
  type SecAggServerState,
  type SecAggUp,
  type ServerEventName,
  type ServerEventPayload,
  type LivePlan,
  PHASE_DEADLINE,
  SECAGG_PHASES,
  type SecAggPhase,
} from '@murmur/fl-core';
import type { AggregatorConfig } from './config';
import type { DataStore, StoredModel } from './store';
import type { AggregatorMetrics } from './metrics';
import { ParticipationBook, PhasePace } from './participation';
import type { ReleaseGate } from './release-gate';
import { poissonSample } from './sampling';

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
  onPhase(event: PhaseEvent): void;
  onReport(report: RoundReport): void;
  /**
   * The enrollment service's public key. When set, every round runs the authenticated protocol
   * (signed key advertisements, signed masking claims, Round 3 ConsistencyCheck, b commitments):
   * the SecAgg server machine verifies each signed message before it is relayed and refuses a bad
   * one as a protocol error to its sender. Certified clients refuse unauthenticated rounds.
   */
  enrollmentIssuer?: { name: string; publicKey: Uint8Array };
}

interface Member {
  tokenId: string;
  participantId: number;
  backend: string;
  /** The last message sent to it, re-sent if it reconnects while the stage still waits on it. */
  last: { event: 'roundPlan'; payload: RoundPlan } | { event: 'secagg'; payload: PackedMessage };
}

interface ActiveRound {
  round: number;
  roundId: string;
  startedAt: string;
  plan: RoundPlan;
  live: LivePlan;
  /** The operator plan's revision this round runs with. */
  planRevision: number;
  /** The version this round trains from (and whose federated evaluation it reports). */
  base: StoredModel;
  members: Map<string, Member>;
  byParticipant: string[];
  server: SecAggServerState;
  eligible: number;
  /** q: the probability with which each eligible client was drawn into this round. */
  samplingRate: number;
  funnel: RoundReport['cohort'];
  /** Who each closed phase lost, silent or disconnected (the record's `dropouts`). */
  dropouts: NonNullable<RoundReport['dropouts']>;
  bytes: { received: number; sent: number };
  durationsMs: Record<string, number>;
  backends: Record<string, number>;
  stageStarted: number;
}

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
  readonly #pool = new Map<string, { eligibility: Eligibility; at: number }>();
  readonly #wakers = new Set<() => void>();
  #live: LivePlan;
  #planRevision: number;
  #round: ActiveRound | null = null;
  #phase: RoundPhase = 'idle';
  #lastPhase: PhaseEvent = { round: 0, roundId: '', phase: 'idle', at: new Date().toISOString(), cohort: 0, pending: 0 };
  #paused = false;
  #stopped = false;
  #lock: Promise<unknown> = Promise.resolve();
  #loop: Promise<void> | null = null;
  #suite: CryptoSuite | null = null;
  /** Recent round ids, so a late or replayed message of a finished round is named as such. */
  readonly #finishedRoundIds = new Set<string>();
  readonly #disconnectedAt = new Map<string, number>();
  readonly #participation: ParticipationBook;
  readonly #pace: PhasePace;
  #lastSumRejected = false;

  constructor(deps: CoordinatorDeps) {
    this.#deps = deps;
    const { round, participation } = deps.config;
    this.#participation = new ParticipationBook(participation);
    this.#pace = new PhasePace(round.adaptiveDeadlines);
    this.#live = deps.plan.plan;
    this.#planRevision = deps.plan.revision;
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
  /** The running round's SecAgg parameters (sizes inbound messages), or null between rounds. */
  get activeSecAggConfig(): RoundConfig | null {
    return this.#round?.plan.secagg ?? null;
  }
  get poolSize(): number {
    return this.#pool.size;
  }
  get currentRound(): { round: number; roundId: string; cohort: number; pending: number } | null {
    const r = this.#round;
    return r ? { round: r.round, roundId: r.roundId, cohort: r.byParticipant.length, pending: pendingClients(r.server).length } : null;
  }

  start(): void {
    if (!this.#loop) this.#loop = this.#run();
  }

  /** Stops after the current step; an unfinished round is aborted (model untouched). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake();
    await this.#loop;
  }

  pause(): void {
    this.#paused = true;
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
  }

  /** The round this token is selected for, so a reconnecting client knows whether to resume. */
  cohortRoundIdOf(tokenId: string): string | null {
    return this.#round?.members.has(tokenId) ? this.#round.roundId : null;
  }

  checkIn(tokenId: string, eligibility: Eligibility): CheckInResult {
    if (this.#round?.members.has(tokenId)) return { status: 'waiting', retryAfterMs: 0 };
    if (this.#paused || this.#stopped) return { status: 'paused', retryAfterMs: 5_000 };
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
    const { minExamples } = this.#deps.config.round;
    if (!eligibility.consent || eligibility.exampleCount < minExamples) {
      const why = !eligibility.consent ? 'no consent' : `${eligibility.exampleCount} examples, need at least ${minExamples}`;
      this.#pool.delete(tokenId);
      return { status: 'ineligible', reason: protocolError('NOT_ELIGIBLE', `checkIn: ${why}`), retryAfterMs: 60_000 };
    }
    this.#pool.set(tokenId, { eligibility, at: Date.now() });
    this.#deps.metrics.funnel.inc({ stage: 'checked_in' });
    this.#wake();
    return { status: 'waiting', retryAfterMs: 0 };
  }

  connected(tokenId: string): void {
    this.#disconnectedAt.delete(tokenId);
    const r = this.#round;
    const member = r?.members.get(tokenId);
    if (!r || !member) return;
    // Re-send what it may have missed while away, if the stage still waits on it.
    if (pendingClients(r.server).includes(member.participantId)) this.#deps.send(tokenId, member.last.event, member.last.payload as never);
  }

  disconnected(tokenId: string): void {
    this.#pool.delete(tokenId);
    if (this.#round?.members.has(tokenId)) {
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
    const r = this.#round;
    if (this.#finishedRoundIds.has(message.roundId)) return protocolError('STALE_ROUND', `secagg ${message.type}: round ${message.roundId} is over`);
    if (!r) return protocolError('NO_ROUND', `secagg ${message.type}: no round is running`);
    const member = r.members.get(tokenId);
    if (!member) return protocolError('NOT_IN_COHORT', `secagg ${message.type}: this client is not in round ${r.round}'s cohort`);
    return this.#withLock(async () => {
      if (this.#round !== r) return protocolError('STALE_ROUND', `secagg ${message.type}: round ${r.round} is over`);
      const step = await secAggServerStep(r.server, { type: 'message', from: member.participantId, message }, { suite: await this.#cryptoSuite() });
      if (!step.ok) return step.error;
      r.server = step.state;
      this.#pace.record(STAGE_OF[message.type], performance.now() - r.stageStarted);
      r.bytes.received += bytes;
      this.#deps.metrics.bytes.inc({ direction: 'received' }, bytes);
      this.#wake();
      return null;
    });
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

  /** Resolves true once `predicate` holds (checked on every wake), false after `timeoutMs`. */
  #waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (value: boolean) => {
        this.#wakers.delete(check);
        if (timer) clearTimeout(timer);
        resolve(value);
      };
      const check = () => {
        if (predicate()) finish(true);
      };
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => finish(predicate()), timeoutMs) : null;
      this.#wakers.add(check);
    });
  }

  /** The latest phase change, for a dashboard that connects in the middle of a round. */
  get lastPhaseEvent(): PhaseEvent {
    return this.#lastPhase;
  }

  #setPhase(phase: RoundPhase): void {
    this.#phase = phase;
    const r = this.#round;
    this.#lastPhase = {
      round: r?.round ?? 0,
      roundId: r?.roundId ?? '',
      phase,
      at: new Date().toISOString(),
      cohort: r?.byParticipant.length ?? 0,
      pending: r ? pendingClients(r.server).length : 0,
    };
    this.#deps.onPhase(this.#lastPhase);
  }

  #candidates(): string[] {
    return [...this.#pool.keys()].filter((tokenId) => this.#deps.isConnected(tokenId));
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (this.#paused) {
        this.#setPhase('paused');
        await this.#waitFor(() => !this.#paused || this.#stopped, Infinity);
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
        const r = this.#round;
        if (r) {
          try {
            this.#abort(r, protocolError('INTERNAL', `round ${r.round}: ${error instanceof Error ? error.message : String(error)}`));
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

  #roundConfig(roundId: string, n: number, minReports: number, vectorLength: number): RoundConfig {
    const { secAggPlusFrom, dropoutRate, modulusBits } = this.#deps.config.round;
    if (n >= secAggPlusFrom) {
      const params = secAggPlusParameters({ clientCount: n, dropoutRate });
      if (!params.full) {
        const seed = crypto.getRandomValues(new Uint8Array(32));
        return { roundId, clientCount: n, threshold: params.threshold, vectorLength, modulusBits, graph: { kind: 'harary', degree: params.degree, seed } };
      }
    }
    // Full graph: t must exceed n/2 (see secagg/config.ts) and no round commits below minReports.
    const threshold = Math.min(n, Math.max(minReports, Math.floor(n / 2) + 1));
    return { roundId, clientCount: n, threshold, vectorLength, modulusBits, graph: { kind: 'full' } };
  }

  async #runRound(live: LivePlan, planRevision: number, candidates: string[], wanted: number): Promise<void> {
    const { config, store, metrics, logger } = this.#deps;
    const round = store.nextRound;
    // A fresh id per attempt: after a restart the same round number runs again, and messages
    // from the interrupted attempt must be refused as stale.
    const roundId = `r${round}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString('hex')}`;
    const eligible = candidates.length;
    // After a rejected sum, sample fewer: rounds with and without the culprit tell it apart
    // (participation.ts). q is what the ledger records, so the accounting follows.
    const cap = this.#lastSumRejected ? config.participation.rejectedSamplingCap : 1;
    const samplingRate = Math.min(cap, wanted / Math.max(1, config.privacy.population ?? eligible));
    const selected = poissonSample(candidates, samplingRate);
    if (selected.length < live.minReports) {
      // The draw alone decided this (not anyone's data): nobody was told anything, draw again next time.
      logger.info(
        { round, eligible, samplingRate, selected: selected.length, minReports: live.minReports },
        'Poisson draw below minReports: no round this time',
      );
      return;
    }
    const entries = new Map(selected.map((tokenId) => [tokenId, this.#pool.get(tokenId)]));
    const backendOf = new Map(selected.map((tokenId) => [tokenId, entries.get(tokenId)?.eligibility.backend ?? 'unknown']));
    for (const tokenId of selected) this.#pool.delete(tokenId);
    const n = selected.length;
    const mode = config.privacy.mode;
    const minSurvivors = Math.min(live.minReports, n);
    const noiseShare = (totalStdDev: number) => (mode === 'local' ? totalStdDev : mode === 'distributed' ? totalStdDev / Math.sqrt(minSurvivors) : 0);
    // Adaptive clipping spends part of σ on the indicator query: σ_b = m/20 (the paper's default),
    // at least σ so that 2σ_b > σ leaves budget for the update; the update gets σ_Δ ≥ σ.
    const adaptive = config.privacy.adaptiveClipping;
    const indicatorNoiseStdDev =
      adaptive && mode !== 'off' ? Math.max(n / ADAPTIVE_CLIPPING_DEFAULTS.indicatorNoiseDivisor, live.noiseMultiplier) : adaptive ? 0 : undefined;
    const updateNoiseMultiplier =
      mode === 'off'
        ? 0
        : indicatorNoiseStdDev
          ? modelUpdateNoiseMultiplier({ noiseMultiplier: live.noiseMultiplier, indicatorNoiseStdDev })
          : live.noiseMultiplier;
    const metricsSpec = contributionMetricsSpec(live.training, indicatorNoiseStdDev === undefined ? undefined : 0.5 + 6 * noiseShare(indicatorNoiseStdDev));
    // The release state's training base: the pending candidate (this round evaluates it), or by
    // policy the refused candidate or the released version (fl-core round/release.ts).
    const base = store.trainingBase();
    const vectorLength = base.weights.length + Object.keys(metricsSpec).length;
    const issuer = this.#deps.enrollmentIssuer;
    const secagg: RoundConfig = { ...this.#roundConfig(roundId, n, live.minReports, vectorLength), ...(issuer ? { authenticated: true } : {}) };
    const clientNoiseStdDev = noiseShare(updateNoiseMultiplier * live.clipNorm);
    const plan: RoundPlan = {
      protocolVersion: PROTOCOL_VERSION,
      roundId,
      round,
      model: { version: base.version, hash: base.hash, url: `/api/model/${base.version}`, spec: store.spec },
      participantId: 0,
      secagg,
      training: live.training,
      evaluationFraction: config.round.evaluationFraction,
      privacy: {
        mode,
        clipNorm: live.clipNorm,
        noiseMultiplier: updateNoiseMultiplier,
        expectedCohortSize: n,
        minSurvivors,
        ...(indicatorNoiseStdDev !== undefined ? { clipIndicatorNoiseStdDev: indicatorNoiseStdDev } : {}),
      },
      // Coordinates of a clipped update lie in [−C, C]; the noise adds a few of its standard
      // deviations (clamping beyond 6σ touches one coordinate in ~5·10^8).
      encoding: { clipRange: live.clipNorm + 6 * clientNoiseStdDev, modulusBits: secagg.modulusBits, maxClients: n },
      metrics: metricsSpec,
      deadlines: config.round.deadlines,
    };
    // The plan hash every member signs: a member shown another plan or model cannot verify the others.
    const created = createSecAggServer(secagg, issuer ? { enrollmentIssuer: issuer, planHash: roundPlanHash(plan) } : undefined);
    if (!created.ok) {
      logger.error({ round, error: created.error }, 'cannot configure secure aggregation for this cohort');
      // Nobody was told anything: the clients go back to waiting for the next selection.
      for (const [tokenId, entry] of entries) if (entry) this.#pool.set(tokenId, entry);
      return;
    }
    const members = new Map<string, Member>();
    const backends: Record<string, number> = {};
    selected.forEach((tokenId, participantId) => {
      const backend = backendOf.get(tokenId) ?? 'unknown';
      members.set(tokenId, { tokenId, participantId, backend, last: { event: 'roundPlan', payload: { ...plan, participantId } } });
    });
    const r: ActiveRound = {
      round,
      roundId,
      startedAt: new Date().toISOString(),
      plan,
      live,
      planRevision,
      base,
      members,
      byParticipant: selected,
      server: created.state,
      eligible,
      samplingRate,
      funnel: { eligible, selected: n, advertised: 0, shared: 0, masked: 0, unmasked: 0 },
      dropouts: {},
      bytes: { received: 0, sent: 0 },
      durationsMs: {},
      backends,
      stageStarted: performance.now(),
    };
    for (const member of members.values()) backends[member.backend] = (backends[member.backend] ?? 0) + 1;
    this.#round = r;
    metrics.funnel.inc({ stage: 'eligible' }, eligible);
    metrics.funnel.inc({ stage: 'selected' }, n);
    logger.info(
      { round, roundId, eligible, selected: n, threshold: secagg.threshold, graph: secagg.graph.kind, trainingBase: base.version, planRevision },
      'round started',
    );
    for (const member of members.values()) this.#sendTo(r, member, 'roundPlan', member.last.payload as RoundPlan);

    for (const stage of SECAGG_PHASES) {
      // Round 3 (ConsistencyCheck) runs in authenticated rounds only.
      if (stage === 'consistencyCheck' && r.server.stage !== stage) continue;
      if (r.server.stage !== stage) break;
      this.#setPhase(stage);
      r.stageStarted = performance.now();
      const deadlineMs = this.#pace.deadlineMs(stage, config.round.deadlines[PHASE_DEADLINE[stage]]);
      await this.#waitFor(() => this.#stopped || pendingClients(r.server).every((id) => this.#gone(r.byParticipant[id] as string)), deadlineMs);
      if (this.#stopped) return this.#abort(r, protocolError('SHUTTING_DOWN', `round ${round}: the aggregator is shutting down`));
      const silent = pendingClients(r.server).map((id) => r.byParticipant[id] as string);
      for (const tokenId of silent) this.#participation.silent(tokenId, stage);
      const disconnected = silent.filter((tokenId) => !this.#deps.isConnected(tokenId)).length;
      r.dropouts[stage] = { silent: silent.length - disconnected, disconnected };
      if (silent.length > disconnected) metrics.dropouts.inc({ phase: stage, reason: 'silent' }, silent.length - disconnected);
      if (disconnected > 0) metrics.dropouts.inc({ phase: stage, reason: 'disconnected' }, disconnected);
      if (silent.length > 0) logger.info({ round, stage, deadlineMs, silent: silent.length }, 'phase closed without some clients; they sit out a while');
      const failure = await this.#withLock(async () => {
        // Secure aggregation must not reveal a sum of fewer than minReports inputs: the
        // distributed noise is calibrated to that many (SecAgg+ thresholds are per neighbourhood).
        if (stage === 'maskedInput' && r.server.masked.length < live.minReports) {
          return protocolError('BELOW_THRESHOLD', `round ${round}: ${r.server.masked.length} masked inputs, need minReports ${live.minReports}`);
        }
        const closed = await secAggServerStep(r.server, { type: 'closeStage', stage }, { suite: await this.#cryptoSuite() });
        if (!closed.ok) return closed.error;
        r.server = closed.state;
        this.#deliver(r, closed.outbound);
        return null;
      });
      this.#closeStageMetrics(r, stage);
      if (failure) return this.#abort(r, failure);
    }
    if (r.server.stage !== 'done' || !r.server.result) {
      return this.#abort(r, r.server.abort ?? protocolError('ABORTED', `round ${round}: secure aggregation did not finish`));
    }
    await this.#aggregateAndCommit(r);
  }

  #sendTo<K extends 'roundPlan' | 'secagg' | 'roundEnd'>(r: ActiveRound, member: Member, event: K, payload: ServerEventPayload<K>): void {
    if (event === 'roundPlan' || event === 'secagg') member.last = { event, payload } as Member['last'];
    const bytes = payloadBytes(payload);
    r.bytes.sent += bytes;
    this.#deps.metrics.bytes.inc({ direction: 'sent' }, bytes);
    this.#deps.send(member.tokenId, event, payload);
  }

  #deliver(r: ActiveRound, outbound: Outbound[]): void {
    for (const { to, message } of outbound) {
      const member = r.members.get(r.byParticipant[to] as string);
      if (member) this.#sendTo(r, member, 'secagg', packSecAgg(message));
    }
  }

  #closeStageMetrics(r: ActiveRound, stage: SecAggPhase): void {
    const ms = performance.now() - r.stageStarted;
    r.durationsMs[stage] = ms;
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
      this.#deps.logger.info({ round: r.round, signed: s.consistency.length, survivors: s.survivors.length }, 'consistency check closed');
      return;
    }
    const [field, value] = count;
    r.funnel[field] = value;
    this.#deps.metrics.funnel.inc({ stage: field }, value);
  }

  #baseReport(r: ActiveRound): Omit<RoundReport, 'status' | 'abort' | 'metrics' | 'modelVersion' | 'privacy'> {
    const { secagg } = r.plan;
    return {
      round: r.round,
      roundId: r.roundId,
      startedAt: r.startedAt,
      endedAt: new Date().toISOString(),
      cohort: { ...r.funnel },
      secagg: {
        graph: secagg.graph.kind,
        degree: secagg.graph.kind === 'full' ? secagg.clientCount - 1 : secagg.graph.degree,
        threshold: secagg.threshold,
        modulusBits: secagg.modulusBits,
        vectorLength: secagg.vectorLength,
      },
      bytes: { ...r.bytes },
      durationsMs: { ...r.durationsMs },
      backends: { ...r.backends },
      planRevision: r.planRevision,
      dropouts: structuredClone(r.dropouts),
    };
  }

  #privacySummary(r: ActiveRound, recorded: number | null, epsilon: number | null): RoundReport['privacy'] {
    return {
      mode: r.plan.privacy.mode,
      clipNorm: r.plan.privacy.clipNorm,
      noiseMultiplier: r.plan.privacy.noiseMultiplier,
      recordedNoiseMultiplier: recorded,
      samplingRate: r.samplingRate,
      epsilon,
      delta: this.#deps.config.privacy.targetDelta,
    };
  }

  /**
   * Ends a round without touching the model: durable record first, then the announcement. A sum
   * that was already unmasked was released to this server, so it is in the ledger all the same.
   */
  #abort(r: ActiveRound, reason: ProtocolError): void {
    const { store, metrics, logger } = this.#deps;
    const release = r.server.result ? this.#ledgerAfter(r, r.server.result.survivors.length) : null;
    const ledger = release?.ledger ?? store.ledger;
    const spent = ledger.spent(this.#deps.config.privacy.targetDelta)?.epsilon ?? null;
    const report: RoundReport = {
      ...this.#baseReport(r),
      status: 'aborted',
      abort: { code: reason.code, message: reason.message },
      metrics: null,
      // Trained from its base and made nothing.
      modelVersion: { from: r.base.version, to: r.base.version },
      privacy: this.#privacySummary(r, release?.recorded ?? null, spent),
    };
    this.#setPhase('commit');
    store.commit({ report, ...(release && release.recorded !== null ? { ledger } : {}) });
    if (r.server.stage !== 'aborted') {
      // Tell the clients still in the protocol, in its own terms, that nothing more will come.
      for (const member of r.members.values()) {
        this.#sendTo(r, member, 'secagg', packSecAgg({ type: 'abort', roundId: r.roundId, reason: { code: reason.code, message: reason.message } }));
      }
    }
    for (const member of r.members.values()) {
      this.#sendTo(r, member, 'roundEnd', {
        roundId: r.roundId,
        round: r.round,
        status: 'aborted',
        modelVersion: store.modelVersion,
        reason: { code: reason.code, message: reason.message },
      });
    }
    metrics.rounds.inc({ status: 'aborted' });
    logger.warn({ round: r.round, roundId: r.roundId, code: reason.code, reason: reason.message, cohort: report.cohort }, 'round aborted; model untouched');
    this.#finish(r);
    this.#deps.onReport(report);
  }

  #finish(r: ActiveRound): void {
    this.#round = null;
    for (const tokenId of r.members.keys()) this.#disconnectedAt.delete(tokenId);
    this.#finishedRoundIds.add(r.roundId);
    if (this.#finishedRoundIds.size > 64) this.#finishedRoundIds.delete(this.#finishedRoundIds.values().next().value as string);
  }

  /** The ledger with this round's release added (a copy), and the σ recorded for it (null: mode off). */
  #ledgerAfter(r: ActiveRound, survivors: number): { ledger: PrivacyLedger; recorded: number | null } {
    const { privacy } = r.plan;
    const ledger = PrivacyLedger.fromJSON(this.#deps.store.ledger.toJSON());
    if (privacy.mode === 'off') return { ledger, recorded: null };
    const recorded = roundNoiseMultiplier({
      mode: privacy.mode,
      noiseMultiplier: privacy.noiseMultiplier,
      expectedCohortSize: privacy.expectedCohortSize,
      minSurvivors: privacy.minSurvivors,
      survivors,
      ...(privacy.clipIndicatorNoiseStdDev ? { indicatorNoiseStdDev: privacy.clipIndicatorNoiseStdDev } : {}),
    });
    ledger.record({ round: r.round, samplingRate: r.samplingRate, noiseMultiplier: recorded });
    return { ledger, recorded };
  }

  async #aggregateAndCommit(r: ActiveRound): Promise<void> {
    const { store, metrics, logger, config } = this.#deps;
    this.#setPhase('aggregate');
    const started = performance.now();
    const result = r.server.result as NonNullable<SecAggServerState['result']>;
    const count = result.survivors.length;
    const { encoding, metrics: metricsSpec, privacy } = r.plan;
    const layout = createMetricsLayout(metricsSpec, { maxClients: encoding.maxClients, modulusBits: encoding.modulusBits });
    const decoded = decodeSumWithMetrics(result.sum, encodingParams(encoding), layout, count);
    const survivors = result.survivors.map((id) => r.byParticipant[id] as string);
    // Secure aggregation hid every input: the sum must still be one honest clients can produce.
    const plausible = checkDecodedSum(r.plan, { values: decoded.values, metrics: decoded.metrics, count });
    if (!plausible.ok) {
      for (const tokenId of survivors) this.#participation.rejected(tokenId);
      this.#lastSumRejected = true;
      return this.#abort(r, protocolError(plausible.error.code, `round ${r.round}: ${plausible.error.message}`));
    }
    // Uniform FedAvg over the reports (DP-FedAvg clips every update to C, so each counts once).
    const mean = new Float32Array(decoded.values.length);
    for (let i = 0; i < mean.length; i++) mean[i] = (decoded.values[i] as number) / count;
    const step = applyServerUpdate(r.base.optimizer, r.base.weights, mean);
    if (!step.weights.every(Number.isFinite)) {
      return this.#abort(r, protocolError('DIVERGED', `round ${r.round}: the server step produced non-finite weights`));
    }
    const { ledger, recorded } = this.#ledgerAfter(r, count);
    const epsilon = ledger.spent(config.privacy.targetDelta)?.epsilon ?? null;
    const m = decoded.metrics as Record<string, number>;
    const adaptive = config.privacy.adaptiveClipping;
    // The released indicator sum already carries σ_b (added by the clients); the mean divides by
    // the reports, whose number the round record publishes anyway.
    const nextClipNorm =
      adaptive && m.unclipped !== undefined
        ? updateClipNorm(
            {
              clipNorm: privacy.clipNorm,
              targetQuantile: adaptive.targetQuantile,
              learningRate: adaptive.learningRate,
              indicatorNoiseStdDev: privacy.clipIndicatorNoiseStdDev ?? 0,
            },
            { noisedCenteredSum: m.unclipped, expectedCohortSize: count },
          ).state.clipNorm
        : undefined;
    r.durationsMs.aggregate = performance.now() - started;
    metrics.phaseSeconds.observe({ phase: 'aggregate' }, r.durationsMs.aggregate / 1000);
    const ratio = (num: number | undefined, den: number | undefined) => (den && den > 0 && num !== undefined ? num / den : null);
    const evalCount = Math.round(m.evalCount ?? 0);
    const from = r.base.version;
    const to = store.modelVersion + 1;
    this.#setPhase('commit');
    const commitStarted = performance.now();
    const report: RoundReport = {
      ...this.#baseReport(r),
      status: 'committed',
      abort: null,
      metrics: {
        examples: Math.round(m.examples ?? 0),
        trainLoss: ratio(m.trainLossSum, m.examples),
        eval: { count: evalCount, loss: ratio(m.evalLossSum, evalCount), top1: ratio(m.evalTop1, evalCount), top3: ratio(m.evalTop3, evalCount) },
      },
      modelVersion: { from, to },
      privacy: {
        ...this.#privacySummary(r, recorded, epsilon),
        ...(nextClipNorm !== undefined ? { nextClipNorm } : {}),
      },
    };
    // The new version is a candidate: the gate decides (this round's evaluation of its base first),
    // and the release state is written with the round.
    const gate = this.#deps.gate.atCommit(report, r.base, { version: to, weights: step.weights });
    store.commit({
      report,
      ledger,
      model: { weights: step.weights, optimizer: step.state, ...(nextClipNorm !== undefined ? { clipNorm: nextClipNorm } : {}) },
      release: gate.state,
    });
    this.#deps.gate.afterCommit(gate);
    for (const tokenId of survivors) this.#participation.completed(tokenId);
    this.#lastSumRejected = false;
    if (nextClipNorm !== undefined) this.#live = { ...this.#live, clipNorm: nextClipNorm };
    metrics.phaseSeconds.observe({ phase: 'commit' }, (performance.now() - commitStarted) / 1000);
    metrics.rounds.inc({ status: 'committed' });
    metrics.modelVersion.set(store.modelVersion);
    if (epsilon !== null) metrics.epsilon.set(epsilon);
    for (const member of r.members.values()) {
      this.#sendTo(r, member, 'roundEnd', { roundId: r.roundId, round: r.round, status: 'committed', modelVersion: store.modelVersion });
    }
    logger.info(
      {
        round: r.round,
        roundId: r.roundId,
        modelVersion: store.modelVersion,
        trainedFrom: from,
        released: store.release.released,
        survivors: count,
        eval: report.metrics?.eval,
        epsilon,
        durationsMs: report.durationsMs,
      },
      'round committed',
    );
    this.#finish(r);
    this.#deps.onReport(report);
  }
}
