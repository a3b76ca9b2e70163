import { z } from 'zod';
import { reject, type Rejection } from './errors';

/**
 * Wire shapes of the SecAgg rounds (Bonawitz et al. 2017, the protocol's Rounds 0–4; Round 3, ConsistencyCheck, and the signatures run when the config is `authenticated`). One zod schema per
 * message; the TypeScript types are inferred from them. Binary fields are Uint8Array (Socket.IO
 * sends them as binary attachments); ids are small integers. Sizes that depend on the round (n, d,
 * k) are checked semantically after the shape, so each failure gets its own error code.
 */
export const MAX_CLIENTS = 100_000;

// z.custom keeps the inferred type Uint8Array<ArrayBufferLike>, which is what Buffers and views are.
const bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'expected binary (Uint8Array)' });
const roundId = z.string().min(1).max(128);

export const graphSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('full') }).strict(),
  z
    .object({
      kind: z.literal('harary'),
      /** k: each client's number of neighbours (even). */
      degree: z.number().int().min(2),
      /** Public 32-byte seed chosen by the server before AdvertiseKeys. */
      seed: bytes,
    })
    .strict(),
]);

export const roundConfigSchema = z
  .object({
    roundId,
    /** n: the cohort; clients are identified 0 … n − 1 and hold Shamir points id + 1. */
    clientCount: z.number().int().min(2).max(MAX_CLIENTS),
    /**
     * t: Shamir threshold, and the fewest clients any stage may continue with. Must exceed half
     * of each client's share holders (n, or k + 1 in SecAgg+) — see docs/secure-aggregation.md.
     */
    threshold: z.number().int().min(2),
    /** d: words per input vector. */
    vectorLength: z
      .number()
      .int()
      .min(1)
      .max(2 ** 28),
    /** k: inputs and masks live in Z_(2^k). */
    modulusBits: z.number().int().min(1).max(32),
    graph: graphSchema,
    /**
     * The active-server protocol: signed key advertisements, signed masking claims, Round 3
     * (ConsistencyCheck) and b commitments. A client configured with an identity refuses a round
     * without it; the server cannot downgrade it. @default false
     */
    authenticated: z.boolean().optional(),
  })
  .strict();

export type RoundConfig = z.output<typeof roundConfigSchema>;

/**
 * Per-peer material travels packed: one list of ids (strictly ascending) and one binary field
 * holding a fixed-size record per id, in the same order. At n = 500 the full graph's per-peer
 * objects were ~250,000 small allocations per round on the server (its largest setup cost), and
 * each Uint8Array is one more part in the Socket.IO frame.
 */
const clientIds = z.custom<number[]>(
  // One plain loop: zod's per-element checks were a visible cost on lists of n − 1 ids.
  (value) => Array.isArray(value) && value.length <= MAX_CLIENTS && value.every((id) => Number.isInteger(id) && id >= 0),
  { message: `expected an array of at most ${MAX_CLIENTS} client ids (non-negative integers)` },
);

const certificate = z.string().min(1).max(1024);

export const advertiseKeysSchema = z
  .object({
    type: z.literal('advertiseKeys'),
    roundId,
    encryptionPublicKey: bytes,
    maskingPublicKey: bytes,
    /** Authenticated rounds: H(b) (COMMITMENT_BYTES), checked by the server against the reconstructed b. */
    selfMaskCommitment: bytes.optional(),
    /** Authenticated rounds: ECDSA over advertiseTranscript (round id, plan hash, id, keys). */
    signature: bytes.optional(),
    /**
     * Authenticated rounds, optional: the id of this client's certificate cache
     * (CERTIFICATE_CACHE_ID_BYTES), so the server may name peers' certificates it already holds.
     */
    certificateCache: bytes.optional(),
  })
  .strict();
/**
 * AdvertiseKeys as the server machine takes it: the wire message plus, in authenticated rounds,
 * the sender's device certificate. The client does not send its certificate again in every round:
 * its connection's handshake carried it with a proof of possession, which the aggregator verified,
 * and the transport adds it here (runSecAggRound does the same). What peers rely on is unchanged:
 * the advertisement's signature binds the keys to the key in this certificate, and each peer
 * verifies the certificate (or resolves a reference to one it verified) before trusting it.
 */
