// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { PLAN_LIMITS, type LivePlan } from '@murmur/fl-core/protocol';
import { DashboardApi } from './api';
import { AdminPanel, ADMIN_TOKEN_KEY, boundViolation, describeBound } from './AdminPanel';
import { planResponseSchema } from './schemas';

afterEach(() => {
  cleanup();
  sessionStorage.clear();
});

const TOKEN = 'alice-token-0123456789';

const PLAN: LivePlan = {
  target: 6,
  overSelection: 1,
  minReports: 4,
  pauseMs: 50,
  checkinMs: 300,
  training: { epochs: 1, batchSize: 16, optimizer: 'sgd', learningRate: 1, maxExamples: 128, timeBudgetMs: 10_000, targets: 'last' },
  clipNorm: 1,
  noiseMultiplier: 0.05,
};

/** The bounds an aggregator with σ floored at 0.05 sends (its planBounds): fl-core's table, σ narrowed. */
const BOUNDS = { ...PLAN_LIMITS, noiseMultiplier: { ...PLAN_LIMITS.noiseMultiplier, min: 0.05 } };

function fakeApi(reply: (method: string, path: string, body: unknown) => [number, unknown]) {
  const requests: { method: string; path: string; body: unknown }[] = [];
  const api = new DashboardApi('http://aggregator.test', async (input, init) => {
    const path = new URL(String(input)).pathname;
    const method = init?.method ?? 'GET';
    const body = init?.body ? (JSON.parse(String(init.body)) as unknown) : undefined;
    requests.push({ method, path, body });
    const [status, answer] = reply(method, path, body);
    return new Response(JSON.stringify(answer), { status, headers: { 'content-type': 'application/json' } });
  });
  return { api, requests };
}

describe('the admin panel’s plan editor', () => {
  it('shows the bounds GET /api/admin/plan sends and whose token it holds, and refuses a value outside them before the server would', async () => {
    sessionStorage.setItem(ADMIN_TOKEN_KEY, TOKEN);
    const { api, requests } = fakeApi(() => [200, { plan: PLAN, bounds: BOUNDS, operator: 'alice' }]);
    render(<AdminPanel api={api} paused={false} onChanged={() => {}} />);
    await waitFor(() => expect(screen.getByTestId('dash-operator').textContent).toContain('alice'));
    expect(requests).toEqual([{ method: 'GET', path: '/api/admin/plan', body: undefined }]);

    const sigma = screen.getByRole('spinbutton', { name: /^noiseMultiplier/ });
    expect(sigma.getAttribute('min')).toBe('0.05');
    expect(sigma.getAttribute('max')).toBe('100');
    const epochs = screen.getByRole('spinbutton', { name: /^training\.epochs/ });
    expect(epochs.getAttribute('step')).toBe('1');
    expect(epochs.closest('label')?.textContent).toContain('1 … 50');
    expect(screen.getByRole('spinbutton', { name: /^clipNorm/ }).closest('label')?.textContent).toContain('> 0 … 1000000');
    // An optional field the plan does not hold (adamEpsilon) gets no input.
    expect(screen.queryByRole('spinbutton', { name: /adamEpsilon/ })).toBeNull();

    fireEvent.change(sigma, { target: { value: '0.01' } });
    expect(sigma.closest('label')?.textContent).toContain('expected 0.05 … 100, got 0.01');
    fireEvent.change(epochs, { target: { value: '51' } });
    expect((screen.getByRole('button', { name: /^Apply/ }) as HTMLButtonElement).disabled).toBe(true);
    expect(requests).toHaveLength(1);
  });

  it('keeps the bounds after a change and sends only valid values', async () => {
    sessionStorage.setItem(ADMIN_TOKEN_KEY, TOKEN);
    const after = { ...PLAN, noiseMultiplier: 1 };
    const { api, requests } = fakeApi((method) =>
      method === 'GET'
        ? [200, { plan: PLAN, bounds: BOUNDS, operator: 'alice' }]
        : [
            200,
            {
              plan: after,
              revision: 1,
              persisted: true,
              message: 'Plan revision 1 saved in the data directory (plan.json): it applies from the next round to start and survives a restart.',
              audit: { seq: 1, at: new Date().toISOString(), actor: 'alice', action: 'plan', revision: 1, before: PLAN, after, note: null },
            },
          ],
    );
    render(<AdminPanel api={api} paused={false} onChanged={() => {}} />);
    const sigma = await screen.findByRole('spinbutton', { name: /^noiseMultiplier/ });
    fireEvent.change(sigma, { target: { value: '1' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply 1 change' }));
    await waitFor(() => expect(screen.getByRole('status').textContent).toMatch(/survives a restart/));
    expect(requests.at(-1)).toEqual({ method: 'POST', path: '/api/admin/plan', body: { noiseMultiplier: 1 } });
    // The answer carried no bounds (an aggregator before they were sent with it): the form keeps the GET's.
    expect(screen.getByRole('spinbutton', { name: /^noiseMultiplier/ }).getAttribute('min')).toBe('0.05');
    expect(screen.getByTestId('dash-operator').textContent).toContain('alice');
  });
});

describe('plan bounds', () => {
  it('say why a value is refused, an exclusive minimum included', () => {
    expect(boundViolation(0, PLAN_LIMITS.clipNorm)).toBe('expected > 0 … 1000000, got 0');
    expect(boundViolation(0.5, PLAN_LIMITS.clipNorm)).toBeNull();
    expect(boundViolation(1.5, PLAN_LIMITS.target)).toBe('expected an integer, got 1.5');
    expect(boundViolation(1, PLAN_LIMITS.target)).toBe('expected 2 … 100000, got 1');
    expect(describeBound(PLAN_LIMITS['training.learningRate'])).toBe('> 0 … 100');
  });

  it('parse from fl-core’s plan view, a change answer, or an older aggregator’s bare plan', () => {
    expect(planResponseSchema.parse({ plan: PLAN, bounds: BOUNDS, operator: 'alice' })).toMatchObject({ operator: 'alice', bounds: { target: { min: 2 } } });
    expect(planResponseSchema.parse(PLAN)).toMatchObject({ plan: PLAN, bounds: {} });
    expect(planResponseSchema.safeParse({ plan: PLAN, bounds: { target: { min: 5, max: 1, integer: true } }, operator: 'alice' }).success).toBe(false);
    expect(planResponseSchema.safeParse({ plan: PLAN, bounds: BOUNDS, operator: 'gate' }).success).toBe(false);
  });
});
