import { bytesEqual, firstOutOfRange, wordBytes, wordView } from './bytes';
import { SHARE_CIPHERTEXT_BYTES } from './client';
import { parseRoundConfig, topologyOf, type RoundConfigInput, type Topology } from './config';
import { defaultSuite, deriveKey, KEY_BYTES, publicKeyOf, type CryptoSuite } from './crypto';
import { reject, secAggError, type Rejection, type SecAggError } from './errors';
import {
  checkIds,
  clientToServerSchemas,
  parseInbound,
  type AdvertiseKeysMessage,
  type MaskedInputMessage,
  type RoundConfig,
  type ServerToClientMessage,
  type ShareKeysMessage,
  type UnmaskMessage,
} from './messages';
import { addWordsMod, createWordVector } from '../kernels/modular';
import { applyMasks, type MaskTerm } from './prg';
import { combineWithWeights, lagrangeAtZero, parseShare, SHARE_BYTES } from './shamir';

export type SecAggServerStage = 'advertiseKeys' | 'shareKeys' | 'maskedInput' | 'unmasking' | 'done' | 'aborted';

export interface AdvertisedKeys {
  id: number;
  encryptionPublicKey: Uint8Array;
  maskingPublicKey: Uint8Array;
}

export interface ShareOf {
  of: number;
  share: Uint8Array;
}

export interface UnmaskResponse {
  from: number;
  /** b-shares, only ever of survivors. */
  selfMaskShares: ShareOf[];
  /** s-key shares, only ever of dropped clients. */
  maskingKeyShares: ShareOf[];
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
 * The server's explicit, serializable state (plain data and typed arrays). The running sum of
 * masked inputs is accumulated in place as each arrives (so the server holds one d-vector, not n):
 * a state passed to a step that succeeds is consumed; keep the returned one. Validation happens
 * before any change, so a rejected message leaves the state as it was.
 */
export interface SecAggServerState {
  stage: SecAggServerStage;
  config: RoundConfig;
  /** U1 in arrival order. */
  advertised: AdvertisedKeys[];
  /** U2: each sender's ciphertexts, to be relayed. */
  shared: { from: number; shares: ShareKeysMessage['shares'] }[];
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
}

export function createSecAggServer(config: RoundConfigInput): { ok: true; state: SecAggServerState } | Rejection {
  const parsed = parseRoundConfig(config);
  if (!parsed.ok) return parsed;
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
    },
  };
}

const STAGE_MESSAGE = {
  advertiseKeys: 'advertiseKeys',
  shareKeys: 'shareKeys',
  maskedInput: 'maskedInput',
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
    case 'unmasking': {
      const done = new Set(state.unmaskResponses.map((r) => r.from));
      return state.survivors.filter((i) => !done.has(i));
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
    for (const s of response.selfMaskShares) selfMaskOf.add(s.of);
    for (const s of response.maskingKeyShares) maskingKeyOf.add(s.of);
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
        return closeAdvertiseKeys(state);
      case 'shareKeys':
        return closeShareKeys(state);
      case 'maskedInput':
        return closeMaskedInput(state);
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
    alreadySent(state, type, from)
      ? reject('REPLAY', `${where}: already sent ${type}`)
      : reject('WRONG_PHASE', `${where}: expected ${expected}, got ${type}`),
  );
  if (!parsed.ok) return parsed;
  if (alreadySent(state, expected, from)) return reject('REPLAY', `${where}: already sent ${expected}`);
  switch (stage) {
    case 'advertiseKeys':
      return receiveKeys(state, from, parsed.message as AdvertiseKeysMessage, where);
    case 'shareKeys':
      return receiveShares(state, from, parsed.message as ShareKeysMessage, where);
    case 'maskedInput':
      return receiveMaskedInput(state, from, parsed.message as MaskedInputMessage, where);
    case 'unmasking':
      return receiveUnmask(state, from, parsed.message as UnmaskMessage, where);
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
    case 'unmask':
      return state.unmaskResponses.some((r) => r.from === from);
  }
}

function accepted(state: SecAggServerState): SecAggServerStepResult {
  return { ok: true, state, outbound: [] };
}

