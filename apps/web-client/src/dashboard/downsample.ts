/**
 * Downsampling for the over-time charts, so that 1,000+ rounds draw as a few hundred SVG points.
 *
 * Min/max buckets rather than LTTB: LTTB picks the point of largest triangle area, which usually
 * keeps spikes but can drop a bucket's minimum or maximum. A product team looks at these charts
 * for exactly those (a loss spike, a round whose bytes doubled), so every bucket keeps both its
 * extremes, and therefore the global minimum and maximum always survive. The first and last points
 * are kept too, so the x-range of a chart never shrinks.
 */

/** Fewest points a downsampled series may ask for: its first and last. */
export const MIN_POINTS = 2;

/**
 * Indices of `values` to keep, ascending, at most `maxPoints` of them. Null and non-finite values
 * are gaps (an aborted round has no eval loss): never selected, and not counted.
 */
export function minMaxIndices(values: ArrayLike<number | null | undefined>, maxPoints: number): number[] {
  if (!Number.isInteger(maxPoints) || maxPoints < MIN_POINTS) {
    throw new RangeError(`minMaxIndices: maxPoints must be an integer ≥ ${MIN_POINTS}, got ${maxPoints}`);
  }
  const valid: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) valid.push(i);
  }
  if (valid.length <= maxPoints) return valid;

  const first = valid[0] as number;
  const last = valid[valid.length - 1] as number;
  const interior = valid.length - 2;
  // Two points (min and max) per bucket, plus first and last.
  const buckets = Math.floor((maxPoints - 2) / 2);
  const out: number[] = [first];
  for (let b = 0; b < buckets; b++) {
    // Equal counts of valid points per bucket (rounds are evenly spaced on the x-axis).
    const from = 1 + Math.floor((b * interior) / buckets);
    const to = 1 + Math.floor(((b + 1) * interior) / buckets);
    let minAt = -1;
    let maxAt = -1;
    for (let k = from; k < to; k++) {
      const i = valid[k] as number;
      const v = values[i] as number;
      if (minAt < 0 || v < (values[minAt] as number)) minAt = i;
      if (maxAt < 0 || v > (values[maxAt] as number)) maxAt = i;
    }
    if (minAt < 0) continue;
    // In x order, so the line between them is drawn the way the data went.
    if (minAt === maxAt) out.push(minAt);
    else out.push(Math.min(minAt, maxAt), Math.max(minAt, maxAt));
  }
  out.push(last);
  return out;
}

/**
 * Rows to plot for a chart of several series sharing one x-axis: the union of each series' kept
 * indices, each series given an equal share of `maxPoints`. A row kept for one series carries the
 * others' values too, which only adds detail; the total stays within `maxPoints`.
 */
export function downsampleRows<Row>(rows: readonly Row[], series: readonly ((row: Row) => number | null | undefined)[], maxPoints: number): Row[] {
  if (series.length === 0) throw new RangeError('downsampleRows: expected at least one series, got none');
  if (!Number.isInteger(maxPoints) || maxPoints < MIN_POINTS * series.length) {
    throw new RangeError(`downsampleRows: maxPoints must be an integer ≥ ${MIN_POINTS} per series (${MIN_POINTS * series.length}), got ${maxPoints}`);
  }
  if (rows.length <= maxPoints) return rows.slice();
  const share = Math.floor(maxPoints / series.length);
  const keep = new Set<number>();
  for (const value of series) {
    for (const i of minMaxIndices(rows.map(value), share)) keep.add(i);
  }
  return [...keep].sort((a, b) => a - b).map((i) => rows[i] as Row);
}
