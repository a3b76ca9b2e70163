// @vitest-environment jsdom
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { distributedStatusSchema, statusResponseSchema, type DistributedStatus, type TaskProgress } from '@murmur/fl-core/protocol';
import { DashboardPage } from './DashboardPage';
import { ProcessesPanel } from './ProcessesPanel';
import { FIXTURE_PLAN, makeReleaseView } from './test-fixtures';

afterEach(cleanup);

/**
 * Three processes as p-2 sees them, parsed by fl-core's schema: p-1 holds the lease, p-3 last
 * reported 7.5 s ago (past STALE_REPORT_MS). Listed out of order, as Redis's set returns them.
 */
function makeDistributed(overrides: Partial<DistributedStatus> = {}): DistributedStatus {
  return distributedStatusSchema.parse({
    taskId: 'next-word',
    processId: 'p-2',
    coordinator: 'p-1',
    epoch: 4,
    processes: [
      { processId: 'p-3', connected: 950, eligible: 610, reportedMsAgo: 7_500 },
      { processId: 'p-1', connected: 1_200, eligible: 800, reportedMsAgo: 1_200 },
      { processId: 'p-2', connected: 1_100, eligible: 700, reportedMsAgo: 400 },
    ],
    record: 'up',
    coordination: 'up',
    checkedAt: '2026-12-01T08:00:00.000Z',
    ...overrides,
  });
}

const rowOf = (processId: string) => {
  const row = screen.getAllByTestId('dash-process').find((tr) => tr.dataset.processId === processId);
  if (!row) throw new Error(`no row for ${processId}`);
  return row;
};

