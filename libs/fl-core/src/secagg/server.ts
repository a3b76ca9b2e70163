import { bytesEqual, copyBytes, firstOutOfRange, toHex, wordBytes, wordView } from './bytes';
import { PEER_KEYS_BYTES, SHARE_CIPHERTEXT_BYTES } from './client';
import { parseRoundConfig, topologyOf, type RoundConfigInput, type Topology } from './config';
import { defaultSuite, deriveKey, KEY_BYTES, publicKeyOf, type CryptoSuite } from './crypto';
import { reject, secAggError, type Rejection, type SecAggError } from './errors';
import {
  advertiseTranscript,
  bitsetOf,
  checkCertificate,
  cohortBitset,
  COMMITMENT_BYTES,
  consistencyQuorum,
  consistencyTranscript,
  maskingTranscript,
  membersOf,
  PLAN_HASH_BYTES,
  selfMaskCommitment,
  SIGNATURE_BYTES,
  verifySignature,
} from './auth';
import {
  acknowledgeCertificates,
  CERTIFICATE_CACHE_ID_BYTES,
  CERTIFICATE_REF_BYTES,
  certificateRef,
  certificatesHeld,
  type CertificateLedger,
} from './certificates';
import {
  checkIds,
  checkRecords,
  clientToServerSchemas,
  parseInbound,
  type ConsistencyMessage,
  type MaskedInputMessage,
  type ReceivedAdvertiseKeysMessage,
  type RoundConfig,
  type ServerToClientMessage,
  type ShareKeysMessage,
  type UnmaskMessage,
} from './messages';
import { addWordsMod, createWordVector } from '../kernels/modular';
import { applyMasks, type MaskTerm } from './prg';
import { combineWithWeights, fieldElementAt, isFieldElement, lagrangeAtZero, SHARE_BYTES } from './shamir';

export type SecAggServerStage = 'advertiseKeys' | 'shareKeys' | 'maskedInput' | 'consistencyCheck' | 'unmasking' | 'done' | 'aborted';

/** An authenticated client's Round 0 record, as verified here and relayed to its peers. */
export interface VerifiedIdentity {
  id: number;
  certificate: string;
  /** The enrolled client id (certificate subject). */
  subject: string;
  signingKey: Uint8Array;
  selfMaskCommitment: Uint8Array;
  signature: Uint8Array;
  /** certificateRef(certificate): how peers holding it are sent only its name. */
  certificateRef: Uint8Array;
  /** The client's certificate cache id (hex), or null when it keeps none. */
  certificateCache: string | null;
}

/** Round 2 (authenticated): whom a survivor signed it masked with. */
export interface MaskingClaim {
  id: number;
  /** A bitset over its neighbours (bitsetOf), as signed. */
  claim: Uint8Array;
  signature: Uint8Array;
}

/** What the server of an authenticated round needs: the issuer (out of band) and the plan hash it configured. */
export interface SecAggServerAuth {
  enrollmentIssuer: { name: string; publicKey: Uint8Array };
  planHash: Uint8Array;
}

export interface AdvertisedKeys {
  id: number;
  encryptionPublicKey: Uint8Array;
  maskingPublicKey: Uint8Array;
}

export interface UnmaskResponse {
  from: number;
  /** Whose b-shares these are: only ever survivors (ascending). */
  selfMaskOf: number[];
  /** SHARE_BYTES per id in selfMaskOf. */
  selfMaskShares: Uint8Array;
  /** Whose s-key shares these are: only ever dropped clients (ascending). */
  maskingKeyOf: number[];
  /** SHARE_BYTES per id in maskingKeyOf. */
  maskingKeyShares: Uint8Array;
}

/** One ShareKeys message as stored for relaying: SHARE_CIPHERTEXT_BYTES per recipient in `to`. */
export interface SharedCiphertexts {
  from: number;
  to: number[];
  ciphertexts: Uint8Array;
}

export interface SecAggResult {
  /** Σ_{u∈U3} x_u mod 2^k, bit-exact. */
  sum: Uint32Array;
  /** U3: whose inputs are in the sum (pass survivors.length as the count to decodeSum). */
  survivors: number[];
  /** U2 \ U3: clients whose masks the server removed with their reconstructed s keys. */
  dropped: number[];
}

/**
 * The server's explicit, serializable state (plain data and typed arrays). A state passed to a step
 * that succeeds is consumed, because steps update it in place: the running sum of masked inputs
 * (so the server holds one d-vector, not n) and the per-stage lists (copying them on every message
 * made a round O(n²) in allocations). Keep the returned state. Validation happens before any
 * change, so a rejected message leaves the state as it was.
 */
export interface SecAggServerState {
  stage: SecAggServerStage;
  config: RoundConfig;
  /** U1 in arrival order. */
  advertised: AdvertisedKeys[];
  /** U2: each sender's ciphertexts, to be relayed. */
  shared: SharedCiphertexts[];
  /** U3 in arrival order. */
  masked: number[];
  /** Σ y_u over `masked`, mod 2^k. */
  accumulator: Uint32Array | null;
  /** Frozen when MaskedInputCollection closes. */
  survivors: number[];
  dropped: number[];
  unmaskResponses: UnmaskResponse[];
  result: SecAggResult | null;
  abort: SecAggError | null;
  /** Null in an unauthenticated round. */
  auth: SecAggServerAuth | null;
  /** Authenticated: Round 0 identities in arrival order. */
  identities: VerifiedIdentity[];
  /** Authenticated: Round 2 masking claims in arrival order. */
  maskingClaims: MaskingClaim[];
  /** Authenticated: Round 3 consistency signatures (U4) in arrival order. */
  consistency: { id: number; signature: Uint8Array }[];
}

