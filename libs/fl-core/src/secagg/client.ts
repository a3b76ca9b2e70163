import { secureRandomBytes, type RandomBytes } from '../random/index';
import { concatBytes, packWords, toHex, wipe } from './bytes';
import { parseRoundConfig, topologyOf, type RoundConfigInput } from './config';
import { defaultSuite, deriveKey, generateKeyPair, KEY_BYTES, NONCE_BYTES, shareAssociatedData, TAG_BYTES, type CryptoSuite } from './crypto';
import { reject, secAggError, type Rejection, type SecAggError } from './errors';
import {
  checkIds,
  checkRecords,
  parseInbound,
  serverToClientSchemas,
  type AdvertiseKeysMessage,
  type ClientToServerMessage,
  type RoundConfig,
} from './messages';
import { createWordVector } from '../kernels/modular';
import { applyMasks, type MaskTerm } from './prg';
import { parseShare, SHARE_BYTES, splitSecret } from './shamir';

/** Plaintext of one share message: the s-key share then the b share (Bonawitz et al. 2017, protocol Round 1: ShareKeys). */
const SHARE_PLAINTEXT_BYTES = 2 * SHARE_BYTES;
/** nonce ‖ AES-GCM(ciphertext ‖ tag). */
export const SHARE_CIPHERTEXT_BYTES = NONCE_BYTES + SHARE_PLAINTEXT_BYTES + TAG_BYTES;
/** One peer's record in peerKeys: encryption public key ‖ masking public key. */
export const PEER_KEYS_BYTES = 2 * KEY_BYTES;

interface ClientBase {
  config: RoundConfig;
  clientId: number;
}

/** The two shares client `of` gave this client (or this client's own, when `of` is itself). */
export interface HeldShares {
  of: number;
  maskingKeyShare: Uint8Array;
  selfMaskShare: Uint8Array;
}

interface PeerSecrets {
  id: number;
  /** AES-GCM key for this pair's share messages (from the c keys). */
  encryptionKey: Uint8Array;
  /** PRG key s_uv for this pair's mask (from the s keys). */
  maskKey: Uint8Array;
}

/**
 * The client's explicit, serializable state (plain data and typed arrays; structured-clone it to
 * persist). One variant per stage; secrets are dropped as soon as the protocol no longer needs
 * them: key pairs after ShareKeys, b and x after masking, held shares after unmasking. A state
 * passed to a step that succeeds is consumed (its secrets are zeroed); keep the returned one.
 */
export type SecAggClientState =
  | (ClientBase & {
      stage: 'awaitingPeerKeys';
      encryptionSecretKey: Uint8Array;
      maskingSecretKey: Uint8Array;
      /** b: the self-mask seed. */
      selfMaskSeed: Uint8Array;
      encryptionPublicKey: Uint8Array;
      maskingPublicKey: Uint8Array;
      input: Uint32Array;
    })
  | (ClientBase & {
      stage: 'awaitingShares';
      selfMaskSeed: Uint8Array;
      input: Uint32Array;
      peers: PeerSecrets[];
      own: HeldShares;
    })
  | (ClientBase & {
      stage: 'awaitingUnmaskRequest';
      /** Neighbours whose shares arrived: the peers this client masked with (U2 ∩ N(u)). */
      maskingPeers: number[];
      held: HeldShares[];
    })
  | (ClientBase & {
      stage: 'done';
      /** What this client revealed: one kind per peer, never both. */
      revealedSelfMaskOf: number[];
      revealedMaskingKeyOf: number[];
    })
  | (ClientBase & { stage: 'aborted'; reason: SecAggError });

export type SecAggClientStage = SecAggClientState['stage'];

export interface SecAggClientStepOptions {
  /** CSPRNG for keys, b, Shamir coefficients and nonces. @default secureRandomBytes */
  randomBytes?: RandomBytes;
  /** @default the fastest suite this runtime supports */
  suite?: CryptoSuite;
}

export interface SecAggClientOptions extends SecAggClientStepOptions {
  config: RoundConfigInput;
  clientId: number;
  /** x: this client's encoded update, d words each < 2^k (see encode/). */
  input: Uint32Array;
}

export type SecAggClientStepResult = { ok: true; state: SecAggClientState; outbound: ClientToServerMessage | null } | Rejection;

