import { useEffect, useState, type FormEvent } from 'react';
import type { DashboardApi, PlanChanges } from './api';
import { numericPlanPaths, planValue, type LivePlan, type PlanBound, type PlanResponse } from './schemas';

/**
 * sessionStorage, not localStorage: the admin token lasts as long as the tab, is not shared with
 * other tabs and is gone when the browser closes; it is only ever sent as a Bearer header.
 */
export const ADMIN_TOKEN_KEY = 'murmur.dashboard.adminToken';

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(ADMIN_TOKEN_KEY);
  } catch {
    // Storage disabled (privacy settings): the token lives only in memory.
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(ADMIN_TOKEN_KEY);
    else sessionStorage.setItem(ADMIN_TOKEN_KEY, token);
  } catch {
    // See storedToken.
  }
}

/** Why a value is refused by a bound, or null. */
export function boundViolation(value: number, bound: PlanBound | undefined): string | null {
  if (!Number.isFinite(value)) return 'expected a number';
  if (!bound) return null;
  if (bound.integer && !Number.isInteger(value)) return `expected an integer, got ${value}`;
  if (value < bound.min || value > bound.max || (bound.minExclusive && value === bound.min)) return `expected ${describeBound(bound)}, got ${value}`;
  return null;
}

/** '2 … 100000', or '> 0 … 100' when the minimum itself is refused. */
export function describeBound(bound: PlanBound): string {
  return `${bound.minExclusive ? '> ' : ''}${bound.min} … ${bound.max}`;
}

interface AdminPanelProps {
  api: DashboardApi;
  paused: boolean | null;
  /** After a change: refresh what the page shows (status, plan, audit log). */
  onChanged(): void;
  /** The token once the aggregator accepted it, null once forgotten: the Release panel acts with it. */
  onToken?(token: string | null): void;
}

type Message = { kind: 'ok' | 'error'; text: string } | null;

/** What the editor shows: the live plan, the bounds of its fields, and whose token is in use (null: not said). */
interface EditorPlan {
  plan: LivePlan;
  bounds: Record<string, PlanBound>;
  operator: string | null;
}

/** An answer of GET or POST /api/admin/plan as the editor keeps it; an answer without bounds or operator keeps the previous ones. */
function editorPlan(answer: PlanResponse, previous: EditorPlan | null): EditorPlan {
  return {
    plan: answer.plan,
    bounds: Object.keys(answer.bounds).length > 0 ? answer.bounds : (previous?.bounds ?? {}),
    operator: answer.operator ?? previous?.operator ?? null,
  };
}

