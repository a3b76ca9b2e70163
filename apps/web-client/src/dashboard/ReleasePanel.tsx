import { useEffect, useState, type FormEvent } from 'react';
import type { DashboardApi } from './api';
import { formatNumber, formatPercent, formatTime } from './format';
import { planChanges, type AuditEntry, type GateDecision, type ReleaseActionResponse, type ReleaseView } from './schemas';

/** Decisions and audit entries shown; the rest stay in GET /api/release and the aggregator's logs. */
export const SHOWN_DECISIONS = 6;
export const SHOWN_AUDIT_ENTRIES = 10;

const OUTCOME_LABELS: Record<GateDecision['outcome'], string> = {
  pending: 'waiting for its evaluation',
  released: 'released',
  refused: 'refused',
};

const CHECK_LABELS: Record<GateDecision['checks'][number]['check'], string> = {
  lineage: 'Trained from the training base',
  finite: 'Finite weights',
  updateNorm: 'Update norm ‖candidate − released‖₂',
  evaluation: 'Federated evaluation',
  loss: 'Eval loss rise (nats)',
  top1: 'Top-1 fall',
};

/** A check's measured value (or, `limit`, its configured bound) in its own unit. */
function checkValue(check: GateDecision['checks'][number], value: number | null, limit = false): string {
  if (value === null) return '–';
  if (check.check === 'top1') return formatPercent(value);
  if (check.check === 'finite' || check.check === 'evaluation') return String(value);
  // A configured bound reads as it was written (50, 0.05), a measurement with its decimals.
  return limit ? value.toLocaleString('en', { maximumFractionDigits: 6 }) : formatNumber(value);
}

/** One audit entry in a sentence. */
export function describeAuditEntry(entry: AuditEntry): string {
  switch (entry.action) {
    case 'plan': {
      const changed = planChanges(entry.before, entry.after);
      return `plan revision ${entry.revision}: ${changed.length > 0 ? changed.join(', ') : 'no field changed'}`;
    }
    case 'release':
      return `released v${entry.version} (was v${entry.before.released})`;
    case 'rollback':
      return `rolled back to v${entry.version} (from v${entry.before.released}); training from v${entry.after.trainingBase}`;
    default: {
      const unreachable: never = entry;
      return unreachable;
    }
  }
}

/** The version a rollback offers first: the one released before the current one, if still kept. */
export function previousRelease(view: ReleaseView): number | null {
  const older = view.keptVersions.filter((v) => v < view.released);
  if (older.length === 0) return null;
  for (const entry of view.audit) {
    if (entry.action !== 'plan' && entry.after.released === view.released && older.includes(entry.before.released)) return entry.before.released;
  }
  return older[older.length - 1] ?? null;
}

interface ReleasePanelProps {
  api: DashboardApi;
  release: ReleaseView | null;
  /** The admin token once the Admin panel has unlocked it; null: read-only. */
  adminToken: string | null;
  /** After a release or rollback: refresh what the page shows. */
  onChanged(): void;
}

type Message = { kind: 'ok' | 'error'; text: string } | null;

/**
 * Candidate vs released: the version browsers suggest with, the newest candidate and what the
 * release gate decided about it and why, the recent decisions and the audit log; with the admin
 * token, "Release vN" and "Roll back to vN".
 */
