// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { Charts, MAX_CHART_POINTS } from './Charts';
import { backendsInUse, clipNormVaries, roundRow } from './series';
import { makeReport, makeReports } from './test-fixtures';

afterEach(cleanup);

const points = () => screen.getAllByRole('figure').map((f) => [f.querySelector('figcaption')?.textContent, Number(f.getAttribute('data-points'))] as const);

describe('the over-time charts', () => {
  it('plot at most MAX_CHART_POINTS points per chart for 1,000+ rounds', () => {
    render(<Charts rounds={makeReports(1500)} epsilonBudget={8} />);
    const charts = points();
    expect(charts.map(([title]) => title)).toEqual([
      'Federated eval loss',
      'Next-word accuracy',
      'Privacy: ε spent',
      'Round duration',
      'Bytes per round',
      'Participants per round',
      'Backend mix',
    ]);
    for (const [, n] of charts) {
      expect(n).toBeLessThanOrEqual(MAX_CHART_POINTS);
      // A flat series needs one point per bucket, a varying one two: still far more than the
      // chart's ~300 px can tell apart.
      expect(n).toBeGreaterThan(MAX_CHART_POINTS / 4);
    }
    // The eval loss falls round after round, so every bucket has a distinct min and max: 2 × 199 + 2.
    expect(charts[0]?.[1]).toBe(MAX_CHART_POINTS);
  });

  it('label the participants axis with whole numbers, each once (a 5–6 cohort printed "6, 6, 6, 5, 5")', () => {
    const rounds = [makeReport(1, { selected: 6 }), makeReport(2, { selected: 6, dropped: { unmasked: 1 } }), makeReport(3, { selected: 5 })];
    render(<Charts rounds={rounds} epsilonBudget={null} />);
    const ticks = (screen.getByTestId('dash-chart-Participants per round').getAttribute('data-y-ticks') ?? '').split(',').map(Number);
    expect(ticks).toEqual([5, 6]);
    // Charts of real-valued series keep Recharts' own ticks.
    expect(screen.getByTestId('dash-chart-Federated eval loss').hasAttribute('data-y-ticks')).toBe(false);
  });

  it('plot every round of a short history', () => {
    render(<Charts rounds={makeReports(30)} epsilonBudget={null} />);
    for (const [, n] of points()) expect(n).toBe(30);
  });

  it('show the clip norm only once it moves (adaptive clipping or a plan change)', () => {
    const steady = makeReports(50);
    expect(clipNormVaries(steady.map(roundRow))).toBe(false);
    const adaptive = steady.map((r) => makeReport(r.round, { clipNorm: 1 / Math.sqrt(r.round) }));
    render(<Charts rounds={adaptive} epsilonBudget={null} />);
    expect(screen.getByText('Clip norm (adaptive)')).toBeTruthy();
  });

  it('say so when there is nothing to plot', () => {
    render(<Charts rounds={[]} epsilonBudget={null} />);
    expect(screen.getByText(/No finished rounds yet/)).toBeTruthy();
  });
});

describe('chart rows', () => {
  it('convert units and gather unknown backends, with no layer for a backend nobody used', () => {
    const row = roundRow(makeReport(4, { backends: { webgpu: 3, webgl: 1, 'wasm-simd': 2 } }));
    expect(row.backends).toEqual({ webgpu: 3, webgl: 1, wasm: 0, cpu: 0, other: 2 });
    expect(backendsInUse([row])).toEqual(['webgpu', 'webgl', 'other']);
    expect(row.top1Pct).toBeCloseTo(100 * 0.01 * Math.log1p(4));
    expect(row.durationS).toBeCloseTo((3_000 + 4 * 250) / 1000);
    const aborted = roundRow(makeReport(5, { status: 'aborted', dropped: { masked: 18 } }));
    expect([aborted.evalLoss, aborted.top1Pct, aborted.contributed]).toEqual([null, null, 0]);
  });
});
