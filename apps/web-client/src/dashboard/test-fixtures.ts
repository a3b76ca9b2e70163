import { roundReportSchema, type RoundReport } from '@murmur/fl-core';

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
  });
}

export function makeReports(count: number, first = 1): RoundReport[] {
  return Array.from({ length: count }, (_, i) => makeReport(first + i, (first + i) % 10 === 0 ? { status: 'aborted', dropped: { masked: 18 } } : {}));
}