export type SecAggServerEvent =
  | { type: 'message'; from: number; message: unknown }
  /** The stage's deadline passed or every expected client answered: move on with who answered. */
  | { type: 'closeStage'; stage: SecAggServerStage };

export interface Outbound {
  to: number;
  message: ServerToClientMessage;
}

export type SecAggServerStepResult = { ok: true; state: SecAggServerState; outbound: Outbound[] } | Rejection;

export interface SecAggServerStepOptions {
  /** @default the fastest suite this runtime supports */
  suite?: CryptoSuite;
  /** Clock for certificate validity. @default Date.now */
  nowMs?: () => number;
  /**
   * Authenticated rounds: which peer certificates each client holds, kept across rounds (and
   * updated by this round's acknowledgements), so that those are named rather than sent.
   * @default none: every certificate is sent in full
   */
  certificateLedger?: CertificateLedger;
}

export function createSecAggServer(config: RoundConfigInput, auth?: SecAggServerAuth): { ok: true; state: SecAggServerState } | Rejection {
  const parsed = parseRoundConfig(config);
  if (!parsed.ok) return parsed;
  if ((parsed.config.authenticated === true) !== (auth !== undefined)) {
    return reject('INVALID_CONFIG', `createSecAggServer: an authenticated round needs the enrollment issuer and plan hash, and only it takes them`);
  }
  if (auth && auth.planHash.length !== PLAN_HASH_BYTES) {
    return reject('WRONG_LENGTH', `createSecAggServer: planHash has ${auth.planHash.length} bytes, expected ${PLAN_HASH_BYTES}`);
  }
  return {
    ok: true,
    state: {
      stage: 'advertiseKeys',
      config: parsed.config,
      advertised: [],
      shared: [],
      masked: [],
      accumulator: null,
      survivors: [],
      dropped: [],
      unmaskResponses: [],
      result: null,
      abort: null,
      auth: auth ? { enrollmentIssuer: auth.enrollmentIssuer, planHash: copyBytes(auth.planHash) } : null,
      identities: [],
      maskingClaims: [],
      consistency: [],
    },
  };
}

const STAGE_MESSAGE = {
  advertiseKeys: 'advertiseKeys',
  shareKeys: 'shareKeys',
  maskedInput: 'maskedInput',
  consistencyCheck: 'consistency',
  unmasking: 'unmask',
} as const;
type ActiveStage = keyof typeof STAGE_MESSAGE;
type ClientMessageType = (typeof STAGE_MESSAGE)[ActiveStage];

/** Clients the server still waits on in the current stage (a shell closes the stage when empty). */
export function pendingClients(state: SecAggServerState): number[] {
  const n = state.config.clientCount;
  switch (state.stage) {
    case 'advertiseKeys': {
      const done = new Set(state.advertised.map((a) => a.id));
      return Array.from({ length: n }, (_, i) => i).filter((i) => !done.has(i));
    }
    case 'shareKeys': {
      const done = new Set(state.shared.map((s) => s.from));
      return sortedIds(state.advertised.map((a) => a.id)).filter((i) => !done.has(i));
    }
    case 'maskedInput': {
      const done = new Set(state.masked);
      return sortedIds(state.shared.map((s) => s.from)).filter((i) => !done.has(i));
    }
    case 'consistencyCheck': {
      const done = new Set(state.consistency.map((c) => c.id));
      return state.survivors.filter((i) => !done.has(i));
    }
    case 'unmasking': {
      const done = new Set(state.unmaskResponses.map((r) => r.from));
      const asked = state.auth ? sortedIds(state.consistency.map((c) => c.id)) : state.survivors;
      return asked.filter((i) => !done.has(i));
    }
    default:
      return [];
  }
}

/** Which clients the server holds shares of, by kind. The two sets are disjoint by construction. */
export function heldShareKinds(state: SecAggServerState): { selfMaskOf: number[]; maskingKeyOf: number[] } {
  const selfMaskOf = new Set<number>();
  const maskingKeyOf = new Set<number>();
  for (const response of state.unmaskResponses) {
    for (const of of response.selfMaskOf) selfMaskOf.add(of);
    for (const of of response.maskingKeyOf) maskingKeyOf.add(of);
  }
  return { selfMaskOf: sortedIds([...selfMaskOf]), maskingKeyOf: sortedIds([...maskingKeyOf]) };
}