export const receivedAdvertiseKeysSchema = advertiseKeysSchema.extend({
  /** Authenticated rounds: the sender's device certificate from the enrollment service, as its connection presented it. */
  certificate: certificate.optional(),
});
export const shareKeysSchema = z
  .object({
    type: z.literal('shareKeys'),
    roundId,
    /**
     * One SHARE_CIPHERTEXT_BYTES record per peer the server named in this client's peerKeys, in
     * that order. The list itself is not sent back: the server computed it (U1 ∩ N(u)) and checks
     * the record count against it.
     */
    ciphertexts: bytes,
  })
  .strict();
export const maskedInputSchema = z
  .object({
    type: z.literal('maskedInput'),
    roundId,
    maskedInput: bytes,
    /** Authenticated rounds: the peers this client masked with (U2 ∩ N(u)), a bitset over its neighbours. */
    maskingPeers: bytes.optional(),
    /** Authenticated rounds: ECDSA over maskingTranscript. */
    signature: bytes.optional(),
  })
  .strict();
/** Round 3 (ConsistencyCheck): the client's signature over the survivor set it was sent. */
export const consistencySchema = z.object({ type: z.literal('consistency'), roundId, signature: bytes }).strict();
export const unmaskSchema = z
  .object({
    type: z.literal('unmask'),
    roundId,
    /** Survivors (named by the server) whose b-shares follow, ascending. */
    selfMaskOf: clientIds,
    /** One SHARE_BYTES share per id in selfMaskOf. */
    selfMaskShares: bytes,
    /** Neighbours that dropped after ShareKeys, whose s-key shares follow, ascending. */
    maskingKeyOf: clientIds,
    /** One SHARE_BYTES share per id in maskingKeyOf. */
    maskingKeyShares: bytes,
  })
  .strict();

export const peerKeysSchema = z
  .object({
    type: z.literal('peerKeys'),
    roundId,
    /**
     * The recipient's neighbours that advertised keys, as a bitset over its neighbours (bitsetOf
     * over topology.neighbours, ascending): ⌈|N(u)|/8⌉ bytes instead of a JSON id list, and only
     * neighbours can be named at all.
     */
    peers: bytes,
    /** Per peer: its encryption public key then its masking public key (2 × 32 bytes). */
    publicKeys: bytes,
    /** Authenticated rounds: CERTIFICATE_REF_BYTES per peer, naming its certificate. */
    certificateRefs: bytes.optional(),
    /** Authenticated rounds: the named certificates the recipient does not hold yet, in any order. */
    certificates: z.array(certificate).max(MAX_CLIENTS).optional(),
    /** Authenticated rounds: SIGNATURE_BYTES per peer (its advertiseKeys signature). */
    signatures: bytes.optional(),
  })
  .strict();
export const encryptedSharesSchema = z
  .object({
    type: z.literal('encryptedShares'),
    roundId,
    /** The senders whose shares for this client follow, as a bitset over its neighbours (as `peers`). */
    from: bytes,
    /** One SHARE_CIPHERTEXT_BYTES record per sender, ascending. */
    ciphertexts: bytes,
  })
  .strict();
/** Round 3 (ConsistencyCheck): U3, the same set to every survivor, as a bitset over the cohort (⌈n/8⌉ bytes). */
export const consistencyRequestSchema = z.object({ type: z.literal('consistencyRequest'), roundId, survivors: bytes }).strict();
export const unmaskRequestSchema = z
  .object({
    type: z.literal('unmaskRequest'),
    roundId,
    /**
     * The survivors among the recipient and its neighbours, ascending. Unauthenticated rounds only:
     * in an authenticated round they are those of the U3 the recipient signed in Round 3, which a
     * list here could only contradict, so none is sent.
     */
    survivors: clientIds.optional(),
    /** Authenticated rounds: a bitset over the U3 the recipient signed, set where the member signed it in Round 3. */
    consistencySigned: bytes.optional(),
    /**
     * Authenticated rounds: SIGNATURE_BYTES per member of U3 (ascending): its Round 3 signature
     * over U3 where consistencySigned is set, else its Round 2 signature over its claim.
     */
    signatures: bytes.optional(),
    /**
     * Authenticated rounds, per member that did not sign in Round 3 (ascending): its masking claim,
     * a bitset over its neighbours. A Round 3 signer's claim among U3 is implied (N(v) ∩ U3).
     */
    claims: bytes.optional(),
    /** Authenticated rounds: CERTIFICATE_REF_BYTES per member of U3 that is neither the recipient nor its neighbour. */
    certificateRefs: bytes.optional(),
    /** Authenticated rounds: the named certificates the recipient does not hold yet. */
    certificates: z.array(certificate).max(MAX_CLIENTS).optional(),
  })
  .strict();
