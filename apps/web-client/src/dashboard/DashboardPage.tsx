import { useCallback, useMemo, useState } from 'react';
import { PrivacyInPlainWords } from '../privacy/PrivacyInPlainWords';
import { AdminPanel } from './AdminPanel';
import { AlertsPanel } from './AlertsPanel';
import { DashboardApi } from './api';
import { Charts } from './Charts';
import { ModelVersions } from './ModelVersions';
import { NowPanel } from './NowPanel';
import { ProcessesPanel } from './ProcessesPanel';
import { ReleasePanel } from './ReleasePanel';
import { RoundDetail } from './RoundDetail';
import { RoundTable } from './RoundTable';
import { rangeStart, roundsFrom, TIME_RANGE_LABELS } from './time-range';
import { TimeRangePicker, useClock, useTimeRange } from './TimeRangePicker';
import { useDashboard } from './use-dashboard';
import { newestModelVersion, type DashboardState } from './store';
import './dashboard.css';

export interface DashboardPageProps {
  /** The aggregator's origin. @default window.location.origin (the aggregator serves the app) */
  origin?: string;
}

/**
 * The round dashboard for product teams: what the aggregator is doing now, how the model and
 * the privacy budget moved over the rounds, every round's record and the model versions; admin
 * controls once the admin token is given. Read-only otherwise.
 */
export function DashboardPage({ origin = window.location.origin }: DashboardPageProps) {
  const api = useMemo(() => new DashboardApi(origin), [origin]);
  const { state, refreshStatus, refreshRelease, reloadHistory } = useDashboard(api, origin);
  const [selected, setSelected] = useState<number | null>(null);
  // Unlocked in the Admin panel, used by the Release panel's buttons too.
  const [adminToken, setAdminToken] = useState<string | null>(null);
  const refreshAfterAdmin = useCallback(() => {
    refreshStatus();
    refreshRelease();
  }, [refreshStatus, refreshRelease]);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const selectedRecord = useMemo(() => latestAttempt(state.rounds, selected), [state.rounds, selected]);
  const [range, setRange] = useTimeRange();
  // Ranges are measured on the server's clock, as the records' times are. Memoized on where the
  // range starts, not on the clock: each status poll moves the clock offset by a few ms, and the
  // charts should only redraw when the rounds shown change.
  const first = rangeStart(state.rounds, range, useClock(range !== 'all') - state.clockOffsetMs);
  const inRange = useMemo(() => roundsFrom(state.rounds, first), [state.rounds, first]);

  return (
    <div className="dash" data-testid="dashboard">
      <header className="dash-row">
        <h1>Round dashboard</h1>
        <ConnectionBadge state={state} />
      </header>
      {state.statusError && (
        <p role="alert" className="dash-banner dash-error" data-testid="dash-status-error">
          Cannot reach the aggregator: {state.statusError}
        </p>
      )}
      {state.notice && state.notice !== dismissed && (
        <p role="alert" className="dash-banner" data-testid="dash-notice">
          {state.notice}
          {state.rejectedEvents > 0 && ` (${state.rejectedEvents} live event${state.rejectedEvents === 1 ? '' : 's'} refused so far)`}{' '}
          <button type="button" onClick={() => setDismissed(state.notice)}>
            Dismiss
          </button>
        </p>
      )}

      <AlertsPanel alerts={state.status ? (state.status.alerts ?? null) : null} />

      <NowPanel state={state} />

      {/* Only in the distributed mode: a single aggregator's status has no `distributed` block. */}
      {state.status?.distributed && <ProcessesPanel distributed={state.status.distributed} task={state.task} />}

      <section className="dash-card" aria-label="Privacy explained">
        <h2>Privacy in plain words</h2>
        <PrivacyInPlainWords
          epsilon={state.status?.privacy.epsilon ?? state.privacy?.epsilon ?? null}
          delta={state.status?.privacy.delta ?? state.privacy?.delta ?? null}
          {...(state.privacy ? { epsilonBudget: state.privacy.epsilonBudget ?? null } : {})}
          {...(state.status ? { mode: state.status.privacy.mode } : {})}
          audience="operator"
        />
      </section>

      <ReleasePanel api={api} release={state.release} adminToken={adminToken} onChanged={refreshAfterAdmin} />

      <section className="dash-card" aria-label="Over time">
        <h2>Over time</h2>
        <TimeRangePicker value={range} onChange={setRange} />
        <HistoryNote state={state} onRetry={reloadHistory} />
        {state.rounds.length > 0 && inRange.shown.length === 0 && (
          <p className="dash-muted" data-testid="dash-range-empty">
            No round ended in this range ({TIME_RANGE_LABELS[range].toLowerCase()}); pick a longer one to see the {state.rounds.length.toLocaleString()} loaded.
          </p>
        )}
        {inRange.shown.length > 0 && <Charts rounds={inRange.shown} epsilonBudget={state.privacy?.epsilonBudget ?? null} />}
      </section>

      <section className="dash-card" aria-label="Rounds">
        <h2>
          Rounds{' '}
          <span className="dash-muted" data-testid="dash-rounds-loaded">
            {state.rounds.length.toLocaleString()}
          </span>
          {range !== 'all' && (
            <span className="dash-muted" data-testid="dash-rounds-shown">
              {' '}
              ({inRange.shown.length.toLocaleString()} in {TIME_RANGE_LABELS[range].toLowerCase()})
            </span>
          )}
        </h2>
        {inRange.shown.length > 0 && (
          <RoundTable rounds={inRange.shown} before={inRange.before} audit={state.release?.audit ?? null} selected={selected} onSelect={setSelected} />
        )}
        {selected !== null && <RoundDetail key={selected} api={api} round={selected} known={selectedRecord} onClose={() => setSelected(null)} />}
      </section>

      <section className="dash-card" aria-label="Model versions">
        <h2>Model versions</h2>
        <ModelVersions
          api={api}
          rounds={state.rounds}
          latest={newestModelVersion(state)}
          oldestServed={state.status?.oldestModelVersion ?? null}
          release={state.status?.release ?? null}
          kept={state.release?.keptVersions ?? null}
        />
      </section>

      <AdminPanel api={api} paused={state.status?.paused ?? null} onChanged={refreshAfterAdmin} onToken={setAdminToken} />
    </div>
  );
}

