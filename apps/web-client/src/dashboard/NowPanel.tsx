import { useEffect, useState } from 'react';
import { PHASE_DEADLINE, SECAGG_PHASES, type Deadlines, type RoundPhase } from '@murmur/fl-core/protocol';
import { Funnel } from './Funnel';
import { formatNumber, formatSeconds } from './format';
import type { PrivacySummary } from './schemas';
import { isSecAggPhase, liveFunnel, newestModelVersion, reportFunnel, type CurrentRound, type DashboardState } from './store';

const PHASE_LABELS: Record<RoundPhase, string> = {
  idle: 'Idle between rounds',
  checkin: 'Check-in',
  advertiseKeys: 'Training and key advertisement',
  shareKeys: 'Key sharing',
  maskedInput: 'Masked input collection',
  consistencyCheck: 'Consistency check',
  unmasking: 'Unmasking',
  aggregate: 'Aggregation',
  commit: 'Commit',
  paused: 'Paused',
};

/** The phases of a round in order, for the stepper. */
const STEPS: readonly RoundPhase[] = ['checkin', ...SECAGG_PHASES, 'aggregate', 'commit'];

/** The local clock, ticking once a second while `active` (a countdown is on screen). */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** Time in the phase and, where the phase has a deadline, time left; on the server's clock. */
function phaseTiming(
  current: CurrentRound,
  deadlines: Deadlines | undefined,
  serverNow: number,
): { elapsedS: number; leftS: number | null; deadlineS: number | null } | null {
  if (current.since === null) return null;
  const since = Date.parse(current.since);
  if (!Number.isFinite(since)) return null;
  const elapsedS = Math.max(0, (serverNow - since) / 1000);
  if (!deadlines || !isSecAggPhase(current.phase)) return { elapsedS, leftS: null, deadlineS: null };
  const deadlineS = deadlines[PHASE_DEADLINE[current.phase]] / 1000;
  return { elapsedS, leftS: Math.max(0, deadlineS - elapsedS), deadlineS };
}

/** Sampling rates at or above this draw most of the devices checked in: nearly no amplification by sampling. */
const SMALL_POPULATION_SAMPLING_RATE = 0.5;
/** Below this σ a small cohort's mean can still learn; at or above it the noise swamps a handful of updates. */
const LEARNABLE_NOISE_MULTIPLIER = 0.5;

/**
 * The population's ε across its tasks (distributed mode, GET /api/privacy): the ε above is this
 * task's, and the budget that opens rounds counts every task training on the same people.
 */
export function populationSpentWords(spent: NonNullable<PrivacySummary['populationSpent']>): string {
  const tasks = spent.tasks === 1 ? '1 task that trains' : `${spent.tasks} tasks that train`;
  const rounds = spent.rounds === 1 ? '1 round' : `${spent.rounds.toLocaleString('en')} rounds`;
  return `The population has spent ε ${formatNumber(spent.epsilon)} over ${rounds} of ${tasks} on it; the budget counts this.`;
}

/**
 * What the ε shown beside it assumes, in words (GET /api/privacy; docs/privacy.md, "Fake clients"):
 * the colluder count c the noise tolerates and the kind of noise. Answers without the fields come
 * from aggregators that had no colluders (c = 0) and say nothing about the noise.
 */
export function epsilonAssumptionWords(privacy: Pick<PrivacySummary, 'colluders' | 'noise'>): string {
  const c = privacy.colluders ?? 0;
  const fakes =
    c === 0
      ? "ε assumes none of a round's reports are fake or colluding (c = 0)"
      : `ε assumes at most ${c} of a round's reports ${c === 1 ? 'is' : 'are'} fake or colluding (c = ${c})`;
  switch (privacy.noise) {
    case 'discrete':
      return `${fakes}; discrete noise: the distributed discrete Gaussian on the encoded integers, its rounding counted in ε.`;
    case 'continuous':
      return `${fakes}; continuous noise: Gaussian, added before encoding.`;
    default:
      return `${fakes}.`;
  }
}

/**
 * Spent against the budget, what is left at the current plan, and whether training is paused for it
 * (GET /api/privacy); and, when rounds draw most of a handful of devices, what that does to ε or to
 * learning. The caveat is derived from the rounds themselves, so the demo (`npm start -- --demo N`)
 * shows it and a real population never does.
 */
function PrivacyBudget({ state }: { state: DashboardState }) {
  const { privacy, status } = state;
  const samplingRate = state.rounds[state.rounds.length - 1]?.privacy.samplingRate;
  const noise = status?.plan.noiseMultiplier;
  const small = samplingRate !== undefined && samplingRate >= SMALL_POPULATION_SAMPLING_RATE && privacy?.mode !== 'off' && noise !== undefined;
  return (
    <>
      {privacy?.budgetExhausted && (
        <p role="status" className="dash-error" data-testid="dash-budget-exhausted">
          <strong>Training paused by the privacy budget:</strong> the next round could take ε to {formatNumber(privacy.epsilonNextRound ?? null)}, past the
          budget of {formatNumber(privacy.epsilonBudget ?? null)}. Raise the budget (POST /api/admin/budget) or the noise (σ) to go on.
        </p>
      )}
      {privacy?.epsilonBudget != null && !privacy.budgetExhausted && privacy.projectedRoundsLeft != null && (
        <p className="dash-muted" data-testid="dash-budget-rounds-left">
          At the current plan the budget allows{' '}
          {privacy.projectedRoundsLeft >= 1_000_000 ? 'more than a million' : `about ${privacy.projectedRoundsLeft.toLocaleString('en')}`} more rounds (each
          charged as if it committed with the fewest reports allowed).
        </p>
      )}
      {small && (
        <p className="dash-muted" data-testid="dash-small-population">
          <strong>Small population:</strong> each round draws {Math.round(samplingRate * 100)}% of the devices checked in, so sampling hides almost nobody’s
          participation.{' '}
          {noise < LEARNABLE_NOISE_MULTIPLIER
            ? `At σ = ${formatNumber(noise, 2)} the model can learn, but the ε shown is weak: a demonstration, not a guarantee.`
            : `At σ = ${formatNumber(noise, 2)} the noise on the mean of so few updates is far larger than the updates, so the model cannot learn.`}{' '}
          A guarantee worth having and a useful model need thousands of devices (the aggregator’s defaults assume 10,000; docs/privacy.md).
        </p>
      )}
    </>
  );
}

