// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { CARD_HEIGHT_PX, CARDS_MEDIA_QUERY, RoundTable, ROW_HEIGHT_PX, TABLE_HEIGHT_PX } from './RoundTable';
import { rowWindow } from './use-windowed-rows';
import { makeReport, makeReports } from './test-fixtures';
import type { RoundReport } from '@murmur/fl-core/protocol';

afterEach(cleanup);

const rounds = makeReports(1000);
const visible = Math.ceil(TABLE_HEIGHT_PX / ROW_HEIGHT_PX) + 1;
/** Rows in view plus 8 of overscan on each side. */
const bound = visible + 2 * 8;

function scrollTo(px: number) {
  const scroller = screen.getByTestId('dash-round-table');
  scroller.scrollTop = px;
  fireEvent.scroll(scroller);
}

const shownRounds = () => screen.getAllByTestId('dash-round-row').map((row) => Number(within(row).getByRole('button').textContent));

/** The fixture's record as a round without privacy noise publishes it: exact counts included. */
const withoutPrivacy = (report: RoundReport): RoundReport => ({ ...report, privacy: { ...report.privacy, mode: 'off' } });

describe('the virtualized round table', () => {
  it('renders a bounded number of rows for 1,000 rounds, newest first, with spacers for the rest', () => {
    render(<RoundTable rounds={rounds} selected={null} onSelect={() => {}} />);
    const shown = shownRounds();
    // 15 rows fill the 420 px viewport, 8 more below it; none above the first.
    expect(shown.length).toBe(visible + 8);
    expect(visible + 8).toBe(23);
    expect(shown[0]).toBe(1000);
    expect(shown).toEqual(shown.map((_, i) => 1000 - i));
    const spacers = screen.getByTestId('dash-round-table').querySelectorAll('tbody tr[aria-hidden="true"]');
    // Only the bottom spacer at the top of the list; it stands for every row not rendered.
    expect(spacers).toHaveLength(1);
    expect((spacers[0] as HTMLElement).style.height).toBe(`${(1000 - shown.length) * ROW_HEIGHT_PX}px`);
  });

  it('moves the window with the scroll position and keeps it bounded', () => {
    render(<RoundTable rounds={rounds} selected={null} onSelect={() => {}} />);
    scrollTo(500 * ROW_HEIGHT_PX);
    const middle = shownRounds();
    expect(middle.length).toBe(bound);
    expect(bound).toBe(31);
    // Row 500 from the top (round 500) is the first in view, 8 overscan rows above it.
    expect(middle[0]).toBe(1000 - 492);
    expect(middle).toContain(500);
    scrollTo(1000 * ROW_HEIGHT_PX);
    const end = shownRounds();
    expect(end.at(-1)).toBe(1);
    expect(end.length).toBeLessThanOrEqual(bound);
  });

  it('opens a round from its row', () => {
    const opened: number[] = [];
    render(<RoundTable rounds={rounds} selected={998} onSelect={(round) => opened.push(round)} />);
    fireEvent.click(screen.getByRole('button', { name: 'Open round 999' }));
    expect(opened).toEqual([999]);
    const selectedRow = screen.getAllByTestId('dash-round-row').find((row) => row.getAttribute('aria-selected') === 'true');
    expect(within(selectedRow as HTMLElement).getByRole('button').textContent).toBe('998');
  });
});

describe('the cohort funnel per round', () => {
  it('shows each stage and where clients dropped, with why', () => {
    const report = makeReport(7, {
      selected: 10,
      dropped: { advertised: 2, masked: 1 },
      dropouts: {
        advertiseKeys: { silent: 1, disconnected: 1 },
        shareKeys: { silent: 0, disconnected: 0 },
        maskedInput: { silent: 1, disconnected: 0 },
        unmasking: { silent: 0, disconnected: 0 },
      },
    });
    render(<RoundTable rounds={[makeReport(6), withoutPrivacy(report)]} selected={null} onSelect={() => {}} />);
    const cell = within(screen.getAllByTestId('dash-round-row')[0] as HTMLElement).getByTestId('dash-cell-funnel');
    expect(cell.getAttribute('aria-label')).toBe(
      'Selected 10, Keys advertised 8 (−2: 1 silent, 1 disconnected), Keys shared 8, Masked input 7 (−1: 1 silent, 0 disconnected), Unmasked 7, Committed 7',
    );
    expect(cell.textContent).toBe('10 → 7');
    // Bars after a loss are marked.
    expect([...cell.querySelectorAll('.dash-mini-bars span')].map((bar) => bar.className)).toEqual(['', 'drop', '', 'drop', '', '']);
  });

  it('an aborted round puts nothing in the sum', () => {
    const aborted = withoutPrivacy(makeReport(3, { status: 'aborted', selected: 5, dropped: { masked: 3 } }));
    render(<RoundTable rounds={[aborted]} selected={null} onSelect={() => {}} />);
    const cell = screen.getByTestId('dash-cell-funnel');
    expect(cell.textContent).toBe('5 → 0');
    expect(cell.getAttribute('aria-label')).toContain('Committed 0 (−2: round aborted: BELOW_THRESHOLD)');
  });

  it('says a private round’s counts are withheld instead of drawing the zeros the aggregator publishes', () => {
    render(<RoundTable rounds={[makeReport(4)]} selected={null} onSelect={() => {}} />);
    const cell = screen.getByTestId('dash-cell-funnel');
    expect(cell.textContent).toBe('withheld');
    expect(cell.querySelector('.dash-mini-bars')).toBeNull();
  });
});