function sortedIds(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

/** One step: a client's message (validated at this edge) or the close of a stage. */
export async function secAggServerStep(
  state: SecAggServerState,
  event: SecAggServerEvent,
  options: SecAggServerStepOptions = {},
): Promise<SecAggServerStepResult> {
  if (state.stage === 'aborted') return reject('ABORTED', `server: the round was aborted (${state.abort?.code}); nothing more is accepted`);
  if (event.type === 'closeStage') {
    if (event.stage !== state.stage) return reject('WRONG_PHASE', `server: asked to close ${event.stage}, but the stage is ${state.stage}`);
    switch (state.stage) {
      case 'advertiseKeys':
        return closeAdvertiseKeys(state, options.certificateLedger);
      case 'shareKeys':
        return closeShareKeys(state);
      case 'maskedInput':
        return closeMaskedInput(state);
      case 'consistencyCheck':
        return closeConsistencyCheck(state, options.certificateLedger);
      case 'unmasking':
        return closeUnmasking(state, options.suite ?? (await defaultSuite()));
      case 'done':
        return reject('WRONG_PHASE', 'server: the round is done; there is no stage to close');
      default: {
        const never: never = state.stage;
        return never;
      }
    }
  }
  const { from } = event;
  const where = `server (${state.stage}) from client ${from}`;
  if (!Number.isInteger(from) || from < 0 || from >= state.config.clientCount) {
    return reject('UNKNOWN_CLIENT', `${where}: not a member of the cohort [0, ${state.config.clientCount})`);
  }
  if (state.stage === 'done') {
    return reject('WRONG_PHASE', `${where}: the round is done; no message is accepted`);
  }
  const stage: ActiveStage = state.stage;
  const expected = STAGE_MESSAGE[stage];
  const parsed = parseInbound(clientToServerSchemas, expected, state.config.roundId, event.message, where, (type) =>
    alreadySent(state, type, from) ? reject('REPLAY', `${where}: already sent ${type}`) : reject('WRONG_PHASE', `${where}: expected ${expected}, got ${type}`),
  );
  if (!parsed.ok) return parsed;
  if (alreadySent(state, expected, from)) return reject('REPLAY', `${where}: already sent ${expected}`);
  const nowMs = (options.nowMs ?? Date.now)();
  switch (stage) {
    case 'advertiseKeys':
      return receiveKeys(state, from, parsed.message as ReceivedAdvertiseKeysMessage, nowMs, where);
    case 'shareKeys':
      return receiveShares(state, from, parsed.message as ShareKeysMessage, where, options.certificateLedger);
    case 'maskedInput':
      return receiveMaskedInput(state, from, parsed.message as MaskedInputMessage, where);
    case 'consistencyCheck':
      return receiveConsistency(state, from, parsed.message as ConsistencyMessage, where);
    case 'unmasking':
      return receiveUnmask(state, from, parsed.message as UnmaskMessage, where, options.certificateLedger);
    default: {
      const never: never = stage;
      return never;
    }
  }
}

function alreadySent(state: SecAggServerState, type: ClientMessageType, from: number): boolean {
  switch (type) {
    case 'advertiseKeys':
      return state.advertised.some((a) => a.id === from);
    case 'shareKeys':
      return state.shared.some((s) => s.from === from);
    case 'maskedInput':
      return state.masked.includes(from);
    case 'consistency':
      return state.consistency.some((c) => c.id === from);
    case 'unmask':
      return state.unmaskResponses.some((r) => r.from === from);
  }
}

function accepted(state: SecAggServerState): SecAggServerStepResult {
  return { ok: true, state, outbound: [] };
}

/**
 * Hex of every public key advertised so far, per `advertised` list: the freshness check is then
 * O(1) per message instead of a scan (O(n²) byte comparisons per round). Steps append to the list
 * in place and keep its index in step; a cloned state rebuilds its index once.
 */
const advertisedKeyIndex = new WeakMap<AdvertisedKeys[], Set<string>>();

function keyIndex(advertised: AdvertisedKeys[]): Set<string> {
  let index = advertisedKeyIndex.get(advertised);
  if (!index) {
    index = new Set(advertised.flatMap((a) => [toHex(a.encryptionPublicKey), toHex(a.maskingPublicKey)]));
    advertisedKeyIndex.set(advertised, index);
  }
  return index;
}

async function receiveKeys(
  state: SecAggServerState,
  from: number,
  message: ReceivedAdvertiseKeysMessage,
  nowMs: number,
  where: string,
): Promise<SecAggServerStepResult> {
  for (const [field, key] of [
    ['encryptionPublicKey', message.encryptionPublicKey],
    ['maskingPublicKey', message.maskingPublicKey],
  ] as const) {
    if (key.length !== KEY_BYTES) return reject('WRONG_LENGTH', `${where}: ${field} has ${key.length} bytes, expected ${KEY_BYTES}`);
  }
  const index = keyIndex(state.advertised);
  const fresh = [toHex(message.encryptionPublicKey), toHex(message.maskingPublicKey)];
  if (fresh.some((hex) => index.has(hex)) || bytesEqual(message.encryptionPublicKey, message.maskingPublicKey)) {
    return reject('INVALID_KEY', `${where}: public keys must be fresh and distinct; this one is already in the round`);
  }
  if (state.auth) {
    // Verified before relaying, so an honest server never forwards a key its peers would refuse.
    const { certificate, selfMaskCommitment: commitment, signature, certificateCache } = message;
    if (!certificate || !commitment || !signature) {
      return reject('BAD_SIGNATURE', `${where}: advertiseKeys needs a commitment and a signature, and the sender's certificate from its connection`);
    }
    if (commitment.length !== COMMITMENT_BYTES)
      return reject('WRONG_LENGTH', `${where}: selfMaskCommitment has ${commitment.length} bytes, expected ${COMMITMENT_BYTES}`);
    if (certificateCache && certificateCache.length !== CERTIFICATE_CACHE_ID_BYTES) {
      return reject('WRONG_LENGTH', `${where}: certificateCache has ${certificateCache.length} bytes, expected ${CERTIFICATE_CACHE_ID_BYTES}`);
    }
    const checked = await checkCertificate(certificate, state.auth.enrollmentIssuer, nowMs);
    if (!checked.ok) return reject('BAD_CERTIFICATE', `${where}: ${checked.reason}`);
    if (state.identities.some((i) => i.subject === checked.clientId)) {
      return reject('BAD_CERTIFICATE', `${where}: certificate subject ${JSON.stringify(checked.clientId)} already holds a seat in this round`);
    }
    const transcript = advertiseTranscript(state.config.roundId, state.auth.planHash, from, message.encryptionPublicKey, message.maskingPublicKey);
    if (!(await verifySignature(checked.publicKey, transcript, signature))) {
      return reject('BAD_SIGNATURE', `${where}: advertiseKeys signature does not verify for this round and plan`);
    }
    state.identities.push({
      id: from,
      certificate,
      subject: checked.clientId,
      signingKey: checked.publicKey,
      selfMaskCommitment: copyBytes(commitment),
      signature: copyBytes(signature),
      certificateRef: certificateRef(certificate),
      certificateCache: certificateCache ? toHex(certificateCache) : null,
    });
  }
  state.advertised.push({ id: from, encryptionPublicKey: copyBytes(message.encryptionPublicKey), maskingPublicKey: copyBytes(message.maskingPublicKey) });
  for (const hex of fresh) index.add(hex);
  return accepted(state);
}

/** U1 as a membership array, built once per (frozen) advertised list rather than once per message. */
const advertisedCache = new WeakMap<AdvertisedKeys[], Uint8Array>();

function advertisedMembership(state: SecAggServerState): Uint8Array {
  let member = advertisedCache.get(state.advertised);
  if (!member) {
    member = new Uint8Array(state.config.clientCount);
    for (const a of state.advertised) member[a.id] = 1;
    advertisedCache.set(state.advertised, member);
  }
  return member;
}

/** The recipients a client must address in ShareKeys: its neighbours that advertised keys, ascending. */
function shareRecipients(state: SecAggServerState, topology: Topology, from: number): number[] {
  const advertised = advertisedMembership(state);
  return topology.neighbours(from).filter((id) => advertised[id] === 1);
}

function receiveShares(
  state: SecAggServerState,
  from: number,
  message: ShareKeysMessage,
  where: string,
  ledger: CertificateLedger | undefined,
): SecAggServerStepResult {
  const advertised = advertisedMembership(state);
  if (advertised[from] !== 1) return reject('UNKNOWN_CLIENT', `${where}: did not advertise keys (not in U1)`);
  // The records follow the peer list this server sent in peerKeys (U1 ∩ N(from), ascending).
  const recipients = shareRecipients(state, topologyOf(state.config), from);
  const recordError = checkRecords(message.ciphertexts, recipients.length, SHARE_CIPHERTEXT_BYTES, `${where}: shareKeys ciphertexts`);
  if (recordError) return recordError;
  // A fresh copy (byteOffset 0, even length): closeShareKeys reads it as 16-bit halves.
  state.shared.push({ from, to: recipients, ciphertexts: copyBytes(message.ciphertexts) });
  // It answered peerKeys, so it verified (and cached) the certificates of exactly these peers.
  if (ledger) acknowledge(state, ledger, from, recipients);
  return accepted(state);
}

async function receiveMaskedInput(state: SecAggServerState, from: number, message: MaskedInputMessage, where: string): Promise<SecAggServerStepResult> {
  if (!state.shared.some((s) => s.from === from)) return reject('UNKNOWN_CLIENT', `${where}: did not share keys (not in U2)`);
  const { vectorLength, modulusBits } = state.config;
  const expectedBytes = vectorLength * wordBytes(modulusBits);
  if (message.maskedInput.length !== expectedBytes) {
    return reject(
      'WRONG_LENGTH',
      `${where}: maskedInput has ${message.maskedInput.length} bytes, expected ${expectedBytes} (d = ${vectorLength} × ${wordBytes(modulusBits)} bytes)`,
    );
  }
  const words = wordView(message.maskedInput, modulusBits);
  const outOfRange = firstOutOfRange(words, modulusBits);
  if (outOfRange >= 0) return reject('OUT_OF_RANGE', `${where}: maskedInput word ${outOfRange} is ≥ 2^${modulusBits}`);
  if (state.auth) {
    const { maskingPeers: claim, signature } = message;
    if (!claim || !signature) return reject('BAD_SIGNATURE', `${where}: maskedInput needs maskingPeers and a signature`);
    const neighbours = topologyOf(state.config).neighbours(from);
    if (!membersOf(claim, neighbours)) {
      return reject(
        'WRONG_LENGTH',
        `${where}: maskingPeers must be a bitset over its ${neighbours.length} neighbours (${Math.ceil(neighbours.length / 8)} bytes, no padding bit set)`,
      );
    }
    const identity = identityOf(state, from);
    if (!(await verifySignature(identity.signingKey, maskingTranscript(state.config.roundId, state.auth.planHash, from, claim), signature))) {
      return reject('BAD_SIGNATURE', `${where}: maskedInput masking claim does not verify`);
    }
    state.maskingClaims.push({ id: from, claim: copyBytes(claim), signature: copyBytes(signature) });
  }
  // Validated: now (and only now) fold it into the running sum.
  state.accumulator ??= createWordVector(vectorLength);
  addWordsMod(state.accumulator, 0, words, 1, modulusBits);
  state.masked.push(from);
  return accepted(state);
}

function receiveUnmask(
  state: SecAggServerState,
  from: number,
  message: UnmaskMessage,
  where: string,
  ledger: CertificateLedger | undefined,
): SecAggServerStepResult {
  if (!state.survivors.includes(from)) return reject('UNKNOWN_CLIENT', `${where}: not a survivor (not in U3)`);
  const topology = topologyOf(state.config);
  const { survivors, dropped } = membership(state);
  const kinds = [
    { field: 'selfMaskShares', ids: message.selfMaskOf, shares: message.selfMaskShares, wanted: survivors, conflicting: dropped },
    { field: 'maskingKeyShares', ids: message.maskingKeyOf, shares: message.maskingKeyShares, wanted: dropped, conflicting: survivors },
  ] as const;
  for (const { field, ids, shares, wanted, conflicting } of kinds) {
    const wantSurvivor = field === 'selfMaskShares';
    const idError = checkIds(ids, state.config.clientCount, `${where}: ${field}`) ?? checkRecords(shares, ids.length, SHARE_BYTES, `${where}: ${field}`);
    if (idError) return idError;
    for (const [index, of] of ids.entries()) {
      if (conflicting.has(of)) {
        // Holding a b-share of a dropped client and an s-share of a survivor is exactly what lets a
        // server unmask one input: never store it (Bonawitz et al. 2017, Round 4).
        return reject(
          'SHARE_KIND_CONFLICT',
          `${where}: ${field} includes client ${of}, which ${wantSurvivor ? 'dropped' : 'survived'}; expected only ${wantSurvivor ? 'survivors' : 'dropped clients'}`,
        );
      }
      if (!wanted.has(of)) return reject('UNKNOWN_CLIENT', `${where}: ${field} includes client ${of}, which is not ${wantSurvivor ? 'in U3' : 'in U2 \\ U3'}`);
      if (of !== from && !topology.isNeighbour(from, of)) return reject('UNKNOWN_CLIENT', `${where}: ${field} includes client ${of}, which is not a neighbour`);
      if (!isFieldElement(shares, index * SHARE_BYTES)) return reject('OUT_OF_RANGE', `${where}: ${field} share of client ${of} is not an element of GF(p)`);
    }
  }
  state.unmaskResponses.push({
    from,
    selfMaskOf: [...message.selfMaskOf],
    selfMaskShares: copyBytes(message.selfMaskShares),
    maskingKeyOf: [...message.maskingKeyOf],
    maskingKeyShares: copyBytes(message.maskingKeyShares),
  });
  // It answered the unmask request, so it verified the certificates that request named.
  if (ledger) acknowledge(state, ledger, from, outsideNeighbourhood(state, topology, from));
  return accepted(state);
}

/** U3 and U2 \ U3 as sets, built once per frozen survivor list rather than once per unmask message. */
const membershipCache = new WeakMap<number[], { survivors: Set<number>; dropped: Set<number> }>();

function membership(state: SecAggServerState): { survivors: Set<number>; dropped: Set<number> } {
  let sets = membershipCache.get(state.survivors);
  if (!sets) {
    sets = { survivors: new Set(state.survivors), dropped: new Set(state.dropped) };
    membershipCache.set(state.survivors, sets);
  }
  return sets;
}

/** Ends the round: no sum, nothing reconstructed, collected secrets dropped; tells the clients. */
function abortRound(state: SecAggServerState, reason: SecAggError, notify: readonly number[]): SecAggServerStepResult {
  const next: SecAggServerState = {
    ...state,
    stage: 'aborted',
    accumulator: null,
    shared: [],
    unmaskResponses: [],
    result: null,
    abort: reason,
  };
  const message: ServerToClientMessage = { type: 'abort', roundId: state.config.roundId, reason: { code: reason.code, message: reason.message } };
  return { ok: true, state: next, outbound: notify.map((to) => ({ to, message })) };
}

/** Survivors (U3) that are neither `to` nor its neighbour: whose certificates its unmask request names. */
function outsideNeighbourhood(state: SecAggServerState, topology: Topology, to: number): number[] {
  return state.survivors.filter((id) => id !== to && !topology.isNeighbour(to, id));
}

/** The Round 0 identity of an advertised client, through an index rebuilt whenever the list has grown. */
function identityOf(state: SecAggServerState, id: number): VerifiedIdentity {
  let byId = identityIndex.get(state.identities);
  if (!byId?.has(id)) {
    byId = new Map(state.identities.map((i) => [i.id, i]));
    identityIndex.set(state.identities, byId);
  }
  return byId.get(id) as VerifiedIdentity;
}
const identityIndex = new WeakMap<VerifiedIdentity[], Map<number, VerifiedIdentity>>();

/** Records in the ledger that client `to` now holds the certificates of `ids`. */
function acknowledge(state: SecAggServerState, ledger: CertificateLedger, to: number, ids: readonly number[]): void {
  // An unauthenticated round has no certificates to acknowledge.
  if (state.auth === null) return;
  const recipient = identityOf(state, to);
  if (recipient.certificateCache === null) return;
  acknowledgeCertificates(
    ledger,
    recipient.subject,
    recipient.certificateCache,
    ids.map((id) => toHex(identityOf(state, id).certificateRef)),
  );
}

/** The references naming the certificates of `ids`, and those certificates `to` does not hold (per the ledger). */
function certificatesFor(
  state: SecAggServerState,
  ledger: CertificateLedger | undefined,
  to: number,
  ids: readonly number[],
): { certificateRefs: Uint8Array; certificates?: string[] } {
  const recipient = identityOf(state, to);
  const held = ledger && recipient.certificateCache !== null ? certificatesHeld(ledger, recipient.subject, recipient.certificateCache) : undefined;
  const certificateRefs = new Uint8Array(ids.length * CERTIFICATE_REF_BYTES);
  const certificates: string[] = [];
  ids.forEach((id, index) => {
    const identity = identityOf(state, id);
    certificateRefs.set(identity.certificateRef, index * CERTIFICATE_REF_BYTES);
    if (!held?.has(toHex(identity.certificateRef))) certificates.push(identity.certificate);
  });
  // Omitted when the recipient holds them all (the steady state): an empty list is bytes too.
  return certificates.length > 0 ? { certificateRefs, certificates } : { certificateRefs };
}

function closeAdvertiseKeys(state: SecAggServerState, ledger: CertificateLedger | undefined): SecAggServerStepResult {
  const { config } = state;
  const advertised = [...state.advertised].sort((a, b) => a.id - b.id);
  const u1 = advertised.map((a) => a.id);
  if (u1.length < config.threshold) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `AdvertiseKeys: ${u1.length} clients sent keys, need threshold ${config.threshold}`), u1);
  }
  const topology = topologyOf(config);
  // Every advertised key pair once, in id order; each recipient's peerKeys is copied out of it in
  // runs of consecutive ids (two runs in the full graph: the peers below it and above it).
  const allKeys = new Uint8Array(advertised.length * PEER_KEYS_BYTES);
  const position = new Map<number, number>();
  advertised.forEach((a, index) => {
    allKeys.set(a.encryptionPublicKey, index * PEER_KEYS_BYTES);
    allKeys.set(a.maskingPublicKey, index * PEER_KEYS_BYTES + KEY_BYTES);
    position.set(a.id, index);
  });
  const outbound = u1.map((to) => {
    const peers = topology.neighbours(to).filter((id) => position.has(id));
    const publicKeys = new Uint8Array(peers.length * PEER_KEYS_BYTES);
    for (let first = 0; first < peers.length;) {
      const start = position.get(peers[first] as number) as number;
      let last = first;
      while (last + 1 < peers.length && position.get(peers[last + 1] as number) === start + (last + 1 - first)) last++;
      publicKeys.set(allKeys.subarray(start * PEER_KEYS_BYTES, (start + last - first + 1) * PEER_KEYS_BYTES), first * PEER_KEYS_BYTES);
      first = last + 1;
    }
    const message: ServerToClientMessage = { type: 'peerKeys', roundId: config.roundId, peers: bitsetOf(peers, topology.neighbours(to)), publicKeys };
    if (state.auth) {
      // Relayed as the peers signed them: the recipient verifies each against the issuer itself.
      const signatures = new Uint8Array(peers.length * SIGNATURE_BYTES);
      peers.forEach((id, index) => signatures.set(identityOf(state, id).signature, index * SIGNATURE_BYTES));
      Object.assign(message, certificatesFor(state, ledger, to, peers), { signatures });
    }
    return { to, message };
  });
  return { ok: true, state: { ...state, stage: 'shareKeys', advertised }, outbound };
}

