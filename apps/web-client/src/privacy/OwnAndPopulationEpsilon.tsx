import { type PlanPolicy } from '@murmur/fl-core/participant';
import { deviceEpsilon, type DeviceEpsilon } from '@murmur/fl-core/privacy';
import type { ContributionRecord, ParticipationRecord } from '../storage/schema';
import { countOf } from '../ui/status-text';
import { epsilonStrength, formatEpsilon, STRENGTH_WORDS } from './PrivacyInPlainWords';

/**
 * The two ε a person is shown, side by side, each with the assumption it rests on
 * (docs/privacy.md, "What your device checks, and your own ε"): their own, computed on this
 * device against the aggregator, and the population figure the aggregator publishes.
 */

export interface OwnEpsilon extends DeviceEpsilon {
  /** Rounds logged as contributed before this device kept its own count: not in `epsilon`. */
  uncounted: number;
  /** The c the figure assumes (the build's plan policy). */
  assumedColluders: number;
  /**
   * The largest c a counted round's plan tolerated: that round's figure assumes at most
   * max(assumedColluders, its plan's c) fake or colluding reports (fl-core deviceEpsilon).
   */
  planColluders: number;
}

/** This device's own ε from the rounds it recorded, and how many logged rounds predate the record. */
export function ownEpsilonOf(participations: readonly ParticipationRecord[], contributions: readonly ContributionRecord[], policy: PlanPolicy): OwnEpsilon {
  const counted = new Set(participations.map((p) => p.roundId));
  const uncounted = new Set(contributions.filter((c) => c.status === 'contributed' && !counted.has(c.roundId)).map((c) => c.roundId)).size;
  const planColluders = participations.reduce((most, p) => Math.max(most, p.colluders), 0);
  return {
    ...deviceEpsilon(participations, { assumedColluders: policy.assumedColluders }),
    uncounted,
    assumedColluders: policy.assumedColluders,
    planColluders,
  };
}

export interface OwnAndPopulationEpsilonProps {
  own: OwnEpsilon;
  /** The newest population ε the aggregator reported, or null before any. */
  population: { epsilon: number; delta: number } | null;
}

const rounds = (n: number) => countOf(n, 'round');

function colluders(own: Pick<OwnEpsilon, 'assumedColluders' | 'planColluders'>): string {
  const c = own.assumedColluders;
  // A round's plan may have tolerated more fakes than this device assumes; its figure then assumes the plan's number.
  if (own.planColluders > c) {
    return (
      `at most as many of the other devices in each round are fake or work with the server as that round's plan allowed for ` +
      `(up to ${own.planColluders}${c === 0 ? '' : `, and never fewer than ${c}`})`
    );
  }
  return c === 0
    ? 'the other devices in each round are genuine (not fake devices run by the server, nor working with it)'
    : `at most ${c} of the other devices in each round are fake or work with the server`;
}

function ownWords(own: OwnEpsilon): string {
  const earlier =
    own.uncounted === 0 ? '' : ` ${rounds(own.uncounted)} logged before this device kept its own count ${own.uncounted === 1 ? 'is' : 'are'} not included.`;
  if (own.rounds === 0) return `Your own guarantee: ε = 0, as this device has not trained for any round yet.${earlier}`;
  if (!Number.isFinite(own.epsilon)) {
    return (
      `Your own guarantee: none. In ${own.roundsWithoutNoise} of the ${rounds(own.rounds)} you took part in, the server's plan added no noise this ` +
      `device could rely on (this build accepts training without privacy noise, for demos).${earlier}`
    );
  }
  return (
    `Your own guarantee: ε = ${formatEpsilon(own.epsilon)} after ${rounds(own.rounds)} you took part in (δ = ${own.delta.toExponential(0)}), which is ` +
    `${STRENGTH_WORDS[epsilonStrength(own.epsilon)]}. This device works it out from the noise each round's plan promised, and it holds even if the ` +
    `Murmur server is dishonest, assuming ${colluders(own)} and that secure aggregation works as designed. It counts every round ` +
    `this device trained for, including rounds that ended without a result.${earlier}`
  );
}

function populationWords(population: OwnAndPopulationEpsilonProps['population']): string {
  if (population === null) return 'Across everyone: not reported yet; the server publishes it after the first round that counts.';
  return (
    `Across everyone: ε = ${formatEpsilon(population.epsilon)} (δ = ${population.delta.toExponential(0)}), the server's figure after its latest ` +
    'round. It assumes the server picks devices at random and keeps who was picked secret, so it protects you from people who only see the ' +
    'shared model, not from the server, which knows who took part.'
  );
}

export function OwnAndPopulationEpsilon({ own, population }: OwnAndPopulationEpsilonProps) {
  return (
    <section aria-label="Your ε and everyone's" data-testid="two-epsilons">
      <h3>Your ε and everyone’s</h3>
      <p data-testid="own-epsilon">{ownWords(own)}</p>
      <p data-testid="population-epsilon">{populationWords(population)}</p>
    </section>
  );
}