describe('the processes panel', () => {
  it('lists each process in a table, marks the coordinator and the process that answered, and warns about a stale report', () => {
    render(<ProcessesPanel distributed={makeDistributed()} />);
    const table = screen.getByRole('table');
    expect(
      within(table)
        .getAllByRole('columnheader')
        .map((th) => th.textContent),
    ).toEqual(['Process', 'Connected sockets', 'Eligible clients', 'Last report']);
    expect(
      within(table)
        .getAllByRole('rowheader')
        .map((th) => th.textContent),
    ).toEqual(['p-1 coordinator', 'p-2 this process', 'p-3']);
    expect(screen.getByTestId('dash-epoch').textContent).toBe('4');
    expect(screen.getByTestId('dash-lease').textContent).toContain('3 processes, 3,250 sockets, 2,110 eligible clients');

    expect(within(rowOf('p-1')).getByTestId('dash-process-coordinator')).toBeTruthy();
    expect(screen.getAllByTestId('dash-process-coordinator')).toHaveLength(1);
    expect(within(rowOf('p-2')).getByTestId('dash-process-self')).toBeTruthy();
    expect(screen.getAllByTestId('dash-process-self')).toHaveLength(1);
    expect(
      within(rowOf('p-1'))
        .getAllByRole('cell')
        .map((td) => td.textContent),
    ).toEqual(['1,200', '800', '1.2 s ago']);

    expect(rowOf('p-3').dataset.stale).toBe('true');
    expect(within(rowOf('p-3')).getByTestId('dash-process-age').textContent).toBe('7.5 s ago — stale');
    expect(rowOf('p-1').dataset.stale).toBe('false');
    expect(screen.getByTestId('dash-stale-processes').textContent).toMatch(/^1 process has not reported for over 5 s/);
    // A coordinator that reports and stores that answer: nothing to warn about.
    expect(screen.queryByTestId('dash-no-coordinator')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('flags a report only once it is older than 5 s', () => {
    const processes = makeDistributed().processes.map((p) => ({ ...p, reportedMsAgo: p.processId === 'p-3' ? 5_000 : 5_001 }));
    render(<ProcessesPanel distributed={makeDistributed({ processes })} />);
    expect(rowOf('p-3').dataset.stale).toBe('false');
    expect(within(rowOf('p-3')).getByTestId('dash-process-age').textContent).toBe('5.0 s ago');
    expect(rowOf('p-1').dataset.stale).toBe('true');
    expect(screen.getByTestId('dash-stale-processes').textContent).toMatch(/^2 processes have not reported/);
  });

  it('says which store is down, each with its own warning', () => {
    const { rerender } = render(<ProcessesPanel distributed={makeDistributed({ record: 'down' })} />);
    expect(screen.getByTestId('dash-store-record').dataset.state).toBe('down');
    expect(screen.getByTestId('dash-store-record').textContent).toBe('PostgreSQL (round record): down');
    expect(screen.getByTestId('dash-store-coordination').textContent).toBe('Redis (coordination): up');
    expect(screen.getAllByRole('alert').map((p) => p.dataset.testid)).toEqual(['dash-record-down']);
    expect(screen.getByTestId('dash-record-down').textContent).toMatch(/^PostgreSQL is down as seen by p-2: .*no round commits/);

    rerender(<ProcessesPanel distributed={makeDistributed({ coordination: 'down' })} />);
    expect(screen.getByTestId('dash-store-coordination').textContent).toBe('Redis (coordination): down');
    expect(screen.getAllByRole('alert').map((p) => p.dataset.testid)).toEqual(['dash-coordination-down']);
    expect(screen.getByTestId('dash-coordination-down').textContent).toMatch(/^Redis is down as seen by p-2: the pool counts below are the last it read/);

    rerender(<ProcessesPanel distributed={makeDistributed({ record: 'down', coordination: 'down' })} />);
    expect(screen.getAllByRole('alert').map((p) => p.dataset.testid)).toEqual(['dash-record-down', 'dash-coordination-down']);
  });

  it("says the task coordinator's latest round in words: open and waiting, committed with its version, or aborted with its code", () => {
    const opened: TaskProgress = {
      taskId: 'next-word',
      coordinator: 'p-1',
      round: 12,
      roundId: 'r12-0badc0de',
      stage: 'opened',
      processes: 3,
      modelVersion: null,
      answered: null,
      abort: null,
      at: '2026-12-05T00:00:00.000Z',
    };
    const { rerender } = render(<ProcessesPanel distributed={makeDistributed()} />);
    expect(screen.queryByTestId('dash-task-round')).toBeNull();
    rerender(<ProcessesPanel distributed={makeDistributed()} task={opened} />);
    expect(screen.getByTestId('dash-task-round').textContent).toMatch(/^Task coordinator p-1: round 12 open, waiting on 3 processes at /);
    rerender(<ProcessesPanel distributed={makeDistributed()} task={{ ...opened, stage: 'committed', modelVersion: 9, processes: 1, answered: 1 }} />);
    expect(screen.getByTestId('dash-task-round').textContent).toMatch(/^Task coordinator p-1: round 12 committed version 9 from 1 process at /);
    // One of the three lost mid-round: the other two's groups committed.
    rerender(<ProcessesPanel distributed={makeDistributed()} task={{ ...opened, stage: 'committed', modelVersion: 10, answered: 2 }} />);
    expect(screen.getByTestId('dash-task-round').textContent).toMatch(/^Task coordinator p-1: round 12 committed version 10 from 2 of 3 processes at /);
    // Waited on two, but the third's pool filled in time and its groups were added too.
    rerender(<ProcessesPanel distributed={makeDistributed()} task={{ ...opened, stage: 'committed', modelVersion: 11, processes: 2, answered: 3 }} />);
    expect(screen.getByTestId('dash-task-round').textContent).toMatch(/^Task coordinator p-1: round 12 committed version 11 from 3 processes at /);
    rerender(<ProcessesPanel distributed={makeDistributed()} task={{ ...opened, stage: 'aborted', abort: 'BELOW_THRESHOLD' }} />);
    expect(screen.getByTestId('dash-task-round').textContent).toMatch(/^Task coordinator p-1: round 12 aborted \(BELOW_THRESHOLD\) at /);
    expect(screen.getByTestId('dash-task-round').dataset.stage).toBe('aborted');
  });

  it('warns that rounds are not opening when no process holds the lease, or its holder has not reported', () => {
    const { rerender } = render(<ProcessesPanel distributed={makeDistributed({ coordinator: null })} />);
    expect(screen.getByTestId('dash-coordinator').textContent).toBe('none');
    expect(screen.getByRole('alert').textContent).toMatch(
      /^No process coordinates the task: rounds are not opening\. No process holds the task’s lease \(last epoch 4\)/,
    );
    expect(screen.queryByTestId('dash-process-coordinator')).toBeNull();

    // The lease names a process that no longer reports its pool (gone, or cut off from Redis).
    rerender(<ProcessesPanel distributed={makeDistributed({ coordinator: 'p-9' })} />);
    expect(screen.getByTestId('dash-coordinator').textContent).toBe('p-9');
    expect(screen.getByTestId('dash-no-coordinator').textContent).toMatch(/^No process coordinates the task: rounds are not opening\. The lease names p-9/);
    expect(screen.queryByTestId('dash-process-coordinator')).toBeNull();

    rerender(<ProcessesPanel distributed={makeDistributed({ coordinator: null, processes: [], coordination: 'down' })} />);
    expect(screen.getByTestId('dash-no-processes')).toBeTruthy();
    expect(screen.queryByRole('table')).toBeNull();
    expect(screen.getAllByRole('alert').map((p) => p.dataset.testid)).toEqual(['dash-no-coordinator', 'dash-coordination-down']);
  });
});

/**
 * The whole page against a real HTTP server answering GET /api/status as the aggregator does, with
 * or without the `distributed` block: what the page shows has gone through DashboardApi's parsing.
 * No live stream is served (its connection fails and retries; the REST snapshots are enough).
 */
describe('the dashboard page', () => {
  let server: Server;
  let origin: string;
  let distributed: DistributedStatus | undefined;

  const status = () =>
    statusResponseSchema.parse({
      phase: 'idle',
      paused: false,
      round: null,
      nextRound: 1,
      modelVersion: 0,
      connectedClients: 3_250,
      waitingClients: 0,
      roundsRecorded: 0,
      plan: FIXTURE_PLAN,
      privacy: { mode: 'distributed', delta: 1e-5, epsilon: null },
      ...(distributed ? { distributed } : {}),
    });
  const json = (res: ServerResponse, code: number, value: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/api/status') return json(res, 200, status());
      if (path === '/api/privacy') return json(res, 200, { mode: 'distributed', delta: 1e-5, epsilon: null });
      if (path === '/api/rounds') return json(res, 200, { total: 0, offset: 0, limit: 100, rounds: [] });
      if (path === '/api/release') return json(res, 200, makeReleaseView());
      json(res, 404, { code: 'NOT_FOUND', message: `no such endpoint: ${path}` });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('shows no processes panel for a single aggregator, whose status has no distributed block', async () => {
    distributed = undefined;
    render(<DashboardPage origin={origin} />);
    // The status has arrived (the Now panel shows its counts) and still no panel.
    await waitFor(() => expect(screen.getByTestId('dash-connected-clients').textContent).toBe('3250'));
    expect(screen.queryByTestId('dash-processes')).toBeNull();
  });

  it('shows the processes panel with the aggregator’s distributed block', async () => {
    distributed = makeDistributed({ coordinator: null });
    render(<DashboardPage origin={origin} />);
    const panel = await screen.findByTestId('dash-processes');
    expect(
      within(panel)
        .getAllByTestId('dash-process')
        .map((tr) => tr.dataset.processId),
    ).toEqual(['p-1', 'p-2', 'p-3']);
    expect(within(panel).getByTestId('dash-no-coordinator')).toBeTruthy();
    expect(within(panel).getByTestId('dash-epoch').textContent).toBe('4');
  });
});
