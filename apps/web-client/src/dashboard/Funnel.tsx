import type { FunnelStage } from './store';

/**
 * The cohort funnel as horizontal bars scaled to the selected cohort (checked-in clients may
 * outnumber it, so their bar is capped), with each phase's dropouts beside it and, where the record
 * says, why they dropped (silent or disconnected) on a line below.
 */
export function Funnel({ stages }: { stages: readonly FunnelStage[] }) {
  const selected = stages.find((s) => s.key === 'selected')?.clients ?? null;
  return (
    <ol className="dash-funnel" aria-label="Cohort funnel">
      {stages.map((stage) => {
        const width = selected && stage.clients !== null ? Math.min(100, (100 * stage.clients) / selected) : 0;
        return (
          <li key={stage.key} data-testid={`dash-funnel-${stage.key}`}>
            <span className="dash-funnel-label">{stage.label}</span>
            <span className="dash-funnel-bar" aria-hidden="true">
              <span style={{ width: `${width}%` }} />
            </span>
            <span className="dash-funnel-count" data-testid={`dash-funnel-${stage.key}-clients`}>
              {stage.clients === null ? '…' : stage.clients.toLocaleString()}
            </span>
            <span className="dash-funnel-drop" data-testid={`dash-funnel-${stage.key}-dropped`}>
              {stage.dropped !== null && stage.dropped > 0 ? `−${stage.dropped.toLocaleString()}` : ''}
            </span>
            {stage.why && (
              <span className="dash-funnel-why" data-testid={`dash-funnel-${stage.key}-why`}>
                {stage.why}
              </span>
            )}
          </li>
        );
      })}
    </ol>
  );
}