export const abortSchema = z
  .object({ type: z.literal('abort'), roundId, reason: z.object({ code: z.string().max(64), message: z.string().max(2000) }).strict() })
  .strict();

export type AdvertiseKeysMessage = z.output<typeof advertiseKeysSchema>;
export type ReceivedAdvertiseKeysMessage = z.output<typeof receivedAdvertiseKeysSchema>;
export type ShareKeysMessage = z.output<typeof shareKeysSchema>;
export type MaskedInputMessage = z.output<typeof maskedInputSchema>;
export type UnmaskMessage = z.output<typeof unmaskSchema>;
export type ConsistencyMessage = z.output<typeof consistencySchema>;
export type ClientToServerMessage = AdvertiseKeysMessage | ShareKeysMessage | MaskedInputMessage | ConsistencyMessage | UnmaskMessage;

export type PeerKeysMessage = z.output<typeof peerKeysSchema>;
export type EncryptedSharesMessage = z.output<typeof encryptedSharesSchema>;
export type UnmaskRequestMessage = z.output<typeof unmaskRequestSchema>;
export type ConsistencyRequestMessage = z.output<typeof consistencyRequestSchema>;
export type AbortMessage = z.output<typeof abortSchema>;
export type ServerToClientMessage = PeerKeysMessage | EncryptedSharesMessage | ConsistencyRequestMessage | UnmaskRequestMessage | AbortMessage;

export const clientToServerSchemas = {
  advertiseKeys: receivedAdvertiseKeysSchema,
  shareKeys: shareKeysSchema,
  maskedInput: maskedInputSchema,
  consistency: consistencySchema,
  unmask: unmaskSchema,
} as const;

export const serverToClientSchemas = {
  peerKeys: peerKeysSchema,
  encryptedShares: encryptedSharesSchema,
  consistencyRequest: consistencyRequestSchema,
  unmaskRequest: unmaskRequestSchema,
  abort: abortSchema,
} as const;

type Schemas = Record<string, z.ZodType>;

/**
 * The edge check every inbound message passes first: an object of this protocol, of this round,
 * of the expected type, of the right shape. `onOtherType` decides between WRONG_PHASE and REPLAY
 * for a known type that this stage does not accept.
 */
export function parseInbound<S extends Schemas, K extends keyof S & string>(
  schemas: S,
  expected: K,
  currentRoundId: string,
  raw: unknown,
  where: string,
  onOtherType: (type: keyof S & string) => Rejection,
): { ok: true; message: z.output<S[K]> } | Rejection {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return reject('MALFORMED', `${where}: expected a message object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const { type, roundId: messageRound } = raw as { type?: unknown; roundId?: unknown };
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) {
    return reject('MALFORMED', `${where}: expected type one of ${Object.keys(schemas).join(', ')}, got ${JSON.stringify(type)}`);
  }
  if (typeof messageRound !== 'string') {
    return reject('MALFORMED', `${where}: expected a string roundId, got ${typeof messageRound}`);
  }
  if (messageRound !== currentRoundId) {
    return reject('STALE_ROUND', `${where}: expected round ${JSON.stringify(currentRoundId)}, got ${JSON.stringify(messageRound)} (${type})`);
  }
  if (type !== expected) return onOtherType(type as keyof S & string);
  const parsed = (schemas[expected] as S[K]).safeParse(raw);
  if (!parsed.success) return reject('MALFORMED', `${where}: ${type} ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  return { ok: true, message: parsed.data as z.output<S[K]> };
}

/** Checks a list of ids: each < n and strictly ascending (so no duplicates). Returns a rejection or null. */
export function checkIds(ids: readonly number[], clientCount: number, where: string): Rejection | null {
  let previous = -1;
  for (const id of ids) {
    if (id >= clientCount) return reject('OUT_OF_RANGE', `${where}: client id ${id} is outside the cohort [0, ${clientCount})`);
    if (id === previous) return reject('MALFORMED', `${where}: client id ${id} appears twice`);
    if (id < previous) return reject('MALFORMED', `${where}: client ids must be ascending; ${id} follows ${previous}`);
    previous = id;
  }
  return null;
}

/** Checks that a packed field holds exactly one `recordBytes` record per id. */
export function checkRecords(records: Uint8Array, count: number, recordBytes: number, where: string): Rejection | null {
  if (records.length === count * recordBytes) return null;
  return reject('WRONG_LENGTH', `${where}: has ${records.length} bytes, expected ${count} × ${recordBytes} = ${count * recordBytes}`);
}
