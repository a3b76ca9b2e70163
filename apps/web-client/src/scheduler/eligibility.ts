import { DEFAULT_DEVICE_CONTROLS, type DeviceControls } from '../storage/schema';
import { formatMegabytes, roundFits, usageInWords, type UploadUsage } from './upload-budget';

/**
 * When this device offers to train: only with consent, and only when training costs the person
 * nothing they would notice or did not allow — enough local examples to be worth a round, the
 * month's upload budget not spent, no typing for a while, and (as the person chose, by default)
 * on a charger and an unmetered network where the browser can tell. APIs the browser lacks
 * (Battery Status, Network Information) count as "unknown", which does not block: a desktop
 * without them is assumed plugged in and on a flat-rate line.
 */

/** Thresholds of the app (QA knobs may lower them); the person's own choices are DeviceControls. */
export interface ParticipationPolicy {
  /** Local training examples needed before checking in. @default 50 */
  minExamples: number;
  /** No typing in the app for this long. @default 30 000 */
  idleMs: number;
}

export const DEFAULT_POLICY: ParticipationPolicy = Object.freeze({
  minExamples: 50,
  idleMs: 30_000,
});

export interface DeviceConditions {
  consent: boolean;
  examples: number;
  /** ms since the last keystroke or tap in the app; Infinity when there was none. */
  idleForMs: number;
  /** null: the Battery Status API is missing. */
  charging: boolean | null;
  /** null: the Network Information API does not say (desktop Chromium reports no connection type). */
  metered: boolean | null;
  online: boolean;
  /** The worker has a backend and a global model. */
  ready: boolean;
  /** This month's uploads so far and the next round's size (the budget is the person's choice). */
  upload: Pick<UploadUsage, 'usedBytes' | 'nextRoundBytes'>;
}

export type Eligibility =
  | { state: 'off'; reason: string }
  | { state: 'waiting'; reason: string; blocker: Exclude<Blocker, 'budget'> }
  | { state: 'waiting'; reason: string; blocker: 'budget'; upload: UploadUsage & { budgetBytes: number } }
  | { state: 'eligible'; reason: string };

export type Blocker = 'not-ready' | 'offline' | 'examples' | 'budget' | 'typing' | 'battery' | 'metered';

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s`;

/** The budget blocker's reason: used up, or too little left for one more round. */
function budgetReason(upload: UploadUsage & { budgetBytes: number }): string {
  return upload.usedBytes >= upload.budgetBytes
    ? `this month's upload budget is used (${usageInWords(upload)})`
    : `this month's upload budget has no room for another round (${usageInWords(upload)} used; a round uploads up to ${formatMegabytes(upload.nextRoundBytes, 'up')} MB)`;
}

/**
 * The first reason not to check in, in the order a person would want to hear it: what lasts
 * (the month's budget) before what passes in a moment (typing, a charger, Wi-Fi).
 */
export function decideEligibility(
  conditions: DeviceConditions,
  policy: ParticipationPolicy = DEFAULT_POLICY,
  controls: Omit<DeviceControls, 'changedAt'> = DEFAULT_DEVICE_CONTROLS,
): Eligibility {
  if (!conditions.consent) return { state: 'off', reason: 'off: you have not agreed to help train' };
  const waiting = (blocker: Exclude<Blocker, 'budget'>, reason: string): Eligibility => ({ state: 'waiting', blocker, reason: `waiting: ${reason}` });
  if (!conditions.ready) return waiting('not-ready', 'preparing the model on this device');
  if (!conditions.online) return waiting('offline', 'offline');
  if (conditions.examples < policy.minExamples) {
    return waiting('examples', `${conditions.examples} of ${policy.minExamples} examples needed — keep writing`);
  }
  const budgetBytes = controls.monthlyUploadBudgetBytes;
  if (budgetBytes !== null) {
    const upload = { ...conditions.upload, budgetBytes };
    if (!roundFits(upload)) return { state: 'waiting', blocker: 'budget', upload, reason: `waiting: ${budgetReason(upload)}` };
  }
  if (conditions.idleForMs < policy.idleMs) return waiting('typing', `you are typing (idle for ${seconds(policy.idleMs - conditions.idleForMs)} more)`);
  if (controls.onlyWhileCharging && conditions.charging === false) return waiting('battery', 'on battery');
  if (controls.onlyUnmetered && conditions.metered === true) return waiting('metered', 'on a metered network');
  return { state: 'eligible', reason: 'eligible: will train when the aggregator starts a round' };
}

/** The Network Information API's view, reduced to "metered or not" (null when it does not say). */
export function isMetered(connection: { type?: string; saveData?: boolean } | undefined): boolean | null {
  if (!connection) return null;
  if (connection.saveData === true || connection.type === 'cellular') return true;
  if (connection.type === undefined || connection.type === 'unknown') return null;
  return false;
}
