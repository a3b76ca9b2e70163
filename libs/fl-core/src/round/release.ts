import { z } from 'zod';
import { protocolFailure, type ProtocolResult } from '../protocol/errors';

/**
 * Model lifecycle: candidate → gate → release (docs/aggregator.md, "Release gates").
 *
 * A committed round produces a *candidate* version. Browsers suggest with the *released* version
 * only. The gate releases a candidate once (1) its weights are finite, (2) its distance from the
 * released model, ‖candidate − released‖₂, is within a bound, and (3) its federated evaluation is
 * no worse than the released model's beyond a tolerance. Federated evaluation runs inside a round:
 * each client evaluates the model the round *trains from* on its held-out examples and the cohort
 * totals arrive securely summed with the update. A candidate is therefore evaluated by the round
 * after the one that made it, and waits (`pending`) until then.
 *
 * Everything here is pure: the aggregator measures weights and looks up evaluations, feeds them in
 * as events, and persists the state it gets back (head.json) with the round that caused it.
 */

const version = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });
const isoTime = z.string().max(40);

/**
 * Where training continues when the gate refuses a candidate: from the refused candidate itself
 * ('candidate': the model keeps learning, serving stays protected) or from the released version
 * ('released': the refused lineage is abandoned). A pending candidate is always trained from,
 * whichever the policy: that round is what evaluates it.
 */
export const TRAINING_BASES = ['candidate', 'released'] as const;
export type TrainingBase = (typeof TRAINING_BASES)[number];

export interface ReleaseGatePolicy {
  /** Largest ‖candidate − released‖₂ a candidate may have. */
  maxUpdateNorm: number;
  /** Nats by which the candidate's federated eval loss may exceed the released model's. */
  lossTolerance: number;
  /** Fraction (0.01 = one percentage point) by which the candidate's top-1 may fall below the released model's. */
  top1Tolerance: number;
  /** true: a candidate waits for its federated evaluation; false: finite weights and a bounded norm release it. */
  requireEvaluation: boolean;
  trainFrom: TrainingBase;
}

/** A version's federated evaluation: the cohort totals of one round that trained from it, as means. */
export const modelEvaluationSchema = z.object({
  version,
  /** The round whose cohort evaluated it. */
  round: z.number().int().min(1),
  /** Held-out examples evaluated. */
  count: z.number().int().min(1),
  /** Mean cross-entropy in nats. */
  loss: finite,
  top1: finite,
  top3: finite.nullable(),
});
export type ModelEvaluation = z.output<typeof modelEvaluationSchema>;

/** The gate's checks, in the order they are applied. `lineage` is the state machine's own. */
export const GATE_CHECKS = ['lineage', 'finite', 'updateNorm', 'evaluation', 'loss', 'top1'] as const;
export type GateCheckName = (typeof GATE_CHECKS)[number];

export const gateCheckSchema = z.object({
  check: z.enum(GATE_CHECKS),
  /** 'waiting': the check needs an evaluation that has not arrived. */
  result: z.enum(['passed', 'failed', 'waiting']),
  /** What was measured (a norm, a loss rise in nats, a top-1 fall as a fraction); null when nothing was. */
  value: finite.nullable(),
  /** The configured bound it was held against; null for checks without one. */
  limit: finite.nullable(),
  message: z.string().max(400),
});
export type GateCheck = z.output<typeof gateCheckSchema>;

export const GATE_OUTCOMES = ['pending', 'released', 'refused'] as const;
export type GateOutcome = (typeof GATE_OUTCOMES)[number];

/** One decision about one candidate, recorded with the round whose commit made it. */
export const gateDecisionSchema = z.object({
  /** The candidate. */
  version,
  /** The version it was trained from. */
  base: version,
  /** The released version it was held against. */
  against: version,
  round: z.number().int().min(1),
  at: isoTime,
  outcome: z.enum(GATE_OUTCOMES),
  /** One sentence: which check decided, with its numbers. */
  reason: z.string().max(1200),
  checks: z.array(gateCheckSchema).max(GATE_CHECKS.length),
  candidateEvaluation: modelEvaluationSchema.nullable(),
  releasedEvaluation: modelEvaluationSchema.nullable(),
});
export type GateDecision = z.output<typeof gateDecisionSchema>;

