import { useMemo, useState } from 'react';
import { formatMegabytes } from '../scheduler/upload-budget';
import { countOf, eligibilityInWords } from '../ui/status-text';
import { useRuntime } from '../ui/use-runtime';
import { PrivacyInPlainWords } from './PrivacyInPlainWords';
import { OwnAndPopulationEpsilon, ownEpsilonOf } from './OwnAndPopulationEpsilon';
import { PLAN_POLICY } from './plan-policy';

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
const when = (ms: number) => new Date(ms).toLocaleString();

export function PrivacyPage() {
  const { runtime, state } = useRuntime();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const storage = state.storage;
  // The newest round that reported ε (the log is newest first).
  const latestPrivacy = state.contributions.find((c) => c.epsilon !== null && c.delta !== null);
  const { epsilon = null, delta = null } = latestPrivacy ?? {};
  const population = epsilon !== null && delta !== null ? { epsilon, delta } : null;
  // The page re-renders on every runtime change; the RDP sum changes only with the records.
  const own = useMemo(() => ownEpsilonOf(state.participations, state.contributions, PLAN_POLICY), [state.participations, state.contributions]);

  const exportData = async () => {
    const bundle = await runtime.exportData();
    const url = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `murmur-export-${new Date().toISOString().slice(0, 10)}.json`;
    link.click();
    URL.revokeObjectURL(url);
  };

  const deleteAll = async () => {
    setBusy(true);
    try {
      await runtime.deleteEverything();
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  if (state.phase === 'deleted') {
    return (
      <section aria-label="Privacy" data-testid="deleted">
        <h2>Everything is deleted</h2>
        <p>
          Your notes, the examples derived from them, the cached model, your settings, the contribution log and the rounds counted for your own ε are gone from
          this browser. Reload to start afresh.
        </p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </section>
    );
  }

  return (
    <section aria-label="Privacy" className="privacy">
      <h2>Your data stays on this device</h2>
      <p>
        Murmur learns next-word suggestions from what you write without sending your text anywhere. With your consent, this browser trains the shared model on
        your notes and sends only a clipped, noised update, masked so that the aggregator can only ever see the sum over many people.
      </p>
      <h3>Help improve suggestions</h3>
      <label className="switch">
        <input type="checkbox" data-testid="consent" checked={state.settings.consent} onChange={(event) => void runtime.setConsent(event.target.checked)} />
        Train on this device and contribute updates
      </label>
      <p className="hint" data-testid="consent-hint">
        {state.settings.consent ? 'On. Training runs only while you are not using the app; turn it off at any time and it stops.' : 'Off until you turn it on.'}{' '}
        {state.settings.consentChangedAt !== null && `Last changed ${when(state.settings.consentChangedAt)}.`}
      </p>
      <p data-testid="eligibility-detail" data-state={state.eligibility.state}>
        {eligibilityInWords(state.eligibility)}
      </p>
      <OwnAndPopulationEpsilon own={own} population={population} />
      <PrivacyInPlainWords epsilon={epsilon} delta={delta} audience="person" />
      <h3>What is stored here</h3>
      {storage ? (
        <ul data-testid="storage-summary">
          <li>
            {countOf(storage.texts, 'note')} ({countOf(storage.characters, 'character')}){storage.demoTexts > 0 && `, of which ${storage.demoTexts} demo`}
          </li>
          <li>{storage.examples.toLocaleString()} training examples derived from them</li>
          <li>{storage.models.length === 0 ? 'no cached model' : storage.models.map((m) => `global model v${m.version} (${kb(m.bytes)})`).join(', ')}</li>
          <li>{countOf(storage.contributions, 'contribution log entry', 'contribution log entries')}</li>
          <li data-testid="storage-participations">
            {countOf(storage.participations, 'round')} recorded for your own ε (how much noise each round promised, nothing you wrote)
          </li>
          <li>
            {storage.calibrations} backend calibration{storage.calibrations === 1 ? '' : 's'}, and your consent setting
          </li>
          <li data-testid="storage-controls">
            your data and battery choices, and how much this device uploaded for training this month ({formatMegabytes(state.upload.usedBytes, 'up')} MB; a
            count of bytes, not what they contained)
          </li>
          {storage.identity && (
            <li data-testid="storage-identity">
              a signing key this browser made for itself (no one can read it, not even this app) and the certificate “{storage.identity.issuer}” issued for it:
              it proves this browser enrolled, not who you are
            </li>
          )}
        </ul>
      ) : (
        <p>Reading local storage…</p>
      )}
      <h3>How this device trains</h3>
      {state.calibration ? (
        <div data-testid="backend-detail">
          <p>
            TensorFlow.js backend: <strong>{state.calibration.backend}</strong>
            {state.calibration.fromCache ? ` (chosen ${when(state.calibration.measuredAt)}, cached)` : ''}: {state.calibration.reason}.
          </p>
          <p className="hint">
            WebGPU adapter: {state.webgpuAdapter ?? 'none'}; cross-origin isolated: {state.crossOriginIsolated ? 'yes' : 'no'}.
          </p>
        </div>
      ) : (
        <p>Measuring which backend trains fastest here…</p>
      )}
      <h3>Contribution log</h3>
      {state.contributions.length === 0 ? (
        <p data-testid="no-contributions">No contributions yet.</p>
      ) : (
        <table data-testid="contribution-log" className="reflow">
          <thead>
            <tr>
              <th>when</th>
              <th>round</th>
              <th>status</th>
              <th>sent</th>
              <th>ε for everyone</th>
              <th>backend</th>
              <th>duration</th>
            </tr>
          </thead>
          <tbody>
            {state.contributions.map((c) => (
              <tr key={c.id ?? `${c.roundId}-${c.at}`} data-testid="contribution-row">
                <td data-label="when">{when(c.at)}</td>
                <td data-label="round">{c.roundId}</td>
                <td data-label="status">
                  {c.status}
                  {c.reason ? `: ${c.reason}` : ''}
                </td>
                <td data-label="sent">{kb(c.bytesSent)}</td>
                <td data-label="ε for everyone">{c.epsilon === null ? '—' : c.epsilon.toFixed(2)}</td>
                <td data-label="backend" data-testid="contribution-backend">
                  {c.backend}
                </td>
                <td data-label="duration">{(c.durationMs / 1000).toFixed(1)} s</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {state.contributions.some((c) => c.epsilon !== null) && (
        <p className="hint">
          ε in the log is the server’s figure for everyone taking part after that round, which assumes the server samples honestly; your own guarantee, which
          holds against the server, is above.
        </p>
      )}
      <h3>Export or delete</h3>
      <button type="button" data-testid="export" onClick={() => void exportData()}>
        Export my data (JSON)
      </button>{' '}
      {confirming ? (
        <span>
          Delete everything Murmur stored in this browser?{' '}
          <button type="button" data-testid="confirm-delete" disabled={busy} onClick={() => void deleteAll()}>
            Yes, delete
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" data-testid="delete-all" onClick={() => setConfirming(true)}>
          Delete all my data
        </button>
      )}
    </section>
  );
}