function closeShareKeys(state: SecAggServerState): SecAggServerStepResult {
  const { config } = state;
  const shared = [...state.shared].sort((a, b) => a.from - b.from);
  const u2 = shared.map((s) => s.from);
  if (u2.length < config.threshold) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `ShareKeys: ${u2.length} clients sent shares, need threshold ${config.threshold}`), u2);
  }
  // Transpose the senders' packed ciphertexts into one packed inbox per recipient in U2: count,
  // allocate, then copy. Senders are visited in ascending order, so each inbox's `from` ascends.
  const counts = new Int32Array(config.clientCount);
  for (const { to } of shared) for (const id of to) counts[id] = (counts[id] as number) + 1;
  // Records are copied as 41 16-bit halves (the stored ciphertexts and the inboxes are fresh
  // buffers, so aligned): twice as fast as a subarray + set per record, which allocated n² views.
  const halves = SHARE_CIPHERTEXT_BYTES / 2;
  const inboxes: ({ from: number[]; ciphertexts: Uint16Array } | undefined)[] = new Array(config.clientCount);
  for (const id of u2) inboxes[id] = { from: [], ciphertexts: new Uint16Array((counts[id] as number) * halves) };
  for (const { from, to, ciphertexts } of shared) {
    const source = new Uint16Array(ciphertexts.buffer, ciphertexts.byteOffset, ciphertexts.length / 2);
    for (let index = 0; index < to.length; index++) {
      const inbox = inboxes[to[index] as number];
      if (!inbox) continue;
      const read = index * halves;
      const write = inbox.from.length * halves;
      const out = inbox.ciphertexts;
      for (let h = 0; h < halves; h++) out[write + h] = source[read + h] as number;
      inbox.from.push(from);
    }
  }
  const topology = topologyOf(config);
  const outbound = u2.map((to) => {
    const inbox = inboxes[to] as { from: number[]; ciphertexts: Uint16Array };
    const ciphertexts = new Uint8Array(inbox.ciphertexts.buffer);
    return { to, message: { type: 'encryptedShares' as const, roundId: config.roundId, from: bitsetOf(inbox.from, topology.neighbours(to)), ciphertexts } };
  });
  return { ok: true, state: { ...state, stage: 'maskedInput', shared }, outbound };
}

