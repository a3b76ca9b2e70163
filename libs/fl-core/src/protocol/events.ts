import { z } from 'zod';
import { PEER_KEYS_BYTES, SHARE_CIPHERTEXT_BYTES } from '../secagg/client';
import { wordBytes } from '../secagg/bytes';
import { SHARE_BYTES } from '../secagg/shamir';
import { SIGNATURE_BYTES } from '../secagg/auth';
import { CERTIFICATE_REF_BYTES } from '../secagg/certificates';
import { MAX_CERTIFICATE_LENGTH } from '../identity/certificate';
import type { RoundConfig } from '../secagg/messages';
import type { TrainingPlan } from '../train/plan';
import type { MetricsSpec } from '../encode/metrics';
import { findForbiddenKey, findNonFinite, FORBIDDEN_KEYS, normalizeBinary, payloadBytes } from './binary';
import { protocolFailure, type ProtocolResult } from './errors';
import { packBinary, unpackBinary, type PackedMessage } from './frame';
import {
  checkInResultSchema,
  checkInSchema,
  errorEventSchema,
  phaseEventSchema,
  taskProgressSchema,
  roundEndSchema,
  roundPlanSchema,
  roundReportSchema,
  secAggDownSchema,
  secAggUpSchema,
  welcomeSchema,
  type CheckIn,
  type CheckInResult,
  type PhaseEvent,
  type TaskProgress,
  type ProtocolErrorEvent,
  type RoundEnd,
  type RoundPlan,
  type RoundReport,
  type SecAggDown,
  type SecAggUp,
  type Welcome,
} from './schemas';

/**
 * Socket.IO event maps, one method per event (socket.io's `Server<ClientToServerEvents,
 * ServerToClientEvents>` and the client's `Socket<ServerToClientEvents, ClientToServerEvents>`).
 * Typed events check nothing at run time, so each event also has its schema below and every
 * inbound payload goes through parseClientEvent / parseServerEvent.
 */
export interface ClientToServerEvents {
  /** Offer to take part in the next round. */
  checkIn: (payload: CheckIn) => void;
  /** A secure-aggregation message (SecAggUp) for the current round, packed by packSecAgg. */
  secagg: (packet: PackedMessage) => void;
}

export interface ServerToClientEvents {
  welcome: (payload: Welcome) => void;
  checkInResult: (payload: CheckInResult) => void;
  /** This client was selected: the round's configuration. */
  roundPlan: (plan: RoundPlan) => void;
  /** A secure-aggregation message (SecAggDown), packed by packSecAgg. */
  secagg: (packet: PackedMessage) => void;
  roundEnd: (payload: RoundEnd) => void;
  /** A rejected event or a refused operation: never a silent drop. */
  protocolError: (error: ProtocolErrorEvent) => void;
}

/** What each event carries once parsed (secagg packets unpacked into their messages). */
export interface ClientEventMessages {
  checkIn: CheckIn;
  secagg: SecAggUp;
}
export interface ServerEventMessages {
  welcome: Welcome;
  checkInResult: CheckInResult;
  roundPlan: RoundPlan;
  secagg: SecAggDown;
  roundEnd: RoundEnd;
  protocolError: ProtocolErrorEvent;
}

/** The wire form of a secure-aggregation message: one JSON shape and one binary frame. */
export function packSecAgg(message: SecAggUp | SecAggDown): PackedMessage {
  return packBinary(message);
}

/**
 * The Socket.IO `path` of the dashboard stream (the clients' server keeps the default
 * `/socket.io`). The stream is a Socket.IO server of its own, in its main namespace, so that it can
 * have a frame limit of a few KiB and a parser that refuses every inbound packet: the clients'
 * server needs a frame limit as large as a masked model update, and an unauthenticated viewer must
 * not be able to use it.
 */
export const DASHBOARD_SOCKET_PATH = '/dashboard.io';

/** The read-only dashboard stream (at DASHBOARD_SOCKET_PATH): the server streams, clients never send. */
export interface DashboardServerToClientEvents {
  phase: (event: PhaseEvent) => void;
  round: (report: RoundReport) => void;
  /** The distributed mode only: the task coordinator's rounds, from whichever process holds the lease. */
  task: (event: TaskProgress) => void;
}
export type DashboardClientToServerEvents = Record<never, never>;