/** Pause/resume and plan changes, shown only once the aggregator has accepted the admin token. */
export function AdminPanel({ api, paused, onChanged, onToken }: AdminPanelProps) {
  const [token, setToken] = useState<string | null>(storedToken);
  const [draft, setDraft] = useState('');
  const [plan, setPlan] = useState<EditorPlan | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (token === null) return;
    const abort = new AbortController();
    void api.adminPlan(token, abort.signal).then((result) => {
      if (abort.signal.aborted) return;
      if (result.ok) {
        storeToken(token);
        setPlan(editorPlan(result.value, null));
        onToken?.(token);
        return;
      }
      // A wrong or rotated token is forgotten rather than sent again; after any other failure
      // (the aggregator unreachable) a stored token stays for the next visit.
      if (result.error.code === 'UNAUTHORIZED') storeToken(null);
      setToken(null);
      onToken?.(null);
      setMessage({ kind: 'error', text: result.error.message });
    });
    return () => abort.abort();
  }, [api, token, onToken]);

  if (token === null || plan === null) {
    const unlock = (event: FormEvent) => {
      event.preventDefault();
      const value = draft.trim();
      if (value === '') return;
      setMessage(null);
      setToken(value);
      setDraft('');
    };
    return (
      <form className="dash-card dash-admin" aria-label="Admin" onSubmit={unlock}>
        <h2>Admin</h2>
        <p className="dash-muted">Everything above is read-only. With the aggregator’s admin token you can pause rounds and change the plan.</p>
        <label>
          Admin token <input type="password" autoComplete="off" value={draft} onChange={(e) => setDraft(e.target.value)} disabled={token !== null} />
        </label>{' '}
        <button type="submit" disabled={token !== null || draft.trim() === ''}>
          {token !== null ? 'Checking…' : 'Unlock'}
        </button>
        {message && (
          <p role="alert" className="dash-error">
            {message.text}
          </p>
        )}
      </form>
    );
  }

  const forget = () => {
    storeToken(null);
    setToken(null);
    setPlan(null);
    onToken?.(null);
  };
  const run = async <T,>(
    action: () => Promise<{ ok: true; value: T } | { ok: false; error: { message: string; code: string } }>,
    done: string | ((value: T) => string),
  ) => {
    setBusy(true);
    setMessage(null);
    const result = await action();
    setBusy(false);
    if (result.ok) {
      setMessage({ kind: 'ok', text: typeof done === 'string' ? done : done(result.value) });
      onChanged();
    } else {
      if (result.error.code === 'UNAUTHORIZED') forget();
      setMessage({ kind: 'error', text: result.error.message });
    }
  };

  return (
    <section className="dash-card dash-admin" aria-label="Admin">
      <header className="dash-row">
        <h2>Admin</h2>
        {plan.operator && (
          <span className="dash-muted" data-testid="dash-operator">
            acting as <strong>{plan.operator}</strong> (the audit log records this name)
          </span>
        )}
        <button type="button" onClick={forget}>
          Forget token
        </button>
      </header>
      <p>
        <button
          type="button"
          disabled={busy || paused === true}
          onClick={() => void run(() => api.pause(token), 'Paused: no new round starts; the running one finishes.')}
        >
          Pause rounds
        </button>{' '}
        <button type="button" disabled={busy || paused === false} onClick={() => void run(() => api.resume(token), 'Resumed.')}>
          Resume rounds
        </button>
      </p>
      <PlanForm
        plan={plan}
        busy={busy}
        onSubmit={(changes) =>
          void run(
            async () => {
              const result = await api.setPlan(token, changes);
              // An answer without bounds (an older aggregator) keeps the ones the form had.
              if (result.ok) setPlan((previous) => editorPlan(result.value, previous));
              return result;
            },
            // The aggregator says where it saved the change; an older one does not, and did not save it.
            (answer) => answer.message ?? 'Plan changed: it applies from the next round (not saved: lost if the aggregator restarts).',
          )
        }
      />
      {message && (
        <p role={message.kind === 'error' ? 'alert' : 'status'} className={message.kind === 'error' ? 'dash-error' : undefined}>
          {message.text}
        </p>
      )}
    </section>
  );
}

function PlanForm({ plan, busy, onSubmit }: { plan: EditorPlan; busy: boolean; onSubmit(changes: PlanChanges): void }) {
  const paths = numericPlanPaths(plan.plan);
  const [values, setValues] = useState<Record<string, string>>({});
  // A plan from the server (after a change) resets the edits. Reset while rendering, not in an
  // effect: a passive effect may run after the first keystroke and wipe it.
  const [valuesFor, setValuesFor] = useState(plan);
  if (valuesFor !== plan) {
    setValuesFor(plan);
    setValues({});
  }
  const errors: Record<string, string> = {};
  const changes: PlanChanges = {};
  for (const path of paths) {
    const raw = values[path];
    if (raw === undefined || raw === String(planValue(plan.plan, path))) continue;
    const value = Number(raw);
    const problem = raw.trim() === '' ? 'expected a number' : boundViolation(value, plan.bounds[path]);
    if (problem) errors[path] = problem;
    else changes[path] = value;
  }
  const canSubmit = !busy && Object.keys(errors).length === 0 && Object.keys(changes).length > 0;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        if (canSubmit) onSubmit(changes);
      }}
    >
      <fieldset disabled={busy}>
        <legend>Plan for the next rounds</legend>
        <div className="dash-plan">
          {paths.map((path) => {
            const bound = plan.bounds[path];
            const current = String(planValue(plan.plan, path));
            return (
              <label key={path}>
                <span>{path}</span>
                <input
                  type="number"
                  name={path}
                  value={values[path] ?? current}
                  step={bound?.integer ? 1 : 'any'}
                  {...(bound ? { min: bound.min, max: bound.max } : {})}
                  aria-invalid={errors[path] ? true : undefined}
                  onChange={(e) => setValues((v) => ({ ...v, [path]: e.target.value }))}
                />
                {bound && (
                  <small className="dash-muted" data-testid="dash-plan-bound">
                    {describeBound(bound)}
                  </small>
                )}
                {errors[path] && <small className="dash-error">{errors[path]}</small>}
              </label>
            );
          })}
        </div>
        {Object.keys(plan.bounds).length === 0 && (
          <p className="dash-muted">The aggregator checks every value against its bounds and says why it refuses one.</p>
        )}
        <button type="submit" disabled={!canSubmit}>
          Apply {Object.keys(changes).length > 0 ? `${Object.keys(changes).length} change${Object.keys(changes).length === 1 ? '' : 's'}` : ''}
        </button>
      </fieldset>
    </form>
  );
}
