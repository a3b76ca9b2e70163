import type { RandomBytes } from '../random/index';
import { createSecAggClient, secAggClientStep, type SecAggClientState } from '../secagg/client';
import type { CryptoSuite } from '../secagg/crypto';
import type { PeerCertificateCache } from '../secagg/certificates';
import { protocolFailure, type ProtocolResult } from '../protocol/errors';
import type { RoundPlan, SecAggDown, SecAggUp } from '../protocol/schemas';
import { roundPlanHash } from '../round/plan-hash';

/**
 * A client's side of one round after its contribution is computed: the secure-aggregation client
 * machine, bound to the plan it was configured with. Plain data; transport-free.
 */
export interface ParticipantState {
  plan: RoundPlan;
  secagg: SecAggClientState;
}

export interface ParticipantStepOptions {
  /** @default secureRandomBytes */
  randomBytes?: RandomBytes;
  /** @default the fastest suite this runtime supports */
  suite?: CryptoSuite;
  /** This device's certificate (from the enrollment service) and its non-extractable signing key. */
  identity?: { certificate: string; privateKey: CryptoKey };
  /** The enrollment service whose certificates peers must carry. */
  enrollmentIssuer?: { name: string; publicKey: Uint8Array };
  /** Peer certificates verified in earlier rounds (secagg/certificates.ts). @default none */
  certificateCache?: PeerCertificateCache;
}

export type ParticipantStepResult = ProtocolResult<{ state: ParticipantState; outbound: SecAggUp | null }>;

/**
 * Starts the secure-aggregation client with the encoded contribution; returns advertiseKeys. With
 * an identity the round must be authenticated (the machine refuses otherwise: a server cannot
 * downgrade a certified client) and every signature binds the hash of this plan.
 */
export async function startParticipant(plan: RoundPlan, input: Uint32Array, options: ParticipantStepOptions = {}): Promise<ParticipantStepResult> {
  const { identity, enrollmentIssuer, ...step } = options;
  if ((identity === undefined) !== (enrollmentIssuer === undefined)) {
    return protocolFailure('INVALID_CONFIG', 'startParticipant: identity and enrollmentIssuer come together');
  }
  const auth = identity && enrollmentIssuer ? { identity, enrollmentIssuer, planHash: roundPlanHash(plan) } : undefined;
  const created = await createSecAggClient({ config: plan.secagg, clientId: plan.participantId, input, ...step, ...(auth ? { auth } : {}) });
  if (!created.ok) return { ok: false, error: created.error };
  return { ok: true, value: { state: { plan, secagg: created.state }, outbound: created.outbound } };
}

/**
 * Feeds one server message to the machine. A message for another round is refused with
 * STALE_ROUND and leaves the state as it was (the machine's own rule).
 */
export async function participantStep(state: ParticipantState, message: SecAggDown, options: ParticipantStepOptions = {}): Promise<ParticipantStepResult> {
  if (message.roundId !== state.plan.roundId) {
    return protocolFailure('STALE_ROUND', `participant: message for round ${JSON.stringify(message.roundId)}, expected ${JSON.stringify(state.plan.roundId)}`);
  }
  const { identity: _identity, enrollmentIssuer: _issuer, ...stepOptions } = options;
  const step = await secAggClientStep(state.secagg, message, stepOptions);
  if (!step.ok) return { ok: false, error: step.error };
  return { ok: true, value: { state: { plan: state.plan, secagg: step.state }, outbound: step.outbound } };
}

/** running until the machine has answered the unmask request (done) or stopped (aborted). */
export function participantOutcome(state: ParticipantState): 'running' | 'done' | 'aborted' {
  if (state.secagg.stage === 'done') return 'done';
  if (state.secagg.stage === 'aborted') return 'aborted';
  return 'running';
}