/** Stage order of the server messages a client expects, for telling a replay from a skipped stage. */
const EXPECTED: Record<'awaitingPeerKeys' | 'awaitingShares' | 'awaitingUnmaskRequest', 'peerKeys' | 'encryptedShares' | 'unmaskRequest'> = {
  awaitingPeerKeys: 'peerKeys',
  awaitingShares: 'encryptedShares',
  awaitingUnmaskRequest: 'unmaskRequest',
};
const ORDER = ['peerKeys', 'encryptedShares', 'unmaskRequest'] as const;

/**
 * Round 0 (AdvertiseKeys): generates the c (encryption) and s (masking) X25519 key pairs and the
 * self-mask seed b, all from the CSPRNG, and returns the message advertising both public keys.
 */
export async function createSecAggClient(
  options: SecAggClientOptions,
): Promise<{ ok: true; state: SecAggClientState; outbound: AdvertiseKeysMessage } | Rejection> {
  const parsed = parseRoundConfig(options.config);
  if (!parsed.ok) return parsed;
  const { config } = parsed;
  const { clientId, input } = options;
  if (!Number.isInteger(clientId) || clientId < 0 || clientId >= config.clientCount) {
    return reject('OUT_OF_RANGE', `createSecAggClient: clientId ${clientId} is outside the cohort [0, ${config.clientCount})`);
  }
  if (!(input instanceof Uint32Array) || input.length !== config.vectorLength) {
    return reject('WRONG_LENGTH', `createSecAggClient: input has ${input?.length} words, expected vectorLength ${config.vectorLength}`);
  }
  if (config.modulusBits < 32) {
    const limit = 2 ** config.modulusBits;
    const index = input.findIndex((w) => w >= limit);
    if (index >= 0) return reject('OUT_OF_RANGE', `createSecAggClient: input word ${index} is ${input[index]}, expected < 2^${config.modulusBits}`);
  }
  const randomBytes = options.randomBytes ?? secureRandomBytes;
  const suite = options.suite ?? (await defaultSuite());
  const encryption = await generateKeyPair(suite, randomBytes);
  const masking = await generateKeyPair(suite, randomBytes);
  const selfMaskSeed = randomBytes(new Uint8Array(KEY_BYTES));
  const state: SecAggClientState = {
    stage: 'awaitingPeerKeys',
    config,
    clientId,
    encryptionSecretKey: encryption.secretKey,
    maskingSecretKey: masking.secretKey,
    selfMaskSeed,
    encryptionPublicKey: encryption.publicKey,
    maskingPublicKey: masking.publicKey,
    input: input.slice(),
  };
  return {
    ok: true,
    state,
    outbound: { type: 'advertiseKeys', roundId: config.roundId, encryptionPublicKey: encryption.publicKey, maskingPublicKey: masking.publicKey },
  };
}

/** Moves the client one step on a message from the server. A rejected message changes nothing. */
export async function secAggClientStep(state: SecAggClientState, raw: unknown, options: SecAggClientStepOptions = {}): Promise<SecAggClientStepResult> {
  const where = `client ${state.clientId} (${state.stage})`;
  if (state.stage === 'aborted') return reject('ABORTED', `${where}: the round was aborted (${state.reason.code}); nothing more is accepted`);
  if (isAbort(raw)) {
    const parsed = parseInbound(serverToClientSchemas, 'abort', state.config.roundId, raw, where, (type) =>
      reject('MALFORMED', `${where}: expected abort, got ${type}`),
    );
    if (!parsed.ok) return parsed;
    // Also after 'done': this client answered, but the server could not finish (e.g. too few others did).
    const reason = secAggError('ABORTED', `server aborted the round: ${parsed.message.reason.code}: ${parsed.message.reason.message}`);
    return { ok: true, state: aborted(state, reason), outbound: null };
  }
  if (state.stage === 'done') {
    const parsed = parseInbound(serverToClientSchemas, 'unmaskRequest', state.config.roundId, raw, where, (type) =>
      reject('WRONG_PHASE', `${where}: got ${type} after the round finished`),
    );
    if (!parsed.ok) return parsed;
    // A second unmask request is how a server would ask for the other kind of share: refuse it.
    return reject('REPLAY', `${where}: this client already answered its one unmask request`);
  }
  const expected = EXPECTED[state.stage];
  const parsed = parseInbound(serverToClientSchemas, expected, state.config.roundId, raw, where, (type) =>
    ORDER.indexOf(type as (typeof ORDER)[number]) < ORDER.indexOf(expected)
      ? reject('REPLAY', `${where}: ${type} was already processed; expected ${expected}`)
      : reject('WRONG_PHASE', `${where}: expected ${expected}, got ${type}`),
  );
  if (!parsed.ok) return parsed;
  const randomBytes = options.randomBytes ?? secureRandomBytes;
  const suite = options.suite ?? (await defaultSuite());
  switch (state.stage) {
    case 'awaitingPeerKeys':
      return shareKeys(state, parsed.message as Parameters<typeof shareKeys>[1], randomBytes, suite, where);
    case 'awaitingShares':
      return maskInput(state, parsed.message as Parameters<typeof maskInput>[1], suite, where);
    case 'awaitingUnmaskRequest':
      return unmask(state, parsed.message as Parameters<typeof unmask>[1], where);
    default: {
      const never: never = state;
      return never;
    }
  }
}

