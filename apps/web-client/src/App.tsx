import { useEffect, useState } from 'react';
import { Composer } from './composer/Composer';
import { PrivacyPage } from './privacy/PrivacyPage';
import { DeviceControlsPanel } from './settings/DeviceControls';
import { statusHeadline } from './ui/status-text';
import { useRuntime } from './ui/use-runtime';

/** The operator's round dashboard: a page of its own (dashboard.html), outside this app and its service worker. */
export const DASHBOARD_PATH = '/dashboard';

/**
 * Sends a link from before the dashboard left this app (`#/dashboard`) to its own page. True when
 * it did: the caller then starts nothing, so following an old link creates no participant state.
 */
export function leaveForDashboard(location: Pick<Location, 'hash' | 'replace'>): boolean {
  if (location.hash !== '#/dashboard') return false;
  location.replace(DASHBOARD_PATH);
  return true;
}

type Route = 'compose' | 'privacy' | 'settings';
function routeOf(hash: string): Route {
  if (hash === '#/privacy') return 'privacy';
  if (hash === '#/settings') return 'settings';
  return 'compose';
}

export function App() {
  const { state } = useRuntime();
  const [route, setRoute] = useState<Route>(() => routeOf(window.location.hash));
  useEffect(() => {
    const onHash = () => {
      if (!leaveForDashboard(window.location)) setRoute(routeOf(window.location.hash));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const demo = state.texts.some((t) => t.source === 'demo') || state.seed !== null;
  return (
    <div className="app">
      <header>
        <h1>Murmur</h1>
        <nav>
          <a href="#/" aria-current={route === 'compose' ? 'page' : undefined}>
            Write
          </a>
          <a href="#/privacy" aria-current={route === 'privacy' ? 'page' : undefined}>
            Privacy
          </a>
          <a href="#/settings" aria-current={route === 'settings' ? 'page' : undefined}>
            Settings
          </a>
          <a href={DASHBOARD_PATH}>Dashboard</a>
        </nav>
      </header>
      {demo && (
        <p className="banner demo" role="status" data-testid="demo-banner">
          Demo data:{' '}
          {state.seed?.status === 'failed'
            ? `could not load partition ${state.seed.partition}: ${state.seed.message}`
            : `this browser holds public State of the Union text${state.seed ? ` (partition ${state.seed.partition})` : ''}, not anything you wrote.`}
        </p>
      )}
      {state.notice && (
        // Being offline is expected and harmless (the saved model keeps suggesting): a calm status,
        // not a red alert. The raw error stays one tap away for whoever debugs it.
        <div
          className={`banner ${state.notice.kind}`}
          role={state.notice.kind === 'offline' ? 'status' : 'alert'}
          data-testid="notice"
          data-kind={state.notice.kind}
        >
          {state.notice.text}
          {state.notice.detail !== null && (
            <details className="notice-detail">
              <summary>details</summary>
              <code>{state.notice.detail}</code>
            </details>
          )}
        </div>
      )}
      <main>{route === 'privacy' ? <PrivacyPage /> : route === 'settings' ? <DeviceControlsPanel /> : <Composer />}</main>
      <StatusBar />
    </div>
  );
}

/**
 * One line (participation and model) that opens to the rest. It sits in the page's flow, sticky at
 * the bottom, so at the end of a page it never covers the last controls (on a phone the five
 * fields wrapped to ~150 px over "Delete all my data").
 */
function StatusBar() {
  const { state } = useRuntime();
  const calibration = state.calibration;
  return (
    <footer className="status" aria-label="Status">
      <details>
        <summary>
          {state.participation.roundId !== null &&
            (state.training ? (
              // Steps done of the plan's total; a round may stop early at its time budget.
              <progress
                className="training-progress"
                aria-label="Training steps done on this device"
                data-testid="training-progress"
                max={state.training.steps}
                value={state.training.step}
              />
            ) : (
              // Indeterminate until the first training step (model download and evaluation come first).
              <progress className="training-progress" aria-label="This device is taking part in a training round" data-testid="training-progress" />
            ))}
          <span data-testid="participation" data-connection={state.participation.connection}>
            {statusHeadline(state.participation, state.eligibility, state.training)}
          </span>
          <span data-testid="model-version">
            {state.model
              ? `model v${state.model.version} (${state.model.parameters.toLocaleString()} parameters, ${state.model.source})`
              : state.phase === 'failed'
                ? 'no model'
                : 'loading model…'}
          </span>
        </summary>
        <div className="status-details">
          <span data-testid="participation-detail">
            connection: {state.participation.connection}
            {state.participation.detail !== null && `; ${state.participation.detail}`}
          </span>
          <span data-testid="backend" title={calibration?.reason}>
            {calibration
              ? `${calibration.backend}${calibration.backend === 'wasm' ? ` (${calibration.wasmThreads} thread${calibration.wasmThreads === 1 ? '' : 's'})` : ''}${calibration.fromCache ? ', cached choice' : ''}`
              : 'choosing backend…'}
          </span>
          <span data-testid="eligibility" data-state={state.eligibility.state}>
            {state.eligibility.reason}
          </span>
          <span data-testid="examples">{state.examples.toLocaleString()} examples</span>
        </div>
      </details>
      <span data-testid="phase" data-phase={state.phase} hidden />
    </footer>
  );
}