function closeMaskedInput(state: SecAggServerState): SecAggServerStepResult {
  const { config } = state;
  const survivors = sortedIds(state.masked);
  const survivorSet = new Set(survivors);
  const dropped = state.shared.map((s) => s.from).filter((id) => !survivorSet.has(id));
  if (survivors.length < config.threshold) {
    return abortRound(
      state,
      secAggError('BELOW_THRESHOLD', `MaskedInputCollection: ${survivors.length} masked inputs, need threshold ${config.threshold}`),
      survivors,
    );
  }
  const topology = topologyOf(config);
  const holderError = checkHolders(state, survivors, dropped, survivorSet, 'MaskedInputCollection');
  if (holderError) return abortRound(state, holderError, survivors);
  if (state.auth) {
    // Round 3 (ConsistencyCheck): the same U3 to every survivor, to sign.
    const bits = cohortBitset(survivors, config.clientCount);
    const outbound = survivors.map((to) => ({ to, message: { type: 'consistencyRequest' as const, roundId: config.roundId, survivors: bits } }));
    return { ok: true, state: { ...state, stage: 'consistencyCheck', survivors, dropped }, outbound };
  }
  const outbound = survivors.map((to) => ({
    to,
    message: {
      type: 'unmaskRequest' as const,
      roundId: config.roundId,
      survivors: survivors.filter((id) => id === to || topology.isNeighbour(to, id)),
    },
  }));
  return { ok: true, state: { ...state, stage: 'unmasking', survivors, dropped }, outbound };
}