/** Decisions kept in the release state (newest last); older ones stay in the logs. */
export const MAX_RELEASE_DECISIONS = 100;

export const releaseStateSchema = z.object({
  /** The version browsers download for suggestions. */
  released: version,
  /** The version the next round trains from, or 'released' to follow the released version. */
  trainFrom: z.union([z.literal('released'), version]),
  /** The newest version the gate has judged (or is waiting to judge) that is not released; null when none. */
  candidate: z.object({ version, base: version, outcome: z.enum(GATE_OUTCOMES) }).nullable(),
  decisions: z.array(gateDecisionSchema).max(MAX_RELEASE_DECISIONS),
});
export type ReleaseState = z.output<typeof releaseStateSchema>;

/** A data directory's first state: its only version is released and trained from. */
export function initialReleaseState(released: number): ReleaseState {
  return { released, trainFrom: 'released', candidate: null, decisions: [] };
}

/** The version the next round trains from. */
export function trainingBaseVersion(state: ReleaseState): number {
  return state.trainFrom === 'released' ? state.released : state.trainFrom;
}

/** What the aggregator measured of a candidate's weights against the released weights. */
export interface CandidateMeasure {
  /** Coordinates that are NaN or ±Infinity. */
  nonFinite: number;
  /** ‖candidate − released‖₂ (summed in float64); null when some weight is not finite. */
  updateNorm: number | null;
}

export function measureCandidate(candidate: Float32Array, released: Float32Array): CandidateMeasure {
  if (candidate.length !== released.length) {
    throw new RangeError(`measureCandidate: candidate has ${candidate.length} weights, released has ${released.length}`);
  }
  let nonFinite = 0;
  let squares = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] as number;
    if (!Number.isFinite(c)) {
      nonFinite++;
      continue;
    }
    const d = c - (released[i] as number);
    squares += d * d;
  }
  return { nonFinite, updateNorm: nonFinite > 0 || !Number.isFinite(squares) ? null : Math.sqrt(squares) };
}

export interface GateInput {
  measure: CandidateMeasure;
  /** The candidate's federated evaluation; null before a round trained from it reported one. */
  candidateEvaluation: ModelEvaluation | null;
  /** The released model's federated evaluation; null if none is on record. */
  releasedEvaluation: ModelEvaluation | null;
}

export interface GateVerdict {
  outcome: GateOutcome;
  reason: string;
  checks: GateCheck[];
}

const nats = (x: number) => x.toFixed(3);
const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
const points = (x: number) => `${(100 * x).toFixed(1)} points`;
const signed = (x: number, format: (v: number) => string) => `${x >= 0 ? '+' : '−'}${format(Math.abs(x))}`;

/**
 * The gate on one candidate: finite weights, bounded update norm, then (if the policy requires an
 * evaluation) loss and top-1 against the released model's. Every check that could run is listed;
 * the reason names the failed ones with their numbers, or what the candidate waits for.
 */
