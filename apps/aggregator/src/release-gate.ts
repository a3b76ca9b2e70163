import type { Logger } from 'pino';
import { type PrivacyMode } from '@murmur/fl-core/privacy';
import {
  MAX_AUDIT_PAGE,
  protocolFailure,
  type AuditEntry,
  type ProtocolResult,
  type ReleaseActionResponse,
  type ReleaseSummary,
  type ReleaseView,
  type RoundReport,
} from '@murmur/fl-core/protocol';
import {
  measureCandidate,
  onCandidateCommitted,
  onCandidateEvaluated,
  releaseByOperator,
  rollBackByOperator,
  trainingBaseVersion,
  type GateDecision,
  type ModelEvaluation,
  type ReleaseGatePolicy,
  type ReleaseState,
} from '@murmur/fl-core/round';
import type { AuditLog } from './audit';
import type { AggregatorMetrics } from './metrics';
import type { DataStore } from './store';
import { publicGateDecision, withholds } from './public-view';

export interface ReleaseGateDeps {
  policy: ReleaseGatePolicy;
  store: DataStore;
  audit: AuditLog;
  metrics: AggregatorMetrics;
  logger: Logger;
  /** With privacy noise the logs get decisions without their evaluation numbers (public-view.ts). */
  privacyMode: PrivacyMode;
}

/** The release state's pointers, as the audit log records them before and after an action. */
function pointers(state: ReleaseState) {
  return { released: state.released, trainingBase: trainingBaseVersion(state), candidate: state.candidate?.version ?? null };
}

/**
 * The federated evaluation a round record carries: that of the version the round trained from
 * (`modelVersion.from`), or null when the round evaluated nothing usable.
 */
export function evaluationOfReport(report: RoundReport): ModelEvaluation | null {
  const e = report.metrics?.eval;
  if (report.status !== 'committed' || !e || e.count < 1 || e.loss === null || e.top1 === null) return null;
  return { version: report.modelVersion.from, round: report.round, count: e.count, loss: e.loss, top1: e.top1, top3: e.top3 };
}

/** What the gate decided at one commit: the state to write with the round, and its decisions. */
export interface GateOutcomeAtCommit {
  before: ReleaseState;
  state: ReleaseState;
  decisions: GateDecision[];
}

/**
 * The aggregator's side of the release gate (the decisions are fl-core's pure round/release.ts):
 * measures weights, finds evaluations in the round records, hands the resulting state to the
 * store with the round, then counts, logs and audits. Operators release and roll back through it.
 */
export class ReleaseGate {
  readonly #deps: ReleaseGateDeps;

  constructor(deps: ReleaseGateDeps) {
    this.#deps = deps;
    deps.metrics.releasedVersion.set(deps.store.release.released);
  }

  get policy(): ReleaseGatePolicy {
    return this.#deps.policy;
  }

  /** The newest federated evaluation of `version` on record (`pending`: a round not committed yet). */
  evaluationOf(version: number, pending?: RoundReport): ModelEvaluation | null {
    if (pending?.modelVersion.from === version) {
      const fresh = evaluationOfReport(pending);
      if (fresh) return fresh;
    }
    const rounds = this.#deps.store.rounds;
    for (let i = rounds.length - 1; i >= 0; i--) {
      const report = rounds[i] as RoundReport;
      if (report.modelVersion.from !== version) continue;
      const found = evaluationOfReport(report);
      if (found) return found;
    }
    return null;
  }

