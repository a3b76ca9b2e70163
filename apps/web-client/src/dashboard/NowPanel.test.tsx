// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { NowPanel } from './NowPanel';
import { initialDashboardState, type DashboardState } from './store';
import type { DashboardStatus } from './schemas';
import { makeReport } from './test-fixtures';
import type { RoundReport } from '@murmur/fl-core/protocol';

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

/** The fixture's record as a round without privacy noise publishes it: exact counts included. */
const withoutPrivacy = (report: RoundReport): RoundReport => ({ ...report, privacy: { ...report.privacy, mode: 'off' } });

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
      rounds: [withoutPrivacy(makeReport(7, { selected: 26, dropped: { masked: 4 } }))],
      current: { phase: 'idle', round: 0, roundId: '', cohort: 0, pending: 0, since: new Date().toISOString(), expected: {} },
    };
    render(<NowPanel state={state} />);
    expect(screen.getByTestId('dash-current-round').textContent).toBe('next round 8');
    expect(screen.queryByTestId('dash-deadline')).toBeNull();
    expect(screen.getByText('Last round 7 (committed)')).toBeTruthy();
    expect(screen.getByTestId('dash-funnel-masked-dropped').textContent).toBe('−4');
    expect(screen.getByTestId('dash-funnel-committed-clients').textContent).toBe('22');
  });

  it('shows the budget left, says when it paused training, and warns about a small population', () => {
    const idle = { ...status, phase: 'idle' as const, round: null };
    const current = { phase: 'idle' as const, round: 0, roundId: '', cohort: 0, pending: 0, since: new Date().toISOString(), expected: {} };
    const privacy = { mode: 'distributed' as const, delta: 1e-5, epsilon: 2.5, epsilonBudget: 8, projectedRoundsLeft: 1234, budgetExhausted: false };
    const large: DashboardState = { ...initialDashboardState, status: idle, current, privacy, rounds: [makeReport(7)] };
    render(<NowPanel state={large} />);
    expect(screen.getByTestId('dash-budget-rounds-left').textContent).toMatch(/allows about 1,234 more rounds/);
    expect(screen.queryByTestId('dash-budget-exhausted')).toBeNull();
    // q = 0.01 in the fixture: a real population, no caveat.
    expect(screen.queryByTestId('dash-small-population')).toBeNull();
    cleanup();

    const all = makeReport(7);
    const demo = { ...all, privacy: { ...all.privacy, samplingRate: 1 } };
    const spent = { ...privacy, epsilon: 7.5, epsilonNextRound: 9.25, projectedRoundsLeft: 0, budgetExhausted: true };
    const paused: DashboardState = { ...large, privacy: spent, rounds: [demo], status: { ...idle, plan: { ...idle.plan, noiseMultiplier: 0.05 } } };
    render(<NowPanel state={paused} />);
    expect(screen.getByTestId('dash-budget-exhausted').textContent).toMatch(/Training paused by the privacy budget.*ε to 9\.250, past the budget of 8\.000/);
    expect(screen.queryByTestId('dash-budget-rounds-left')).toBeNull();
    expect(screen.getByTestId('dash-small-population').textContent).toMatch(/draws 100% .*At σ = 0\.05 the model can learn, but the ε shown is weak/);
    cleanup();

    render(<NowPanel state={{ ...paused, status: idle }} />);
    expect(screen.getByTestId('dash-small-population').textContent).toMatch(/At σ = 1\.10 the noise .* cannot learn/);
  });

  it('says beside ε what it assumes: at most c fake or colluding reports per round, and the kind of noise', () => {
    const idle = { ...status, phase: 'idle' as const, round: null };
    const current = { phase: 'idle' as const, round: 0, roundId: '', cohort: 0, pending: 0, since: new Date().toISOString(), expected: {} };
    const privacy = { mode: 'distributed' as const, delta: 1e-5, epsilon: 2.5, colluders: 2, noise: 'discrete' as const };
    const state: DashboardState = { ...initialDashboardState, status: idle, current, privacy, rounds: [makeReport(7)] };
    render(<NowPanel state={state} />);
    expect(screen.getByTestId('dash-epsilon').textContent).toBe('2.500');
    const words = screen.getByTestId('dash-epsilon-assumes').textContent ?? '';
    expect(words).toBe(
      "ε assumes at most 2 of a round's reports are fake or colluding (c = 2); discrete noise: the distributed discrete Gaussian on the encoded integers, its rounding counted in ε.",
    );
    cleanup();

    render(<NowPanel state={{ ...state, privacy: { ...privacy, colluders: 1, noise: 'continuous' } }} />);
    expect(screen.getByTestId('dash-epsilon-assumes').textContent).toBe(
      "ε assumes at most 1 of a round's reports is fake or colluding (c = 1); continuous noise: Gaussian, added before encoding.",
    );
    cleanup();

    // An aggregator from before colluders: c = 0, nothing said about the noise.
    const { colluders: _c, noise: _n, ...older } = privacy;
    render(<NowPanel state={{ ...state, privacy: older }} />);
    expect(screen.getByTestId('dash-epsilon-assumes').textContent).toBe("ε assumes none of a round's reports are fake or colluding (c = 0).");
    cleanup();

    // No noise, no ε to qualify.
    render(<NowPanel state={{ ...state, privacy: { mode: 'off', delta: 1e-5, epsilon: null, colluders: 0, noise: null } }} />);
    expect(screen.queryByTestId('dash-epsilon-assumes')).toBeNull();
  });

  it("says what the population spent across its tasks beside this task's ε, only when the aggregator says it (distributed mode)", () => {
    const idle = { ...status, phase: 'idle' as const, round: null };
    const current = { phase: 'idle' as const, round: 0, roundId: '', cohort: 0, pending: 0, since: new Date().toISOString(), expected: {} };
    const privacy = { mode: 'distributed' as const, delta: 1e-5, epsilon: 2.5, populationSpent: { epsilon: 3.75, tasks: 2, rounds: 1200 } };
    const state: DashboardState = { ...initialDashboardState, status: idle, current, privacy, rounds: [makeReport(7)] };
    render(<NowPanel state={state} />);
    expect(screen.getByTestId('dash-epsilon').textContent).toBe('2.500');
    expect(screen.getByTestId('dash-population-epsilon').textContent).toBe(
      'The population has spent ε 3.750 over 1,200 rounds of 2 tasks that train on it; the budget counts this.',
    );
    cleanup();
    render(<NowPanel state={{ ...state, privacy: { ...privacy, populationSpent: { epsilon: 0.42, tasks: 1, rounds: 1 } } }} />);
    expect(screen.getByTestId('dash-population-epsilon').textContent).toBe(
      'The population has spent ε 0.420 over 1 round of 1 task that trains on it; the budget counts this.',
    );
    cleanup();
    const { populationSpent: _p, ...singleProcess } = privacy;
    render(<NowPanel state={{ ...state, privacy: singleProcess }} />);
    expect(screen.queryByTestId('dash-population-epsilon')).toBeNull();
  });

  it('says it is not connected before any state arrived', () => {
    render(<NowPanel state={{ ...initialDashboardState, connection: 'disconnected' }} />);
    expect(screen.getByText('Not connected to the aggregator.')).toBeTruthy();
  });
});
