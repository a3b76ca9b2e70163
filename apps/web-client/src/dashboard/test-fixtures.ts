import { releaseViewSchema, roundReportSchema, type LivePlan, type ReleaseView, type RoundReport } from '@murmur/fl-core/protocol';
import { type GateDecision } from '@murmur/fl-core/round';

/**
 * Round records for the dashboard's tests, each parsed by fl-core's schema so a test can never
 * pass on a record the aggregator could not have sent. Values move with the round number the way
 * a training run's do (loss falls, ε rises), so charts and tables have something to show.
 */
export interface ReportOptions {
  status?: 'committed' | 'aborted';
  roundId?: string;
  selected?: number;
  dropped?: Partial<Record<'advertised' | 'shared' | 'masked' | 'unmasked', number>>;
  clipNorm?: number;
  backends?: Record<string, number>;
  startedAtMs?: number;
  planRevision?: number;
  /** Who each phase closed without (the aggregator's record since dropouts were recorded). */
  dropouts?: RoundReport['dropouts'];
}

const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);

export function makeReport(round: number, options: ReportOptions = {}): RoundReport {
  const status = options.status ?? 'committed';
  const selected = options.selected ?? 20;
  const d = options.dropped ?? {};
  const advertised = selected - (d.advertised ?? 0);
  const shared = advertised - (d.shared ?? 0);
  const masked = shared - (d.masked ?? 0);
  const unmasked = masked - (d.unmasked ?? 0);
  const started = options.startedAtMs ?? T0 + round * 10_000;
  const durationMs = 3_000 + (round % 7) * 250;
  const committed = status === 'committed';
  return roundReportSchema.parse({
    round,
    roundId: options.roundId ?? `r${round}-${((round * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
    status,
    startedAt: new Date(started).toISOString(),
    endedAt: new Date(started + durationMs).toISOString(),
    modelVersion: committed ? { from: round - 1, to: round } : { from: round - 1, to: round - 1 },
    abort: committed ? null : { code: 'BELOW_THRESHOLD', message: `round ${round}: 2 masked inputs, need minReports 3` },
    cohort: { eligible: selected + 5, selected, advertised, shared, masked, unmasked },
    secagg: { graph: 'full', degree: selected - 1, threshold: Math.floor(selected / 2) + 1, modulusBits: 32, vectorLength: 12_345 },
    metrics: committed
      ? {
          examples: 100 * masked,
          trainLoss: 5 / Math.sqrt(round),
          eval: {
            count: 20 * masked,
            loss: 6 / Math.sqrt(round),
            top1: Math.min(0.5, 0.01 * Math.log1p(round)),
            top3: Math.min(0.8, 0.02 * Math.log1p(round)),
          },
        }
      : null,
    privacy: {
      mode: 'distributed',
      clipNorm: options.clipNorm ?? 1,
      noiseMultiplier: 1.1,
      recordedNoiseMultiplier: committed ? 1.1 : null,
      samplingRate: 0.01,
      epsilon: 0.05 * Math.sqrt(round),
      delta: 1e-5,
    },
    bytes: { received: 4 * 12_345 * masked, sent: 900 * selected },
    durationsMs: { advertiseKeys: durationMs / 2, shareKeys: durationMs / 8, maskedInput: durationMs / 4, unmasking: durationMs / 8 },
    backends: options.backends ?? { webgpu: Math.floor(selected / 2), wasm: selected - Math.floor(selected / 2) },
    ...(options.planRevision !== undefined ? { planRevision: options.planRevision } : {}),
    ...(options.dropouts !== undefined ? { dropouts: options.dropouts } : {}),
  });
}

export function makeReports(count: number, first = 1): RoundReport[] {
  return Array.from({ length: count }, (_, i) => makeReport(first + i, (first + i) % 10 === 0 ? { status: 'aborted', dropped: { masked: 18 } } : {}));
}

export const FIXTURE_PLAN: LivePlan = {
  target: 20,
  overSelection: 1.3,
  minReports: 3,
  pauseMs: 2000,
  checkinMs: 5000,
  training: { epochs: 1, batchSize: 16, optimizer: 'sgd', learningRate: 1, maxExamples: 64, timeBudgetMs: 30_000, targets: 'every' },
  clipNorm: 1,
  noiseMultiplier: 0.05,
};

/**
 * The release state after the harmful plan change of issue 17: v7 released, σ raised to 1.0, the
 * candidate v9 trained with it refused on its federated evaluation. Parsed by fl-core's schema.
 */
export function makeReleaseView(): ReleaseView {
  const at = new Date(T0 + 9 * 10_000).toISOString();
  const refused: GateDecision = {
    version: 9,
    base: 8,
    against: 7,
    round: 10,
    at,
    outcome: 'refused',
    reason: 'refused: eval loss 10.200 vs 4.010 (+6.190 nats; tolerance +0.05); top-1 0.1% vs 10.6% (−10.5 points; tolerance −1.0 points)',
    checks: [
      { check: 'finite', result: 'passed', value: 0, limit: 0, message: 'every weight is finite' },
      { check: 'updateNorm', result: 'passed', value: 31.4, limit: 50, message: '‖candidate − released‖₂ = 31.40 ≤ 50' },
      { check: 'evaluation', result: 'passed', value: 400, limit: null, message: 'evaluated on 400 held-out examples in round 10' },
      { check: 'loss', result: 'failed', value: 6.19, limit: 0.05, message: 'eval loss 10.200 vs 4.010 (+6.190 nats; tolerance +0.05)' },
      { check: 'top1', result: 'failed', value: 0.105, limit: 0.01, message: 'top-1 0.1% vs 10.6% (−10.5 points; tolerance −1.0 points)' },
    ],
    candidateEvaluation: { version: 9, round: 10, count: 400, loss: 10.2, top1: 0.001, top3: 0.004 },
    releasedEvaluation: { version: 7, round: 8, count: 400, loss: 4.01, top1: 0.106, top3: 0.2 },
  };
  const released: GateDecision = {
    ...refused,
    version: 7,
    base: 6,
    against: 6,
    round: 8,
    outcome: 'released',
    reason: 'released: eval loss 4.010 vs 4.100 (−0.090 nats; tolerance +0.05); top-1 10.6% vs 10.2% (+0.4 points; tolerance −1.0 points)',
    checks: refused.checks.map((c) => ({ ...c, result: 'passed' as const })),
  };
  return releaseViewSchema.parse({
    released: 7,
    candidate: { version: 9, base: 8, outcome: 'refused' },
    trainingBase: 9,
    policy: 'candidate',
    lastDecision: refused,
    gate: { maxUpdateNorm: 50, lossTolerance: 0.05, top1Tolerance: 0.01, requireEvaluation: true },
    decisions: [refused, released],
    audit: [
      {
        seq: 3,
        at,
        actor: 'admin',
        action: 'plan',
        revision: 1,
        note: null,
        before: FIXTURE_PLAN,
        after: { ...FIXTURE_PLAN, noiseMultiplier: 1 },
      },
      {
        seq: 2,
        at,
        actor: 'gate',
        action: 'release',
        version: 7,
        note: released.reason,
        before: { released: 5, trainingBase: 7, candidate: 7 },
        after: { released: 7, trainingBase: 7, candidate: 7 },
      },
      {
        seq: 1,
        at,
        actor: 'gate',
        action: 'release',
        version: 5,
        note: null,
        before: { released: 3, trainingBase: 5, candidate: 5 },
        after: { released: 5, trainingBase: 5, candidate: 5 },
      },
    ],
    auditTotal: 3,
    keptVersions: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  });
}