export function NowPanel({ state }: { state: DashboardState }) {
  const { current, status } = state;
  const timing = current !== null && current.since !== null;
  const now = useNow(timing);
  if (!current) {
    return (
      <section className="dash-card" aria-label="Now">
        <h2>Now</h2>
        <p className="dash-muted">{state.connection === 'disconnected' ? 'Not connected to the aggregator.' : 'Waiting for the aggregator’s state…'}</p>
      </section>
    );
  }
  const t = phaseTiming(current, status?.deadlines, now - state.clockOffsetMs);
  const countdown = t && t.leftS !== null && t.deadlineS !== null ? { leftS: t.leftS, totalS: t.deadlineS, elapsedS: t.elapsedS } : null;
  const inRound = current.roundId !== '';
  const expected = isSecAggPhase(current.phase) ? (current.expected[current.phase] ?? current.cohort) : null;
  const answered = expected !== null ? Math.max(0, expected - current.pending) : null;
  const lastRound = state.rounds[state.rounds.length - 1];
  return (
    <section className="dash-card" aria-label="Now" data-testid="dash-now">
      <h2>
        Now: <span data-testid="dash-current-round">{inRound ? `round ${current.round}` : status ? `next round ${status.nextRound}` : 'between rounds'}</span>
      </h2>
      <p>
        <strong data-testid="dash-current-phase" data-phase={current.phase}>
          {PHASE_LABELS[current.phase]}
        </strong>
        {t && <span> for {formatSeconds(t.elapsedS)}</span>}
        {countdown && (
          <span data-testid="dash-deadline">
            {' '}
            — deadline in {formatSeconds(countdown.leftS)} (of {formatSeconds(countdown.totalS)})
          </span>
        )}
      </p>
      <ol className="dash-steps" aria-label="Round phases">
        {STEPS.map((step) => (
          <li
            key={step}
            aria-current={step === current.phase ? 'step' : undefined}
            className={STEPS.indexOf(step) < STEPS.indexOf(current.phase) ? 'done' : undefined}
          >
            {PHASE_LABELS[step]}
          </li>
        ))}
      </ol>
      {answered !== null && expected !== null && expected > 0 && (
        <p>
          <progress max={expected} value={answered} aria-label="Phase progress" />{' '}
          <span data-testid="dash-phase-progress">
            {answered} of {expected} answered
          </span>
          , {current.pending} pending
        </p>
      )}
      {countdown && (
        <p>
          <progress max={countdown.totalS} value={Math.min(countdown.totalS, countdown.elapsedS)} aria-label="Time to the phase deadline" />
        </p>
      )}
      {status && (
        <p className="dash-muted">
          <span data-testid="dash-connected-clients">{status.connectedClients}</span> clients connected,{' '}
          <span data-testid="dash-waiting-clients">{status.waitingClients}</span> checked in and waiting; newest model v
          <span data-testid="dash-model-version">{newestModelVersion(state)}</span>
          {status.release && (
            <>
              , suggestions use v<span data-testid="dash-now-released">{status.release.released}</span>
            </>
          )}
          ; ε spent <span data-testid="dash-epsilon">{formatNumber(status.privacy.epsilon)}</span>
          {state.privacy?.epsilonBudget != null && ` of ${formatNumber(state.privacy.epsilonBudget)}`} at δ = {status.privacy.delta.toExponential(0)}
          {status.paused && ' — rounds are paused'}
        </p>
      )}
      {state.privacy?.populationSpent && (
        <p className="dash-muted" data-testid="dash-population-epsilon">
          {populationSpentWords(state.privacy.populationSpent)}
        </p>
      )}
      {state.privacy && state.privacy.mode !== 'off' && (
        <p className="dash-muted" data-testid="dash-epsilon-assumes">
          {epsilonAssumptionWords(state.privacy)}
        </p>
      )}
      <PrivacyBudget state={state} />
      {inRound ? (
        <>
          <h3>Cohort (live)</h3>
          <Funnel stages={liveFunnel(current)} />
        </>
      ) : (
        lastRound && (
          <>
            <h3>
              Last round {lastRound.round} ({lastRound.status})
            </h3>
            {lastRound.privacy.mode === 'off' ? (
              <Funnel stages={reportFunnel(lastRound)} />
            ) : (
              <p className="dash-muted">Its counts are withheld: a private round releases only the model and its ε.</p>
            )}
          </>
        )
      )}
    </section>
  );
}