/**
 * SecAgg+: every secret to reconstruct needs t holders among those who will be asked. Checked
 * before asking anyone to reveal anything, so an infeasible round aborts with no share revealed.
 */
function checkHolders(state: SecAggServerState, survivors: number[], dropped: number[], asked: Set<number>, where: string): SecAggError | null {
  const topology = topologyOf(state.config);
  const u2 = new Set(state.shared.map((s) => s.from));
  for (const v of [...survivors, ...dropped]) {
    const holders = topology.neighbours(v).filter((id) => asked.has(id) && u2.has(id)).length + (asked.has(v) ? 1 : 0);
    if (holders < state.config.threshold) {
      return secAggError('BELOW_THRESHOLD', `${where}: client ${v}'s secrets have ${holders} surviving holders, need threshold ${state.config.threshold}`);
    }
  }
  return null;
}

async function receiveConsistency(state: SecAggServerState, from: number, message: ConsistencyMessage, where: string): Promise<SecAggServerStepResult> {
  if (!state.survivors.includes(from)) return reject('UNKNOWN_CLIENT', `${where}: not a survivor (not in U3)`);
  const auth = state.auth as SecAggServerAuth;
  const transcript = consistencyTranscript(state.config.roundId, auth.planHash, from, cohortBitset(state.survivors, state.config.clientCount));
  if (!(await verifySignature(identityOf(state, from).signingKey, transcript, message.signature))) {
    return reject('BAD_SIGNATURE', `${where}: consistency signature does not verify on U3`);
  }
  state.consistency.push({ id: from, signature: copyBytes(message.signature) });
  return accepted(state);
}

