// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { act, cleanup, fireEvent, render, renderHook, screen, within } from '@testing-library/react';
import { alertSchema } from '@murmur/fl-core/protocol';
import { AlertsPanel } from './AlertsPanel';
import { TimeRangePicker, useTimeRange } from './TimeRangePicker';

afterEach(cleanup);

describe('the alerts panel', () => {
  it('shows each firing alert with what it means and the aggregator’s numbers', () => {
    const alerts = [
      alertSchema.parse({
        kind: 'dropout_spike',
        value: 0.4,
        threshold: 0.3,
        message: 'Dropout spike: round 12 lost 4 of 10 selected clients before their update arrived (40%; alert above 30%): 4 at key sharing.',
      }),
      alertSchema.parse({
        kind: 'no_commit',
        value: 17,
        threshold: 15,
        message: 'No round has committed for 17 minutes (alert after 15), and rounds are not paused.',
      }),
    ];
    render(<AlertsPanel alerts={alerts} />);
    const shown = screen.getAllByTestId('dash-alert');
    expect(shown.map((li) => li.dataset.kind)).toEqual(['dropout_spike', 'no_commit']);
    expect(within(shown[0] as HTMLElement).getByText('Many devices dropped out of a round')).toBeTruthy();
    expect(shown[0]?.textContent).toContain('4 of 10 selected clients');
    expect(within(shown[1] as HTMLElement).getByText('Training has stalled')).toBeTruthy();
  });

  it('says whether the privacy budget is nearly or fully spent', () => {
    const budget = (value: number) => alertSchema.parse({ kind: 'epsilon_budget', value, threshold: 0.8, message: 'm' });
    const { rerender } = render(<AlertsPanel alerts={[budget(0.85)]} />);
    expect(screen.getByText('The privacy budget is nearly spent')).toBeTruthy();
    rerender(<AlertsPanel alerts={[budget(1.2)]} />);
    expect(screen.getByText('The privacy budget is spent')).toBeTruthy();
  });

  it('tells "no alerts" apart from "not known yet"', () => {
    const { rerender } = render(<AlertsPanel alerts={null} />);
    expect(screen.queryByTestId('dash-no-alerts')).toBeNull();
    expect(screen.getByText(/Waiting for the aggregator/)).toBeTruthy();
    rerender(<AlertsPanel alerts={[]} />);
    expect(screen.getByTestId('dash-no-alerts')).toBeTruthy();
    expect(screen.queryAllByTestId('dash-alert')).toHaveLength(0);
  });
});

describe('the time range picker', () => {
  it('reads the range from the query and writes a choice back, keeping the path, the other parameters and the fragment', () => {
    window.history.replaceState(null, '', '/dashboard?from=ops&range=15m#rounds');
    const { result } = renderHook(() => useTimeRange());
    expect(result.current[0]).toBe('15m');
    act(() => result.current[1]('24h'));
    expect(result.current[0]).toBe('24h');
    expect(`${window.location.pathname}${window.location.search}${window.location.hash}`).toBe('/dashboard?from=ops&range=24h#rounds');
    act(() => result.current[1]('all'));
    expect(`${window.location.pathname}${window.location.search}${window.location.hash}`).toBe('/dashboard?from=ops#rounds');
  });

  it('offers every range as a radio button', () => {
    const picked: string[] = [];
    render(<TimeRangePicker value="1h" onChange={(range) => picked.push(range)} />);
    expect((screen.getByRole('radio', { name: 'Last hour' }) as HTMLInputElement).checked).toBe(true);
    fireEvent.click(screen.getByRole('radio', { name: 'Last 15 minutes' }));
    expect(picked).toEqual(['15m']);
  });
});