describe('at phone width', () => {
  afterEach(() => vi.unstubAllGlobals());

  /** A window whose width matches `query`'s max-width (jsdom has no matchMedia of its own). */
  function phoneWidth(matching: boolean) {
    const queries: string[] = [];
    vi.stubGlobal('matchMedia', (query: string) => {
      queries.push(query);
      return { matches: matching, media: query, addEventListener: () => {}, removeEventListener: () => {} } as unknown as MediaQueryList;
    });
    return queries;
  }

  it('each round is a card of labelled values, with the card height the windowing counts on', () => {
    const queries = phoneWidth(true);
    render(<RoundTable rounds={rounds} selected={null} onSelect={() => {}} />);
    expect(queries).toContain(CARDS_MEDIA_QUERY);
    const table = screen.getByRole('table');
    expect(table.getAttribute('data-layout')).toBe('cards');
    expect(table.className).toBe('dash-table cards');
    // No fixed-width columns: the card is as wide as the screen.
    expect(table.querySelector('colgroup')).toBeNull();
    const rows = screen.getAllByTestId('dash-round-row');
    const cardsInView = Math.ceil(TABLE_HEIGHT_PX / CARD_HEIGHT_PX) + 1;
    expect(rows.length).toBe(cardsInView + 8);
    expect((rows[0] as HTMLElement).style.height).toBe(`${CARD_HEIGHT_PX}px`);
    // Every cell names itself (CSS shows the label before the value), as the column header does.
    const headers = within(table)
      .getAllByRole('columnheader')
      .map((th) => th.textContent?.trim());
    const labels = within(rows[0] as HTMLElement)
      .getAllByRole('cell')
      .map((td) => td.getAttribute('data-label'));
    expect(labels).toEqual(headers);
    scrollTo(500 * CARD_HEIGHT_PX);
    expect(shownRounds()).toContain(500);
  });

  it('is a table of fixed-width columns on a wider screen', () => {
    phoneWidth(false);
    render(<RoundTable rounds={rounds} selected={null} onSelect={() => {}} />);
    expect(screen.getByRole('table').getAttribute('data-layout')).toBe('table');
    expect(screen.getByRole('table').querySelectorAll('col')).toHaveLength(11);
    expect((screen.getAllByTestId('dash-round-row')[0] as HTMLElement).style.height).toBe(`${ROW_HEIGHT_PX}px`);
  });
});

describe('plan marks in a time range', () => {
  it('compares the oldest shown round with the one before the range, not with the configured plan', () => {
    const older = makeReport(1, { planRevision: 1 });
    const shown = [makeReport(2, { planRevision: 1 }), makeReport(3, { planRevision: 2 })];
    render(<RoundTable rounds={shown} before={older} selected={null} onSelect={() => {}} />);
    const marks = screen.getAllByTestId('dash-cell-plan').map((cell) => cell.textContent);
    expect(marks).toEqual(['rev 2 ✎', 'rev 1']);
  });

  it('names the operator who changed the plan, from the audit log', () => {
    const before = { target: 6, overSelection: 1, minReports: 4, pauseMs: 50, checkinMs: 300, training: { epochs: 1 }, clipNorm: 1, noiseMultiplier: 0.05 };
    const entry = (revision: number, actor: string, noiseMultiplier: number) => ({
      seq: revision,
      at: '2026-01-01T00:00:00.000Z',
      actor,
      note: null,
      action: 'plan' as const,
      revision,
      before: before as never,
      after: { ...before, noiseMultiplier } as never,
    });
    const shown = [makeReport(1, { planRevision: 0 }), makeReport(2, { planRevision: 1 }), makeReport(3, { planRevision: 2 })];
    render(<RoundTable rounds={shown} audit={[entry(2, 'bob', 0.1), entry(1, 'alice', 1)]} selected={null} onSelect={() => {}} />);
    const cells = screen.getAllByTestId('dash-cell-plan');
    expect(cells.map((c) => c.textContent)).toEqual(['rev 2 ✎ by bob', 'rev 1 ✎ by alice', 'rev 0']);
    expect(cells[1]?.querySelector('mark')?.getAttribute('title')).toBe('noiseMultiplier 0.05 → 1 (by alice)');
  });
});

describe('rowWindow', () => {
  it('clamps a scroll position past the end of a list that shrank', () => {
    expect(rowWindow({ count: 10, rowHeightPx: 10, viewportHeightPx: 50, scrollTopPx: 10_000, overscan: 2 })).toEqual({
      start: 3,
      end: 10,
      padTopPx: 30,
      padBottomPx: 0,
    });
  });

  it('renders everything when the list fits', () => {
    expect(rowWindow({ count: 3, rowHeightPx: 10, viewportHeightPx: 500, scrollTopPx: 0 })).toEqual({ start: 0, end: 3, padTopPx: 0, padBottomPx: 0 });
  });

  it('refuses a row height that is not positive', () => {
    expect(() => rowWindow({ count: 3, rowHeightPx: 0, viewportHeightPx: 500, scrollTopPx: 0 })).toThrow(/rowHeightPx must be positive, got 0/);
  });
});