/**
 * Round 3 close: with ≥ q signatures on U3, send every signer one signature per survivor (its
 * Round 3 one, which implies its claim among U3, or else its Round 2 claim's, with the claim), and
 * the certificates of non-neighbours it lacks.
 */
function closeConsistencyCheck(state: SecAggServerState, ledger: CertificateLedger | undefined): SecAggServerStepResult {
  const { config, survivors, dropped } = state;
  const consistency = [...state.consistency].sort((a, b) => a.id - b.id);
  const signers = consistency.map((c) => c.id);
  const quorum = consistencyQuorum(config.clientCount, config.threshold);
  if (signers.length < quorum) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `ConsistencyCheck: ${signers.length} signatures on U3, need ${quorum}`), survivors);
  }
  const holderError = checkHolders(state, survivors, dropped, new Set(signers), 'ConsistencyCheck');
  if (holderError) return abortRound(state, holderError, survivors);
  const topology = topologyOf(config);
  const claimBytes = Math.ceil(topology.neighbours(survivors[0] as number).length / 8);
  const claimsById = new Map(state.maskingClaims.map((c) => [c.id, c]));
  const round3 = new Map(consistency.map((c) => [c.id, c.signature]));
  const claims = new Uint8Array((survivors.length - round3.size) * claimBytes);
  const consistencySigned = new Uint8Array(Math.ceil(survivors.length / 8));
  const signatures = new Uint8Array(survivors.length * SIGNATURE_BYTES);
  let unsigned = 0;
  survivors.forEach((id, index) => {
    const signature = round3.get(id);
    if (signature) {
      consistencySigned[index >> 3] = (consistencySigned[index >> 3] as number) | (1 << (index & 7));
      signatures.set(signature, index * SIGNATURE_BYTES);
      return;
    }
    const claim = claimsById.get(id) as MaskingClaim;
    claims.set(claim.claim, unsigned++ * claimBytes);
    signatures.set(claim.signature, index * SIGNATURE_BYTES);
  });
  const outbound = signers.map((to) => ({
    to,
    message: {
      type: 'unmaskRequest' as const,
      roundId: config.roundId,
      consistencySigned,
      signatures,
      claims,
      ...certificatesFor(state, ledger, to, outsideNeighbourhood(state, topology, to)),
    },
  }));
  return { ok: true, state: { ...state, stage: 'unmasking', consistency }, outbound };
}

/** Up to t shares of one secret: the holders' Shamir points and the share values. */
interface GatheredShares {
  points: number[];
  values: bigint[];
}

