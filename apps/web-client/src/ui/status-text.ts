import type { Eligibility } from '../scheduler/eligibility';
import { formatMegabytes, usageInWords } from '../scheduler/upload-budget';

/**
 * What the person reads about participation, in their words. The developer detail (stage names,
 * error codes, connection states) stays in the runtime state and behind the status bar's
 * "details" disclosure; these functions only choose the sentence shown first.
 */

/** The slice of the runtime's participation state the headline needs. */
export interface ParticipationView {
  connection: 'off' | 'connecting' | 'connected' | 'disconnected';
  /** The latest event in plain words, or null. */
  activity: string | null;
  roundId: string | null;
}

/** "1 note", "2 notes", "0 notes": a count with its noun in the right number. */
export function countOf(count: number, singular: string, plural = `${singular}s`): string {
  return `${count.toLocaleString()} ${count === 1 ? singular : plural}`;
}

/** Why this device is (not) training now, said without the scheduler's vocabulary. */
export function eligibilityInWords(eligibility: Eligibility): string {
  switch (eligibility.state) {
    case 'off':
      return 'Not helping train: it stays off until you turn it on';
    case 'eligible':
      return 'Ready to help when the next training round starts';
    case 'waiting':
      switch (eligibility.blocker) {
        case 'not-ready':
          return 'Getting the suggestion model ready on this device';
        case 'offline':
          return 'Offline: training waits until you are back online';
        case 'examples':
          return 'Waiting for more of your writing before it can help train';
        case 'budget': {
          const { upload } = eligibility;
          return upload.usedBytes >= upload.budgetBytes
            ? `Waiting for next month: this month's upload budget is used (${usageInWords(upload)})`
            : `Waiting for next month: a round uploads up to ${formatMegabytes(upload.nextRoundBytes, 'up')} MB, more than is left of this month's upload budget (${usageInWords(upload)} used)`;
        }
        // The idle clock counts taps as well as keys (scheduler/environment.ts): "typing" was wrong
        // right after a page load, when the only input had been a tap on a link.
        case 'typing':
          return 'Waiting for a quiet moment: training starts after a while without typing or tapping';
        case 'battery':
          return 'Waiting for a charger: you chose to help train only while charging';
        case 'metered':
          return 'Waiting for Wi-Fi: you chose not to use a metered connection for training';
        default: {
          const unknown: never = eligibility;
          throw new Error(`eligibilityInWords: unknown blocker ${JSON.stringify(unknown)}`);
        }
      }
    default: {
      const unknown: never = eligibility;
      throw new Error(`eligibilityInWords: unknown eligibility ${JSON.stringify(unknown)}`);
    }
  }
}

/** Local training steps (batches) done in the current round, as the worker reports them. */
export interface TrainingProgress {
  step: number;
  steps: number;
}

/** "Training on this device: step 12 of 40". */
export function trainingInWords(progress: TrainingProgress): string {
  return `Training on this device: step ${progress.step.toLocaleString()} of ${progress.steps.toLocaleString()}`;
}

/**
 * The status bar's one line: a round in progress speaks first (with its training steps while it
 * trains), then the connection when it is not up, then why the device waits, then the latest event.
 */
export function statusHeadline(participation: ParticipationView, eligibility: Eligibility, training: TrainingProgress | null = null): string {
  if (participation.connection === 'off') return eligibilityInWords(eligibility);
  if (participation.roundId !== null && training !== null) return trainingInWords(training);
  if (participation.roundId !== null && participation.activity !== null) return participation.activity;
  if (participation.connection === 'connecting') return 'Connecting to the Murmur server…';
  if (participation.connection === 'disconnected') return 'Not connected to the Murmur server: reconnecting by itself';
  if (eligibility.state !== 'eligible') return eligibilityInWords(eligibility);
  return participation.activity ?? eligibilityInWords(eligibility);
}

/** A problem to show in the banner: what the person should know, and the raw detail for "details". */
export interface Notice {
  text: string;
  /** The error as the code saw it ("model update: Failed to fetch"); null when the text says it all. */
  detail: string | null;
  /** `offline` is expected and harmless (the cached model keeps working); `problem` is not. */
  kind: 'offline' | 'problem';
  /** Which operation raised it, so that its success can clear it. */
  source: string;
}

/**
 * A failed request in words. fetch rejects with a TypeError on any network failure ("Failed to
 * fetch" in Chromium, "NetworkError when attempting to fetch resource." in Firefox, "Load failed"
 * in Safari), and that is what people saw verbatim in a red banner while offline.
 */
export function networkNotice(source: 'model update' | 'start', error: unknown, online: boolean): Notice {
  const message = error instanceof Error ? error.message : String(error);
  const detail = `${source}: ${message}`;
  // model-client wraps fetch's TypeError as a coded ModelFetchError('NETWORK_ERROR').
  const unreachable = !online || error instanceof TypeError || (error instanceof Error && 'code' in error && error.code === 'NETWORK_ERROR');
  if (!unreachable) {
    return {
      text: source === 'start' ? `Murmur could not start: ${message}` : `Could not check for a newer suggestion model: ${message}`,
      detail,
      kind: 'problem',
      source,
    };
  }
  return source === 'start'
    ? {
        text: 'Cannot reach the Murmur server, and this browser has no saved suggestion model yet. Reload once you are online.',
        detail,
        kind: 'offline',
        source,
      }
    : {
        text: 'You are offline. Suggestions keep working with the model saved on this device; it updates when you are back online.',
        detail,
        kind: 'offline',
        source,
      };
}
