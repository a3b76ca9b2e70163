import { memo, useMemo } from 'react';
import { Area, AreaChart, CartesianGrid, Legend, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from 'recharts';
import type { RoundReport } from '@murmur/fl-core/protocol';
import { downsampleRows } from './downsample';
import { integerTicks, valueRange } from './ticks';
import { formatBytes, formatNumber, formatSeconds, formatTick } from './format';
import { backendsInUse, clipNormVaries, roundRow, type BackendKey, type RoundRow } from './series';

/**
 * Points drawn per chart. A few hundred SVG points per line keep hover and re-render cheap at any
 * history length, and are still more than the pixels a chart is wide per round at 1,000+ rounds.
 */
export const MAX_CHART_POINTS = 400;

interface Series {
  name: string;
  value: (row: RoundRow) => number | null;
  color: string;
}

/** Room on the right for the last round's tick label. */
const CHART_MARGIN = { top: 5, right: 20, bottom: 5, left: 0 };

const BACKEND_COLORS: Record<BackendKey, string> = { webgpu: '#6a3d9a', webgl: '#1f78b4', wasm: '#33a02c', cpu: '#ff7f00', other: '#999999' };

interface ChartProps {
  title: string;
  rows: readonly RoundRow[];
  series: readonly Series[];
  format: (value: number) => string;
  /** A horizontal line, e.g. the ε budget. */
  reference?: { y: number; label: string };
  /** Stacked areas (parts of a whole, like the backend mix) instead of lines. */
  stacked?: boolean;
  /** Counts: whole-number y ticks, each printed once (see ticks.ts). */
  integer?: boolean;
}

/** One over-time chart: downsampled rows, no animation (a live update redraws at once). */
const RoundChart = memo(function RoundChart({ title, rows, series, format, reference, stacked, integer }: ChartProps) {
  const data = useMemo(
    () =>
      downsampleRows(
        rows,
        series.map((s) => s.value),
        MAX_CHART_POINTS,
      ),
    [rows, series],
  );
  const ticks = useMemo(() => {
    if (!integer) return null;
    const range = valueRange(
      data,
      series.map((s) => s.value),
      stacked === true,
    );
    return range === null ? null : integerTicks(range[0], range[1]);
  }, [data, series, integer, stacked]);
  const axes = (
    <>
      <CartesianGrid strokeDasharray="3 3" />
      <XAxis dataKey="round" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} />
      {ticks ? (
        <YAxis tickFormatter={format} width={72} ticks={ticks} domain={[ticks[0] ?? 0, ticks.at(-1) ?? 1]} allowDecimals={false} />
      ) : (
        <YAxis tickFormatter={format} width={72} domain={reference ? [0, (max: number) => Math.max(max, reference.y)] : ['auto', 'auto']} />
      )}
      <Tooltip formatter={(value) => (typeof value === 'number' ? format(value) : String(value))} labelFormatter={(round) => `round ${String(round)}`} />
      <Legend />
      {reference && <ReferenceLine y={reference.y} stroke="#d62728" strokeDasharray="6 3" label={reference.label} />}
    </>
  );
  return (
    <figure className="dash-chart" data-testid={`dash-chart-${title}`} data-points={data.length} data-y-ticks={ticks?.join(',')}>
      <figcaption>{title}</figcaption>
      {stacked ? (
        <AreaChart responsive style={{ width: '100%', height: 220 }} data={data} margin={CHART_MARGIN}>
          {axes}
          {series.map((s) => (
            <Area key={s.name} name={s.name} dataKey={s.value} stackId="1" stroke={s.color} fill={s.color} isAnimationActive={false} />
          ))}
        </AreaChart>
      ) : (
        <LineChart responsive style={{ width: '100%', height: 220 }} data={data} margin={CHART_MARGIN}>
          {axes}
          {series.map((s) => (
            <Line key={s.name} name={s.name} dataKey={s.value} stroke={s.color} dot={false} connectNulls isAnimationActive={false} />
          ))}
        </LineChart>
      )}
    </figure>
  );
});

// Series are module constants so the charts' memoized downsampling only reruns when rows change.
const LOSS: Series[] = [{ name: 'eval loss', value: (r) => r.evalLoss, color: '#1f77b4' }];
const ACCURACY: Series[] = [
  { name: 'top-1 %', value: (r) => r.top1Pct, color: '#2ca02c' },
  { name: 'top-3 %', value: (r) => r.top3Pct, color: '#98df8a' },
];
const EPSILON: Series[] = [{ name: 'ε spent', value: (r) => r.epsilon, color: '#d62728' }];
const DURATION: Series[] = [{ name: 'duration', value: (r) => r.durationS, color: '#9467bd' }];
const BYTES: Series[] = [
  { name: 'received', value: (r) => r.bytesReceived, color: '#8c564b' },
  { name: 'sent', value: (r) => r.bytesSent, color: '#e377c2' },
];
const PARTICIPANTS: Series[] = [
  { name: 'selected', value: (r) => r.selected, color: '#7f7f7f' },
  { name: 'in the sum', value: (r) => r.contributed, color: '#17becf' },
];
const CLIP: Series[] = [{ name: 'clip norm C', value: (r) => r.clipNorm, color: '#bcbd22' }];

const pct = (v: number) => `${formatNumber(v, 1)} %`;

const count = (v: number) => String(Math.round(v));
const seconds = (v: number) => formatSeconds(v);

/** Memoized: a status poll re-renders the page every few seconds, the charts only change with the rounds. */
export const Charts = memo(function Charts({ rounds, epsilonBudget }: { rounds: readonly RoundReport[]; epsilonBudget: number | null }) {
  const rows = useMemo(() => rounds.map(roundRow), [rounds]);
  const backendSeries = useMemo<Series[]>(
    () => backendsInUse(rows).map((key) => ({ name: key, value: (r: RoundRow) => r.backends[key], color: BACKEND_COLORS[key] })),
    [rows],
  );
  const reference = useMemo(
    () => (epsilonBudget === null ? undefined : { y: epsilonBudget, label: `budget ${formatNumber(epsilonBudget, 2)}` }),
    [epsilonBudget],
  );
  if (rows.length === 0) return <p className="dash-muted">No finished rounds yet: the charts fill in as rounds commit.</p>;
  return (
    <div className="dash-charts">
      <RoundChart title="Federated eval loss" rows={rows} series={LOSS} format={formatTick} />
      <RoundChart title="Next-word accuracy" rows={rows} series={ACCURACY} format={pct} />
      <RoundChart title="Privacy: ε spent" rows={rows} series={EPSILON} format={formatTick} {...(reference ? { reference } : {})} />
      <RoundChart title="Round duration" rows={rows} series={DURATION} format={seconds} />
      <RoundChart title="Bytes per round" rows={rows} series={BYTES} format={formatBytes} />
      <RoundChart title="Participants per round" rows={rows} series={PARTICIPANTS} format={count} integer />
      {backendSeries.length > 0 && <RoundChart title="Backend mix" rows={rows} series={backendSeries} format={count} stacked integer />}
      {clipNormVaries(rows) && <RoundChart title="Clip norm (adaptive)" rows={rows} series={CLIP} format={formatTick} />}
    </div>
  );
});
