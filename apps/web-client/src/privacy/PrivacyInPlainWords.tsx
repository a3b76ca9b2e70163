/**
 * What ε and δ mean, for people who are not privacy researchers. Every sentence here restates
 * docs/privacy.md and docs/aggregator.md ("Known limits"); nothing is promised that those do not
 * show. In particular the ε the aggregator reports is one figure for the whole population (a
 * client that is always eligible, selected by the server's coin flips), not this device's own, and
 * the ε budget stops training: no round opens that would take ε past it.
 */

/** Rough reading of an ε, used to say plainly when the number protects next to nothing. */
export type EpsilonStrength = 'strong' | 'moderate' | 'weak';

/**
 * ε ≤ 1 is the range the differential-privacy literature calls strong; single digits are what
 * deployed systems commonly aim for; beyond 10 the bound e^ε on how much one person can change any
 * outcome is over 22,000× and says practically nothing.
 */
export function epsilonStrength(epsilon: number): EpsilonStrength {
  if (!Number.isFinite(epsilon) || epsilon < 0) throw new Error(`epsilonStrength: expected a finite ε ≥ 0, got ${epsilon}`);
  if (epsilon <= 1) return 'strong';
  if (epsilon <= 10) return 'moderate';
  return 'weak';
}

export const STRENGTH_WORDS: Record<EpsilonStrength, string> = {
  strong: 'a strong guarantee',
  moderate: 'a moderate guarantee',
  weak: 'practically no guarantee: at this size the bound allows your taking part to change outcomes by a huge factor',
};

export interface PrivacyInPlainWordsProps {
  /** The latest ε the aggregator reported, or null when none is known yet. */
  epsilon: number | null;
  delta: number | null;
  /** The operator's ε budget; null when none is configured, undefined when this page does not know. */
  epsilonBudget?: number | null;
  /** The server's privacy mode when known: with `off` no noise is added and there is no ε at all. */
  mode?: string;
  /** `person`: the Privacy page ("you"); `operator`: the dashboard ("each participant"). */
  audience: 'person' | 'operator';
}

export const formatEpsilon = (epsilon: number) => (epsilon < 10 ? epsilon.toFixed(2) : Math.round(epsilon).toLocaleString());

export function PrivacyInPlainWords({ epsilon, delta, epsilonBudget, mode, audience }: PrivacyInPlainWordsProps) {
  const you = audience === 'person' ? 'you' : 'a participant';
  const your = audience === 'person' ? 'your' : 'a participant’s';
  return (
    <section className="plain-privacy" aria-label="Privacy in plain words" data-testid="privacy-plain-words">
      <h3>What ε (epsilon) and δ (delta) mean</h3>
      <p>
        Before the shared model learns from many devices at once, random noise is added, so that the model cannot depend much on any one person.{' '}
        <strong>ε</strong> measures how much it still can: anything the shared model does becomes at most e<sup>ε</sup> times more (or less) likely because{' '}
        {you} took part. Smaller is stronger. Around 1 or below is considered strong; above about 10 the promise is weak; hundreds or thousands promise
        practically nothing. <strong>δ</strong> is the small chance that even this bound fails; it should be far below one divided by the number of people
        taking part.
      </p>
      <p data-testid="privacy-current-epsilon">
        {mode === 'off' ? (
          'This server adds no privacy noise (privacy mode off): there is no ε guarantee at all, only secure aggregation. '
        ) : epsilon === null || delta === null ? (
          'No ε has been reported yet: it appears after the first training round that counts.'
        ) : (
          <>
            Shown now: <strong>ε = {formatEpsilon(epsilon)}</strong> at δ = {delta.toExponential(0)}, which is {STRENGTH_WORDS[epsilonStrength(epsilon)]}.{' '}
            {epsilonStrength(epsilon) === 'weak' &&
              'Small test setups give numbers like this; a meaningful ε needs thousands of devices in every round and more noise. '}
          </>
        )}
        This is <strong>one figure for everyone taking part</strong>, worked out by the server for a device that is available in every round; it is not
        calculated for {audience === 'person' ? 'this device' : 'each device'} separately, and it only grows as rounds go by.
      </p>
      <h4>What it protects against</h4>
      <ul>
        <li>
          Someone who only sees the released model (anyone using the suggestions, or anyone who obtains a copy) learning whether {your} notes were used, or what
          they said.
        </li>
        <li>
          {audience === 'person' ? 'Your text never leaves this device.' : 'A participant’s text never leaves their device.'} With secure aggregation (the
          server’s default) the server does not see {your} update on its own either, only the sum of many devices’ masked updates. That is separate from ε and
          holds whatever ε is.
        </li>
      </ul>
      <h4>What it does not cover</h4>
      <ul>
        <li>
          The Murmur server knows which devices took part in a round. Against the server the protection is weaker than the ε shown, because that number counts
          on the server picking devices at random without anyone knowing who was picked.
          {audience === 'person' && ' Your own ε, worked out on this device, is the one that holds against the server.'}
        </li>
        <li>
          Devices join only while idle (and, where the browser can tell, charging and on Wi-Fi), so who takes part is not purely random: the ε shown is what the
          guarantee would be with random selection, not a proof.
        </li>
        <li>
          The evaluation figures (how well the model predicts on each device) and the exact number of devices in a round are summed securely but get no noise: ε
          does not cover them, so the server keeps them to itself and does not publish them.
        </li>
      </ul>
      <h4>The budget</h4>
      <p data-testid="privacy-budget">
        {epsilonBudget === undefined
          ? 'The server’s operator may set an ε budget (the Dashboard shows it).'
          : epsilonBudget === null
            ? 'No ε budget is set on this server, so nothing limits how far ε grows.'
            : `This server’s ε budget is ${formatEpsilon(epsilonBudget)}${epsilon !== null ? ` (${Math.min(100, Math.round((epsilon / epsilonBudget) * 100))}% used)` : ''}.`}{' '}
        A budget is <strong>enforced</strong>: no round starts that would take ε past it, so training pauses until the operator raises it.{' '}
        {audience === 'person'
          ? 'You can stop at any time by turning training off above; ε already spent does not go back down.'
          : 'Raising the budget (Admin) is the way to go on; ε already spent does not go back down.'}
      </p>
    </section>
  );
}
