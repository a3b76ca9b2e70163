/**
 * When this device offers to train: only with consent, and only when training costs the person
 * nothing they would notice — enough local examples to be worth a round, no typing for a while,
 * on a charger and an unmetered network where the browser can tell. APIs the browser lacks
 * (Battery Status, Network Information) count as "unknown", which does not block: a desktop
 * without them is assumed plugged in and on a flat-rate line.
 */

export interface ParticipationPolicy {
  /** Local training examples needed before checking in. @default 50 */
  minExamples: number;
  /** No typing in the app for this long. @default 30 000 */
  idleMs: number;
  /** @default true */
  requireCharging: boolean;
  /** @default true */
  requireUnmetered: boolean;
}

export const DEFAULT_POLICY: ParticipationPolicy = Object.freeze({
  minExamples: 50,
  idleMs: 30_000,
  requireCharging: true,
  requireUnmetered: true,
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
}

export type Eligibility = { state: 'off'; reason: string } | { state: 'waiting'; reason: string; blocker: Blocker } | { state: 'eligible'; reason: string };

export type Blocker = 'not-ready' | 'offline' | 'examples' | 'typing' | 'battery' | 'metered';

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s`;

/** The first reason not to check in, in the order a person would want to hear it. */
export function decideEligibility(conditions: DeviceConditions, policy: ParticipationPolicy = DEFAULT_POLICY): Eligibility {
  if (!conditions.consent) return { state: 'off', reason: 'off: you have not agreed to help train' };
  const waiting = (blocker: Blocker, reason: string): Eligibility => ({ state: 'waiting', blocker, reason: `waiting: ${reason}` });
  if (!conditions.ready) return waiting('not-ready', 'preparing the model on this device');
  if (!conditions.online) return waiting('offline', 'offline');
  if (conditions.examples < policy.minExamples) {
    return waiting('examples', `${conditions.examples} of ${policy.minExamples} examples needed — keep writing`);
  }
  if (conditions.idleForMs < policy.idleMs) return waiting('typing', `you are typing (idle for ${seconds(policy.idleMs - conditions.idleForMs)} more)`);
  if (policy.requireCharging && conditions.charging === false) return waiting('battery', 'on battery');
  if (policy.requireUnmetered && conditions.metered === true) return waiting('metered', 'on a metered network');
  return { state: 'eligible', reason: 'eligible: will train when the aggregator starts a round' };
}

/** The Network Information API's view, reduced to "metered or not" (null when it does not say). */
export function isMetered(connection: { type?: string; saveData?: boolean } | undefined): boolean | null {
  if (!connection) return null;
  if (connection.saveData === true || connection.type === 'cellular') return true;
  if (connection.type === undefined || connection.type === 'unknown') return null;
  return false;
}
