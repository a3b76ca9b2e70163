// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { NowPanel } from './NowPanel';
import { initialDashboardState, type DashboardState } from './store';
import type { DashboardStatus } from './schemas';
import { makeReport } from './test-fixtures';

afterEach(cleanup);

const status: DashboardStatus = {
  phase: 'shareKeys',
  paused: false,
  round: { round: 8, roundId: 'r8-00000008', cohort: 26, pending: 10 },
  nextRound: 8,
  modelVersion: 7,
  connectedClients: 40,
  waitingClients: 9,
  roundsRecorded: 7,
  plan: {
    target: 20,
    overSelection: 1.3,
    minReports: 3,
    pauseMs: 2000,
    checkinMs: 5000,
    training: { epochs: 1, batchSize: 16, optimizer: 'sgd', learningRate: 0.5, maxExamples: 256, timeBudgetMs: 30_000, targets: 'last' },
    clipNorm: 1,
    noiseMultiplier: 1.1,
  },
  privacy: { mode: 'distributed', delta: 1e-5, epsilon: 2.5 },
  deadlines: { advertiseKeysMs: 60_000, shareKeysMs: 20_000, maskedInputMs: 15_000, unmaskingMs: 15_000 },
};

describe('the Now panel', () => {
  it('counts down to the phase deadline on the server clock, whatever the local clock says', () => {
    // The local clock runs a minute ahead of the server's: the phase began 5 s ago server time.
    const skewMs = 60_000;
    const since = new Date(Date.now() - skewMs - 5_000).toISOString();
    const state: DashboardState = {
      ...initialDashboardState,
      connection: 'connected',
      status,
      clockOffsetMs: skewMs,
      current: { phase: 'shareKeys', round: 8, roundId: 'r8-00000008', cohort: 26, pending: 10, since, expected: { advertiseKeys: 26, shareKeys: 24 } },
    };
    render(<NowPanel state={state} />);
    expect(screen.getByTestId('dash-current-round').textContent).toBe('round 8');
    expect(screen.getByTestId('dash-deadline').textContent).toMatch(/deadline in 1[45] s \(of 20 s\)/);
    expect(screen.getByTestId('dash-phase-progress').textContent).toBe('14 of 24 answered');
    expect(screen.getByTestId('dash-funnel-advertised-clients').textContent).toBe('24');
    expect(screen.getByTestId('dash-funnel-advertised-dropped').textContent).toBe('−2');
    expect(screen.getByTestId('dash-funnel-shared-clients').textContent).toBe('…');
  });

  it('shows the last round’s exact funnel between rounds, and no countdown without deadlines', () => {
    const { deadlines: _omitted, ...withoutDeadlines } = status;
    const state: DashboardState = {
      ...initialDashboardState,
      status: { ...withoutDeadlines, phase: 'idle', round: null },
      rounds: [makeReport(7, { selected: 26, dropped: { masked: 4 } })],
      current: { phase: 'idle', round: 0, roundId: '', cohort: 0, pending: 0, since: new Date().toISOString(), expected: {} },
    };
    render(<NowPanel state={state} />);
    expect(screen.getByTestId('dash-current-round').textContent).toBe('next round 8');
    expect(screen.queryByTestId('dash-deadline')).toBeNull();
    expect(screen.getByText('Last round 7 (committed)')).toBeTruthy();
    expect(screen.getByTestId('dash-funnel-masked-dropped').textContent).toBe('−4');
    expect(screen.getByTestId('dash-funnel-committed-clients').textContent).toBe('22');
  });

  it('says it is not connected before any state arrived', () => {
    render(<NowPanel state={{ ...initialDashboardState, connection: 'disconnected' }} />);
    expect(screen.getByText('Not connected to the aggregator.')).toBeTruthy();
  });
});