function isAbort(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'abort';
}

function aborted(state: SecAggClientState, reason: SecAggError): SecAggClientState {
  return { stage: 'aborted', config: state.config, clientId: state.clientId, reason };
}

type State<S extends SecAggClientStage> = Extract<SecAggClientState, { stage: S }>;

/**
 * Round 1 (ShareKeys): checks the peers' keys, Shamir-shares s_sk and b among the holders (the
 * peers and itself) with threshold t, and encrypts each peer's pair of shares under
 * HKDF(X25519(c_u, c_v)) with AES-GCM, binding sender, recipient and round as associated data.
 */
async function shareKeys(
  state: State<'awaitingPeerKeys'>,
  message: { peers: number[]; publicKeys: Uint8Array },
  randomBytes: RandomBytes,
  suite: CryptoSuite,
  where: string,
): Promise<SecAggClientStepResult> {
  const { config, clientId: u } = state;
  const topology = topologyOf(config);
  const ids = message.peers;
  const idError =
    checkIds(ids, config.clientCount, `${where}: peerKeys`) ?? checkRecords(message.publicKeys, ids.length, PEER_KEYS_BYTES, `${where}: peerKeys publicKeys`);
  if (idError) return idError;
  for (const id of ids) {
    if (id === u) return reject('MALFORMED', `${where}: peerKeys lists this client (${u}) among its peers`);
    if (!topology.isNeighbour(u, id)) return reject('UNKNOWN_CLIENT', `${where}: peerKeys lists client ${id}, which is not a neighbour of ${u}`);
  }
  const keyOf = (index: number, which: 0 | 1) =>
    message.publicKeys.subarray(index * PEER_KEYS_BYTES + which * KEY_BYTES, index * PEER_KEYS_BYTES + (which + 1) * KEY_BYTES);
  // Bonawitz et al. 2017, Round 1 (ShareKeys): all advertised public keys must differ, or a server could, e.g., hand a
  // client its own key back as a peer's and make pairwise masks cancel predictably.
  const seen = new Set<string>([toHex(state.encryptionPublicKey), toHex(state.maskingPublicKey)]);
  for (const [index, id] of ids.entries()) {
    for (const which of [0, 1] as const) {
      const hex = toHex(keyOf(index, which));
      if (seen.has(hex)) return reject('INVALID_KEY', `${where}: peerKeys client ${id} reuses a public key already in this round`);
      seen.add(hex);
    }
  }
  const holders = [u, ...ids].sort((a, b) => a - b);
  if (holders.length < config.threshold) {
    return {
      ok: true,
      state: aborted(
        state,
        secAggError('BELOW_THRESHOLD', `${where}: ${holders.length} share holders (this client and peers with keys), need threshold ${config.threshold}`),
      ),
      outbound: null,
    };
  }
  const [encryptionSecrets, maskSecrets] = await Promise.all([
    suite.agree(
      state.encryptionSecretKey,
      ids.map((_, index) => keyOf(index, 0)),
    ),
    suite.agree(
      state.maskingSecretKey,
      ids.map((_, index) => keyOf(index, 1)),
    ),
  ]);
  const peerSecrets: PeerSecrets[] = [];
  for (const [index, id] of ids.entries()) {
    const encryptionSecret = encryptionSecrets[index];
    const maskSecret = maskSecrets[index];
    if (!encryptionSecret || !maskSecret) return reject('INVALID_KEY', `${where}: peerKeys client ${id} has a low-order public key`);
    peerSecrets.push({
      id,
      encryptionKey: deriveKey(encryptionSecret, 'share-encryption', config.roundId, u, id),
      maskKey: deriveKey(maskSecret, 'pairwise-mask', config.roundId, u, id),
    });
  }
  const points = holders.map((id) => id + 1);
  const maskingKeyShares = splitSecret(state.maskingSecretKey, points, config.threshold, randomBytes);
  const selfMaskShares = splitSecret(state.selfMaskSeed, points, config.threshold, randomBytes);
  const shareFor = (id: number) => {
    const index = holders.indexOf(id);
    return { maskingKeyShare: maskingKeyShares[index] as Uint8Array, selfMaskShare: selfMaskShares[index] as Uint8Array };
  };
  const ciphertexts = new Uint8Array(ids.length * SHARE_CIPHERTEXT_BYTES);
  await Promise.all(
    peerSecrets.map(async (peer, index) => {
      const { maskingKeyShare, selfMaskShare } = shareFor(peer.id);
      const nonce = randomBytes(new Uint8Array(NONCE_BYTES));
      const sealed = await suite.seal(peer.encryptionKey, nonce, concatBytes(maskingKeyShare, selfMaskShare), shareAssociatedData(config.roundId, u, peer.id));
      ciphertexts.set(nonce, index * SHARE_CIPHERTEXT_BYTES);
      ciphertexts.set(sealed, index * SHARE_CIPHERTEXT_BYTES + NONCE_BYTES);
    }),
  );
  const next: SecAggClientState = {
    stage: 'awaitingShares',
    config,
    clientId: u,
    selfMaskSeed: state.selfMaskSeed,
    input: state.input,
    peers: peerSecrets,
    own: { of: u, ...shareFor(u) },
  };
  // The key pairs are no longer needed: pairwise keys are derived and s_sk lives on only as shares.
  wipe(state.encryptionSecretKey, state.maskingSecretKey);
  return { ok: true, state: next, outbound: { type: 'shareKeys', roundId: config.roundId, to: [...ids], ciphertexts } };
}

