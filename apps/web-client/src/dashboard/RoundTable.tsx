import { memo } from 'react';
import type { RoundReport } from '@murmur/fl-core';
import { formatBytes, formatNumber, formatPercent, formatSeconds, formatTime } from './format';
import { useWindowedRows } from './use-windowed-rows';

/** Fixed row height: the windowing arithmetic depends on every row having it (see dashboard.css). */
export const ROW_HEIGHT_PX = 32;
export const TABLE_HEIGHT_PX = 420;
/** Round, status, started, duration, cohort, eval loss, top-1, top-3, ε, bytes. */
const COLUMN_WIDTHS_REM = [4.5, 11, 12, 5.5, 5, 6, 5, 5, 6, 11];

interface RoundTableProps {
  /** Ascending by round (the data layer's order); shown newest first. */
  rounds: readonly RoundReport[];
  selected: number | null;
  onSelect(round: number): void;
}

/**
 * Every finished round, newest first, with only the rows in view in the DOM: 1,000 rounds render
 * about 30 rows. A row opens the round's record.
 */
export const RoundTable = memo(function RoundTable({ rounds, selected, onSelect }: RoundTableProps) {
  const win = useWindowedRows({ count: rounds.length, rowHeightPx: ROW_HEIGHT_PX, viewportHeightPx: TABLE_HEIGHT_PX });
  const rows: RoundReport[] = [];
  // Newest first without copying and reversing the whole list on every render.
  for (let i = win.start; i < win.end; i++) rows.push(rounds[rounds.length - 1 - i] as RoundReport);
  return (
    <div
      className="dash-table-scroll"
      style={{ height: TABLE_HEIGHT_PX }}
      onScroll={win.onScroll}
      data-testid="dash-round-table"
      tabIndex={0}
      aria-label="Rounds"
    >
      <table className="dash-table" aria-rowcount={rounds.length + 1}>
        {/* Fixed layout with set widths: columns must not resize as different rows scroll in. */}
        <colgroup>
          {COLUMN_WIDTHS_REM.map((rem, i) => (
            <col key={i} style={{ width: `${rem}rem` }} />
          ))}
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Round</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col" title="selected → inputs in the committed sum">
              Cohort
            </th>
            <th scope="col">Eval loss</th>
            <th scope="col">Top-1</th>
            <th scope="col">Top-3</th>
            <th scope="col">ε</th>
            <th scope="col" title="received / sent by the aggregator">
              Bytes
            </th>
          </tr>
        </thead>
        <tbody>
          {win.padTopPx > 0 && <tr aria-hidden="true" style={{ height: win.padTopPx }} />}
          {rows.map((r, k) => (
            <tr
              key={r.roundId}
              aria-rowindex={win.start + k + 2}
              aria-selected={selected === r.round}
              className={r.status === 'aborted' ? 'dash-round aborted' : 'dash-round'}
              style={{ height: ROW_HEIGHT_PX }}
              onClick={() => onSelect(r.round)}
              data-testid="dash-round-row"
            >
              <td>
                {/* The row's click handler opens it; the button makes that reachable by keyboard. */}
                <button type="button" className="link" aria-label={`Open round ${r.round}`}>
                  {r.round}
                </button>
              </td>
              <td>{r.status === 'committed' ? 'committed' : `aborted (${r.abort?.code ?? '?'})`}</td>
              <td>{formatTime(r.startedAt)}</td>
              <td>{formatSeconds(Math.max(0, Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000)}</td>
              <td>
                {r.cohort.selected} → {r.status === 'committed' ? r.cohort.masked : 0}
              </td>
              <td data-testid="dash-cell-loss">{formatNumber(r.metrics?.eval.loss)}</td>
              <td>{formatPercent(r.metrics?.eval.top1)}</td>
              <td>{formatPercent(r.metrics?.eval.top3)}</td>
              <td data-testid="dash-cell-epsilon">{formatNumber(r.privacy.epsilon)}</td>
              <td>
                {formatBytes(r.bytes.received)} / {formatBytes(r.bytes.sent)}
              </td>
            </tr>
          ))}
          {win.padBottomPx > 0 && <tr aria-hidden="true" style={{ height: win.padBottomPx }} />}
        </tbody>
      </table>
    </div>
  );
});
