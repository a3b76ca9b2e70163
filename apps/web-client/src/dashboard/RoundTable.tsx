import { memo, useMemo } from 'react';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { formatBytes, formatNumber, formatPercent, formatSeconds, formatTime } from './format';
import { planChanges, type AuditEntry } from './schemas';
import { funnelSummary, reportFunnel } from './store';
import { useMediaQuery } from './use-media-query';
import { useWindowedRows } from './use-windowed-rows';

/** Fixed row height: the windowing arithmetic depends on every row having it (see dashboard.css). */
export const ROW_HEIGHT_PX = 32;
export const TABLE_HEIGHT_PX = 420;
/** Round, status, started, duration, cohort funnel, eval loss, top-1, top-3, ε, bytes, plan. */
const COLUMN_WIDTHS_REM = [4.5, 11, 12, 5.5, 9, 6, 5, 5, 6, 13, 10];
/**
 * Narrower than this (a phone, 360–430 px), a 90 rem table would scroll sideways: each round
 * becomes a card of label/value lines instead (dashboard.css, `.dash-table.cards`).
 */
export const CARDS_MEDIA_QUERY = '(max-width: 640px)';
/**
 * A card's fixed height: eight lines of 1.35 rem (round and duration; status; started; cohort; eval
 * loss and top-1; top-3 and ε; bytes; plan) and its padding (the windowing counts on it too).
 */
export const CARD_HEIGHT_PX = 184;

interface RoundTableProps {
  /** Ascending by round (the data layer's order); shown newest first. */
  rounds: readonly RoundReport[];
  /** The audit log (newest first), to say what each plan revision changed; null before it loaded. */
  audit?: readonly AuditEntry[] | null;
  /** The round before the oldest shown (a time range hides it): the oldest row's plan mark compares with it. */
  before?: RoundReport | undefined;
  selected: number | null;
  onSelect(round: number): void;
}

/** What each plan revision changed and which operator changed it, from the audit log's plan entries. */
export function planRevisionChanges(audit: readonly AuditEntry[]): Map<number, { changes: string; actor: string }> {
  const out = new Map<number, { changes: string; actor: string }>();
  for (const entry of audit)
    if (entry.action === 'plan') out.set(entry.revision, { changes: planChanges(entry.before, entry.after).join(', '), actor: entry.actor });
  return out;
}

/**
 * Every finished round, newest first, with only the rows in view in the DOM: 1,000 rounds render
 * about 30 rows. A row opens the round's record.
 */