/**
 * Round 2 (MaskedInputCollection): decrypts the shares addressed to this client; the senders are
 * U2 ∩ N(u). Sends y = x + PRG(b) + Σ_{v∈U2, v>u} PRG(s_uv) − Σ_{v∈U2, v<u} PRG(s_uv) (mod 2^k).
 */
async function maskInput(
  state: State<'awaitingShares'>,
  message: { from: number[]; ciphertexts: Uint8Array },
  suite: CryptoSuite,
  where: string,
): Promise<SecAggClientStepResult> {
  const { config, clientId: u } = state;
  const froms = message.from;
  const idError =
    checkIds(froms, config.clientCount, `${where}: encryptedShares`) ??
    checkRecords(message.ciphertexts, froms.length, SHARE_CIPHERTEXT_BYTES, `${where}: encryptedShares ciphertexts`);
  if (idError) return idError;
  const peersById = new Map(state.peers.map((p) => [p.id, p]));
  for (const from of froms) {
    if (!peersById.has(from)) return reject('UNKNOWN_CLIENT', `${where}: encryptedShares from client ${from}, which was not among this client's peers`);
  }
  const opened = await Promise.all(
    froms.map(async (from, index) => {
      const ciphertext = message.ciphertexts.subarray(index * SHARE_CIPHERTEXT_BYTES, (index + 1) * SHARE_CIPHERTEXT_BYTES);
      const peer = peersById.get(from) as PeerSecrets;
      const plaintext = await suite.open(
        peer.encryptionKey,
        ciphertext.subarray(0, NONCE_BYTES),
        ciphertext.subarray(NONCE_BYTES),
        shareAssociatedData(config.roundId, from, u),
      );
      return { from, plaintext };
    }),
  );
  const held: HeldShares[] = [state.own];
  for (const { from, plaintext } of opened) {
    // Authenticated under the pair's key with (round, from, to) bound: neither another client nor
    // the server can forge or redirect it.
    if (!plaintext) return reject('DECRYPTION_FAILED', `${where}: the share message from client ${from} does not authenticate`);
    const maskingKeyShare = plaintext.slice(0, SHARE_BYTES);
    const selfMaskShare = plaintext.slice(SHARE_BYTES);
    if (parseShare(maskingKeyShare) === null || parseShare(selfMaskShare) === null) {
      return reject('OUT_OF_RANGE', `${where}: the shares from client ${from} are not elements of GF(p)`);
    }
    held.push({ of: from, maskingKeyShare, selfMaskShare });
  }
  held.sort((a, b) => a.of - b.of);
  const maskingPeers = [...froms];
  if (maskingPeers.length + 1 < config.threshold) {
    return {
      ok: true,
      state: aborted(
        state,
        secAggError(
          'BELOW_THRESHOLD',
          `${where}: shares arrived from ${maskingPeers.length} peers; with this client that is below threshold ${config.threshold}`,
        ),
      ),
      outbound: null,
    };
  }
  const y = createWordVector(state.input.length);
  y.set(state.input);
  const terms: MaskTerm[] = [{ key: state.selfMaskSeed, sign: 1 }];
  for (const v of maskingPeers) terms.push({ key: (peersById.get(v) as PeerSecrets).maskKey, sign: v > u ? 1 : -1 });
  await applyMasks(suite, y, terms, config.modulusBits);
  const next: SecAggClientState = { stage: 'awaitingUnmaskRequest', config, clientId: u, maskingPeers, held };
  wipe(state.selfMaskSeed, state.input, ...state.peers.flatMap((p) => [p.encryptionKey, p.maskKey]));
  return { ok: true, state: next, outbound: { type: 'maskedInput', roundId: config.roundId, maskedInput: packWords(y, config.modulusBits) } };
}