export function decideRelease(input: GateInput, policy: ReleaseGatePolicy): GateVerdict {
  const { measure, candidateEvaluation: cand, releasedEvaluation: rel } = input;
  const checks: GateCheck[] = [];
  checks.push(
    measure.nonFinite === 0
      ? { check: 'finite', result: 'passed', value: 0, limit: 0, message: 'every weight is finite' }
      : { check: 'finite', result: 'failed', value: measure.nonFinite, limit: 0, message: `${measure.nonFinite} weights are NaN or ±Infinity` },
  );
  const norm = measure.updateNorm;
  const normOk = norm !== null && norm <= policy.maxUpdateNorm;
  checks.push({
    check: 'updateNorm',
    result: normOk ? 'passed' : 'failed',
    value: norm,
    limit: policy.maxUpdateNorm,
    message:
      norm === null
        ? 'update norm undefined (non-finite weights)'
        : `‖candidate − released‖₂ = ${norm.toPrecision(4)} ${normOk ? '≤' : '>'} ${policy.maxUpdateNorm}`,
  });
  const refused = (list: GateCheck[]): GateVerdict => ({
    outcome: 'refused',
    reason: `refused: ${list
      .filter((c) => c.result === 'failed')
      .map((c) => c.message)
      .join('; ')}`,
    checks: list,
  });
  if (checks.some((c) => c.result === 'failed')) return refused(checks);
  if (!policy.requireEvaluation) {
    return { outcome: 'released', reason: `released: finite weights, ${checks[1]?.message} (no evaluation required)`, checks };
  }
  if (cand === null || rel === null) {
    const waiting: GateCheck = {
      check: 'evaluation',
      result: 'waiting',
      value: null,
      limit: null,
      message:
        cand === null
          ? 'no federated evaluation of the candidate yet (the next round that trains from it evaluates it)'
          : 'no federated evaluation of the released model on record to compare with',
    };
    return { outcome: 'pending', reason: `pending: ${waiting.message}`, checks: [...checks, waiting] };
  }
  checks.push({
    check: 'evaluation',
    result: 'passed',
    value: cand.count,
    limit: null,
    message: `evaluated on ${cand.count} held-out examples in round ${cand.round} (released v${rel.version}: ${rel.count} in round ${rel.round})`,
  });
  const rise = cand.loss - rel.loss;
  const lossOk = rise <= policy.lossTolerance;
  checks.push({
    check: 'loss',
    result: lossOk ? 'passed' : 'failed',
    value: rise,
    limit: policy.lossTolerance,
    message: `eval loss ${nats(cand.loss)} vs ${nats(rel.loss)} (${signed(rise, nats)} nats; tolerance +${policy.lossTolerance})`,
  });
  const fall = rel.top1 - cand.top1;
  const top1Ok = fall <= policy.top1Tolerance;
  checks.push({
    check: 'top1',
    result: top1Ok ? 'passed' : 'failed',
    value: fall,
    limit: policy.top1Tolerance,
    message: `top-1 ${percent(cand.top1)} vs ${percent(rel.top1)} (${signed(-fall, points)}; tolerance −${points(policy.top1Tolerance)})`,
  });
  if (!lossOk || !top1Ok) return refused(checks);
  const [, normCheck, , lossCheck, top1Check] = checks;
  return { outcome: 'released', reason: `released: ${lossCheck?.message}; ${top1Check?.message}; ${normCheck?.message}`, checks };
}

/** When and in which round's commit an event happened (the machine reads no clock). */
interface EventTime {
  round: number;
  at: string;
}

function withDecision(state: ReleaseState, decision: GateDecision): ReleaseState['decisions'] {
  const decisions = [...state.decisions, decision];
  return decisions.length > MAX_RELEASE_DECISIONS ? decisions.slice(decisions.length - MAX_RELEASE_DECISIONS) : decisions;
}

/**
 * A round that trained from `version` reported its federated evaluation (or none, if the round
 * evaluated nothing). If `version` is the pending candidate, the gate decides it now; otherwise
 * nothing changes. `measure` compares it with the released weights as they are now.
 */
export function onCandidateEvaluated(
  state: ReleaseState,
  event: EventTime & { version: number; evaluation: ModelEvaluation | null; releasedEvaluation: ModelEvaluation | null; measure: CandidateMeasure },
  policy: ReleaseGatePolicy,
): { state: ReleaseState; decision: GateDecision | null } {
  const candidate = state.candidate;
  if (!candidate || candidate.version !== event.version || candidate.outcome !== 'pending') return { state, decision: null };
  const verdict = decideRelease({ measure: event.measure, candidateEvaluation: event.evaluation, releasedEvaluation: event.releasedEvaluation }, policy);
  const decision: GateDecision = {
    version: candidate.version,
    base: candidate.base,
    against: state.released,
    round: event.round,
    at: event.at,
    ...verdict,
    candidateEvaluation: event.evaluation,
    releasedEvaluation: event.releasedEvaluation,
  };
  const next: ReleaseState = {
    released: verdict.outcome === 'released' ? candidate.version : state.released,
    trainFrom: verdict.outcome === 'refused' && policy.trainFrom === 'released' ? 'released' : state.trainFrom,
    candidate: { ...candidate, outcome: verdict.outcome },
    decisions: withDecision(state, decision),
  };
  return { state: next, decision };
}

