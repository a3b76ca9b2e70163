import type { ProgressEvent } from './params';

type PhaseProgress = Extract<ProgressEvent, { kind: 'phase' }>;

/**
 * The progress line for an aggregator phase. Between rounds the aggregator reports round 0 (no
 * round is open: coordinator.ts `#setPhase`), which printed as "round 0: checkin" and "round 0:
 * idle" as if a round 0 existed; those phases name the round that comes next instead.
 *
 * @param roundsDone rounds that have ended so far in this run
 */
export function phaseLine(event: PhaseProgress, roundsDone: number): string {
  if (event.round === 0) {
    const next = roundsDone + 1;
    switch (event.phase) {
      case 'checkin':
        return `before round ${next}: devices checking in`;
      case 'paused':
        return `paused by the operator (${roundsDone} round${roundsDone === 1 ? '' : 's'} done)`;
      default:
        return `between rounds: round ${next} starts when enough devices check in`;
    }
  }
  return `round ${event.round}: ${event.phase}${event.cohort ? ` (cohort ${event.cohort}, waiting on ${event.pending})` : ''}`;
}
