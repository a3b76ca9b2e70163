import { describe, expect, it } from 'vitest';
import { ModelFetchError } from '../model-client';
import { decideEligibility, DEFAULT_POLICY, type DeviceConditions } from '../scheduler/eligibility';
import { DEFAULT_DEVICE_CONTROLS, MEGABYTE } from '../storage/schema';
import { countOf, eligibilityInWords, networkNotice, statusHeadline, type ParticipationView } from './status-text';

const good: DeviceConditions = {
  consent: true,
  examples: 100,
  idleForMs: Infinity,
  charging: true,
  metered: false,
  online: true,
  ready: true,
  upload: { usedBytes: 0, nextRoundBytes: 700_000 },
};
const eligible = decideEligibility(good);
const off = decideEligibility({ ...good, consent: false });
const typing = decideEligibility({ ...good, idleForMs: 1_000 });

/** Words of the scheduler and the protocol that people should not have to read. */
const DEVELOPER_WORDS = /awaiting|unmask|checkin|checked in|aggregator|connected: connected|Privacy page|you are typing|: (connected|waiting|idle)$/i;

describe('countOf', () => {
  it('puts the noun in the right number', () => {
    expect(countOf(1, 'note')).toBe('1 note');
    expect(countOf(0, 'note')).toBe('0 notes');
    expect(countOf(2, 'note')).toBe('2 notes');
    expect(countOf(1_234, 'character')).toBe('1,234 characters');
    expect(countOf(1, 'contribution log entry', 'contribution log entries')).toBe('1 contribution log entry');
    expect(countOf(3, 'contribution log entry', 'contribution log entries')).toBe('3 contribution log entries');
  });
});

describe('eligibility in words', () => {
  it.each([
    [{ consent: false }],
    [{ ready: false }],
    [{ online: false }],
    [{ examples: 3 }],
    [{ idleForMs: 1_000 }],
    [{ charging: false }],
    [{ metered: true }],
    [{ upload: { usedBytes: 50 * MEGABYTE, nextRoundBytes: 1 } }],
    [{ upload: { usedBytes: 49 * MEGABYTE, nextRoundBytes: 2 * MEGABYTE } }],
    [{}],
  ] as const)('says %o without the scheduler vocabulary', (change) => {
    const words = eligibilityInWords(decideEligibility({ ...good, ...change }, DEFAULT_POLICY));
    expect(words).not.toMatch(DEVELOPER_WORDS);
    expect(words).not.toMatch(/^(off|waiting|eligible):/);
  });

  it('does not claim typing when the idle clock only saw a tap', () => {
    expect(eligibilityInWords(typing)).toBe('Waiting for a quiet moment: training starts after a while without typing or tapping');
  });

  it('says how much of the upload budget is used, and that training resumes next month', () => {
    const spent = decideEligibility({ ...good, upload: { usedBytes: 48_600_000, nextRoundBytes: 5_100_000 } }, DEFAULT_POLICY, DEFAULT_DEVICE_CONTROLS);
    expect(eligibilityInWords(spent)).toBe(
      "Waiting for next month: a round uploads up to 5.1 MB, more than is left of this month's upload budget (48 of 50 MB used)",
    );
    const full = decideEligibility({ ...good, upload: { usedBytes: 50 * MEGABYTE, nextRoundBytes: 1 } });
    expect(eligibilityInWords(full)).toBe("Waiting for next month: this month's upload budget is used (50 of 50 MB)");
  });

  it('does not send the person to the page they are on', () => {
    expect(eligibilityInWords(off)).not.toMatch(/Privacy/);
  });
});

describe('the status headline', () => {
  const view = (change: Partial<ParticipationView>): ParticipationView => ({ connection: 'connected', activity: null, roundId: null, ...change });

  it('never repeats the connection state ("connected: connected")', () => {
    expect(statusHeadline(view({ activity: 'Connected to the Murmur server' }), eligible)).toBe('Connected to the Murmur server');
  });

  it('lets a round in progress speak first, in words', () => {
    expect(statusHeadline(view({ activity: 'Combining your protected update with other people’s', roundId: 'r1' }), typing)).toBe(
      'Combining your protected update with other people’s',
    );
  });

  it('shows the training steps while the device trains, and the round’s activity once it has trained', () => {
    const training = view({ activity: 'Training on this device…', roundId: 'r1' });
    expect(statusHeadline(training, typing, { step: 12, steps: 40 })).toBe('Training on this device: step 12 of 40');
    expect(statusHeadline(training, typing, null)).toBe('Training on this device…');
    // A progress report that outlived its round (roundId cleared) is not shown.
    expect(statusHeadline(view({ activity: 'Round finished: thank you for helping' }), eligible, { step: 40, steps: 40 })).toBe(
      'Round finished: thank you for helping',
    );
  });

  it('says why the device waits when no round runs', () => {
    expect(statusHeadline(view({ activity: 'Connected to the Murmur server' }), typing)).toBe(eligibilityInWords(typing));
    expect(statusHeadline(view({ connection: 'off' }), off)).toBe(eligibilityInWords(off));
  });

  it('says when the server cannot be reached', () => {
    expect(statusHeadline(view({ connection: 'disconnected', activity: 'x' }), eligible)).toMatch(/Not connected .* reconnecting/);
    expect(statusHeadline(view({ connection: 'connecting' }), eligible)).toBe('Connecting to the Murmur server…');
  });
});

describe('network notices', () => {
  it('turns "Failed to fetch" into a calm offline message and keeps the raw error as detail', () => {
    const notice = networkNotice('model update', new TypeError('Failed to fetch'), true);
    expect(notice.kind).toBe('offline');
    expect(notice.text).not.toMatch(/Failed to fetch/);
    expect(notice.text).toMatch(/offline.*Suggestions keep working/);
    expect(notice.detail).toBe('model update: Failed to fetch');
  });

  it("recognizes the model download's own network error (a coded wrapper around the TypeError)", () => {
    const notice = networkNotice('model update', new ModelFetchError('NETWORK_ERROR', 'GET /api/model/released failed: Failed to fetch'), true);
    expect(notice.kind).toBe('offline');
    expect(notice.detail).toBe('model update: GET /api/model/released failed: Failed to fetch');
    expect(networkNotice('model update', new ModelFetchError('HTTP_ERROR', 'GET /api/model/released answered 500'), true).kind).toBe('problem');
  });

  it('counts any error as offline when the browser says it is offline', () => {
    expect(networkNotice('model update', new Error('aborted'), false).kind).toBe('offline');
  });

  it('says there is no saved model when the very first download fails', () => {
    expect(networkNotice('start', new TypeError('Failed to fetch'), false).text).toMatch(/no saved suggestion model yet/);
  });

  it('keeps a server-side problem a problem, with its message', () => {
    const notice = networkNotice('model update', new Error('model update: invalid model spec'), true);
    expect(notice.kind).toBe('problem');
    expect(notice.text).toContain('invalid model spec');
  });
});