export const RoundTable = memo(function RoundTable({ rounds, audit = null, before: beforeShown, selected, onSelect }: RoundTableProps) {
  const cards = useMediaQuery(CARDS_MEDIA_QUERY);
  const rowHeightPx = cards ? CARD_HEIGHT_PX : ROW_HEIGHT_PX;
  const win = useWindowedRows({ count: rounds.length, rowHeightPx, viewportHeightPx: TABLE_HEIGHT_PX });
  const revisions = useMemo(() => planRevisionChanges(audit ?? []), [audit]);
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
      <table className={cards ? 'dash-table cards' : 'dash-table'} aria-rowcount={rounds.length + 1} data-layout={cards ? 'cards' : 'table'}>
        {/* Fixed layout with set widths: columns must not resize as different rows scroll in. */}
        {!cards && (
          <colgroup>
            {COLUMN_WIDTHS_REM.map((rem, i) => (
              <col key={i} style={{ width: `${rem}rem` }} />
            ))}
          </colgroup>
        )}
        <thead>
          <tr>
            <th scope="col">Round</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col" title="selected → keys advertised → keys shared → masked input → unmasked → inputs in the committed sum">
              Cohort
            </th>
            <th scope="col">Eval loss</th>
            <th scope="col">Top-1</th>
            <th scope="col">Top-3</th>
            <th scope="col">ε</th>
            <th scope="col" title="received / sent by the aggregator">
              Bytes
            </th>
            <th scope="col" title="the operator plan's revision the round ran with; marked where it changed">
              Plan
            </th>
          </tr>
        </thead>
        <tbody>
          {win.padTopPx > 0 && <tr aria-hidden="true" style={{ height: win.padTopPx }} />}
          {rows.map((r, k) => {
            // The round before this one in the history (rows run newest first).
            const previous = rounds[rounds.length - 2 - (win.start + k)] ?? beforeShown;
            // The first round knows its predecessor ran the configured plan (0); records from before revisions say nothing.
            const before = previous ? previous.planRevision : 0;
            const changed = r.planRevision !== undefined && before !== undefined && r.planRevision !== before;
            return (
              <tr
                key={r.roundId}
                aria-rowindex={win.start + k + 2}
                aria-selected={selected === r.round}
                className={r.status === 'aborted' ? 'dash-round aborted' : 'dash-round'}
                style={{ height: rowHeightPx }}
                onClick={() => onSelect(r.round)}
                data-testid="dash-round-row"
              >
                {/* data-label: the cell's name on a card (CSS shows it before the value), the column header's. */}
                <td data-label="Round">
                  {/* The row's click handler opens it; the button makes that reachable by keyboard. */}
                  <button type="button" className="link" aria-label={`Open round ${r.round}`}>
                    {r.round}
                  </button>
                </td>
                <td data-label="Status" className="wide">
                  {r.status === 'committed' ? 'committed' : `aborted (${r.abort?.code ?? '?'})`}
                </td>
                <td data-label="Started" className="wide">
                  {formatTime(r.startedAt)}
                </td>
                <td data-label="Duration">{formatSeconds(Math.max(0, Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000)}</td>
                <td data-label="Cohort" className="wide">
                  <MiniFunnel report={r} />
                </td>
                <td data-label="Eval loss" data-testid="dash-cell-loss">
                  {formatNumber(r.metrics?.eval.loss)}
                </td>
                <td data-label="Top-1">{formatPercent(r.metrics?.eval.top1)}</td>
                <td data-label="Top-3">{formatPercent(r.metrics?.eval.top3)}</td>
                <td data-label="ε" data-testid="dash-cell-epsilon">
                  {formatNumber(r.privacy.epsilon)}
                </td>
                <td data-label="Bytes" className="wide">
                  {formatBytes(r.bytes.received)} / {formatBytes(r.bytes.sent)}
                </td>
                <td data-label="Plan" className="wide" data-testid="dash-cell-plan" data-changed={changed || undefined}>
                  {r.planRevision === undefined ? (
                    '–'
                  ) : changed ? (
                    <PlanMark revision={r.planRevision} change={revisions.get(r.planRevision)} />
                  ) : (
                    `rev ${r.planRevision}`
                  )}
                </td>
              </tr>
            );
          })}
          {win.padBottomPx > 0 && <tr aria-hidden="true" style={{ height: win.padBottomPx }} />}
        </tbody>
      </table>
    </div>
  );
});

/** The first round of a new plan revision: what changed in its title, and who changed it (the audit log's actor). */
function PlanMark({ revision, change }: { revision: number; change: { changes: string; actor: string } | undefined }) {
  return (
    <>
      <mark title={change ? `${change.changes} (by ${change.actor})` : `plan revision ${revision}`}>rev {revision} ✎</mark>
      {change && (
        <span className="dash-muted" data-testid="dash-plan-actor">
          {' '}
          by {change.actor}
        </span>
      )}
    </>
  );
}

/**
 * A round's funnel in a table cell: one bar per stage from selection to the committed sum, scaled
 * to the cohort, red after a stage lost clients; "selected → in the sum" beside it and every
 * stage's count and dropouts in its title (and for screen readers).
 */
function MiniFunnel({ report }: { report: RoundReport }) {
  // With privacy noise the aggregator publishes no exact counts (docs/aggregator.md, "What leaves the aggregator").
  if (report.privacy.mode !== 'off') {
    return (
      <span className="dash-muted" data-testid="dash-cell-funnel" title="Exact counts are withheld in private rounds">
        withheld
      </span>
    );
  }
  const stages = reportFunnel(report).filter((s) => s.key !== 'eligible');
  const selected = report.cohort.selected;
  const summary = funnelSummary(stages);
  const inSum = stages.at(-1)?.clients ?? 0;
  return (
    <span className="dash-mini-funnel" title={summary} aria-label={summary} data-testid="dash-cell-funnel" role="img">
      <span className="dash-mini-bars" aria-hidden="true">
        {stages.map((s) => (
          <span
            key={s.key}
            className={s.dropped ? 'drop' : undefined}
            style={{ height: `${selected > 0 ? Math.max(8, (100 * (s.clients ?? 0)) / selected) : 8}%` }}
          />
        ))}
      </span>
      <span aria-hidden="true">
        {selected} → {inSum}
      </span>
    </span>
  );
}
