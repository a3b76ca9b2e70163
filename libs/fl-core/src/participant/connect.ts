import type { ProtocolError, ProtocolResult } from '../protocol/errors';
import { protocolError } from '../protocol/errors';
import { packSecAgg, parseServerEvent, secAggEventLimits, type ClientEventName, type ClientEventPayload, type ServerEventName } from '../protocol/events';
import { PROTOCOL_VERSION, type CheckInStatus, type Eligibility, type Handshake, type RoundEnd, type RoundPlan } from '../protocol/schemas';
import { signHandshakeProof } from '../identity/proof';
import { createPeerCertificateCache } from '../secagg/certificates';
import type { PackedMessage } from '../protocol/frame';
import { participantStep, startParticipant, type ParticipantState, type ParticipantStepOptions } from './participant';
import { checkPlanAgainstPolicy, type PlanPolicy, type PlanRefusal } from './plan-policy';

/**
 * The part of a Socket.IO client socket the participant uses. Listeners receive `unknown`: every
 * payload is validated here before use. socket.io-client's typed
 * `Socket<ServerToClientEvents, ClientToServerEvents>` fits through `asParticipantSocket`.
 */
export interface ParticipantSocket {
  on(event: ServerEventName | 'connect' | 'disconnect', listener: (payload: unknown) => void): unknown;
  off(event: ServerEventName | 'connect' | 'disconnect', listener: (payload: unknown) => void): unknown;
  emit<K extends ClientEventName>(event: K, payload: ClientEventPayload<K>): unknown;
}

/**
 * Narrows any Socket.IO client socket to ParticipantSocket. Socket.IO's listener types are
 * generic over its event maps, which TypeScript cannot relate to `(payload: unknown) => void`;
 * the methods are the same.
 */
export function asParticipantSocket(socket: {
  on(...args: never[]): unknown;
  off(...args: never[]): unknown;
  emit(...args: never[]): unknown;
}): ParticipantSocket {
  return socket as unknown as ParticipantSocket;
}

/**
 * socket.io-client's `auth` option as a function, which it calls on every (re)connection: each
 * handshake carries the certificate and a fresh proof of possession (a new nonce, the time now),
 * since the aggregator accepts each proof once. `now` lets a device with a skewed clock sign with
 * the server's time instead.
 */
export function handshakeAuth(
  identity: { readonly certificate: string; readonly privateKey: CryptoKey },
  options: { now?: () => number; onError?: (error: unknown) => void } = {},
): (callback: (auth: Handshake | Omit<Handshake, 'proof'>) => void) => void {
  const now = options.now ?? Date.now;
  return (callback) => {
    signHandshakeProof(identity.privateKey, identity.certificate, now()).then(
      (proof) => callback({ protocolVersion: PROTOCOL_VERSION, certificate: identity.certificate, proof }),
      (error: unknown) => {
        options.onError?.(error);
        // No proof could be made (the key is unusable): the aggregator answers MALFORMED, and the
        // app hears of it through connect_error and onError.
        callback({ protocolVersion: PROTOCOL_VERSION, certificate: identity.certificate });
      },
    );
  };
}

/**
 * What the device knows about itself: the check-in's fields and its local example count. The count
 * stays on the device: connectParticipant compares it with the aggregator's `minExamples` (from
 * `welcome`) and sends only the rest.
 */
export type DeviceEligibility = Eligibility & { exampleCount: number };

export type ParticipantEvent =
  | { type: 'welcome'; modelVersion: number }
  | { type: 'checkedIn'; status: CheckInStatus; retryAfterMs: number }
  /** Fewer local examples than the aggregator's minimum: no check-in is sent (asked again after recheckMs). */
  | { type: 'belowMinimum'; exampleCount: number; minExamples: number }
  | { type: 'selected'; plan: RoundPlan }
  /** The plan fell below the device's policy: nothing is trained or sent, the round goes on without it. */
  | { type: 'refused'; plan: RoundPlan; reasons: PlanRefusal[] }
  | { type: 'contributed'; roundId: string }
  | { type: 'phase'; roundId: string; stage: string }
  | { type: 'roundEnd'; result: RoundEnd }
  | { type: 'error'; error: ProtocolError; from: 'server' | 'local' };