/**
 * A round committed `version`, trained from `base`. It becomes the candidate. If training had
 * moved elsewhere while the round ran (its base was refused under the 'released' policy, or an
 * operator released or rolled back), it is refused on its lineage and training stays where it
 * was; otherwise the gate runs what it can now (finite, norm) and it waits for its evaluation.
 */
export function onCandidateCommitted(
  state: ReleaseState,
  event: EventTime & { version: number; base: number; measure: CandidateMeasure },
  policy: ReleaseGatePolicy,
): { state: ReleaseState; decision: GateDecision } {
  const expectedBase = trainingBaseVersion(state);
  const common = { version: event.version, base: event.base, against: state.released, round: event.round, at: event.at };
  if (event.base !== expectedBase) {
    const baseRefused = state.candidate?.version === event.base && state.candidate.outcome === 'refused';
    const message = baseRefused
      ? `trained from v${event.base}, which the gate refused; training continues from v${expectedBase}`
      : `trained from v${event.base}, but training moved to v${expectedBase} while the round ran (an operator release or rollback)`;
    const decision: GateDecision = {
      ...common,
      outcome: 'refused',
      reason: `refused: ${message}`,
      checks: [{ check: 'lineage', result: 'failed', value: null, limit: null, message }],
      candidateEvaluation: null,
      releasedEvaluation: null,
    };
    return {
      state: { ...state, candidate: { version: event.version, base: event.base, outcome: 'refused' }, decisions: withDecision(state, decision) },
      decision,
    };
  }
  const verdict = decideRelease({ measure: event.measure, candidateEvaluation: null, releasedEvaluation: null }, policy);
  const lineage: GateCheck = { check: 'lineage', result: 'passed', value: null, limit: null, message: `trained from v${event.base}, the training base` };
  const decision: GateDecision = { ...common, ...verdict, checks: [lineage, ...verdict.checks], candidateEvaluation: null, releasedEvaluation: null };
  const next: ReleaseState = {
    released: verdict.outcome === 'released' ? event.version : state.released,
    trainFrom: verdict.outcome === 'refused' && policy.trainFrom === 'released' ? 'released' : event.version,
    candidate: { version: event.version, base: event.base, outcome: verdict.outcome },
    decisions: withDecision(state, decision),
  };
  return { state: next, decision };
}

/**
 * An operator releases `version` (newer than the released one; the caller checks that it is kept).
 * Training keeps its base: a numbered base stays, 'released' follows the new release.
 */
export function releaseByOperator(state: ReleaseState, version: number): ProtocolResult<ReleaseState> {
  if (version === state.released) return protocolFailure('CONFLICT', `release: v${version} is already the released version`);
  if (version < state.released)
    return protocolFailure('CONFLICT', `release: v${version} is older than the released v${state.released}; roll back to it instead`);
  const candidate = state.candidate && state.candidate.version === version ? { ...state.candidate, outcome: 'released' as const } : state.candidate;
  return { ok: true, value: { ...state, released: version, candidate } };
}

/**
 * An operator rolls back to `version` (older than the released one; the caller checks that it is
 * kept). Suggestions go back to it and so does training: the versions after it are what the
 * operator walked away from, so the candidate among them is dropped.
 */
export function rollBackByOperator(state: ReleaseState, version: number): ProtocolResult<ReleaseState> {
  if (version >= state.released) {
    return protocolFailure('CONFLICT', `rollback: v${version} is not older than the released v${state.released}; release it instead`);
  }
  return { ok: true, value: { ...state, released: version, trainFrom: 'released', candidate: null } };
}
