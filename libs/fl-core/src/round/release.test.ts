import { describe, expect, it } from 'vitest';
import {
  decideRelease,
  initialReleaseState,
  MAX_RELEASE_DECISIONS,
  measureCandidate,
  onCandidateCommitted,
  onCandidateEvaluated,
  releaseByOperator,
  releaseStateSchema,
  rollBackByOperator,
  trainingBaseVersion,
  type CandidateMeasure,
  type ModelEvaluation,
  type ReleaseGatePolicy,
  type ReleaseState,
} from './release';

const POLICY: ReleaseGatePolicy = { maxUpdateNorm: 10, lossTolerance: 0.05, top1Tolerance: 0.01, requireEvaluation: true, trainFrom: 'candidate' };
const SMALL: CandidateMeasure = { nonFinite: 0, updateNorm: 2.5 };

function evaluation(version: number, loss: number, top1: number, round = version + 1): ModelEvaluation {
  return { version, round, count: 400, loss, top1, top3: top1 * 2 };
}

const at = '2026-12-01T08:00:00.000Z';

describe('measureCandidate', () => {
  it('is the L2 distance from the released weights, summed in float64', () => {
    // (3, 4) away from the released weights: a 3-4-5 triangle.
    expect(measureCandidate(Float32Array.of(4, 6, 1), Float32Array.of(1, 2, 1))).toEqual({ nonFinite: 0, updateNorm: 5 });
    // 10^6 coordinates each 10^-3 apart: float32 accumulation would drift, float64 gives 1 to 1e-6.
    const n = 1_000_000;
    const released = new Float32Array(n);
    const candidate = new Float32Array(n).fill(0.001);
    expect(measureCandidate(candidate, released).updateNorm).toBeCloseTo(Math.sqrt(n) * Math.fround(0.001), 6);
  });

  it('counts non-finite weights and has no norm then', () => {
    expect(measureCandidate(Float32Array.of(Number.NaN, 1, Number.POSITIVE_INFINITY), Float32Array.of(0, 0, 0))).toEqual({ nonFinite: 2, updateNorm: null });
  });

  it('refuses weights of another length', () => {
    expect(() => measureCandidate(new Float32Array(3), new Float32Array(4))).toThrow(/3 weights, released has 4/);
  });
});

describe('decideRelease', () => {
  it('refuses non-finite weights, naming how many', () => {
    const verdict = decideRelease({ measure: { nonFinite: 3, updateNorm: null }, candidateEvaluation: null, releasedEvaluation: null }, POLICY);
    expect(verdict.outcome).toBe('refused');
    expect(verdict.reason).toMatch(/3 weights are NaN or ±Infinity/);
    expect(verdict.checks.find((c) => c.check === 'finite')?.result).toBe('failed');
  });

  it('refuses an update norm above the bound, at once and without an evaluation', () => {
    const verdict = decideRelease({ measure: { nonFinite: 0, updateNorm: 10.01 }, candidateEvaluation: null, releasedEvaluation: null }, POLICY);
    expect(verdict).toMatchObject({ outcome: 'refused', reason: 'refused: ‖candidate − released‖₂ = 10.01 > 10' });
    // On the bound is within it.
    expect(decideRelease({ measure: { nonFinite: 0, updateNorm: 10 }, candidateEvaluation: null, releasedEvaluation: null }, POLICY).outcome).toBe('pending');
  });

  it('waits for the candidate’s evaluation, and for one of the released model to compare with', () => {
    const noCandidate = decideRelease({ measure: SMALL, candidateEvaluation: null, releasedEvaluation: evaluation(3, 4, 0.1) }, POLICY);
    expect(noCandidate.outcome).toBe('pending');
    expect(noCandidate.reason).toMatch(/no federated evaluation of the candidate yet/);
    const noReleased = decideRelease({ measure: SMALL, candidateEvaluation: evaluation(4, 4, 0.1), releasedEvaluation: null }, POLICY);
    expect(noReleased.outcome).toBe('pending');
    expect(noReleased.reason).toMatch(/released model/);
  });

  it('releases on finite weights and a bounded norm alone when the policy needs no evaluation', () => {
    const verdict = decideRelease({ measure: SMALL, candidateEvaluation: null, releasedEvaluation: null }, { ...POLICY, requireEvaluation: false });
    expect(verdict.outcome).toBe('released');
    expect(verdict.reason).toMatch(/no evaluation required/);
  });

  it('refuses a loss that rose more than the tolerance: the harmful σ change of issue 17', () => {
    // Eval loss 4.01 → 10.2, top-1 10.6% → 0.1% after σ went from 0.05 to 1.0.
    const verdict = decideRelease({ measure: SMALL, candidateEvaluation: evaluation(9, 10.2, 0.001), releasedEvaluation: evaluation(3, 4.01, 0.106) }, POLICY);
    expect(verdict.outcome).toBe('refused');
    expect(verdict.reason).toContain('eval loss 10.200 vs 4.010 (+6.190 nats; tolerance +0.05)');
    expect(verdict.reason).toContain('top-1 0.1% vs 10.6% (−10.5 points; tolerance −1.0 points)');
    expect(verdict.checks.find((c) => c.check === 'loss')).toMatchObject({ result: 'failed', limit: 0.05 });
    expect(verdict.checks.find((c) => c.check === 'loss')?.value).toBeCloseTo(6.19, 10);
  });

  it('holds loss and top-1 to their own tolerances, each inclusive', () => {
    const released = evaluation(3, 4, 0.1);
    const decide = (loss: number, top1: number) =>
      decideRelease({ measure: SMALL, candidateEvaluation: evaluation(4, loss, top1), releasedEvaluation: released }, POLICY);
    expect(decide(4.04, 0.1).outcome).toBe('released');
    expect(decide(4.06, 0.1).outcome).toBe('refused');
    expect(decide(4.06, 0.1).reason).not.toMatch(/top-1 .* vs/);
    expect(decide(3.9, 0.0905).outcome).toBe('released');
    expect(decide(3.9, 0.089).outcome).toBe('refused');
    expect(decide(3.9, 0.089).reason).toMatch(/^refused: top-1 8\.9% vs 10\.0%/);
    const better = decide(3.8, 0.12);
    expect(better.outcome).toBe('released');
    expect(better.reason).toBe(
      'released: eval loss 3.800 vs 4.000 (−0.200 nats; tolerance +0.05); top-1 12.0% vs 10.0% (+2.0 points; tolerance −1.0 points); ‖candidate − released‖₂ = 2.500 ≤ 10',
    );
  });
});

