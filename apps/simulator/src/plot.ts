import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SimulationReport } from './run';

/** One point of a learning curve, in epochs over the pooled training data. */
export interface CurvePoint {
  run: string;
  epochs: number;
  top1: number;
  perplexity: number;
}

/** A run's held-out points: the central curve, or every evaluated federated round. */
export function curvePoints(report: SimulationReport, label: string): CurvePoint[] {
  if (report.mode === 'central') {
    return (report.curve ?? []).map((p) => ({ run: label, epochs: p.epochs, top1: p.test.top1, perplexity: p.test.perplexity }));
  }
  let processed = 0;
  const points: CurvePoint[] = [];
  for (const round of report.rounds) {
    processed += round.examplesProcessed;
    if (round.top1 !== null && round.perplexity !== null)
      points.push({ run: label, epochs: processed / report.config.trainPool, top1: round.top1, perplexity: round.perplexity });
  }
  return points;
}

/** A short legend label: 'federated FedAdam (server 0.03, client 1)' or 'central Adam 0.002'. */
export function runLabel(report: SimulationReport): string {
  const c = report.config;
  if (report.mode === 'central') return `central ${c.centralOptimizer === 'adam' ? 'Adam' : 'SGD'} ${c.centralLr ?? c.lr}`;
  return `federated ${c.optimizer} (server ${c.serverLr ?? 'default'}, client ${c.lr}), seed ${c.seed}`;
}

/**
 * Held-out top-1 and perplexity against epochs for each run, with the Kneser–Ney baselines of the
 * first run (all runs must share its split) as dashed rules: a vega-lite spec.
 */
export function learningCurveSpec(reports: readonly SimulationReport[]): TopLevelSpec {
  const points = reports.flatMap((report) => curvePoints(report, runLabel(report)));
  const baselines = Object.entries(reports[0]?.baselines ?? {}).map(([name, b]) => ({
    baseline: name.toUpperCase().replace('KN', 'KN-'),
    top1: b.top1,
    perplexity: b.perplexity,
  }));
  const panel = (field: 'top1' | 'perplexity', title: string, format: string, scale: Record<string, unknown>) => ({
    width: 420,
    height: 260,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line' as const, point: true },
        encoding: {
          x: { field: 'epochs', type: 'quantitative' as const, title: 'epochs over the training clients' },
          y: { field, type: 'quantitative' as const, title, axis: { format }, scale },
          color: { field: 'run', type: 'nominal' as const, legend: { orient: 'bottom' as const, columns: 1, title: null } },
        },
      },
      {
        data: { values: baselines },
        mark: { type: 'rule' as const, strokeDash: [4, 4], color: '#666' },
        encoding: { y: { field, type: 'quantitative' as const } },
      },
      {
        data: { values: baselines },
        mark: { type: 'text' as const, align: 'left' as const, dx: 4, dy: -6, x: 0, color: '#444' },
        encoding: { y: { field, type: 'quantitative' as const }, text: { field: 'baseline' } },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Held-out next-word prediction vs training (dashed: Kneser–Ney n-grams on the same split)',
    hconcat: [panel('top1', 'top-1 accuracy', '.0%', { zero: false }), panel('perplexity', 'perplexity (log scale)', '~s', { type: 'log' })],
  } as TopLevelSpec;
}

/** Renders the spec to SVG in Node (vega's headless renderer, no canvas needed). */
export async function renderLearningCurves(reports: readonly SimulationReport[]): Promise<string> {
  const view = new vega.View(vega.parse(compile(learningCurveSpec(reports)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
