import { describe, expect, it } from 'vitest';
import { makeReports } from './test-fixtures';
import { roundsInRange, timeRangeOf, withTimeRange } from './time-range';

describe('the time range', () => {
  it('round-trips through the query string and keeps the other parameters', () => {
    expect(timeRangeOf('')).toBe('all');
    expect(timeRangeOf('?range=1h')).toBe('1h');
    expect(timeRangeOf('?idleMs=0&range=15m')).toBe('15m');
    expect(timeRangeOf('?range=7d')).toBe('all');
    expect(withTimeRange('?idleMs=0&modelRefreshMs=1000', '24h')).toBe('?idleMs=0&modelRefreshMs=1000&range=24h');
    expect(withTimeRange('?range=24h&idleMs=0', 'all')).toBe('?idleMs=0');
    expect(withTimeRange('?range=24h', 'all')).toBe('');
    for (const range of ['15m', '1h', '24h', 'all'] as const) expect(timeRangeOf(withTimeRange('?x=1', range))).toBe(range);
  });

  it('keeps the rounds that ended within the range, and names the one before them', () => {
    // Fixture rounds start 10 s apart and last 3–4.5 s.
    const rounds = makeReports(400);
    const last = rounds.at(-1);
    if (!last) throw new Error('no rounds');
    const now = Date.parse(last.endedAt) + 1_000;
    const hour = roundsInRange(rounds, '1h', now);
    expect(hour.shown.every((r) => now - Date.parse(r.endedAt) <= 3_600_000)).toBe(true);
    expect(hour.shown.length).toBeGreaterThanOrEqual(359);
    expect(hour.shown.length).toBeLessThanOrEqual(361);
    expect(hour.shown.at(-1)).toBe(last);
    expect(hour.before?.round).toBe((hour.shown[0]?.round ?? 0) - 1);
    expect(now - Date.parse(hour.before?.endedAt ?? '')).toBeGreaterThan(3_600_000);
    expect(roundsInRange(rounds, '15m', now).shown.map((r) => r.round)).toEqual(rounds.slice(-90).map((r) => r.round));
    // Everything within the range: the same list, nothing before it.
    expect(roundsInRange(rounds, '24h', now)).toEqual({ shown: rounds, before: undefined });
    // The very array, so memoized charts keep their downsampling.
    expect(roundsInRange(rounds, '24h', now).shown).toBe(rounds);
    expect(roundsInRange([], '1h', now)).toEqual({ shown: [], before: undefined });
    expect(roundsInRange(rounds, 'all', now).shown).toBe(rounds);
    // An hour after the last round, the 15-minute view is empty.
    expect(roundsInRange(rounds, '15m', now + 3_600_000)).toEqual({ shown: [], before: last });
  });
});