/** Commits a candidate trained from the current base, then evaluates it, as the aggregator does round by round. */
function commit(state: ReleaseState, version: number, policy = POLICY, measure = SMALL) {
  return onCandidateCommitted(state, { version, base: trainingBaseVersion(state), measure, round: version, at }, policy);
}

describe('the release state machine', () => {
  it('makes each commit a pending candidate, trains from it, and releases it once its evaluation is no worse', () => {
    let state = initialReleaseState(0);
    const first = commit(state, 1);
    expect(first.decision).toMatchObject({ version: 1, base: 0, against: 0, outcome: 'pending' });
    state = first.state;
    expect(state).toMatchObject({ released: 0, candidate: { version: 1, outcome: 'pending' } });
    expect(trainingBaseVersion(state)).toBe(1);
    const evaluated = onCandidateEvaluated(
      state,
      { version: 1, evaluation: evaluation(1, 4.5, 0.05), releasedEvaluation: evaluation(0, 5.3, 0.01), measure: SMALL, round: 2, at },
      POLICY,
    );
    expect(evaluated.decision).toMatchObject({ version: 1, outcome: 'released', round: 2 });
    expect(evaluated.state.released).toBe(1);
    expect(releaseStateSchema.parse(evaluated.state)).toEqual(evaluated.state);
  });

  it('ignores evaluations of versions that are not the pending candidate', () => {
    const state = commit(initialReleaseState(0), 1).state;
    const other = onCandidateEvaluated(state, { version: 0, evaluation: evaluation(0, 9, 0), releasedEvaluation: null, measure: SMALL, round: 2, at }, POLICY);
    expect(other).toEqual({ state, decision: null });
  });

  it('stays pending when the round evaluated nothing, and decides with the next evaluation', () => {
    let state = commit(initialReleaseState(0), 1).state;
    const empty = onCandidateEvaluated(state, { version: 1, evaluation: null, releasedEvaluation: evaluation(0, 5, 0), measure: SMALL, round: 2, at }, POLICY);
    expect(empty.decision?.outcome).toBe('pending');
    state = empty.state;
    expect(trainingBaseVersion(state)).toBe(1);
    const later = onCandidateEvaluated(
      state,
      { version: 1, evaluation: evaluation(1, 6, 0), releasedEvaluation: evaluation(0, 5, 0), measure: SMALL, round: 3, at },
      POLICY,
    );
    expect(later.decision?.outcome).toBe('refused');
    expect(later.state.released).toBe(0);
  });

  it("policy 'candidate': training continues from a refused candidate, and its descendant is judged on its own", () => {
    let state = commit(initialReleaseState(0), 1).state;
    state = onCandidateEvaluated(
      state,
      { version: 1, evaluation: evaluation(1, 9, 0), releasedEvaluation: evaluation(0, 5, 0.02), measure: SMALL, round: 2, at },
      POLICY,
    ).state;
    expect(state).toMatchObject({ released: 0, candidate: { version: 1, outcome: 'refused' } });
    expect(trainingBaseVersion(state)).toBe(1);
    const next = commit(state, 2);
    expect(next.decision).toMatchObject({ version: 2, base: 1, against: 0, outcome: 'pending' });
  });

  it("policy 'released': training goes back to the released version, and the refused candidate's descendant is refused on its lineage", () => {
    const policy: ReleaseGatePolicy = { ...POLICY, trainFrom: 'released' };
    let state = commit(initialReleaseState(0), 1, policy).state;
    // The round that trains from v1 evaluates it (refused) and commits v2 from v1.
    state = onCandidateEvaluated(
      state,
      { version: 1, evaluation: evaluation(1, 9, 0), releasedEvaluation: evaluation(0, 5, 0.02), measure: SMALL, round: 2, at },
      policy,
    ).state;
    expect(trainingBaseVersion(state)).toBe(0);
    const orphan = onCandidateCommitted(state, { version: 2, base: 1, measure: SMALL, round: 2, at }, policy);
    expect(orphan.decision).toMatchObject({ outcome: 'refused', reason: 'refused: trained from v1, which the gate refused; training continues from v0' });
    expect(orphan.decision.checks).toEqual([expect.objectContaining({ check: 'lineage', result: 'failed' })]);
    expect(trainingBaseVersion(orphan.state)).toBe(0);
    // The next round trains from v0 again and its version is a fresh pending candidate.
    expect(commit(orphan.state, 3, policy).decision).toMatchObject({ version: 3, base: 0, outcome: 'pending' });
  });

  it('refuses a candidate by norm at commit; under either policy the norm alone decides', () => {
    for (const trainFrom of ['candidate', 'released'] as const) {
      const policy = { ...POLICY, trainFrom };
      const far = commit(initialReleaseState(0), 1, policy, { nonFinite: 0, updateNorm: 75 });
      expect(far.decision.outcome).toBe('refused');
      expect(trainingBaseVersion(far.state)).toBe(trainFrom === 'candidate' ? 1 : 0);
    }
  });

  it('keeps at most MAX_RELEASE_DECISIONS decisions, newest last', () => {
    let state = initialReleaseState(0);
    for (let v = 1; v <= MAX_RELEASE_DECISIONS + 5; v++) state = commit(state, v).state;
    expect(state.decisions).toHaveLength(MAX_RELEASE_DECISIONS);
    expect(state.decisions.at(-1)?.version).toBe(MAX_RELEASE_DECISIONS + 5);
  });
});

