import { describe, expect, it } from 'vitest';
import { curvePoints, renderLearningCurves } from './plot';
import type { SimulationReport } from './run';

const metrics = (top1: number, perplexity: number) => ({ top1, perplexity, test: { top1, perplexity } });

const federated = {
  mode: 'federated',
  config: { trainPool: 1000, optimizer: 'fedadam', serverLr: 0.03, lr: 1, seed: 1 },
  rounds: [
    { round: 1, examplesProcessed: 250, ...metrics(0.05, 900) },
    { round: 2, examplesProcessed: 250, top1: null, perplexity: null },
    { round: 3, examplesProcessed: 500, ...metrics(0.12, 300) },
  ],
  baselines: { kn2: { top1: 0.18, perplexity: 105 }, kn4: { top1: 0.23, perplexity: 78 } },
} as unknown as SimulationReport;

const central = {
  mode: 'central',
  config: { centralOptimizer: 'adam', centralLr: 0.002, lr: 0.5 },
  rounds: [],
  curve: [
    { epochs: 0.5, ...metrics(0.15, 200) },
    { epochs: 1, ...metrics(0.2, 120) },
  ],
} as unknown as SimulationReport;

describe('learning curves', () => {
  it('puts federated rounds on the epochs axis by the examples they processed, skipping unevaluated rounds', () => {
    expect(curvePoints(federated, 'f')).toEqual([
      { run: 'f', epochs: 0.25, top1: 0.05, perplexity: 900 },
      { run: 'f', epochs: 1, top1: 0.12, perplexity: 300 },
    ]);
    expect(curvePoints(central, 'c').map((p) => p.epochs)).toEqual([0.5, 1]);
  });

  it('renders both panels to SVG with every run and the baselines labelled', async () => {
    const svg = await renderLearningCurves([federated, central]);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of [
      'federated fedadam (server 0.03, client 1), seed 1',
      'central Adam 0.002',
      'KN-2',
      'KN-4',
      'top-1 accuracy',
      'perplexity (log scale)',
    ]) {
      expect(svg).toContain(text);
    }
  });
});