/**
 * Round 4 (Unmasking): for the survivors U3 the server names, reveal b-shares; for the peers this
 * client masked with that are not in U3, reveal s-key shares. Each client answers one request
 * only, so no peer ever gets both kinds revealed by it (Bonawitz et al. 2017, Round 4 (Unmasking): "the server must not learn
 * both"); the round continues only if U3 has at least t clients.
 */
function unmask(state: State<'awaitingUnmaskRequest'>, message: { survivors: number[] }, where: string): SecAggClientStepResult {
  const { config, clientId: u } = state;
  const idError = checkIds(message.survivors, config.clientCount, `${where}: unmaskRequest`);
  if (idError) return idError;
  const known = new Set([u, ...state.maskingPeers]);
  for (const id of message.survivors) {
    if (!known.has(id)) return reject('UNKNOWN_CLIENT', `${where}: unmaskRequest names client ${id} as a survivor, but this client never masked with it`);
  }
  const survivors = new Set(message.survivors);
  if (!survivors.has(u)) return reject('MALFORMED', `${where}: unmaskRequest does not list this client (${u}) among the survivors it asks`);
  if (survivors.size < config.threshold) {
    return {
      ok: true,
      state: aborted(state, secAggError('BELOW_THRESHOLD', `${where}: unmaskRequest names ${survivors.size} survivors, need threshold ${config.threshold}`)),
      outbound: null,
    };
  }
  // state.held is sorted by id, so both lists come out ascending, as the wire requires.
  const revealedSelfMask = state.held.filter((held) => survivors.has(held.of));
  const revealedMaskingKey = state.held.filter((held) => !survivors.has(held.of));
  const next: SecAggClientState = {
    stage: 'done',
    config,
    clientId: u,
    revealedSelfMaskOf: revealedSelfMask.map((held) => held.of),
    revealedMaskingKeyOf: revealedMaskingKey.map((held) => held.of),
  };
  return {
    ok: true,
    state: next,
    outbound: {
      type: 'unmask',
      roundId: config.roundId,
      selfMaskOf: next.revealedSelfMaskOf.slice(),
      selfMaskShares: concatBytes(...revealedSelfMask.map((held) => held.selfMaskShare)),
      maskingKeyOf: next.revealedMaskingKeyOf.slice(),
      maskingKeyShares: concatBytes(...revealedMaskingKey.map((held) => held.maskingKeyShare)),
    },
  };
}