function receiveKeys(state: SecAggServerState, from: number, message: AdvertiseKeysMessage, where: string): SecAggServerStepResult {
  for (const [field, key] of [['encryptionPublicKey', message.encryptionPublicKey], ['maskingPublicKey', message.maskingPublicKey]] as const) {
    if (key.length !== KEY_BYTES) return reject('WRONG_LENGTH', `${where}: ${field} has ${key.length} bytes, expected ${KEY_BYTES}`);
  }
  const fresh = [message.encryptionPublicKey, message.maskingPublicKey];
  const reused = state.advertised.some((a) => fresh.some((key) => bytesEqual(key, a.encryptionPublicKey) || bytesEqual(key, a.maskingPublicKey)));
  if (reused || bytesEqual(message.encryptionPublicKey, message.maskingPublicKey)) {
    return reject('INVALID_KEY', `${where}: public keys must be fresh and distinct; this one is already in the round`);
  }
  const entry = { id: from, encryptionPublicKey: message.encryptionPublicKey.slice(), maskingPublicKey: message.maskingPublicKey.slice() };
  return accepted({ ...state, advertised: [...state.advertised, entry] });
}

/** The recipients a client must address in ShareKeys: its neighbours that advertised keys. */
function shareRecipients(state: SecAggServerState, topology: Topology, from: number): number[] {
  const advertised = new Set(state.advertised.map((a) => a.id));
  return topology.neighbours(from).filter((id) => advertised.has(id));
}

function receiveShares(state: SecAggServerState, from: number, message: ShareKeysMessage, where: string): SecAggServerStepResult {
  if (!state.advertised.some((a) => a.id === from)) return reject('UNKNOWN_CLIENT', `${where}: did not advertise keys (not in U1)`);
  const recipients = message.shares.map((s) => s.to);
  const idError = checkIds(recipients, state.config.clientCount, `${where}: shareKeys`);
  if (idError) return idError;
  const expected = shareRecipients(state, topologyOf(state.config), from);
  const expectedSet = new Set(expected);
  for (const share of message.shares) {
    if (!expectedSet.has(share.to)) return reject('UNKNOWN_CLIENT', `${where}: share addressed to client ${share.to}, which is not one of its peers in U1`);
    if (share.ciphertext.length !== SHARE_CIPHERTEXT_BYTES) {
      return reject('WRONG_LENGTH', `${where}: share for client ${share.to} has ${share.ciphertext.length} bytes, expected ${SHARE_CIPHERTEXT_BYTES}`);
    }
  }
  if (recipients.length !== expected.length) {
    const got = new Set(recipients);
    const missing = expected.filter((id) => !got.has(id));
    return reject('MALFORMED', `${where}: expected one share for each of ${expected.length} peers, missing ${missing.slice(0, 10).join(', ')}`);
  }
  const shares = message.shares.map((s) => ({ to: s.to, ciphertext: s.ciphertext.slice() }));
  return accepted({ ...state, shared: [...state.shared, { from, shares }] });
}

function receiveMaskedInput(state: SecAggServerState, from: number, message: MaskedInputMessage, where: string): SecAggServerStepResult {
  if (!state.shared.some((s) => s.from === from)) return reject('UNKNOWN_CLIENT', `${where}: did not share keys (not in U2)`);
  const { vectorLength, modulusBits } = state.config;
  const expectedBytes = vectorLength * wordBytes(modulusBits);
  if (message.maskedInput.length !== expectedBytes) {
    return reject('WRONG_LENGTH', `${where}: maskedInput has ${message.maskedInput.length} bytes, expected ${expectedBytes} (d = ${vectorLength} × ${wordBytes(modulusBits)} bytes)`);
  }
  const words = wordView(message.maskedInput, modulusBits);
  const outOfRange = firstOutOfRange(words, modulusBits);
  if (outOfRange >= 0) return reject('OUT_OF_RANGE', `${where}: maskedInput word ${outOfRange} is ≥ 2^${modulusBits}`);
  // Validated: now (and only now) fold it into the running sum.
  const accumulator = state.accumulator ?? createWordVector(vectorLength);
  addWordsMod(accumulator, 0, words, 1, modulusBits);
  return accepted({ ...state, masked: [...state.masked, from], accumulator });
}