export const clientEventSchemas = { checkIn: checkInSchema, secagg: secAggUpSchema } as const;
export const serverEventSchemas = {
  welcome: welcomeSchema,
  checkInResult: checkInResultSchema,
  roundPlan: roundPlanSchema,
  secagg: secAggDownSchema,
  roundEnd: roundEndSchema,
  protocolError: errorEventSchema,
} as const;
export const dashboardEventSchemas = { phase: phaseEventSchema, round: roundReportSchema, task: taskProgressSchema } as const;

export type ClientEventName = keyof ClientToServerEvents;
export type ServerEventName = keyof ServerToClientEvents;
export type ClientEventPayload<K extends ClientEventName> = Parameters<ClientToServerEvents[K]>[0];
export type ServerEventPayload<K extends ServerEventName> = Parameters<ServerToClientEvents[K]>[0];

/** Bounds on one inbound event: total bytes, and binary parts for packed secagg messages. */
export interface EventLimits {
  maxBytes: number;
  /** @default 16 */
  maxParts?: number;
}

function parseWith<T>(schema: z.ZodType<T>, label: string, raw: unknown, limits: EventLimits, packed: boolean): ProtocolResult<T> {
  const { maxBytes } = limits;
  const bytes = payloadBytes(raw, 4 * maxBytes + 1024);
  // payloadBytes gives up (Infinity) once its node budget is spent; every node below the root
  // counts at least one byte, so the payload is then over maxBytes although its exact size is unknown.
  if (bytes > maxBytes)
    return protocolFailure('TOO_LARGE', `${label}: payload is ${Number.isFinite(bytes) ? bytes : `over ${maxBytes}`} bytes, expected at most ${maxBytes}`);
  let value = raw;
  if (packed) {
    const unpacked = unpackBinary(raw, limits.maxParts ?? 16, label);
    if (!unpacked.ok) return unpacked;
    value = unpacked.value;
  }
  const forbidden = findForbiddenKey(value);
  if (forbidden !== null) {
    return protocolFailure(
      'MALFORMED',
      `${label}: ${forbidden.at} has the key ${JSON.stringify(forbidden.key)}, expected none of ${[...FORBIDDEN_KEYS].join(', ')}`,
    );
  }
  const normalized = normalizeBinary(value);
  const nonFinite = findNonFinite(normalized);
  if (nonFinite !== null) return protocolFailure('NON_FINITE', `${label}: ${nonFinite} is not a finite number`);
  const parsed = schema.safeParse(normalized);
  if (!parsed.success) {
    const detail = z.prettifyError(parsed.error).replace(/\n/g, '; ');
    return protocolFailure('MALFORMED', `${label}: ${detail.length > 500 ? `${detail.slice(0, 500)}…` : detail}`);
  }
  return { ok: true, value: parsed.data };
}

/** The edge check for every client → server event: size, NaN/Inf, shape; binary normalized. */
export function parseClientEvent<K extends ClientEventName>(event: K, raw: unknown, limits: EventLimits): ProtocolResult<ClientEventMessages[K]> {
  const schema = clientEventSchemas[event] as unknown as z.ZodType<ClientEventMessages[K]>;
  return parseWith(schema, `${event} event`, raw, limits, event === 'secagg');
}

/** The same check on the client for server → client events (the client trusts no input either). */
export function parseServerEvent<K extends ServerEventName>(event: K, raw: unknown, limits: EventLimits): ProtocolResult<ServerEventMessages[K]> {
  const schema = serverEventSchemas[event] as unknown as z.ZodType<ServerEventMessages[K]>;
  return parseWith(schema, `${event} event`, raw, limits, event === 'secagg');
}

/** JSON of one client id in a packed message's id list: up to 6 digits (ids < 100,000) and a comma. */
const ID_JSON_BYTES = 7;

/**
 * The largest secure-aggregation message a round can legitimately produce in either direction:
 * the packed masked vector, the peer keys or share ciphertexts of every holder, or one share per
 * holder (Unmasking reveals one kind per peer), whichever is largest, plus the envelope.
 */