export function ReleasePanel({ api, release, adminToken, onChanged }: ReleasePanelProps) {
  const [rollbackTo, setRollbackTo] = useState<number | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<Message>(null);
  const suggested = release ? previousRelease(release) : null;
  // A new release state resets the choice to the version released before.
  useEffect(() => setRollbackTo(suggested), [suggested]);

  if (!release) {
    return (
      <section className="dash-card" aria-label="Release">
        <h2>Release</h2>
        <p className="dash-muted">Loading the release state…</p>
      </section>
    );
  }
  const { candidate, lastDecision } = release;
  const releasable = candidate !== null && candidate.outcome !== 'released' && candidate.version > release.released ? candidate.version : null;
  const older = release.keptVersions.filter((v) => v < release.released).reverse();

  const act = async (action: () => Promise<{ ok: true; value: ReleaseActionResponse } | { ok: false; error: { message: string } }>) => {
    setBusy(true);
    setMessage(null);
    const result = await action();
    setBusy(false);
    if (result.ok) {
      setMessage({ kind: 'ok', text: result.value.message });
      setNote('');
      onChanged();
    } else setMessage({ kind: 'error', text: result.error.message });
  };
  const trimmed = note.trim();
  const rollback = (event: FormEvent) => {
    event.preventDefault();
    if (adminToken !== null && rollbackTo !== null) void act(() => api.rollBack(adminToken, rollbackTo, trimmed || undefined));
  };

  return (
    <section className="dash-card dash-release" aria-label="Release" data-testid="dash-release">
      <h2>Release</h2>
      <dl className="dash-release-versions">
        <div>
          <dt>Suggestions use</dt>
          <dd>
            <strong data-testid="dash-released-version">v{release.released}</strong> <span className="dash-muted">(released)</span>
          </dd>
        </div>
        <div>
          <dt>Candidate</dt>
          <dd data-testid="dash-candidate" data-outcome={candidate?.outcome ?? 'none'}>
            {candidate ? (
              <>
                <strong>v{candidate.version}</strong>{' '}
                <span className={`dash-outcome dash-outcome-${candidate.outcome}`}>{OUTCOME_LABELS[candidate.outcome]}</span>
              </>
            ) : (
              <span className="dash-muted">none: the newest version is released</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Next round trains from</dt>
          <dd>
            v{release.trainingBase}{' '}
            <span className="dash-muted">(after a refusal: {release.policy === 'candidate' ? 'from the refused candidate' : 'from the released version'})</span>
          </dd>
        </div>
      </dl>
      <p className="dash-muted" data-testid="dash-gate-policy">
        The gate releases a candidate whose weights are finite, whose distance from the released model is at most{' '}
        {release.gate.maxUpdateNorm.toLocaleString('en')}, and
        {release.gate.requireEvaluation
          ? ` whose federated evaluation is no worse than the released model’s: loss at most ${release.gate.lossTolerance} nats higher, top-1 at most ${formatPercent(release.gate.top1Tolerance)} lower.`
          : ' without waiting for its evaluation.'}
      </p>

      {lastDecision ? (
        <div data-testid="dash-gate-decision" data-outcome={lastDecision.outcome}>
          <h3>
            Gate on v{lastDecision.version}: {OUTCOME_LABELS[lastDecision.outcome]}{' '}
            <span className="dash-muted">
              (round {lastDecision.round}, against v{lastDecision.against})
            </span>
          </h3>
          <p data-testid="dash-gate-reason">{lastDecision.reason}</p>
          <div className="dash-checks-scroll">
            {/* reflow (styles.css): on a phone each check is a card of label/value lines. */}
            <table className="dash-checks reflow">
              <thead>
                <tr>
                  <th scope="col">Check</th>
                  <th scope="col">Result</th>
                  <th scope="col">Measured</th>
                  <th scope="col">Limit</th>
                </tr>
              </thead>
              <tbody>
                {lastDecision.checks.map((check) => (
                  <tr key={check.check} className={`dash-check-${check.result}`} data-testid={`dash-check-${check.check}`}>
                    <th scope="row" title={check.message}>
                      {CHECK_LABELS[check.check]}
                    </th>
                    <td data-label="Result">{check.result}</td>
                    <td data-label="Measured">{checkValue(check, check.value)}</td>
                    <td data-label="Limit">{checkValue(check, check.limit, true)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : (
        <p className="dash-muted">No candidate yet: the first committed round makes one.</p>
      )}

      {release.decisions.length > 1 && (
        <>
          <h3>Recent decisions</h3>
          <ul className="dash-decisions" data-testid="dash-decisions">
            {release.decisions.slice(0, SHOWN_DECISIONS).map((d) => (
              <li key={`${d.version}-${d.round}-${d.outcome}`}>
                <strong>v{d.version}</strong> {OUTCOME_LABELS[d.outcome]} <span className="dash-muted">(round {d.round})</span>: {d.reason}
              </li>
            ))}
          </ul>
        </>
      )}

      <h3>
        Audit log <span className="dash-muted">{release.auditTotal.toLocaleString()}</span>
      </h3>
      {release.audit.length === 0 ? (
        <p className="dash-muted">No plan change, release or rollback yet.</p>
      ) : (
        <ol className="dash-audit" data-testid="dash-audit">
          {release.audit.slice(0, SHOWN_AUDIT_ENTRIES).map((entry) => (
            <li key={entry.seq} data-action={entry.action}>
              <span className="dash-muted">{formatTime(entry.at)}</span> <strong>{entry.actor}</strong> {describeAuditEntry(entry)}
              {entry.note && <span className="dash-muted"> — {entry.note}</span>}
            </li>
          ))}
        </ol>
      )}

      {adminToken === null ? (
        <p className="dash-muted">Unlock the Admin panel with the admin token to release a candidate or roll back.</p>
      ) : (
        <form className="dash-release-actions" aria-label="Release actions" onSubmit={rollback}>
          <fieldset disabled={busy}>
            <legend>Operator</legend>
            <label>
              Note for the audit log <input type="text" maxLength={500} value={note} onChange={(e) => setNote(e.target.value)} />
            </label>
            <p>
              {releasable !== null && (
                <button type="button" onClick={() => void act(() => api.releaseVersion(adminToken, releasable, trimmed || undefined))}>
                  Release v{releasable}
                </button>
              )}{' '}
              {older.length > 0 && (
                <>
                  <label>
                    Version{' '}
                    <select value={rollbackTo ?? ''} onChange={(e) => setRollbackTo(Number(e.target.value))}>
                      {older.map((v) => (
                        <option key={v} value={v}>
                          v{v}
                        </option>
                      ))}
                    </select>
                  </label>{' '}
                  <button type="submit" disabled={rollbackTo === null}>
                    Roll back to v{rollbackTo ?? '?'}
                  </button>
                </>
              )}
            </p>
          </fieldset>
          {message && (
            <p role={message.kind === 'error' ? 'alert' : 'status'} className={message.kind === 'error' ? 'dash-error' : undefined}>
              {message.text}
            </p>
          )}
        </form>
      )}
    </section>
  );
}