function receiveUnmask(state: SecAggServerState, from: number, message: UnmaskMessage, where: string): SecAggServerStepResult {
  if (!state.survivors.includes(from)) return reject('UNKNOWN_CLIENT', `${where}: not a survivor (not in U3)`);
  const topology = topologyOf(state.config);
  const survivors = new Set(state.survivors);
  const dropped = new Set(state.dropped);
  for (const [field, list] of [['selfMaskShares', message.selfMaskShares], ['maskingKeyShares', message.maskingKeyShares]] as const) {
    const idError = checkIds(list.map((s) => s.of), state.config.clientCount, `${where}: ${field}`);
    if (idError) return idError;
    for (const { of, share } of list) {
      const wantSurvivor = field === 'selfMaskShares';
      if ((wantSurvivor ? dropped : survivors).has(of)) {
        // Holding a b-share of a dropped client and an s-share of a survivor is exactly what lets a
        // server unmask one input: never store it (Bonawitz et al. 2017, Round 4).
        return reject('SHARE_KIND_CONFLICT', `${where}: ${field} includes client ${of}, which ${wantSurvivor ? 'dropped' : 'survived'}; expected only ${wantSurvivor ? 'survivors' : 'dropped clients'}`);
      }
      if (!(wantSurvivor ? survivors : dropped).has(of)) return reject('UNKNOWN_CLIENT', `${where}: ${field} includes client ${of}, which is not ${wantSurvivor ? 'in U3' : 'in U2 \\ U3'}`);
      if (of !== from && !topology.isNeighbour(from, of)) return reject('UNKNOWN_CLIENT', `${where}: ${field} includes client ${of}, which is not a neighbour`);
      if (share.length !== SHARE_BYTES) return reject('WRONG_LENGTH', `${where}: ${field} share of client ${of} has ${share.length} bytes, expected ${SHARE_BYTES}`);
      if (parseShare(share) === null) return reject('OUT_OF_RANGE', `${where}: ${field} share of client ${of} is not an element of GF(p)`);
    }
  }
  const copyShares = (list: ShareOf[]) => list.map((s) => ({ of: s.of, share: s.share.slice() }));
  const response = { from, selfMaskShares: copyShares(message.selfMaskShares), maskingKeyShares: copyShares(message.maskingKeyShares) };
  return accepted({ ...state, unmaskResponses: [...state.unmaskResponses, response] });
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

function closeAdvertiseKeys(state: SecAggServerState): SecAggServerStepResult {
  const { config } = state;
  const advertised = [...state.advertised].sort((a, b) => a.id - b.id);
  const u1 = advertised.map((a) => a.id);
  if (u1.length < config.threshold) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `AdvertiseKeys: ${u1.length} clients sent keys, need threshold ${config.threshold}`), u1);
  }
  const topology = topologyOf(config);
  const byId = new Map(advertised.map((a) => [a.id, a]));
  const outbound = u1.map((to) => ({
    to,
    message: {
      type: 'peerKeys' as const,
      roundId: config.roundId,
      peers: topology
        .neighbours(to)
        .filter((id) => byId.has(id))
        .map((id) => byId.get(id) as AdvertisedKeys),
    },
  }));
  return { ok: true, state: { ...state, stage: 'shareKeys', advertised }, outbound };
}

function closeShareKeys(state: SecAggServerState): SecAggServerStepResult {
  const { config } = state;
  const shared = [...state.shared].sort((a, b) => a.from - b.from);
  const u2 = shared.map((s) => s.from);
  if (u2.length < config.threshold) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `ShareKeys: ${u2.length} clients sent shares, need threshold ${config.threshold}`), u2);
  }
  const inbox = new Map<number, { from: number; ciphertext: Uint8Array }[]>(u2.map((id) => [id, []]));
  for (const { from, shares } of shared) {
    for (const { to, ciphertext } of shares) inbox.get(to)?.push({ from, ciphertext });
  }
  const outbound = u2.map((to) => ({
    to,
    message: { type: 'encryptedShares' as const, roundId: config.roundId, shares: inbox.get(to) ?? [] },
  }));
  return { ok: true, state: { ...state, stage: 'maskedInput', shared }, outbound };
}

