import type { DistributedStatus, TaskProgress } from '@murmur/fl-core/protocol';
import { formatSeconds, formatTime } from './format';

/**
 * A pool report older than this is flagged stale. Processes report every poolCountTtlMs / 4
 * (3.75 s at the default 15 s, apps/aggregator/src/distributed/node.ts), so past 5 s at least one
 * report was missed; at poolCountTtlMs the report expires and the process drops off the list.
 */
export const STALE_REPORT_MS = 5_000;

const STORE_LABELS: Record<'record' | 'coordination', string> = {
  record: 'PostgreSQL (round record)',
  coordination: 'Redis (coordination)',
};

/** The table's headers; on a phone (reflow) each cell's shorter data-label names it instead. */
const COLUMNS = ['Process', 'Connected sockets', 'Eligible clients', 'Last report'] as const;

/** Process ids in a stable order (Redis returns its set unordered, so rows would move at every poll). */
const byId = new Intl.Collator('en', { numeric: true });

/** The task coordinator's latest round in words: what a viewer on any process sees of the task as a whole. */
function taskRoundWords(task: TaskProgress): string {
  const waits = `${task.processes} process${task.processes === 1 ? '' : 'es'}`;
  switch (task.stage) {
    case 'opened':
      return `round ${task.round} open, waiting on ${waits}`;
    case 'committed': {
      // A process lost mid-round leaves the others' groups to commit; one the round did not wait on may
      // still have answered in time: say what was added.
      const answered = task.answered ?? task.processes;
      const from = answered < task.processes ? `${answered} of ${waits}` : `${answered} process${answered === 1 ? '' : 'es'}`;
      return `round ${task.round} committed version ${task.modelVersion ?? '?'} from ${from}`;
    }
    case 'aborted':
      return `round ${task.round} aborted (${task.abort ?? 'no reason given'})`;
  }
}

/**
 * The distributed mode's processes (GET /api/status `distributed`, docs/scale-out.md), as one
 * process sees them: who holds the task's lease, each process's sockets and eligible clients as
 * last reported to Redis, whether this process reaches PostgreSQL and Redis, and the task
 * coordinator's latest round (its `task` events reach every process's viewers over Redis).
 * DashboardPage shows it only when the aggregator runs distributed.
 */
export function ProcessesPanel({ distributed, task = null }: { distributed: DistributedStatus; task?: TaskProgress | null }) {
  const { taskId, processId, coordinator, epoch, record, coordination, checkedAt } = distributed;
  const processes = [...distributed.processes].sort((a, b) => byId.compare(a.processId, b.processId));
  const coordinatorReported = coordinator !== null && processes.some((p) => p.processId === coordinator);
  const stale = processes.filter((p) => p.reportedMsAgo > STALE_REPORT_MS).length;
  const sum = (key: 'connected' | 'eligible') => processes.reduce((total, p) => total + p[key], 0).toLocaleString('en');

  return (
    <section className="dash-card dash-processes" aria-label="Aggregator processes" data-testid="dash-processes">
      <h2>
        Aggregator processes <span className="dash-muted">task {taskId}</span>
      </h2>
      <p data-testid="dash-lease">
        Coordinator: <strong data-testid="dash-coordinator">{coordinator ?? 'none'}</strong>, lease epoch <span data-testid="dash-epoch">{epoch}</span>
        {processes.length > 0 && (
          <>
            ; {processes.length} process{processes.length === 1 ? '' : 'es'}, {sum('connected')} sockets, {sum('eligible')} eligible clients
          </>
        )}
        .{' '}
        <span className="dash-muted">
          As seen by {processId} at {formatTime(checkedAt)}.
        </span>
      </p>

      {task && (
        <p data-testid="dash-task-round" data-stage={task.stage}>
          Task coordinator {task.coordinator}: {taskRoundWords(task)} <span className="dash-muted">at {formatTime(task.at)}.</span>
        </p>
      )}

      {!coordinatorReported && (
        <p role="alert" className="dash-banner" data-testid="dash-no-coordinator">
          <strong>No process coordinates the task: rounds are not opening.</strong>{' '}
          {coordinator === null
            ? `No process holds the task’s lease (last epoch ${epoch}); a running process that reaches PostgreSQL takes it within seconds.`
            : `The lease names ${coordinator}, which has no recent pool report in Redis: it may have stopped. Another process takes the lease once it runs out (MURMUR_LEASE_TTL_MS, 10 s by default).`}
        </p>
      )}

      <ul className="dash-stores" aria-label="Stores">
        {(['record', 'coordination'] as const).map((store) => (
          <li key={store} data-testid={`dash-store-${store}`} data-state={distributed[store]}>
            {STORE_LABELS[store]}: <span className={`dash-outcome dash-store-${distributed[store]}`}>{distributed[store]}</span>
          </li>
        ))}
      </ul>
      {record === 'down' && (
        <p role="alert" className="dash-banner" data-testid="dash-record-down">
          <strong>PostgreSQL is down</strong> as seen by {processId}: the coordinator and epoch above are the last it read. While the coordinator cannot reach
          it either, no round commits and the lease cannot be renewed.
        </p>
      )}
      {coordination === 'down' && (
        <p role="alert" className="dash-banner" data-testid="dash-coordination-down">
          <strong>Redis is down</strong> as seen by {processId}: the pool counts below are the last it read. Rounds need Redis for pool counts, control messages
          and group sums; the round in flight is lost (aborted as COORDINATION_UNAVAILABLE).
        </p>
      )}

      {processes.length === 0 ? (
        <p className="dash-muted" data-testid="dash-no-processes">
          No process has reported its pool to Redis.
        </p>
      ) : (
        <div className="dash-checks-scroll">
          {/* reflow (styles.css): on a phone each process is a card of label/value lines. */}
          <table className="dash-checks reflow">
            <thead>
              <tr>
                {COLUMNS.map((column) => (
                  <th key={column} scope="col">
                    {column}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {processes.map((p) => {
                const isStale = p.reportedMsAgo > STALE_REPORT_MS;
                return (
                  <tr
                    key={p.processId}
                    className={isStale ? 'dash-process-stale' : undefined}
                    data-testid="dash-process"
                    data-process-id={p.processId}
                    data-stale={isStale}
                  >
                    <th scope="row">
                      {p.processId}
                      {p.processId === coordinator && (
                        <>
                          {' '}
                          <span className="dash-outcome dash-outcome-released" data-testid="dash-process-coordinator">
                            coordinator
                          </span>
                        </>
                      )}
                      {p.processId === processId && (
                        <>
                          {' '}
                          <span className="dash-outcome dash-process-self" data-testid="dash-process-self">
                            this process
                          </span>
                        </>
                      )}
                    </th>
                    <td data-label="Sockets">{p.connected.toLocaleString('en')}</td>
                    <td data-label="Eligible">{p.eligible.toLocaleString('en')}</td>
                    <td data-label="Reported" data-testid="dash-process-age">
                      {formatSeconds(p.reportedMsAgo / 1000)} ago{isStale && <strong> — stale</strong>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {stale > 0 && (
        <p className="dash-error" data-testid="dash-stale-processes">
          {stale} process{stale === 1 ? ' has' : 'es have'} not reported for over {STALE_REPORT_MS / 1000} s (reports come every 3.75 s by default); one that
          stays silent past MURMUR_POOL_COUNT_TTL_MS (15 s by default) drops off this list, and its clients out of selection.
        </p>
      )}
    </section>
  );
}
