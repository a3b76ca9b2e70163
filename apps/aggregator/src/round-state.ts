import { z } from 'zod';
import { type ServerOptimizerState } from '@murmur/fl-core/aggregate';
import { parameterCount, type ModelSpec } from '@murmur/fl-core/model';
import { type PrivacyLedger } from '@murmur/fl-core/privacy';
import {
  livePlanSchema,
  protocolError,
  PROTOCOL_VERSION,
  roundPlanSchema,
  roundReportSchema,
  type LivePlan,
  type ProtocolError,
  type RoundPlan,
  type RoundReport,
} from '@murmur/fl-core/protocol';
import { decodeRoundSum, planRound, recordRelease, roundMetricsRecord, roundPrivacyRecord, summarizeRound } from '@murmur/fl-core/round';
import { type SecAggResult } from '@murmur/fl-core/secagg';
import type { AggregatorConfig } from './config';

/**
 * The coordinator's round, as plain data: what it decided (plan, cohort, sampling rate) and what it
 * has counted so far (funnel, dropouts, bytes, durations). No Map, class or clock lives in it, so it
 * survives JSON (roundStateToJSON / roundStateFromJSON) and can be handed to another process. The
 * SecAgg server machine keeps its own state beside it (fl-core's SecAggServerState), and the
 * transport keeps what it last sent each member; neither is needed to decide a transition here.
 */
export interface RoundState {
  round: number;
  roundId: string;
  startedAt: string;
  /** The plan every member received (participantId 0; each member's copy differs only there). */
  plan: RoundPlan;
  live: LivePlan;
  /** The operator plan's revision this round runs with. */
  planRevision: number;
  /** The version the round trains from (its weights are in the store under that version). */
  base: { version: number; hash: string };
  /** Participant id i is members[i]. */
  members: { tokenId: string; backend: string }[];
  eligible: number;
  /** q: the probability with which each eligible client was drawn into this round. */
  samplingRate: number;
  funnel: RoundReport['cohort'];
  /** Who each closed phase lost, silent or disconnected (the record's `dropouts`). */
  dropouts: NonNullable<RoundReport['dropouts']>;
  bytes: { received: number; sent: number };
  durationsMs: Record<string, number>;
  backends: Record<string, number>;
}

export interface PlanAggregatorRoundInput {
  config: AggregatorConfig;
  live: LivePlan;
  round: number;
  roundId: string;
  base: { version: number; hash: string; weights: { length: number } };
  spec: ModelSpec;
  /** n: clients the draw selected (into this process's group, in the distributed mode). */
  clientCount: number;
  /** The most reports the round's whole sum may hold (the distributed mode adds several groups' sums). @default clientCount */
  sumClients?: number;
  samplingRate: number;
  /** N: the population q was drawn over (the configured one, else the eligible clients). */
  population: number;
  /** 32 fresh random bytes for a SecAgg+ graph. */
  graphSeed: Uint8Array;
  /** 32 fresh random bytes for discrete noise's rotation (privacy.noise 'discrete'), drawn after the base model is fixed. */
  rotationSeed?: Uint8Array;
  authenticated: boolean;
}

/** The round plan the cohort receives: fl-core's planRound for the decisions, plus which model, how to train and by when. */
export function planAggregatorRound(input: PlanAggregatorRoundInput): RoundPlan {
  const { config, live, base } = input;
  const planned = planRound({
    roundId: input.roundId,
    mode: config.privacy.mode,
    clipNorm: live.clipNorm,
    noiseMultiplier: live.noiseMultiplier,
    adaptiveClipping: config.privacy.adaptiveClipping !== undefined,
    colluders: config.privacy.colluders,
    noise: config.privacy.noise,
    ...(input.rotationSeed ? { rotationSeed: input.rotationSeed } : {}),
    training: live.training,
    clientCount: input.clientCount,
    ...(input.sumClients !== undefined ? { sumClients: input.sumClients } : {}),
    minReports: live.minReports,
    samplingRate: input.samplingRate,
    population: input.population,
    modelLength: base.weights.length,
    secagg: {
      modulusBits: config.round.modulusBits,
      secAggPlusFrom: config.round.secAggPlusFrom,
      dropoutRate: config.round.dropoutRate,
      graphSeed: input.graphSeed,
      authenticated: input.authenticated,
    },
  });
  return {
    protocolVersion: PROTOCOL_VERSION,
    roundId: input.roundId,
    round: input.round,
    model: { version: base.version, hash: base.hash, url: `/api/model/${base.version}`, spec: input.spec },
    participantId: 0,
    training: live.training,
    evaluationFraction: config.round.evaluationFraction,
    deadlines: config.round.deadlines,
    ...planned,
  };
}