function closeMaskedInput(state: SecAggServerState): SecAggServerStepResult {
  const { config } = state;
  const survivors = sortedIds(state.masked);
  const survivorSet = new Set(survivors);
  const dropped = state.shared.map((s) => s.from).filter((id) => !survivorSet.has(id));
  if (survivors.length < config.threshold) {
    return abortRound(state, secAggError('BELOW_THRESHOLD', `MaskedInputCollection: ${survivors.length} masked inputs, need threshold ${config.threshold}`), survivors);
  }
  const topology = topologyOf(config);
  const u2 = new Set(state.shared.map((s) => s.from));
  // SecAgg+: every secret to reconstruct needs t surviving holders. Check before asking anyone to
  // reveal anything, so an infeasible round aborts with no share revealed.
  for (const v of [...survivors, ...dropped]) {
    const holders = topology.neighbours(v).filter((id) => survivorSet.has(id) && u2.has(id)).length + (survivorSet.has(v) ? 1 : 0);
    if (holders < config.threshold) {
      return abortRound(
        state,
        secAggError('BELOW_THRESHOLD', `MaskedInputCollection: client ${v}'s secrets have ${holders} surviving holders, need threshold ${config.threshold}`),
        survivors,
      );
    }
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
  const selfMaskSharesOf = new Map<number, { point: number; value: bigint }[]>();
  const maskingKeySharesOf = new Map<number, { point: number; value: bigint }[]>();
  for (const response of [...state.unmaskResponses].sort((a, b) => a.from - b.from)) {
    for (const [list, target] of [[response.selfMaskShares, selfMaskSharesOf], [response.maskingKeyShares, maskingKeySharesOf]] as const) {
      for (const { of, share } of list) {
        const entries = target.get(of) ?? [];
        entries.push({ point: response.from + 1, value: parseShare(share) as bigint });
        target.set(of, entries);
      }
    }
  }
  // Lagrange weights depend only on which t points are used; in the full graph that is the same
  // set for every secret, so one set of inversions serves all n reconstructions.
  const weights = new Map<string, bigint[]>();
  const reconstruct = (shares: { point: number; value: bigint }[] | undefined): Uint8Array | null | 'too few' => {
    if (!shares || shares.length < t) return 'too few';
    const used = shares.slice(0, t);
    const points = used.map((s) => s.point);
    const key = points.join(',');
    let w = weights.get(key);
    if (!w) {
      w = lagrangeAtZero(points);
      weights.set(key, w);
    }
    return combineWithWeights(w, used.map((s) => s.value));
  };

  const terms: MaskTerm[] = [];
  for (const v of survivors) {
    const seed = reconstruct(selfMaskSharesOf.get(v));
    if (seed === 'too few') {
      return abortRound(state, secAggError('BELOW_THRESHOLD', `Unmasking: ${selfMaskSharesOf.get(v)?.length ?? 0} b-shares of client ${v}, need threshold ${t}`), survivors);
    }
    if (seed === null) return abortRound(state, secAggError('RECONSTRUCTION_FAILED', `Unmasking: the b-shares of client ${v} are inconsistent`), survivors);
    terms.push({ key: seed, sign: -1 });
  }
  const keysById = new Map(state.advertised.map((a) => [a.id, a]));
  const topology = topologyOf(config);
  const survivorSet = new Set(survivors);
  for (const v of dropped) {
    const secretKey = reconstruct(maskingKeySharesOf.get(v));
    if (secretKey === 'too few') {
      return abortRound(state, secAggError('BELOW_THRESHOLD', `Unmasking: ${maskingKeySharesOf.get(v)?.length ?? 0} s-key shares of dropped client ${v}, need threshold ${t}`), survivors);
    }
    // The reconstructed key must be the one v advertised: a cheap check that the shares were honest.
    const advertised = keysById.get(v) as AdvertisedKeys;
    const publicKey = secretKey && (await publicKeyOf(suite, secretKey));
    if (!secretKey || !publicKey || !bytesEqual(publicKey, advertised.maskingPublicKey)) {
      return abortRound(state, secAggError('RECONSTRUCTION_FAILED', `Unmasking: the s-key shares of client ${v} do not reconstruct its advertised key`), survivors);
    }
    const partners = topology.neighbours(v).filter((u) => survivorSet.has(u));
    const agreed = await suite.agree(secretKey, partners.map((u) => (keysById.get(u) as AdvertisedKeys).maskingPublicKey));
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
