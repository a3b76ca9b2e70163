// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { DashboardApi } from './api';
import { describeAuditEntry, previousRelease, ReleasePanel } from './ReleasePanel';
import { RoundTable } from './RoundTable';
import { makeReleaseView, makeReport } from './test-fixtures';

afterEach(cleanup);

const TOKEN = 'admin-token-0123456789';

/** A DashboardApi whose requests are recorded and answered by `reply` (status, body). */
function fakeApi(reply: (path: string, body: unknown) => [number, unknown]) {
  const requests: { path: string; authorization: string | null; body: unknown }[] = [];
  const api = new DashboardApi('http://aggregator.test', async (input, init) => {
    const path = new URL(String(input)).pathname;
    const body = init?.body ? (JSON.parse(String(init.body)) as unknown) : undefined;
    requests.push({ path, authorization: new Headers(init?.headers).get('authorization'), body });
    const [status, answer] = reply(path, body);
    return new Response(JSON.stringify(answer), { status, headers: { 'content-type': 'application/json' } });
  });
  return { api, requests };
}

function actionAnswer(released: number, message: string) {
  const view = makeReleaseView();
  return {
    release: { released, candidate: null, trainingBase: released, policy: 'candidate', lastDecision: view.lastDecision },
    audit: {
      seq: 4,
      at: new Date().toISOString(),
      actor: 'admin',
      action: 'rollback',
      version: released,
      note: null,
      before: { released: 7, trainingBase: 9, candidate: 9 },
      after: { released, trainingBase: released, candidate: null },
    },
    message,
  };
}

describe('the release panel', () => {
  it('shows candidate vs released, the gate’s decision with its numbers, and the audit log in words', () => {
    const { api } = fakeApi(() => [500, {}]);
    render(<ReleasePanel api={api} release={makeReleaseView()} adminToken={null} onChanged={() => {}} />);
    expect(screen.getByTestId('dash-released-version').textContent).toBe('v7');
    expect(screen.getByTestId('dash-candidate').textContent).toBe('v9 refused');
    expect(screen.getByTestId('dash-gate-decision').getAttribute('data-outcome')).toBe('refused');
    expect(screen.getByTestId('dash-gate-reason').textContent).toMatch(/^refused: eval loss 10\.200 vs 4\.010 \(\+6\.190 nats/);
    const loss = screen.getByTestId('dash-check-loss');
    expect(
      within(loss)
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ).toEqual(['failed', '6.190', '0.05']);
    expect(
      within(screen.getByTestId('dash-check-top1'))
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ).toEqual(['failed', '10.5 %', '1.0 %']);
    expect(screen.getByTestId('dash-gate-policy').textContent).toMatch(/loss at most 0\.05 nats higher, top-1 at most 1\.0 % lower/);
    const audit = within(screen.getByTestId('dash-audit')).getAllByRole('listitem');
    expect(audit[0]?.textContent).toContain('admin plan revision 1: noiseMultiplier 0.05 → 1');
    expect(audit[1]?.textContent).toContain('gate released v7 (was v5)');
    // Read-only without the token.
    expect(screen.queryByRole('button')).toBeNull();
    expect(screen.getByText(/Unlock the Admin panel/)).toBeTruthy();
  });

  it('releases the candidate with the admin token and shows the server’s answer', async () => {
    const { api, requests } = fakeApi(() => [200, actionAnswer(9, 'v9 is released: browsers download it for suggestions from now on.')]);
    let changed = 0;
    render(<ReleasePanel api={api} release={makeReleaseView()} adminToken={TOKEN} onChanged={() => changed++} />);
    fireEvent.change(screen.getByLabelText('Note for the audit log'), { target: { value: 'checked by hand' } });
    fireEvent.click(screen.getByRole('button', { name: 'Release v9' }));
    await waitFor(() => expect(screen.getByRole('status').textContent).toMatch(/v9 is released/));
    expect(requests).toEqual([{ path: '/api/admin/release', authorization: `Bearer ${TOKEN}`, body: { version: 9, note: 'checked by hand' } }]);
    expect(changed).toBe(1);
  });

  it('rolls back to the version released before by default, and shows a refusal as an alert', async () => {
    const view = makeReleaseView();
    expect(previousRelease(view)).toBe(5);
    const { api, requests } = fakeApi(() => [404, { code: 'NOT_FOUND', message: 'rollback: v5 is not a kept model version (kept: v6–v9)' }]);
    render(<ReleasePanel api={api} release={view} adminToken={TOKEN} onChanged={() => {}} />);
    fireEvent.click(screen.getByRole('button', { name: 'Roll back to v5' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/404 \(NOT_FOUND: rollback: v5 is not a kept/));
    expect(requests[0]).toMatchObject({ path: '/api/admin/rollback', body: { version: 5 } });
    // Another kept version can be chosen.
    fireEvent.change(screen.getByRole('combobox'), { target: { value: '2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Roll back to v2' }));
    await waitFor(() => expect(requests).toHaveLength(2));
    expect(requests[1]?.body).toEqual({ version: 2 });
  });

  it('offers no release button once the candidate is released, and describes every audit action', () => {
    const view = { ...makeReleaseView(), candidate: { version: 9, base: 8, outcome: 'released' as const }, released: 9 };
    const { api } = fakeApi(() => [500, {}]);
    render(<ReleasePanel api={api} release={view} adminToken={TOKEN} onChanged={() => {}} />);
    expect(screen.queryByRole('button', { name: /^Release v/ })).toBeNull();
    expect(screen.getByRole('button', { name: /^Roll back to v/ })).toBeTruthy();
    expect(
      describeAuditEntry({
        seq: 9,
        at: '2026-12-01T08:00:00.000Z',
        actor: 'admin',
        action: 'rollback',
        version: 4,
        note: null,
        before: { released: 9, trainingBase: 9, candidate: null },
        after: { released: 4, trainingBase: 4, candidate: null },
      }),
    ).toBe('rolled back to v4 (from v9); training from v4');
  });
});

describe('plan changes in the round table', () => {
  it('marks the first round that ran with a new plan revision, and says what changed', () => {
    const rounds = [
      makeReport(1, { planRevision: 0 }),
      makeReport(2, { planRevision: 0 }),
      makeReport(3, { planRevision: 1 }),
      makeReport(4, { planRevision: 1 }),
    ];
    render(<RoundTable rounds={rounds} audit={makeReleaseView().audit} selected={null} onSelect={() => {}} />);
    const cells = screen.getAllByTestId('dash-cell-plan');
    // Newest first: rounds 4, 3, 2, 1.
    expect(cells.map((c) => c.getAttribute('data-changed'))).toEqual([null, 'true', null, null]);
    expect(cells[1]?.querySelector('mark')?.getAttribute('title')).toBe('noiseMultiplier 0.05 → 1 (by admin)');
    // Who changed the plan: the audit entry's operator.
    expect(cells.map((c) => c.textContent)).toEqual(['rev 1', 'rev 1 ✎ by admin', 'rev 0', 'rev 0']);
  });
});
