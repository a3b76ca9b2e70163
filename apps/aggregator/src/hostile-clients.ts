import { io, type Socket } from 'socket.io-client';
import { type DeviceIdentity } from '@murmur/fl-core/identity';
import { asParticipantSocket, connectParticipant, handshakeAuth, type ParticipantConnection, type PlanPolicy } from '@murmur/fl-core/participant';
import { PRIVACY_MODES } from '@murmur/fl-core/privacy';
import { parseServerEvent, type ClientToServerEvents, type RoundEnd, type RoundPlan, type ServerToClientEvents } from '@murmur/fl-core/protocol';
import { secureRandomBytes } from '@murmur/fl-core/random';
import { enroll } from './virtual-clients';

/**
 * Clients that attack the aggregator the way an outsider with enrolled devices can: they speak
 * the protocol correctly, so everything they send passes the schemas, and they lie or stall
 * inside it. The hostile-client tests and `npm run bench -- hostile` run them against a real
 * aggregator beside honest virtual clients.
 */
type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface HostileClient {
  /** The client id its certificate names. */
  clientId: string;
  socket: ClientSocket;
  /** Rounds this client was selected for, in order. */
  readonly plans: RoundPlan[];
  /** Round ids for which it computed a (bogus) contribution and entered secure aggregation with it. */
  readonly contributedRounds: Set<string>;
  /** checkIn answers that were not "waiting" (silent clients record them): what the aggregator told it. */
  readonly refusals: { status: string; reason?: string; retryAfterMs: number }[];
  /** Errors its protocol machine met or was sent ("from: code message"). */
  readonly errors: string[];
  close(): void;
}

function connect(url: string, identity: DeviceIdentity): ClientSocket {
  return io(url, { auth: handshakeAuth(identity), transports: ['websocket'], reconnectionDelay: 250, reconnectionDelayMax: 2_000 });
}

/**
 * An attacker's device takes part in whatever plan the server sends: every mode, no floor under σ,
 * the cohort or C. Only the checks that make a plan unusable to anyone stay (a threshold below a
 * strict majority, c ≥ k_min, a discrete block that does not add up), and the server's own
 * parseRoundConfig already refuses to send such plans.
 */
export const ATTACKER_PLAN_POLICY: PlanPolicy = Object.freeze({
  allowedModes: Object.freeze([...PRIVACY_MODES]) as PlanPolicy['allowedModes'],
  minNoiseMultiplier: 0,
  minCohort: 1,
  maxClipNorm: Infinity,
  assumedColluders: 0,
});

/** What goes on the wire (protocol 8: no example count), and what connectParticipant is given (with its local count). */
const ELIGIBILITY = { consent: true, idle: true, charging: true, backend: 'wasm' } as const;
const DEVICE_ELIGIBILITY = { ...ELIGIBILITY, exampleCount: 500 } as const;

/**
 * A poisoner: runs secure aggregation faithfully, but its input x is uniformly random in
 * Z_(2^k) instead of an encoded, clipped update. Masking hides x from the server, so only the
 * decoded sum can give it away.
 */
export async function startPoisoningClient(url: string): Promise<HostileClient> {
  const identity = await enroll(url);
  const socket = connect(url, identity);
  const plans: RoundPlan[] = [];
  const contributedRounds = new Set<string>();
  const refusals: HostileClient['refusals'] = [];
  const errors: string[] = [];
  const connection: ParticipantConnection = connectParticipant(asParticipantSocket(socket), {
    eligibility: () => DEVICE_ELIGIBILITY,
    identity,
    enrollmentIssuer: identity.issuer,
    planPolicy: ATTACKER_PLAN_POLICY,
    contribute: async (plan) => {
      plans.push(plan);
      const words = new Uint32Array(plan.secagg.vectorLength);
      secureRandomBytes(new Uint8Array(words.buffer));
      const mask = plan.secagg.modulusBits === 32 ? 0xffffffff : 2 ** plan.secagg.modulusBits - 1;
      for (let i = 0; i < words.length; i++) words[i] = (words[i] as number) & mask;
      return { ok: true, value: words };
    },
    onEvent: (event) => {
      if (event.type === 'contributed') contributedRounds.add(event.roundId);
      if (event.type === 'error') errors.push(`${event.from}: ${event.error.code} ${event.error.message}`);
    },
  });
  return {
    clientId: identity.clientId,
    socket,
    plans,
    contributedRounds,
    refusals,
    errors,
    close() {
      connection.stop();
      socket.disconnect();
    },
  };
}

/**
 * A silent Sybil: checks in as an eligible device, accepts every selection and never answers,
 * then checks in again as soon as the round is over, so that it can stall round after round.
 */
export async function startSilentClient(url: string): Promise<HostileClient> {
  const identity = await enroll(url);
  const socket = connect(url, identity);
  const plans: RoundPlan[] = [];
  const refusals: HostileClient['refusals'] = [];
  let retry: ReturnType<typeof setTimeout> | null = null;
  const checkIn = (delayMs: number) => {
    if (retry) clearTimeout(retry);
    retry = setTimeout(() => socket.emit('checkIn', { eligibility: ELIGIBILITY }), delayMs);
  };
  socket.on('welcome', () => checkIn(0));
  socket.on('checkInResult', (raw) => {
    const parsed = parseServerEvent('checkInResult', raw, { maxBytes: 64 * 1024 });
    if (!parsed.ok || parsed.value.status === 'waiting') return;
    const { status, retryAfterMs } = parsed.value;
    refusals.push({ status, retryAfterMs, ...(parsed.value.reason ? { reason: parsed.value.reason.message } : {}) });
    checkIn(retryAfterMs);
  });
  socket.on('roundPlan', (plan: RoundPlan) => {
    plans.push(plan);
  });
  socket.on('roundEnd', (_end: RoundEnd) => checkIn(0));
  return {
    clientId: identity.clientId,
    socket,
    plans,
    contributedRounds: new Set(),
    refusals,
    errors: [],
    close() {
      if (retry) clearTimeout(retry);
      socket.disconnect();
    },
  };
}
