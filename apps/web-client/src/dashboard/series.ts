import type { RoundReport } from '@murmur/fl-core/protocol';

/**
 * Round records → chart rows: one row per finished round, every number a chart plots, in the
 * units the axes show. Aborted rounds stay in the rows (duration, bytes and participants are
 * real for them) with null metrics, which the charts draw as gaps.
 */
export interface RoundRow {
  round: number;
  committed: boolean;
  evalLoss: number | null;
  /** Top-1 and top-3 next-word accuracy on the clients' held-out examples, in percent. */
  top1Pct: number | null;
  top3Pct: number | null;
  epsilon: number | null;
  durationS: number;
  bytesReceived: number;
  bytesSent: number;
  selected: number;
  /** Inputs in the committed sum (0 when aborted). */
  contributed: number;
  clipNorm: number;
  /** Selected clients per TensorFlow.js backend; OTHER_BACKEND gathers names not listed. */
  backends: Record<BackendKey, number>;
}

/** The backends the web client chooses between, fastest first (see worker/backends.ts). */
export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export const OTHER_BACKEND = 'other';
export type BackendKey = (typeof BACKENDS)[number] | typeof OTHER_BACKEND;

const percent = (v: number | null | undefined) => (v === null || v === undefined ? null : 100 * v);

export function roundRow(report: RoundReport): RoundRow {
  const backends: Record<BackendKey, number> = { webgpu: 0, webgl: 0, wasm: 0, cpu: 0, other: 0 };
  for (const [name, clients] of Object.entries(report.backends)) {
    const key: BackendKey = (BACKENDS as readonly string[]).includes(name) ? (name as BackendKey) : OTHER_BACKEND;
    backends[key] += clients;
  }
  const duration = Date.parse(report.endedAt) - Date.parse(report.startedAt);
  return {
    round: report.round,
    committed: report.status === 'committed',
    evalLoss: report.metrics?.eval.loss ?? null,
    top1Pct: percent(report.metrics?.eval.top1),
    top3Pct: percent(report.metrics?.eval.top3),
    epsilon: report.privacy.epsilon,
    durationS: Number.isFinite(duration) ? Math.max(0, duration) / 1000 : 0,
    bytesReceived: report.bytes.received,
    bytesSent: report.bytes.sent,
    selected: report.cohort.selected,
    contributed: report.status === 'committed' ? report.cohort.masked : 0,
    clipNorm: report.privacy.clipNorm,
    backends,
  };
}

/**
 * Whether the clip norm moved over the rounds: with adaptive clipping (Andrew et al. 2021) or an
 * operator's plan change it does, and then its chart is worth a place; a constant line is not.
 */
export function clipNormVaries(rows: readonly RoundRow[]): boolean {
  const first = rows[0]?.clipNorm;
  return rows.some((r) => r.clipNorm !== first);
}

/** Backends that appear at all, so the stacked chart has no empty layers. */
export function backendsInUse(rows: readonly RoundRow[]): BackendKey[] {
  return ([...BACKENDS, OTHER_BACKEND] as BackendKey[]).filter((key) => rows.some((r) => r.backends[key] > 0));
}