  /** Weights of `version`: from what the caller holds, else from the store. */
  #weights(version: number, held: readonly { version: number; weights: Float32Array }[]): Float32Array {
    const found = held.find((m) => m.version === version)?.weights ?? this.#deps.store.model(version)?.weights;
    if (!found) throw new Error(`release gate: the released v${version} is not on disk`);
    return found;
  }

  /**
   * The release state after a round that trained from `base` and made `candidate`, before the
   * round is written: the round's evaluation decides a pending `base`, then `candidate` is the
   * next candidate. Nothing is written or announced here.
   */
  atCommit(report: RoundReport, base: { version: number; weights: Float32Array }, candidate: { version: number; weights: Float32Array }): GateOutcomeAtCommit {
    const { policy, store } = this.#deps;
    const before = store.release;
    const held = [base, candidate];
    const decisions: GateDecision[] = [];
    let state = before;
    if (state.candidate?.version === base.version && state.candidate.outcome === 'pending') {
      const evaluated = onCandidateEvaluated(
        state,
        {
          version: base.version,
          evaluation: evaluationOfReport(report),
          releasedEvaluation: this.evaluationOf(state.released, report),
          measure: measureCandidate(base.weights, this.#weights(state.released, held)),
          round: report.round,
          at: report.endedAt,
        },
        policy,
      );
      state = evaluated.state;
      if (evaluated.decision) decisions.push(evaluated.decision);
    }
    const committed = onCandidateCommitted(
      state,
      {
        version: candidate.version,
        base: base.version,
        measure: measureCandidate(candidate.weights, this.#weights(state.released, held)),
        round: report.round,
        at: report.endedAt,
      },
      policy,
    );
    decisions.push(committed.decision);
    return { before, state: committed.state, decisions };
  }

  /** Once the round (and with it the state) is durable: metrics, structured logs, and an audit entry if the gate released. */
  afterCommit({ before, state, decisions }: GateOutcomeAtCommit): void {
    const { metrics, logger, audit } = this.#deps;
    for (const made of decisions) {
      metrics.gateDecisions.inc({ outcome: made.outcome });
      const decision = withholds(this.#deps.privacyMode) ? publicGateDecision(made) : made;
      const fields = {
        gate: {
          candidate: decision.version,
          base: decision.base,
          against: decision.against,
          round: decision.round,
          outcome: decision.outcome,
          checks: decision.checks.map((c) => ({ check: c.check, result: c.result, value: c.value, limit: c.limit })),
        },
        reason: decision.reason,
      };
      const message = `release gate: candidate v${decision.version} ${decision.outcome}`;
      if (decision.outcome === 'refused') logger.warn(fields, message);
      else logger.info(fields, message);
    }
    metrics.releasedVersion.set(state.released);
    if (state.released !== before.released) {
      const decided = decisions.find((d) => d.outcome === 'released' && d.version === state.released);
      try {
        audit.append({
          actor: 'gate',
          action: 'release',
          version: state.released,
          before: pointers(before),
          after: pointers(state),
          note: decided?.reason ?? null,
        });
      } catch (error) {
        // The decision itself is durable in head.json with its round; the log line says what the audit lacks.
        logger.error({ err: error, released: state.released }, 'could not append the gate’s release to the audit log');
      }
    }
  }

  summary(): ReleaseSummary {
    const state = this.#deps.store.release;
    return {
      released: state.released,
      candidate: state.candidate,
      trainingBase: trainingBaseVersion(state),
      policy: this.#deps.policy.trainFrom,
      lastDecision: state.decisions.at(-1) ?? null,
    };
  }

  view(): ReleaseView {
    const { policy, store, audit } = this.#deps;
    const { trainFrom: _policy, ...gate } = policy;
    return {
      ...this.summary(),
      gate,
      decisions: [...store.release.decisions].reverse(),
      audit: audit.recent(MAX_AUDIT_PAGE),
      auditTotal: audit.total,
      keptVersions: store.keptVersions(),
    };
  }

  /** POST /api/admin/release: `version` (newer than the released one, kept) is served from now on. */
  release(version: number, actor: string, note: string | null): ProtocolResult<ReleaseActionResponse> {
    return this.#operatorAction('release', version, actor, note);
  }

  /** POST /api/admin/rollback: suggestions and training go back to `version` (older, kept). */
  rollback(version: number, actor: string, note: string | null): ProtocolResult<ReleaseActionResponse> {
    return this.#operatorAction('rollback', version, actor, note);
  }

  #operatorAction(action: 'release' | 'rollback', version: number, actor: string, note: string | null): ProtocolResult<ReleaseActionResponse> {
    const { store, audit, metrics, logger } = this.#deps;
    if (!store.hasVersion(version)) {
      const kept = store.keptVersions();
      return protocolFailure('NOT_FOUND', `${action}: v${version} is not a kept model version (kept: ${describeVersions(kept)})`);
    }
    const before = store.release;
    const next = action === 'release' ? releaseByOperator(before, version) : rollBackByOperator(before, version);
    if (!next.ok) return next;
    // Logged first: a crash before the state is written leaves an entry, never a change without one.
    const entry: AuditEntry = audit.append({ actor, action, version, before: pointers(before), after: pointers(next.value), note });
    store.setRelease(next.value);
    metrics.releasedVersion.set(next.value.released);
    logger.info({ audit: entry.seq, action, version, before: pointers(before), after: pointers(next.value), note }, `${action} to v${version} by ${actor}`);
    const training = trainingBaseVersion(next.value);
    const message =
      action === 'release'
        ? `v${version} is released: browsers download it for suggestions from now on. Training continues from v${training}. Saved and audited (entry ${entry.seq}).`
        : `Rolled back to v${version}: browsers download it for suggestions, and the next round trains from it. Saved and audited (entry ${entry.seq}).`;
    return { ok: true, value: { release: this.summary(), audit: entry, message } };
  }
}

/** "0–3, 7, 9–12" for an ascending list. */
export function describeVersions(versions: readonly number[]): string {
  if (versions.length === 0) return 'none';
  const parts: string[] = [];
  let start = versions[0] as number;
  let previous = start;
  for (const v of [...versions.slice(1), Number.NaN]) {
    if (v === previous + 1) {
      previous = v;
      continue;
    }
    parts.push(start === previous ? `v${start}` : `v${start}–v${previous}`);
    start = v;
    previous = v;
  }
  return parts.join(', ');
}
