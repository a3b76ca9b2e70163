import { useMemo } from 'react';
import type { RoundReport } from '@murmur/fl-core';
import type { DashboardApi } from './api';
import { formatNumber, formatTime } from './format';
import { useWindowedRows } from './use-windowed-rows';

const ROW_HEIGHT_PX = 28;
const LIST_HEIGHT_PX = 224;

export interface ModelVersion {
  version: number;
  /** The round that committed it; null for the initial model (or a version older than the loaded history). */
  round: RoundReport | null;
}

/** Model versions, newest first: each committed round's, the latest the server reports, and version 0. */
export function modelVersions(rounds: readonly RoundReport[], latest: number | null): ModelVersion[] {
  const byVersion = new Map<number, RoundReport>();
  for (const r of rounds) if (r.status === 'committed') byVersion.set(r.modelVersion.to, r);
  const top = Math.max(latest ?? 0, ...byVersion.keys());
  const out: ModelVersion[] = [];
  for (let v = top; v >= 0; v--) out.push({ version: v, round: byVersion.get(v) ?? null });
  return out;
}

interface ModelVersionsProps {
  api: DashboardApi;
  rounds: readonly RoundReport[];
  latest: number | null;
  /** Versions below this are pruned on the server: listed, without a link. */
  oldestServed: number | null;
}

/** Every model version with its download link (/api/model/:version, immutable on the server). */
export function ModelVersions({ api, rounds, latest, oldestServed }: ModelVersionsProps) {
  const versions = useMemo(() => modelVersions(rounds, latest), [rounds, latest]);
  // The status may lag a streamed round by a poll: the newest version known is the latest.
  const newest = versions[0]?.version ?? null;
  const win = useWindowedRows({ count: versions.length, rowHeightPx: ROW_HEIGHT_PX, viewportHeightPx: LIST_HEIGHT_PX });
  return (
    <div
      className="dash-list-scroll"
      style={{ height: Math.min(LIST_HEIGHT_PX, versions.length * ROW_HEIGHT_PX) }}
      onScroll={win.onScroll}
      data-testid="dash-model-versions"
    >
      <ul style={{ paddingTop: win.padTopPx, paddingBottom: win.padBottomPx }}>
        {versions.slice(win.start, win.end).map(({ version, round }) => (
          <li key={version} style={{ height: ROW_HEIGHT_PX }}>
            {oldestServed !== null && version < oldestServed ? (
              <span className="dash-muted" title="pruned on the server">
                v{version}
              </span>
            ) : (
              <a href={api.modelUrl(version)} download={`murmur-model-v${version}.bin`}>
                v{version}
              </a>
            )}{' '}
            {round
              ? `round ${round.round}, ${formatTime(round.endedAt)}, eval loss ${formatNumber(round.metrics?.eval.loss)}`
              : version === 0
                ? 'initial model'
                : ''}
            {version === newest && ' (latest)'}
          </li>
        ))}
      </ul>
    </div>
  );
}
