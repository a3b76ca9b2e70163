import { useMemo } from 'react';
import type { RoundReport } from '@murmur/fl-core/protocol';
import type { DashboardApi } from './api';
import type { ReleaseSummary } from './schemas';
import { formatNumber, formatTime } from './format';
import { useWindowedRows } from './use-windowed-rows';

const ROW_HEIGHT_PX = 28;
const LIST_HEIGHT_PX = 224;

export interface ModelVersion {
  version: number;
  /** The round that committed it; null for the initial model (or a version older than the loaded history). */
  round: RoundReport | null;
  /**
   * The newest round that evaluated it: a round evaluates the version it trains from
   * (`modelVersion.from`), so a version's own loss arrives with a later round; null before one did.
   */
  evaluatedIn: RoundReport | null;
}

/** Model versions, newest first: each committed round's, the latest the server reports, and version 0. */
export function modelVersions(rounds: readonly RoundReport[], latest: number | null): ModelVersion[] {
  const byVersion = new Map<number, RoundReport>();
  const evaluated = new Map<number, RoundReport>();
  for (const r of rounds) {
    if (r.status !== 'committed') continue;
    byVersion.set(r.modelVersion.to, r);
    if (r.metrics && r.metrics.eval.count > 0) evaluated.set(r.modelVersion.from, r);
  }
  const top = Math.max(latest ?? 0, ...byVersion.keys());
  const out: ModelVersion[] = [];
  for (let v = top; v >= 0; v--) out.push({ version: v, round: byVersion.get(v) ?? null, evaluatedIn: evaluated.get(v) ?? null });
  return out;
}

interface ModelVersionsProps {
  api: DashboardApi;
  rounds: readonly RoundReport[];
  latest: number | null;
  /** Versions below this are pruned on the server: listed, without a link. */
  oldestServed: number | null;
  /** Which version is released and which is the candidate, to mark them. */
  release?: ReleaseSummary | null;
  /**
   * Versions on disk (GET /api/release): the server keeps the newest ones and whatever the release
   * state names however old, so a pruned version can sit between kept ones. Null: only oldestServed is known.
   */
  kept?: readonly number[] | null;
}

/** Every model version with its download link (/api/model/:version, immutable on the server). */
export function ModelVersions({ api, rounds, latest, oldestServed, release = null, kept = null }: ModelVersionsProps) {
  // A version newer than the newest kept one is newer than the list itself: served.
  const pruned = useMemo(() => {
    if (kept === null) return (version: number) => oldestServed !== null && version < oldestServed;
    const set = new Set(kept);
    const newestKept = Math.max(-1, ...kept);
    return (version: number) => !set.has(version) && version < newestKept;
  }, [kept, oldestServed]);
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
        {versions.slice(win.start, win.end).map(({ version, round, evaluatedIn }) => (
          <li key={version} style={{ height: ROW_HEIGHT_PX }}>
            {pruned(version) ? (
              <span className="dash-muted" title="pruned on the server">
                v{version}
              </span>
            ) : (
              <a href={api.modelUrl(version)} download={`murmur-model-v${version}.bin`}>
                v{version}
              </a>
            )}{' '}
            {/* The marks first: a phone shows only the start of the line. */}
            {release?.released === version && <strong data-testid="dash-version-released">(released) </strong>}
            {release?.candidate?.version === version && release.candidate.outcome !== 'released' && `(candidate, ${release.candidate.outcome}) `}
            {round ? `round ${round.round}, ${formatTime(round.endedAt)}` : version === 0 ? 'initial model' : ''}
            {evaluatedIn && `, eval loss ${formatNumber(evaluatedIn.metrics?.eval.loss)} (round ${evaluatedIn.round})`}
            {version === newest && ' (newest)'}
          </li>
        ))}
      </ul>
    </div>
  );
}
