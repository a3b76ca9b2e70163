/**
 * Y-axis ticks for counts (participants, devices per backend). Left to Recharts, a series between
 * 5 and 6 got ticks at 5, 5.25, 5.5, … which the integer formatter printed as "6, 6, 6, 5, 5":
 * counts get whole-number ticks on a 1-2-5 step instead, each printed once.
 *
 * @param min smallest value drawn (≥ 0 for counts)
 * @param max largest value drawn
 * @param maxTicks at most this many ticks (≥ 2) @default 6
 */
export function integerTicks(min: number, max: number, maxTicks = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new RangeError(`integerTicks: expected finite min ≤ max, got ${min} and ${max}`);
  if (!Number.isInteger(maxTicks) || maxTicks < 2) throw new RangeError(`integerTicks: expected an integer maxTicks ≥ 2, got ${maxTicks}`);
  let low = Math.floor(min);
  let high = Math.ceil(max);
  // A flat series still needs an axis: one step either side, never below zero for a count ≥ 0.
  if (low === high) {
    low = Math.max(min >= 0 ? 0 : low - 1, low - 1);
    high += 1;
  }
  const step = niceIntegerStep((high - low) / (maxTicks - 1));
  const first = Math.floor(low / step) * step;
  const last = Math.ceil(high / step) * step;
  const ticks: number[] = [];
  for (let tick = first; tick <= last; tick += step) ticks.push(tick);
  return ticks;
}

/** The smallest step of the form {1, 2, 5} × 10^k that is ≥ raw and ≥ 1. */
function niceIntegerStep(raw: number): number {
  if (raw <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) if (factor * magnitude >= raw) return factor * magnitude;
  return 10 * magnitude;
}

/** Smallest and largest value over the series (summed per row when stacked), or null without data. */
export function valueRange<Row>(rows: readonly Row[], series: readonly ((row: Row) => number | null)[], stacked: boolean): [number, number] | null {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const row of rows) {
    const values = series.map((value) => value(row)).filter((v): v is number => v !== null && Number.isFinite(v));
    if (values.length === 0) continue;
    const shown = stacked ? [values.reduce((sum, v) => sum + v, 0)] : values;
    min = Math.min(min, stacked ? 0 : Math.min(...shown));
    max = Math.max(max, ...shown);
  }
  return min <= max ? [min, max] : null;
}