/** The record of `round` (its last attempt, should a restart have run it twice). */
function latestAttempt(rounds: DashboardState['rounds'], round: number | null) {
  if (round === null) return undefined;
  for (let i = rounds.length - 1; i >= 0; i--) if (rounds[i]?.round === round) return rounds[i];
  return undefined;
}

function ConnectionBadge({ state }: { state: DashboardState }) {
  const text =
    state.connection === 'connected'
      ? 'Live'
      : state.connection === 'connecting'
        ? 'Connecting…'
        : `Disconnected${state.connectionDetail ? ` (${state.connectionDetail})` : ''}: reconnecting; figures may be stale`;
  return (
    <span role="status" className={`dash-badge dash-${state.connection}`} data-testid="dash-connection" data-connection={state.connection}>
      {text}
    </span>
  );
}

function HistoryNote({ state, onRetry }: { state: DashboardState; onRetry(): void }) {
  switch (state.history) {
    case 'loading':
      return state.rounds.length === 0 ? <p className="dash-muted">Loading the round history…</p> : null;
    case 'partial':
      return (
        <p className="dash-muted" data-testid="dash-history-partial">
          Loaded {state.rounds.length.toLocaleString()} of {state.totalRounds?.toLocaleString() ?? '?'} rounds…
        </p>
      );
    case 'error':
      return (
        <p role="alert" className="dash-error">
          Could not load the round history: {state.historyError}{' '}
          <button type="button" onClick={onRetry}>
            Retry
          </button>
        </p>
      );
    case 'complete':
      return state.rounds.length === 0 ? (
        <p data-testid="dash-no-rounds">No rounds have finished yet. They appear here as the aggregator commits them.</p>
      ) : null;
    default: {
      const unreachable: never = state.history;
      return unreachable;
    }
  }
}
