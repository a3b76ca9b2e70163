import { useCallback, useEffect, useState } from 'react';
import { TIME_RANGE_LABELS, TIME_RANGES, timeRangeOf, withTimeRange, type TimeRange } from './time-range';

/**
 * The time range in the page's query string (`?range=1h`): read on load and on back/forward,
 * replaced (not pushed) on a change so that picking ranges does not fill the history.
 */
export function useTimeRange(): [TimeRange, (range: TimeRange) => void] {
  const [range, setRange] = useState<TimeRange>(() => timeRangeOf(window.location.search));
  useEffect(() => {
    const onPop = () => setRange(timeRangeOf(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const choose = useCallback((next: TimeRange) => {
    setRange(next);
    const { pathname, search, hash } = window.location;
    window.history.replaceState(window.history.state, '', `${pathname}${withTimeRange(search, next)}${hash}`);
  }, []);
  return [range, choose];
}

/** The local clock, moving every `everyMs` while `active` (a bounded range slides with time). */
export function useClock(active: boolean, everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs]);
  return now;
}

export function TimeRangePicker({ value, onChange }: { value: TimeRange; onChange(range: TimeRange): void }) {
  return (
    <fieldset className="dash-range" data-testid="dash-time-range">
      <legend>Time range of the charts and the round table</legend>
      {TIME_RANGES.map((range) => (
        <label key={range}>
          <input type="radio" name="dash-time-range" value={range} checked={value === range} onChange={() => onChange(range)} />
          {TIME_RANGE_LABELS[range]}
        </label>
      ))}
    </fieldset>
  );
}
