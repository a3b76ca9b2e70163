import { test, expect } from '@playwright/test';
import { phaseLine } from '../sim/progress-text';

/** `npm run e2e:sim`'s progress line (no browser needed): between rounds there is no "round 0". */
test('between rounds the progress names the next round, never "round 0"', () => {
  const between = (phase: string) => phaseLine({ kind: 'phase', round: 0, phase, pending: 0, cohort: 0 }, 2);
  expect(between('checkin')).toBe('before round 3: devices checking in');
  expect(between('idle')).toBe('between rounds: round 3 starts when enough devices check in');
  expect(between('paused')).toBe('paused by the operator (2 rounds done)');
  for (const phase of ['checkin', 'idle', 'paused']) expect(between(phase)).not.toMatch(/round 0/);
  expect(phaseLine({ kind: 'phase', round: 3, phase: 'shareKeys', pending: 2, cohort: 5 }, 2)).toBe('round 3: shareKeys (cohort 5, waiting on 2)');
});
