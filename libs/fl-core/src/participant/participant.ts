import type { RandomBytes } from '../random/index';
import { createSecAggClient, secAggClientStep, type SecAggClientState } from '../secagg/client';
import type { CryptoSuite } from '../secagg/crypto';
import { protocolFailure, type ProtocolResult } from '../protocol/errors';
import type { RoundPlan, SecAggDown, SecAggUp } from '../protocol/schemas';

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
}

export type ParticipantStepResult = ProtocolResult<{ state: ParticipantState; outbound: SecAggUp | null }>;

/** Starts the secure-aggregation client with the encoded contribution; returns advertiseKeys. */
export async function startParticipant(plan: RoundPlan, input: Uint32Array, options: ParticipantStepOptions = {}): Promise<ParticipantStepResult> {
  const created = await createSecAggClient({ config: plan.secagg, clientId: plan.participantId, input, ...options });
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
  const step = await secAggClientStep(state.secagg, message, options);
  if (!step.ok) return { ok: false, error: step.error };
  return { ok: true, value: { state: { plan: state.plan, secagg: step.state }, outbound: step.outbound } };
}

/** running until the machine has answered the unmask request (done) or stopped (aborted). */
export function participantOutcome(state: ParticipantState): 'running' | 'done' | 'aborted' {
  if (state.secagg.stage === 'done') return 'done';
  if (state.secagg.stage === 'aborted') return 'aborted';
  return 'running';
}