/**
 * Round 4 server side: reconstruct b_v for every survivor and s_v for every dropped client from t
 * shares each, then Σx = Σy − Σ_{v∈U3} PRG(b_v) − Σ_{v dropped} Σ_{u∈U3∩N(v)} ±PRG(s_uv).
 */
async function closeUnmasking(state: SecAggServerState, suite: CryptoSuite): Promise<SecAggServerStepResult> {
  const { config, survivors, dropped } = state;
  const t = config.threshold;
  const responders = sortedIds(state.unmaskResponses.map((r) => r.from));
  if (responders.length < t) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `Unmasking: ${responders.length} clients answered, need threshold ${t}`), survivors);
  }
  // The first t shares of each secret, from the lowest responders: only those are ever parsed.
  const selfMaskSharesOf = new Map<number, GatheredShares>();
  const maskingKeySharesOf = new Map<number, GatheredShares>();
  for (const response of [...state.unmaskResponses].sort((a, b) => a.from - b.from)) {
    const kinds = [
      [response.selfMaskOf, response.selfMaskShares, selfMaskSharesOf],
      [response.maskingKeyOf, response.maskingKeyShares, maskingKeySharesOf],
    ] as const;
    for (const [ids, shares, target] of kinds) {
      const view = new DataView(shares.buffer, shares.byteOffset, shares.byteLength);
      ids.forEach((of, index) => {
        let gathered = target.get(of);
        if (!gathered) target.set(of, (gathered = { points: [], values: [] }));
        if (gathered.points.length === t) return;
        gathered.points.push(response.from + 1);
        gathered.values.push(fieldElementAt(view, index * SHARE_BYTES));
      });
    }
  }
  // Lagrange weights depend only on which t points are used; in the full graph that is the same
  // set for every secret, so one set of inversions serves all n reconstructions.
  const weights = new Map<string, bigint[]>();
  const reconstruct = (shares: GatheredShares | undefined): Uint8Array | null | 'too few' => {
    if (!shares || shares.points.length < t) return 'too few';
    const key = shares.points.join(',');
    let w = weights.get(key);
    if (!w) {
      w = lagrangeAtZero(shares.points);
      weights.set(key, w);
    }
    return combineWithWeights(w, shares.values);
  };

  const terms: MaskTerm[] = [];
  for (const v of survivors) {
    const seed = reconstruct(selfMaskSharesOf.get(v));
    if (seed === 'too few') {
      return abortRound(
        state,
        secAggError('BELOW_THRESHOLD', `Unmasking: ${selfMaskSharesOf.get(v)?.points.length ?? 0} b-shares of client ${v}, need threshold ${t}`),
        survivors,
      );
    }
    if (seed === null) return abortRound(state, secAggError('RECONSTRUCTION_FAILED', `Unmasking: the b-shares of client ${v} are inconsistent`), survivors);
    const commitment: Uint8Array | undefined = state.auth ? identityOf(state, v).selfMaskCommitment : undefined;
    // A corrupt b-share from a malicious holder changes the reconstruction: caught here, before b is used.
    if (commitment !== undefined && !bytesEqual(selfMaskCommitment(config.roundId, v, seed as Uint8Array), commitment)) {
      return abortRound(
        state,
        secAggError('RECONSTRUCTION_FAILED', `Unmasking: the b-shares of client ${v} reconstruct a seed that does not match its signed commitment`),
        survivors,
      );
    }
    terms.push({ key: seed, sign: -1 });
  }
  const keysById = new Map(state.advertised.map((a) => [a.id, a]));
  const topology = topologyOf(config);
  const survivorSet = new Set(survivors);
  for (const v of dropped) {
    const secretKey = reconstruct(maskingKeySharesOf.get(v));
    if (secretKey === 'too few') {
      return abortRound(
        state,
        secAggError('BELOW_THRESHOLD', `Unmasking: ${maskingKeySharesOf.get(v)?.points.length ?? 0} s-key shares of dropped client ${v}, need threshold ${t}`),
        survivors,
      );
    }
    // The reconstructed key must be the one v advertised: a cheap check that the shares were honest.
    const advertised = keysById.get(v) as AdvertisedKeys;
    const publicKey = secretKey && (await publicKeyOf(suite, secretKey));
    if (!secretKey || !publicKey || !bytesEqual(publicKey, advertised.maskingPublicKey)) {
      return abortRound(
        state,
        secAggError('RECONSTRUCTION_FAILED', `Unmasking: the s-key shares of client ${v} do not reconstruct its advertised key`),
        survivors,
      );
    }
    const partners = topology.neighbours(v).filter((u) => survivorSet.has(u));
    const agreed = await suite.agree(
      secretKey,
      partners.map((u) => (keysById.get(u) as AdvertisedKeys).maskingPublicKey),
    );
    for (const [index, u] of partners.entries()) {
      const secret = agreed[index];
      if (!secret) return abortRound(state, secAggError('INVALID_KEY', `Unmasking: client ${u}'s masking key is of low order`), survivors);
      // y_u carries +PRG(s_uv) if v > u and −PRG(s_uv) if v < u: subtract exactly that.
      terms.push({ key: deriveKey(secret, 'pairwise-mask', config.roundId, u, v), sign: v > u ? -1 : 1 });
    }
  }
  const sum = state.accumulator ?? createWordVector(config.vectorLength);
  await applyMasks(suite, sum, terms, config.modulusBits);
  const result: SecAggResult = { sum, survivors, dropped };
  return { ok: true, state: { ...state, stage: 'done', accumulator: null, result }, outbound: [] };
}
