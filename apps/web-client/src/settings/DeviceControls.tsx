import { formatMegabytes, usageInWords } from '../scheduler/upload-budget';
import { UPLOAD_BUDGET_CHOICES } from '../storage/schema';
import { eligibilityInWords } from '../ui/status-text';
import { useRuntime } from '../ui/use-runtime';
import './settings.css';

const budgetLabel = (bytes: number | null) => (bytes === null ? 'Unlimited' : `${formatMegabytes(bytes)} MB`);

/**
 * "Data and battery": when this device may help train. Each choice applies at once (the scheduler
 * re-decides on the next tick) and is kept in IndexedDB; the careful defaults (Wi-Fi only, charging
 * only, 50 MB a month) hold until the person changes them.
 */
export function DeviceControlsPanel() {
  const { runtime, state } = useRuntime();
  const { controls, upload, power } = state;
  const budgetBytes = controls.monthlyUploadBudgetBytes;
  return (
    <section aria-label="Data and battery" className="device-controls" data-testid="device-controls">
      <h2>Data and battery</h2>
      <p className="hint">
        When this device may help train, if you have turned training on (on the Privacy page). Suggestions keep working whatever you choose here.
      </p>

      <label className="control">
        <input
          type="checkbox"
          data-testid="only-unmetered"
          checked={controls.onlyUnmetered}
          onChange={(event) => void runtime.setControls({ onlyUnmetered: event.target.checked })}
        />
        <span>Only on Wi-Fi or another unmetered network</span>
      </label>
      <p className="hint" data-testid="network-hint">
        {power.metered === null
          ? 'This browser does not say which kind of network it is on, so this cannot hold training back here; the upload budget below still does.'
          : power.metered
            ? 'Now on a metered network (mobile data or data saver).'
            : 'Now on an unmetered network.'}
      </p>

      <label className="control">
        <input
          type="checkbox"
          data-testid="only-charging"
          checked={controls.onlyWhileCharging}
          onChange={(event) => void runtime.setControls({ onlyWhileCharging: event.target.checked })}
        />
        <span>Only while charging</span>
      </label>
      <p className="hint" data-testid="power-hint">
        {power.charging === null
          ? 'This browser does not say whether it is charging, so this cannot hold training back here.'
          : power.charging
            ? 'Now charging.'
            : 'Now on battery.'}
      </p>

      <fieldset className="budget">
        <legend>Monthly upload budget</legend>
        <div className="choices">
          {UPLOAD_BUDGET_CHOICES.map((choice) => (
            <label key={choice ?? 'unlimited'} className="choice">
              <input
                type="radio"
                name="upload-budget"
                data-testid={`budget-${choice === null ? 'unlimited' : formatMegabytes(choice)}`}
                checked={budgetBytes === choice}
                onChange={() => void runtime.setControls({ monthlyUploadBudgetBytes: choice })}
              />
              <span>{budgetLabel(choice)}</span>
            </label>
          ))}
        </div>
        <p data-testid="upload-used">Used this month: {usageInWords(upload)}</p>
        {budgetBytes !== null && (
          <progress
            className="budget-used"
            max={budgetBytes}
            value={Math.min(upload.usedBytes, budgetBytes)}
            aria-label="Share of this month's upload budget used"
          />
        )}
        <p className="hint" data-testid="round-size">
          {upload.nextRoundBytes > 0
            ? `One training round uploads up to ${formatMegabytes(upload.nextRoundBytes, 'up')} MB with the current model. A round that would go over the budget does not start; the count starts again on the 1st of each month.`
            : 'The size of a training round is known once the model is ready.'}{' '}
          Counted: everything this device sends to take part (its protected model updates and the messages around them). Not counted: downloading the model.
        </p>
      </fieldset>

      <p data-testid="controls-eligibility" data-state={state.eligibility.state}>
        {eligibilityInWords(state.eligibility)}
      </p>
    </section>
  );
}