/**
 * Whether the masked-input stage may close: secure aggregation must not reveal a sum of fewer than
 * minReports inputs, because the distributed noise is calibrated to that many. SecAgg+ thresholds
 * are per neighbourhood (t of k + 1 holders), so the SecAgg server would go on with fewer; this
 * check is the round's, not the protocol's.
 */
export function maskedInputRefusal(state: Pick<RoundState, 'round' | 'live'>, masked: number): ProtocolError | null {
  const { minReports } = state.live;
  return masked < minReports ? protocolError('BELOW_THRESHOLD', `round ${state.round}: ${masked} masked inputs, need minReports ${minReports}`) : null;
}

function baseReport(state: RoundState, endedAt: string): Omit<RoundReport, 'status' | 'abort' | 'metrics' | 'modelVersion' | 'privacy'> {
  const { secagg } = state.plan;
  return {
    round: state.round,
    roundId: state.roundId,
    startedAt: state.startedAt,
    endedAt,
    cohort: { ...state.funnel },
    secagg: {
      graph: secagg.graph.kind,
      degree: secagg.graph.kind === 'full' ? secagg.clientCount - 1 : secagg.graph.degree,
      threshold: secagg.threshold,
      modulusBits: secagg.modulusBits,
      vectorLength: secagg.vectorLength,
    },
    bytes: { ...state.bytes },
    durationsMs: { ...state.durationsMs },
    backends: { ...state.backends },
    planRevision: state.planRevision,
    dropouts: structuredClone(state.dropouts),
  };
}

export interface RoundEnding {
  state: RoundState;
  /** The privacy ledger before this round. */
  ledger: PrivacyLedger;
  /** δ at which ε is reported. */
  targetDelta: number;
  endedAt: string;
}

export interface AbortedRound {
  report: RoundReport;
  /** The ledger to write with the record: present when a sum had been released (unmasked) before the abort. */
  ledger: PrivacyLedger | null;
}

/**
 * A round ended without a new model. A sum already unmasked was released to this server, so it
 * is in the ledger all the same, with the survivors' noise.
 */
export function abortedRound(
  ending: RoundEnding,
  reason: ProtocolError,
  released: Pick<SecAggResult, 'survivors'> | null,
  weakestGroupReports?: number,
): AbortedRound {
  const { state, targetDelta } = ending;
  const release = { round: state.round, privacy: state.plan.privacy, samplingRate: state.samplingRate, dimension: parameterCount(state.plan.model.spec) };
  const recorded = released
    ? recordRelease(ending.ledger, { ...release, survivors: released.survivors.length, ...(weakestGroupReports !== undefined ? { weakestGroupReports } : {}) })
    : null;
  const ledger = recorded?.entry ? recorded.ledger : null;
  const spent = (ledger ?? ending.ledger).spent(targetDelta);
  return {
    report: {
      ...baseReport(state, ending.endedAt),
      status: 'aborted',
      abort: { code: reason.code, message: reason.message },
      metrics: null,
      // Trained from its base and made nothing.
      modelVersion: { from: state.base.version, to: state.base.version },
      privacy: roundPrivacyRecord(release, recorded?.entry ?? null, spent, targetDelta),
    },
    ledger,
  };
}

export interface RoundCompletion extends RoundEnding {
  /** SecAgg's unmasked sum and its survivors. */
  result: Pick<SecAggResult, 'sum' | 'survivors'>;
  /** The base model's weights and optimizer state. */
  base: { weights: Float32Array; optimizer: ServerOptimizerState };
  /** The version a commit creates. */
  nextVersion: number;
  adaptive: AggregatorConfig['privacy']['adaptiveClipping'];
  /** The distributed mode: reports in the smallest group sum, which the ledger credits (fl-core RoundRelease). */
  weakestGroupReports?: number;
}

export type ConcludedRound =
  | { status: 'committed'; report: RoundReport; ledger: PrivacyLedger; model: { weights: Float32Array; optimizer: ServerOptimizerState; clipNorm?: number } }
  | (AbortedRound & { status: 'aborted'; reason: ProtocolError; rejectedSum: boolean });

