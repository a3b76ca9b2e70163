import type { RoundReport } from '@murmur/fl-core/protocol';

/**
 * The dashboard's time range: which finished rounds the charts and the round table show. Kept in
 * the page's query (`?range=1h`), so a link or a reload opens the same view.
 */
export const TIME_RANGES = ['15m', '1h', '24h', 'all'] as const;
export type TimeRange = (typeof TIME_RANGES)[number];

export const TIME_RANGE_QUERY_KEY = 'range';

/** How far back each range reaches; 'all' has no bound. */
export const TIME_RANGE_MS: Record<Exclude<TimeRange, 'all'>, number> = {
  '15m': 15 * 60_000,
  '1h': 60 * 60_000,
  '24h': 24 * 60 * 60_000,
};

export const TIME_RANGE_LABELS: Record<TimeRange, string> = {
  '15m': 'Last 15 minutes',
  '1h': 'Last hour',
  '24h': 'Last 24 hours',
  all: 'All rounds',
};

/** The range a query string names; 'all' when it names none or one we do not offer. */
export function timeRangeOf(search: string): TimeRange {
  const value = new URLSearchParams(search).get(TIME_RANGE_QUERY_KEY);
  return (TIME_RANGES as readonly string[]).includes(value ?? '') ? (value as TimeRange) : 'all';
}

/** `search` with the range set ('all' removes it), every other parameter kept. */
export function withTimeRange(search: string, range: TimeRange): string {
  const params = new URLSearchParams(search);
  if (range === 'all') params.delete(TIME_RANGE_QUERY_KEY);
  else params.set(TIME_RANGE_QUERY_KEY, range);
  const query = params.toString();
  return query === '' ? '' : `?${query}`;
}

export interface RoundsInRange {
  /** The rounds that ended inside the range, ascending (the same array for 'all'). */
  shown: readonly RoundReport[];
  /** The round just before the first shown one (a plan-revision mark compares with it). */
  before: RoundReport | undefined;
}

/**
 * The index of the first round that ended within `range` of `nowMs` (the server's clock);
 * `rounds.length` when none did. Rounds run one after another, so ordered by round they also end
 * in order: the range is a suffix of the list, found by binary search.
 */
export function rangeStart(rounds: readonly RoundReport[], range: TimeRange, nowMs: number): number {
  if (range === 'all') return 0;
  const since = nowMs - TIME_RANGE_MS[range];
  let low = 0;
  let high = rounds.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (Date.parse((rounds[mid] as RoundReport).endedAt) >= since) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** The rounds from `first` on (the same array from 0, so memoized charts keep their work). */
export function roundsFrom(rounds: readonly RoundReport[], first: number): RoundsInRange {
  return { shown: first === 0 ? rounds : rounds.slice(first), before: rounds[first - 1] };
}

/** The rounds that ended within `range` of `nowMs`, and the one before them. */
export function roundsInRange(rounds: readonly RoundReport[], range: TimeRange, nowMs: number): RoundsInRange {
  return roundsFrom(rounds, rangeStart(rounds, range, nowMs));
}