export interface ParticipantConnectionOptions extends ParticipantStepOptions {
  /**
   * The device's eligibility now, with its local example count; null means "do not check in now"
   * (asked again later). The count is compared with `welcome.minExamples` here and never sent.
   */
  eligibility: () => DeviceEligibility | null;
  /**
   * Computes the encoded contribution for a plan (download and verify the model, then
   * prepareContribution). Runs in the Web Worker in the browser.
   */
  contribute: (plan: RoundPlan, signal: AbortSignal) => Promise<ProtocolResult<Uint32Array>>;
  onEvent?: (event: ParticipantEvent) => void;
  /**
   * The device's pinned minimums (checkPlanAgainstPolicy), applied to every plan before
   * `contribute` runs: every device states what it accepts (DEFAULT_PLAN_POLICY unless it has a
   * reason to differ, PRIVACY_OFF_PLAN_POLICY for a server whose operator turned privacy off).
   */
  planPolicy: PlanPolicy;
  /** Retry interval when eligibility() is null or below the aggregator's minimum. @default 5000 */
  recheckMs?: number;
}

export interface ParticipantConnection {
  /** The round this client is working on, if any. */
  readonly roundId: string | null;
  stop(): void;
}

const CONTROL = { maxBytes: 64 * 1024 };

/**
 * The Socket.IO glue for one client: check in when welcomed (and after every round), run the
 * contribution and the secure-aggregation machine when selected, answer each server message in
 * order, and check in again when the round ends. The socket is injected, so the same code runs in
 * a browser Web Worker and in Node virtual clients; reconnection is the socket's business.
 */
