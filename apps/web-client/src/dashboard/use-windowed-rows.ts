import { useCallback, useState, type UIEvent } from 'react';

/**
 * Windowing for long lists of fixed-height rows: only the rows in the scrolled viewport (plus a
 * few either side, so a fast scroll shows no blank band before React catches up) are rendered;
 * spacers above and below keep the scrollbar the height of the whole list. The viewport height is
 * the container's fixed CSS height, so nothing is measured and the first render is already
 * windowed (jsdom included).
 */
export interface WindowOptions {
  count: number;
  rowHeightPx: number;
  viewportHeightPx: number;
  /** Rows rendered beyond each edge of the viewport. @default 8 */
  overscan?: number;
}

export interface RowWindow {
  /** First rendered row. */
  start: number;
  /** One past the last rendered row. */
  end: number;
  /** Heights of the spacers before and after the rendered rows. */
  padTopPx: number;
  padBottomPx: number;
}

export function rowWindow(options: WindowOptions & { scrollTopPx: number }): RowWindow {
  const { count, rowHeightPx, viewportHeightPx } = options;
  if (!(rowHeightPx > 0)) throw new RangeError(`rowWindow: rowHeightPx must be positive, got ${rowHeightPx}`);
  const overscan = options.overscan ?? 8;
  // A list that shrank under a scrolled viewport: clamp so some rows stay in view.
  const maxScroll = Math.max(0, count * rowHeightPx - viewportHeightPx);
  const scrollTop = Math.min(Math.max(0, options.scrollTopPx), maxScroll);
  const first = Math.floor(scrollTop / rowHeightPx);
  const visible = Math.ceil(viewportHeightPx / rowHeightPx) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end, padTopPx: start * rowHeightPx, padBottomPx: (count - end) * rowHeightPx };
}

/** The window for the current scroll position and the scroll handler of its container. */
export function useWindowedRows(options: WindowOptions): RowWindow & { onScroll: (event: UIEvent<HTMLElement>) => void } {
  const [scrollTopPx, setScrollTop] = useState(0);
  const onScroll = useCallback((event: UIEvent<HTMLElement>) => setScrollTop(event.currentTarget.scrollTop), []);
  return { ...rowWindow({ ...options, scrollTopPx }), onScroll };
}