export function secAggMessageLimit(config: Pick<RoundConfig, 'clientCount' | 'vectorLength' | 'modulusBits' | 'graph' | 'authenticated'>): number {
  const holders = config.graph.kind === 'full' ? config.clientCount : config.graph.degree + 1;
  const auth = config.authenticated === true;
  // Authenticated rounds add a certificate reference, at most one certificate and a signature per peer key record.
  const identity = auth ? CERTIFICATE_REF_BYTES + SIGNATURE_BYTES + MAX_CERTIFICATE_LENGTH + 8 : 0;
  // A masking claim is a bitset over the holders other than the client itself.
  const claimBytes = Math.ceil(holders / 8);
  const masked = config.vectorLength * wordBytes(config.modulusBits) + (auth ? claimBytes + SIGNATURE_BYTES : 0);
  const shares = holders * (SHARE_CIPHERTEXT_BYTES + ID_JSON_BYTES);
  const keys = holders * (PEER_KEYS_BYTES + ID_JSON_BYTES + identity);
  const unmask = holders * (SHARE_BYTES + ID_JSON_BYTES);
  // The unmask request of an authenticated round: per survivor its masking claim and one
  // signature, and (SecAgg+) a reference and at most one certificate for non-neighbours.
  const request = auth ? holders * ID_JSON_BYTES + config.clientCount * (claimBytes + SIGNATURE_BYTES + CERTIFICATE_REF_BYTES + MAX_CERTIFICATE_LENGTH + 8) : 0;
  return Math.max(masked, shares, keys, unmask, request) + 4096;
}

/**
 * Limits for a round's secagg events: its largest message, and two binary parts (the most any
 * message has: Unmasking's two packed share fields, AdvertiseKeys' two keys, peerKeys' peer bitset
 * and keys, encryptedShares' sender bitset and ciphertexts).
 */
export function secAggEventLimits(config: Pick<RoundConfig, 'clientCount' | 'vectorLength' | 'modulusBits' | 'graph' | 'authenticated'>): EventLimits {
  // Authenticated AdvertiseKeys has five binary parts: two keys, the commitment, the signature, the certificate cache id
  // (peerKeys four: the peer bitset, keys, certificate references, signatures).
  return { maxBytes: secAggMessageLimit(config), maxParts: config.authenticated === true ? 5 : 2 };
}

/** The metric names every contribution carries, securely summed with the update. */
export const CONTRIBUTION_METRICS = ['examples', 'trainLossSum', 'evalCount', 'evalLossSum', 'evalTop1', 'evalTop3', 'unclipped'] as const;
export type ContributionMetric = (typeof CONTRIBUTION_METRICS)[number];

/**
 * Mean cross-entropy per example above which a loss is clipped before encoding. ln(100,000) ≈ 11.5
 * is the loss of a uniform guess over the largest vocabulary; 50 nats leaves room for a bad model.
 */
export const MAX_LOSS_PER_EXAMPLE = 50;

/**
 * Clip ranges and scales of the contribution metrics, derived from the training plan so the
 * aggregator and every client build the same layout. Counts use scale 1 (summed exactly); loss
 * sums use the largest scale that cannot wrap.
 */
export function contributionMetricsSpec(
  training: Pick<TrainingPlan, 'maxExamples'>,
  /** With adaptive clipping: the clip range of the noised centred indicator b − 1/2 + noise. */
  unclippedClipRange?: number,
): MetricsSpec {
  const n = training.maxExamples;
  return {
    examples: { clipRange: n, scale: 1 },
    trainLossSum: { clipRange: n * MAX_LOSS_PER_EXAMPLE },
    evalCount: { clipRange: n, scale: 1 },
    evalLossSum: { clipRange: n * MAX_LOSS_PER_EXAMPLE },
    evalTop1: { clipRange: n, scale: 1 },
    evalTop3: { clipRange: n, scale: 1 },
    ...(unclippedClipRange !== undefined ? { unclipped: { clipRange: unclippedClipRange } } : {}),
  };
}