describe('operator release and rollback', () => {
  const withCandidate = () => commit(commit(initialReleaseState(0), 1).state, 2).state;

  it('releases a newer version; the candidate it names is marked released', () => {
    const released = releaseByOperator(withCandidate(), 2);
    expect(released).toMatchObject({ ok: true, value: { released: 2, candidate: { version: 2, outcome: 'released' } } });
    const older = releaseByOperator(withCandidate(), 1);
    expect(older).toMatchObject({ ok: true, value: { released: 1, candidate: { version: 2, outcome: 'pending' } } });
  });

  it('refuses to release the released version or an older one', () => {
    const state = { ...withCandidate(), released: 1 };
    expect(releaseByOperator(state, 1)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringMatching(/already the released/) } });
    expect(releaseByOperator(state, 0)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringMatching(/roll back to it instead/) } });
  });

  it('rolls back to an older version: suggestions and training return to it, the candidate is dropped', () => {
    const state = { ...withCandidate(), released: 1 };
    const rolled = rollBackByOperator(state, 0);
    expect(rolled).toMatchObject({ ok: true, value: { released: 0, trainFrom: 'released', candidate: null } });
    if (!rolled.ok) return;
    expect(trainingBaseVersion(rolled.value)).toBe(0);
    expect(rollBackByOperator(state, 1)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect(rollBackByOperator(state, 2)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
  });

  it('refuses, on its lineage, a round that trained from the old base while an operator rolled back', () => {
    const before = withCandidate();
    expect(trainingBaseVersion(before)).toBe(2);
    const rolled = rollBackByOperator({ ...before, released: 1 }, 0);
    if (!rolled.ok) throw new Error('rollback refused');
    // The round in flight trained from v2 and commits v3.
    const late = onCandidateCommitted(rolled.value, { version: 3, base: 2, measure: SMALL, round: 3, at }, POLICY);
    expect(late.decision.outcome).toBe('refused');
    expect(late.decision.reason).toMatch(/training moved to v0 while the round ran/);
    expect(trainingBaseVersion(late.state)).toBe(0);
  });
});
