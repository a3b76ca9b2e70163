import { useCallback, useEffect, useReducer, useRef } from 'react';
import type { DashboardApi } from './api';
import { connectLive } from './live';
import { dashboardReducer, initialDashboardState, isSecAggPhase, type DashboardState } from './store';

/** Status refresh while a secure-aggregation phase runs: its progress (pending) moves between phase events. */
export const STATUS_POLL_ACTIVE_MS = 2_000;
/** Status refresh otherwise: connected and waiting clients. */
export const STATUS_POLL_IDLE_MS = 10_000;

export interface DashboardHandle {
  state: DashboardState;
  /** Reloads the status (after an admin action). */
  refreshStatus(): void;
  /** Reloads the release state and audit log (after a release, rollback or plan change). */
  refreshRelease(): void;
  /** Reloads the whole history (after it failed). */
  reloadHistory(): void;
}

/**
 * Wires the data layer to the aggregator: the full history over REST once, the dashboard
 * stream (live.ts) for live phases and rounds, and on every (re)connect a catch-up of what the stream may
 * have missed (status, privacy, the newest pages until they overlap what is held).
 */
export function useDashboard(api: DashboardApi, origin: string): DashboardHandle {
  const [state, dispatch] = useReducer(dashboardReducer, initialDashboardState);
  // Live phase events seen so far: a status answer is "fresh" only if none arrived while it was in flight.
  const phaseEvents = useRef(0);
  const rounds = useRef(state.rounds);
  rounds.current = state.rounds;
  const alive = useRef(new AbortController());

  // Each request keeps the signal of the mount that sent it: once that mount is gone (unmount, or
  // StrictMode's extra mount in development) its answers, aborted or not, are dropped.
  const refreshStatus = useCallback(() => {
    const seen = phaseEvents.current;
    const { signal } = alive.current;
    void api.status(signal).then((result) => {
      if (signal.aborted) return;
      if (result.ok) {
        dispatch({
          type: 'status',
          status: result.value.status,
          fresh: phaseEvents.current === seen,
          serverTimeMs: result.value.serverTimeMs,
          receivedAt: Date.now(),
        });
      } else dispatch({ type: 'statusFailed', message: result.error.message });
    });
  }, [api]);

  const refreshPrivacy = useCallback(() => {
    const { signal } = alive.current;
    void api.privacy(signal).then((result) => {
      if (signal.aborted) return;
      if (result.ok) dispatch({ type: 'privacy', privacy: result.value });
      else dispatch({ type: 'notice', message: result.error.message });
    });
  }, [api]);

  const refreshRelease = useCallback(() => {
    const { signal } = alive.current;
    void api.release(signal).then((result) => {
      if (signal.aborted) return;
      if (result.ok) dispatch({ type: 'release', release: result.value });
      else dispatch({ type: 'notice', message: result.error.message });
    });
  }, [api]);

  const loadHistory = useCallback(
    (catchUp: boolean) => {
      if (!catchUp) dispatch({ type: 'historyLoading' });
      const { signal } = alive.current;
      void api
        .history((page, complete) => dispatch({ type: 'roundsPage', rounds: page.rounds, total: page.total, complete }), {
          signal,
          // Caught up once a page overlaps what is held; with nothing held yet (the initial load
          // still running) one page is enough, the initial load brings the rest.
          ...(catchUp
            ? {
                caughtUp: (page) => {
                  const held = new Set(rounds.current.map((r) => r.roundId));
                  return held.size === 0 || page.rounds.some((r) => held.has(r.roundId));
                },
              }
            : {}),
        })
        .then((result) => {
          if (signal.aborted || result.ok) return;
          dispatch(catchUp ? { type: 'notice', message: result.error.message } : { type: 'historyFailed', message: result.error.message });
        });
    },
    [api],
  );

  useEffect(() => {
    const controller = new AbortController();
    alive.current = controller;
    loadHistory(false);
    refreshStatus();
    refreshPrivacy();
    refreshRelease();
    const close = connectLive(origin, {
      phase: (event) => {
        phaseEvents.current++;
        dispatch({ type: 'phase', event });
        // A pause may be the privacy budget's (no round opens past it): /api/privacy says whether, now, not at the next reload.
        if (event.phase === 'paused') refreshPrivacy();
      },
      task: (event) => dispatch({ type: 'task', event }),
      round: (report) => {
        dispatch({ type: 'round', report });
        // A commit moves the model version, ε and the gate: refresh the snapshots now, not at the next poll.
        refreshStatus();
        refreshPrivacy();
        refreshRelease();
      },
      connection: (connection, detail) => {
        dispatch({ type: 'connection', connection, detail });
        // A dropped feed may mean the aggregator is gone: ask at once rather than at the next poll.
        if (connection === 'disconnected') refreshStatus();
        if (connection !== 'connected') return;
        // Whatever was committed before the stream (re)started reached no listener: fetch it.
        loadHistory(true);
        refreshStatus();
        refreshPrivacy();
        refreshRelease();
      },
      rejected: (message) => dispatch({ type: 'rejectedEvent', message }),
    });
    return () => {
      controller.abort();
      close();
    };
  }, [origin, loadHistory, refreshStatus, refreshPrivacy, refreshRelease]);

  const inSecAgg = state.current !== null && isSecAggPhase(state.current.phase);
  useEffect(() => {
    const timer = setInterval(
      () => {
        if (document.visibilityState !== 'hidden') refreshStatus();
      },
      inSecAgg ? STATUS_POLL_ACTIVE_MS : STATUS_POLL_IDLE_MS,
    );
    return () => clearInterval(timer);
  }, [inSecAgg, refreshStatus]);

  return { state, refreshStatus, refreshRelease, reloadHistory: useCallback(() => loadHistory(false), [loadHistory]) };
}
