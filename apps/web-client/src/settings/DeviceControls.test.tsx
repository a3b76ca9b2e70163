// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { decideEligibility } from '../scheduler/eligibility';
import { MEGABYTE } from '../storage/schema';
import { FakeRuntime } from '../ui/fake-runtime';
import { RuntimeContext } from '../ui/use-runtime';
import { DeviceControlsPanel } from './DeviceControls';

afterEach(cleanup);

function renderPanel(runtime: FakeRuntime) {
  render(
    <RuntimeContext.Provider value={runtime.asRuntime()}>
      <DeviceControlsPanel />
    </RuntimeContext.Provider>,
  );
}

describe('the data and battery controls', () => {
  it('start on the careful defaults: Wi-Fi only, charging only, 50 MB a month', () => {
    renderPanel(new FakeRuntime());
    expect(screen.getByTestId<HTMLInputElement>('only-unmetered').checked).toBe(true);
    expect(screen.getByTestId<HTMLInputElement>('only-charging').checked).toBe(true);
    expect(screen.getByTestId<HTMLInputElement>('budget-50').checked).toBe(true);
    expect(screen.getByTestId('upload-used').textContent).toBe('Used this month: 0 of 50 MB');
  });

  it('hand each choice to the runtime', () => {
    const runtime = new FakeRuntime();
    renderPanel(runtime);
    fireEvent.click(screen.getByTestId('only-unmetered'));
    fireEvent.click(screen.getByTestId('only-charging'));
    fireEvent.click(screen.getByTestId('budget-unlimited'));
    fireEvent.click(screen.getByTestId('budget-10'));
    expect(runtime.controlChanges).toEqual([
      { onlyUnmetered: false },
      { onlyWhileCharging: false },
      { monthlyUploadBudgetBytes: null },
      { monthlyUploadBudgetBytes: 10 * MEGABYTE },
    ]);
    expect(screen.getByTestId<HTMLInputElement>('budget-10').checked).toBe(true);
    expect(screen.getByTestId('upload-used').textContent).toBe('Used this month: 0 of 10 MB');
  });

  it('show what was used, the size of a round, and why the device waits', () => {
    const upload = { usedBytes: 9_960_000, nextRoundBytes: 613_000 };
    const runtime = new FakeRuntime({
      settings: { consent: true, consentChangedAt: 1 },
      upload: { month: '2026-12', ...upload, budgetBytes: 10 * MEGABYTE },
    });
    act(() =>
      runtime.update({
        controls: { ...runtime.state.controls, monthlyUploadBudgetBytes: 10 * MEGABYTE },
        eligibility: decideEligibility(
          { consent: true, examples: 500, idleForMs: Infinity, charging: null, metered: null, online: true, ready: true, upload },
          undefined,
          { onlyUnmetered: true, onlyWhileCharging: true, monthlyUploadBudgetBytes: 10 * MEGABYTE },
        ),
      }),
    );
    renderPanel(runtime);
    expect(screen.getByTestId('upload-used').textContent).toBe('Used this month: 9.9 of 10 MB');
    expect(screen.getByTestId('round-size').textContent).toMatch(/^One training round uploads up to 0.7 MB with the current model/);
    expect(screen.getByTestId('controls-eligibility').textContent).toBe(
      "Waiting for next month: a round uploads up to 0.7 MB, more than is left of this month's upload budget (9.9 of 10 MB used)",
    );
    // This browser says nothing about power or network: the hints say so instead of implying a check.
    expect(screen.getByTestId('network-hint').textContent).toMatch(/does not say/);
    expect(screen.getByTestId('power-hint').textContent).toMatch(/does not say/);
  });
});