export function connectParticipant(socket: ParticipantSocket, options: ParticipantConnectionOptions): ParticipantConnection {
  const emitEvent = options.onEvent ?? (() => {});
  const stepOptions: ParticipantStepOptions = {
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
    ...(options.suite ? { suite: options.suite } : {}),
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.enrollmentIssuer ? { enrollmentIssuer: options.enrollmentIssuer } : {}),
  };
  // One cache for the life of this connection (reconnects included): after a round, the server
  // names the peer certificates this client verified instead of sending them again.
  const certificateCache = options.certificateCache ?? (options.identity ? createPeerCertificateCache(options.randomBytes) : undefined);
  if (certificateCache) stepOptions.certificateCache = certificateCache;
  /**
   * `answered`: the server message types this client has answered, and its last answer. A message
   * it already answered arrives again when the server re-sends after a reconnect, because the
   * answer was lost with the old connection: then the same answer goes out again (the server
   * refuses a true duplicate as REPLAY, so this is safe).
   */
  let current: {
    plan: RoundPlan;
    state: ParticipantState | null;
    abort: AbortController;
    answered: Set<string>;
    lastOutbound: PackedMessage | null;
  } | null = null;
  let queue: Promise<void> = Promise.resolve();
  let retry: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  /** The aggregator's `minExamples`, from its last `welcome`; no check-in before one arrives. */
  let minExamples: number | null = null;

  const localError = (error: ProtocolError) => emitEvent({ type: 'error', error, from: 'local' });
  const scheduleCheckIn = (delayMs: number) => {
    if (retry) clearTimeout(retry);
    retry = setTimeout(() => {
      retry = null;
      checkIn();
    }, delayMs);
  };
  const checkIn = () => {
    if (stopped || current || minExamples === null) return;
    const device = options.eligibility();
    if (!device) {
      scheduleCheckIn(options.recheckMs ?? 5000);
      return;
    }
    // Eligible or not is decided here, so the size of the person's text never leaves the device
    // (issue 16): below the minimum the device stays out quietly and asks itself again later.
    const { exampleCount, ...eligibility } = device;
    if (!(exampleCount >= minExamples)) {
      emitEvent({ type: 'belowMinimum', exampleCount, minExamples });
      scheduleCheckIn(options.recheckMs ?? 5000);
      return;
    }
    socket.emit('checkIn', { eligibility });
  };
  const endRound = () => {
    current?.abort.abort();
    current = null;
  };
  /** Server messages are handled one at a time, in arrival order: the machine is sequential. */
  const serially = (task: () => Promise<void>) => {
    queue = queue.then(task).catch((error: unknown) => localError(protocolError('CONTRIBUTION_FAILED', String(error))));
  };

  const onWelcome = (raw: unknown) => {
    const parsed = parseServerEvent('welcome', raw, CONTROL);
    if (!parsed.ok) return localError(parsed.error);
    minExamples = parsed.value.minExamples;
    emitEvent({ type: 'welcome', modelVersion: parsed.value.modelVersion });
    // After a reconnect the round goes on only if the server still counts this client in it
    // (it may have restarted and forgotten the round).
    if (current && current.plan.roundId !== parsed.value.cohortRoundId) endRound();
    if (!current) checkIn();
  };
  const onCheckInResult = (raw: unknown) => {
    const parsed = parseServerEvent('checkInResult', raw, CONTROL);
    if (!parsed.ok) return localError(parsed.error);
    emitEvent({ type: 'checkedIn', status: parsed.value.status, retryAfterMs: parsed.value.retryAfterMs });
    if (parsed.value.status !== 'waiting') scheduleCheckIn(parsed.value.retryAfterMs);
  };
  const onRoundPlan = (raw: unknown) => {
    const parsed = parseServerEvent('roundPlan', raw, CONTROL);
    if (!parsed.ok) return localError(parsed.error);
    const plan = parsed.value;
    if (current?.plan.roundId === plan.roundId) {
      if (current.lastOutbound && current.answered.has('roundPlan')) socket.emit('secagg', current.lastOutbound);
      return;
    }
    endRound();
    const round = {
      plan,
      state: null as ParticipantState | null,
      abort: new AbortController(),
      answered: new Set<string>(),
      lastOutbound: null as PackedMessage | null,
    };
    current = round;
    emitEvent({ type: 'selected', plan });
    // A refused round stays current, unanswered, until it ends: the aggregator counts a dropout,
    // and a plan re-sent after a reconnect is not checked (or refused) twice.
    const verdict = checkPlanAgainstPolicy(plan, options.planPolicy);
    if (!verdict.ok) {
      emitEvent({ type: 'refused', plan, reasons: verdict.reasons });
      return;
    }
    serially(async () => {
      const contribution = await options.contribute(plan, round.abort.signal);
      if (current !== round) return;
      if (!contribution.ok) {
        localError(contribution.error);
        return;
      }
      const started = await startParticipant(plan, contribution.value, stepOptions);
      if (current !== round) return;
      if (!started.ok) {
        localError(started.error);
        return;
      }
      round.state = started.value.state;
      round.answered.add('roundPlan');
      if (started.value.outbound) {
        round.lastOutbound = packSecAgg(started.value.outbound);
        socket.emit('secagg', round.lastOutbound);
      }
      emitEvent({ type: 'contributed', roundId: plan.roundId });
    });
  };
  const onSecAgg = (raw: unknown) => {
    const round = current;
    if (!round) return;
    const parsed = parseServerEvent('secagg', raw, secAggEventLimits(round.plan.secagg));
    if (!parsed.ok) return localError(parsed.error);
    const message = parsed.value;
    serially(async () => {
      if (current !== round || !round.state) return;
      if (round.answered.has(message.type)) {
        if (round.lastOutbound) socket.emit('secagg', round.lastOutbound);
        return;
      }
      const step = await participantStep(round.state, message, stepOptions);
      if (current !== round) return;
      if (!step.ok) {
        localError(step.error);
        return;
      }
      round.state = step.value.state;
      round.answered.add(message.type);
      emitEvent({ type: 'phase', roundId: round.plan.roundId, stage: round.state.secagg.stage });
      if (step.value.outbound) {
        round.lastOutbound = packSecAgg(step.value.outbound);
        socket.emit('secagg', round.lastOutbound);
      }
      // A client that stops on its own (e.g. too few peers) says why; a server abort is already known.
      if (round.state.secagg.stage === 'aborted' && message.type !== 'abort') localError(round.state.secagg.reason);
    });
  };
  const onRoundEnd = (raw: unknown) => {
    const parsed = parseServerEvent('roundEnd', raw, CONTROL);
    if (!parsed.ok) return localError(parsed.error);
    emitEvent({ type: 'roundEnd', result: parsed.value });
    if (current && current.plan.roundId !== parsed.value.roundId) return;
    endRound();
    serially(async () => checkIn());
  };
  const onProtocolError = (raw: unknown) => {
    const parsed = parseServerEvent('protocolError', raw, CONTROL);
    if (!parsed.ok) return localError(parsed.error);
    emitEvent({ type: 'error', error: protocolError(parsed.value.code as ProtocolError['code'], parsed.value.message), from: 'server' });
  };
  const listeners: [ServerEventName, (payload: unknown) => void][] = [
    ['welcome', onWelcome],
    ['checkInResult', onCheckInResult],
    ['roundPlan', onRoundPlan],
    ['secagg', onSecAgg],
    ['roundEnd', onRoundEnd],
    ['protocolError', onProtocolError],
  ];
  for (const [event, listener] of listeners) socket.on(event, listener);
  return {
    get roundId() {
      return current?.plan.roundId ?? null;
    },
    stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      endRound();
      for (const [event, listener] of listeners) socket.off(event, listener);
    },
  };
}
