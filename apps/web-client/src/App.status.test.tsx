// @vitest-environment jsdom
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from './App';
import { FakeRuntime } from './ui/fake-runtime';
import { networkNotice } from './ui/status-text';
import { RuntimeContext } from './ui/use-runtime';

/** The status bar and the notice banner with a scripted runtime state (App.test.tsx runs the real one). */
afterEach(cleanup);

function renderApp(runtime: FakeRuntime) {
  render(
    <RuntimeContext.Provider value={runtime.asRuntime()}>
      <App />
    </RuntimeContext.Provider>,
  );
}

const consenting = { consent: true, consentChangedAt: 1 };

describe('the status bar', () => {
  it('speaks human on its one line and keeps the protocol stage behind the disclosure', () => {
    const runtime = new FakeRuntime({
      settings: consenting,
      eligibility: { state: 'eligible', reason: 'eligible: will train when the aggregator starts a round' },
      participation: {
        connection: 'connected',
        activity: 'Combining your protected update with other people’s',
        detail: 'secure aggregation: awaitingUnmaskRequest',
        roundId: 'r7',
      },
    });
    renderApp(runtime);
    const headline = screen.getByTestId('participation');
    expect(headline.textContent).toBe('Combining your protected update with other people’s');
    expect(headline.closest('summary')?.textContent).not.toMatch(/awaitingUnmaskRequest|secure aggregation:/);
    const detail = screen.getByTestId('participation-detail');
    expect(detail.closest('summary')).toBeNull();
    expect(detail.closest('details')).not.toBeNull();
    expect(detail.textContent).toBe('connection: connected; secure aggregation: awaitingUnmaskRequest');
  });

  it('shows a training indicator only while a round runs on this device', () => {
    const runtime = new FakeRuntime({
      settings: consenting,
      participation: { connection: 'connected', activity: 'Training on this device…', detail: null, roundId: 'r1' },
    });
    renderApp(runtime);
    expect(screen.getByTestId('training-progress')).toBeTruthy();
    act(() => runtime.update({ participation: { connection: 'connected', activity: 'Round finished: thank you for helping', detail: null, roundId: null } }));
    expect(screen.queryByTestId('training-progress')).toBeNull();
  });

  it('never says "connected: connected"', () => {
    const runtime = new FakeRuntime({
      settings: consenting,
      eligibility: { state: 'eligible', reason: 'eligible: will train when the aggregator starts a round' },
      participation: { connection: 'connected', activity: 'Connected to the Murmur server', detail: 'connected', roundId: null },
    });
    renderApp(runtime);
    expect(screen.getByTestId('participation').textContent).toBe('Connected to the Murmur server');
  });
});

describe('the notice banner', () => {
  it('shows being offline as a calm status in words, with the raw error only under "details"', () => {
    renderApp(new FakeRuntime({ notice: networkNotice('model update', new TypeError('Failed to fetch'), false) }));
    const banner = screen.getByTestId('notice');
    expect(banner.getAttribute('role')).toBe('status');
    expect(banner.className).toContain('offline');
    expect(banner.firstChild?.textContent).toMatch(/^You are offline/);
    const detail = banner.querySelector('details');
    expect(detail?.querySelector('summary')?.textContent).toBe('details');
    expect(detail?.querySelector('code')?.textContent).toBe('model update: Failed to fetch');
    expect(banner.textContent?.replace(detail?.textContent ?? '', '')).not.toContain('Failed to fetch');
  });

  it('keeps a real problem an alert', () => {
    renderApp(new FakeRuntime({ notice: networkNotice('model update', new Error('model update: invalid model spec'), true) }));
    expect(screen.getByTestId('notice').getAttribute('role')).toBe('alert');
  });
});