/**
 * The end of a round whose SecAgg finished: decode and check the sum, then fl-core's
 * summarizeRound (ledger entry first, mean over the planned m, server step, next C). A sum no
 * honest cohort produces (REJECTED_SUM) or a diverged step aborts; both were released, so both keep
 * their ledger entry.
 */
export function concludeRound(completion: RoundCompletion): ConcludedRound {
  const { state, result, targetDelta, weakestGroupReports } = completion;
  const count = result.survivors.length;
  const weakest = weakestGroupReports !== undefined ? { weakestGroupReports } : {};
  const decoded = decodeRoundSum(state.plan, result.sum, count);
  if (!decoded.ok) {
    const reason = protocolError(decoded.error.code, `round ${state.round}: ${decoded.error.message}`);
    return { status: 'aborted', reason, rejectedSum: true, ...abortedRound(completion, reason, result, weakestGroupReports) };
  }
  const { values, metrics } = decoded.value;
  const summary = summarizeRound({
    round: state.round,
    privacy: state.plan.privacy,
    samplingRate: state.samplingRate,
    survivors: count,
    ...weakest,
    updateSum: values,
    ...(metrics.unclipped !== undefined ? { unclippedSum: metrics.unclipped } : {}),
    base: completion.base,
    ledger: completion.ledger,
    targetDelta,
    adaptive: completion.adaptive ?? null,
  });
  const { outcome } = summary;
  if (!outcome.ok)
    return { status: 'aborted', reason: outcome.error, rejectedSum: false, ...abortedRound(completion, outcome.error, result, weakestGroupReports) };
  return {
    status: 'committed',
    report: {
      ...baseReport(state, completion.endedAt),
      status: 'committed',
      abort: null,
      metrics: roundMetricsRecord(metrics),
      modelVersion: { from: state.base.version, to: completion.nextVersion },
      privacy: summary.privacy,
    },
    ledger: summary.ledger,
    model: {
      weights: outcome.weights,
      optimizer: outcome.optimizer,
      ...(outcome.nextClipNorm !== undefined ? { clipNorm: outcome.nextClipNorm } : {}),
    },
  };
}

const hexSeedSchema = z.string().regex(/^[0-9a-f]{64}$/);

/** RoundState as JSON text carries it: the SecAgg+ graph seed, its one binary value, as hex. */
const roundStateJsonSchema = z
  .object({
    round: z.number().int().min(1),
    roundId: z.string(),
    startedAt: z.string(),
    plan: z.object({ secagg: z.object({ graph: z.object({ seed: hexSeedSchema.optional() }).loose() }).loose() }).loose(),
    live: livePlanSchema,
    planRevision: z.number().int().min(0),
    base: z.object({ version: z.number().int().min(0), hash: z.string() }).strict(),
    members: z.array(z.object({ tokenId: z.string(), backend: z.string() }).strict()),
    eligible: z.number().int().min(0),
    samplingRate: z.number().gt(0).max(1),
    funnel: roundReportSchema.shape.cohort,
    dropouts: roundReportSchema.shape.dropouts.unwrap(),
    bytes: roundReportSchema.shape.bytes,
    durationsMs: roundReportSchema.shape.durationsMs,
    backends: roundReportSchema.shape.backends,
  })
  .strict();

export type RoundStateJson = z.input<typeof roundStateJsonSchema>;

export function roundStateToJSON(state: RoundState): RoundStateJson {
  const { graph } = state.plan.secagg;
  const secagg = { ...state.plan.secagg, graph: graph.kind === 'harary' ? { ...graph, seed: Buffer.from(graph.seed).toString('hex') } : graph };
  return structuredClone({ ...state, plan: { ...state.plan, secagg } });
}

/** Parses what roundStateToJSON wrote (after any JSON round trip), the plan by the same schema clients parse it with. */
export function roundStateFromJSON(json: unknown): RoundState {
  const parsed = roundStateJsonSchema.parse(json);
  const { graph } = parsed.plan.secagg;
  const seed = graph.seed === undefined ? {} : { seed: new Uint8Array(Buffer.from(graph.seed, 'hex')) };
  const plan = roundPlanSchema.parse({ ...parsed.plan, secagg: { ...parsed.plan.secagg, graph: { ...graph, ...seed } } });
  return { ...parsed, plan };
}
