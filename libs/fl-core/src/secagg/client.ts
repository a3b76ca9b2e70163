import { secureRandomBytes, type RandomBytes } from '../random/index';
import { concatBytes, packWords, toHex, wipe } from './bytes';
import { parseRoundConfig, topologyOf, type RoundConfigInput } from './config';
import { defaultSuite, deriveKey, generateKeyPair, KEY_BYTES, shareAssociatedData, shareNonce, TAG_BYTES, type CryptoSuite } from './crypto';
import { reject, secAggError, type Rejection, type SecAggError } from './errors';
import {
  advertiseTranscript,
  bitsetOf,
  checkCertificate,
  cohortBitset,
  cohortMembers,
  consistencyQuorum,
  consistencyTranscript,
  freeGroups,
  maskingTranscript,
  membersOf,
  PLAN_HASH_BYTES,
  selfMaskCommitment,
  SIGNATURE_BYTES,
  verifySignature,
  type SecAggAuth,
} from './auth';
import { CERTIFICATE_REF_BYTES, resolveCertificates, startCacheRound, type PeerCertificateCache } from './certificates';
import {
  checkIds,
  checkRecords,
  parseInbound,
  serverToClientSchemas,
  type AdvertiseKeysMessage,
  type ClientToServerMessage,
  type RoundConfig,
  type UnmaskRequestMessage,
} from './messages';
import { createWordVector } from '../kernels/modular';
import { sign } from '../identity/signing';
import { applyMasks, type MaskTerm } from './prg';
import { parseShare, SHARE_BYTES, splitSecret } from './shamir';

/** Plaintext of one share message: the s-key share then the b share (Bonawitz et al. 2017, protocol Round 1: ShareKeys). */
const SHARE_PLAINTEXT_BYTES = 2 * SHARE_BYTES;
/** AES-GCM ciphertext ‖ tag; the nonce is derived from (from, to), not sent (shareNonce). */
export const SHARE_CIPHERTEXT_BYTES = SHARE_PLAINTEXT_BYTES + TAG_BYTES;
/** One peer's record in peerKeys: encryption public key ‖ masking public key. */
export const PEER_KEYS_BYTES = 2 * KEY_BYTES;

/** Serializable authentication state (the CryptoKey structured-clones; it cannot be read). */
export interface ClientAuthState {
  certificate: string;
  privateKey: CryptoKey;
  enrollmentIssuer: { name: string; publicKey: Uint8Array };
  planHash: Uint8Array;
  /** The enrolled client id in this client's own certificate. */
  subject: string;
}

/** A peer's verified identity: its certificate's subject and device key. */
export interface PeerIdentity {
  id: number;
  subject: string;
  signingKey: Uint8Array;
}

interface ClientBase {
  config: RoundConfig;
  clientId: number;
  /** Null in an unauthenticated round (honest-but-curious server only). */
  auth: ClientAuthState | null;
}

interface AuthenticatedStage {
  /** Neighbours whose certificate and key signature verified in Round 1. */
  peerIdentities: PeerIdentity[];
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
 * passed to a step that succeeds is consumed (its secrets are zeroed); keep the returned one. Never
 * step two copies of one awaitingPeerKeys state: its c key seals the shares under nonces derived
 * from (from, to) (shareNonce), so a second ShareKeys would reuse them on fresh shares.
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
  | (ClientBase &
      AuthenticatedStage & {
        stage: 'awaitingShares';
        selfMaskSeed: Uint8Array;
        input: Uint32Array;
        peers: PeerSecrets[];
        own: HeldShares;
      })
  | (ClientBase &
      AuthenticatedStage & {
        /** Authenticated rounds only: Round 3 (ConsistencyCheck) comes before any reveal. */
        stage: 'awaitingConsistency';
        maskingPeers: number[];
        held: HeldShares[];
      })
  | (ClientBase &
      AuthenticatedStage & {
        stage: 'awaitingUnmaskRequest';
        /** Neighbours whose shares arrived: the peers this client masked with (U2 ∩ N(u)). */
        maskingPeers: number[];
        held: HeldShares[];
        /** Authenticated rounds: the one survivor set this client signed in Round 3. */
        signedSurvivors: number[] | null;
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
  /** CSPRNG for keys, b and Shamir coefficients. @default secureRandomBytes */
  randomBytes?: RandomBytes;
  /** @default the fastest suite this runtime supports */
  suite?: CryptoSuite;
  /** Clock for certificate validity. @default Date.now */
  nowMs?: () => number;
  /**
   * Authenticated rounds: peer certificates this client verified in earlier rounds, so the server
   * may name them instead of sending them (certificates.ts). Give every round of one connection the
   * same cache. @default none: every certificate is sent in full
   */
  certificateCache?: PeerCertificateCache;
}

export interface SecAggClientOptions extends SecAggClientStepOptions {
  config: RoundConfigInput;
  clientId: number;
  /** x: this client's encoded update, d words each < 2^k (see encode/). */
  input: Uint32Array;
  /** Identity, issuer and plan hash: required when config.authenticated, refused otherwise. */
  auth?: SecAggAuth;
}

export type SecAggClientStepResult = { ok: true; state: SecAggClientState; outbound: ClientToServerMessage | null } | Rejection;

/** Stage order of the server messages a client expects, for telling a replay from a skipped stage. */
const EXPECTED: Record<
  'awaitingPeerKeys' | 'awaitingShares' | 'awaitingConsistency' | 'awaitingUnmaskRequest',
  'peerKeys' | 'encryptedShares' | 'consistencyRequest' | 'unmaskRequest'
> = {
  awaitingPeerKeys: 'peerKeys',
  awaitingShares: 'encryptedShares',
  awaitingConsistency: 'consistencyRequest',
  awaitingUnmaskRequest: 'unmaskRequest',
};
const ORDER = ['peerKeys', 'encryptedShares', 'consistencyRequest', 'unmaskRequest'] as const;

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
  const authenticated = config.authenticated === true;
  if (authenticated !== (options.auth !== undefined)) {
    // A client with an identity never joins an unauthenticated round: the server could otherwise downgrade it.
    return reject(
      'INVALID_CONFIG',
      `createSecAggClient: the round is ${authenticated ? '' : 'not '}authenticated but this client ${options.auth ? 'has' : 'has no'} identity`,
    );
  }
  let auth: ClientAuthState | null = null;
  if (options.auth) {
    const { identity, enrollmentIssuer, planHash } = options.auth;
    if (planHash.length !== PLAN_HASH_BYTES)
      return reject('WRONG_LENGTH', `createSecAggClient: planHash has ${planHash.length} bytes, expected ${PLAN_HASH_BYTES}`);
    const own = await checkCertificate(identity.certificate, enrollmentIssuer, (options.nowMs ?? Date.now)());
    if (!own.ok) return reject('BAD_CERTIFICATE', `createSecAggClient: this client's own ${own.reason}`);
    auth = { certificate: identity.certificate, privateKey: identity.privateKey, enrollmentIssuer, planHash: planHash.slice(), subject: own.clientId };
  }
  const randomBytes = options.randomBytes ?? secureRandomBytes;
  const suite = options.suite ?? (await defaultSuite());
  const encryption = await generateKeyPair(suite, randomBytes);
  const masking = await generateKeyPair(suite, randomBytes);
  const selfMaskSeed = randomBytes(new Uint8Array(KEY_BYTES));
  const outbound: AdvertiseKeysMessage = {
    type: 'advertiseKeys',
    roundId: config.roundId,
    encryptionPublicKey: encryption.publicKey,
    maskingPublicKey: masking.publicKey,
  };
  if (auth) {
    outbound.selfMaskCommitment = selfMaskCommitment(config.roundId, clientId, selfMaskSeed);
    outbound.signature = await sign(auth.privateKey, advertiseTranscript(config.roundId, auth.planHash, clientId, encryption.publicKey, masking.publicKey));
    if (options.certificateCache) outbound.certificateCache = startCacheRound(options.certificateCache, randomBytes);
  }
  const state: SecAggClientState = {
    stage: 'awaitingPeerKeys',
    config,
    clientId,
    auth,
    encryptionSecretKey: encryption.secretKey,
    maskingSecretKey: masking.secretKey,
    selfMaskSeed,
    encryptionPublicKey: encryption.publicKey,
    maskingPublicKey: masking.publicKey,
    input: input.slice(),
  };
  return { ok: true, state, outbound };
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
  const nowMs = (options.nowMs ?? Date.now)();
  switch (state.stage) {
    case 'awaitingPeerKeys':
      return shareKeys(state, parsed.message as Parameters<typeof shareKeys>[1], randomBytes, suite, nowMs, options.certificateCache, where);
    case 'awaitingShares':
      return maskInput(state, parsed.message as Parameters<typeof maskInput>[1], suite, where);
    case 'awaitingConsistency':
      return consistencyCheck(state, parsed.message as { survivors: Uint8Array }, where);
    case 'awaitingUnmaskRequest':
      return unmask(state, parsed.message as UnmaskRequestMessage, nowMs, options.certificateCache, where);
    default: {
      const never: never = state;
      return never;
    }
  }
}

/** What a bitset over `count` neighbours must look like, for error messages. */
function neighbourBitsetExpected(count: number): string {
  return `must be a bitset over this client's ${count} neighbours (${Math.ceil(count / 8)} bytes, no padding bit set)`;
}

function isAbort(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'abort';
}

function aborted(state: SecAggClientState, reason: SecAggError): SecAggClientState {
  return { stage: 'aborted', config: state.config, clientId: state.clientId, auth: state.auth, reason };
}

type State<S extends SecAggClientStage> = Extract<SecAggClientState, { stage: S }>;

/**
 * Round 1 (ShareKeys): checks the peers' keys, Shamir-shares s_sk and b among the holders (the
 * peers and itself) with threshold t, and encrypts each peer's pair of shares under
 * HKDF(X25519(c_u, c_v)) with AES-GCM, binding sender, recipient and round as associated data.
 */
async function shareKeys(
  state: State<'awaitingPeerKeys'>,
  message: { peers: Uint8Array; publicKeys: Uint8Array; certificateRefs?: Uint8Array; certificates?: string[]; signatures?: Uint8Array },
  randomBytes: RandomBytes,
  suite: CryptoSuite,
  nowMs: number,
  cache: PeerCertificateCache | undefined,
  where: string,
): Promise<SecAggClientStepResult> {
  const { config, clientId: u } = state;
  const topology = topologyOf(config);
  // A bitset over this client's neighbours: it can name neither this client nor a non-neighbour.
  const ids = membersOf(message.peers, topology.neighbours(u));
  if (!ids) return reject('WRONG_LENGTH', `${where}: peerKeys peers ${neighbourBitsetExpected(topology.neighbours(u).length)}`);
  const recordError = checkRecords(message.publicKeys, ids.length, PEER_KEYS_BYTES, `${where}: peerKeys publicKeys`);
  if (recordError) return recordError;
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
  const peerIdentities: PeerIdentity[] = [];
  if (state.auth) {
    const verified = await verifyPeerKeys(state.auth, config.roundId, ids, keyOf, message, nowMs, cache, where);
    if (!verified.ok) return verified;
    peerIdentities.push(...verified.identities);
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
      const sealed = await suite.seal(
        peer.encryptionKey,
        shareNonce(u, peer.id),
        concatBytes(maskingKeyShare, selfMaskShare),
        shareAssociatedData(config.roundId, u, peer.id),
      );
      ciphertexts.set(sealed, index * SHARE_CIPHERTEXT_BYTES);
    }),
  );
  const next: SecAggClientState = {
    stage: 'awaitingShares',
    config,
    clientId: u,
    auth: state.auth,
    peerIdentities,
    selfMaskSeed: state.selfMaskSeed,
    input: state.input,
    peers: peerSecrets,
    own: { of: u, ...shareFor(u) },
  };
  // The key pairs are no longer needed: pairwise keys are derived and s_sk lives on only as shares.
  wipe(state.encryptionSecretKey, state.maskingSecretKey);
  return { ok: true, state: next, outbound: { type: 'shareKeys', roundId: config.roundId, ciphertexts } };
}

/**
 * Round 2 (MaskedInputCollection): decrypts the shares addressed to this client; the senders are
 * U2 ∩ N(u). Sends y = x + PRG(b) + Σ_{v∈U2, v>u} PRG(s_uv) − Σ_{v∈U2, v<u} PRG(s_uv) (mod 2^k).
 */
async function maskInput(
  state: State<'awaitingShares'>,
  message: { from: Uint8Array; ciphertexts: Uint8Array },
  suite: CryptoSuite,
  where: string,
): Promise<SecAggClientStepResult> {
  const { config, clientId: u } = state;
  const neighbours = topologyOf(config).neighbours(u);
  const froms = membersOf(message.from, neighbours);
  if (!froms) return reject('WRONG_LENGTH', `${where}: encryptedShares from ${neighbourBitsetExpected(neighbours.length)}`);
  const recordError = checkRecords(message.ciphertexts, froms.length, SHARE_CIPHERTEXT_BYTES, `${where}: encryptedShares ciphertexts`);
  if (recordError) return recordError;
  const peersById = new Map(state.peers.map((p) => [p.id, p]));
  for (const from of froms) {
    if (!peersById.has(from)) return reject('UNKNOWN_CLIENT', `${where}: encryptedShares from client ${from}, which was not among this client's peers`);
  }
  const opened = await Promise.all(
    froms.map(async (from, index) => {
      const ciphertext = message.ciphertexts.subarray(index * SHARE_CIPHERTEXT_BYTES, (index + 1) * SHARE_CIPHERTEXT_BYTES);
      const peer = peersById.get(from) as PeerSecrets;
      const plaintext = await suite.open(peer.encryptionKey, shareNonce(from, u), ciphertext, shareAssociatedData(config.roundId, from, u));
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
  const base = { config, clientId: u, auth: state.auth, peerIdentities: state.peerIdentities, maskingPeers, held };
  const next: SecAggClientState = state.auth ? { ...base, stage: 'awaitingConsistency' } : { ...base, stage: 'awaitingUnmaskRequest', signedSurvivors: null };
  wipe(state.selfMaskSeed, state.input, ...state.peers.flatMap((p) => [p.encryptionKey, p.maskKey]));
  const outbound: ClientToServerMessage = { type: 'maskedInput', roundId: config.roundId, maskedInput: packWords(y, config.modulusBits) };
  if (state.auth) {
    // Signed, so that every survivor can check the masking relation before revealing (attack 3).
    const claim = bitsetOf(maskingPeers, topologyOf(config).neighbours(u));
    outbound.maskingPeers = claim;
    outbound.signature = await sign(state.auth.privateKey, maskingTranscript(config.roundId, state.auth.planHash, u, claim));
  }
  return { ok: true, state: next, outbound };
}

/**
 * Round 1, authenticated: each peer's certificate (sent, or named and found among those this client
 * verified before) verifies against the issuer, and its key signed its keys for this round and plan.
 */
async function verifyPeerKeys(
  auth: ClientAuthState,
  roundId: string,
  ids: readonly number[],
  keyOf: (index: number, which: 0 | 1) => Uint8Array,
  message: { certificateRefs?: Uint8Array; certificates?: string[]; signatures?: Uint8Array },
  nowMs: number,
  cache: PeerCertificateCache | undefined,
  where: string,
): Promise<{ ok: true; identities: PeerIdentity[] } | Rejection> {
  const { certificateRefs, certificates = [], signatures } = message;
  if (!certificateRefs || !signatures) {
    return reject('BAD_SIGNATURE', `${where}: peerKeys carries no certificate references or signatures in an authenticated round`);
  }
  const recordError =
    checkRecords(certificateRefs, ids.length, CERTIFICATE_REF_BYTES, `${where}: peerKeys certificateRefs`) ??
    checkRecords(signatures, ids.length, SIGNATURE_BYTES, `${where}: peerKeys signatures`);
  if (recordError) return recordError;
  const resolved = await resolveCertificates(certificateRefs, certificates, auth.enrollmentIssuer, nowMs, cache);
  if (!resolved.ok) return reject(resolved.code, `${where}: peerKeys ${resolved.index === null ? '' : `client ${ids[resolved.index]}: `}${resolved.reason}`);
  const subjects = new Set([auth.subject]);
  const identities: PeerIdentity[] = [];
  for (const [index, id] of ids.entries()) {
    const peer = resolved.identities[index] as { subject: string; publicKey: Uint8Array };
    // One enrolled device, one seat: a server filling several seats with one identity is a Sybil.
    if (subjects.has(peer.subject)) return reject('BAD_CERTIFICATE', `${where}: peerKeys client ${id}'s certificate subject is already in this round`);
    subjects.add(peer.subject);
    const transcript = advertiseTranscript(roundId, auth.planHash, id, keyOf(index, 0), keyOf(index, 1));
    if (!(await verifySignature(peer.publicKey, transcript, signatures.subarray(index * SIGNATURE_BYTES, (index + 1) * SIGNATURE_BYTES)))) {
      return reject('BAD_SIGNATURE', `${where}: peerKeys client ${id}'s keys are not signed by its certificate's key for this round and plan`);
    }
    identities.push({ id, subject: peer.subject, signingKey: peer.publicKey });
  }
  return { ok: true, identities };
}

/** The checks on a survivor list every stage applies: ids, this client in it, neighbours only among its masking peers, ≥ t. */
function checkSurvivorView(
  state: { config: RoundConfig; clientId: number; maskingPeers: number[] },
  survivors: number[],
  where: string,
  requestName: string,
): Rejection | 'below' | null {
  const { config, clientId: u } = state;
  const idError = checkIds(survivors, config.clientCount, `${where}: ${requestName}`);
  if (idError) return idError;
  const topology = topologyOf(config);
  const known = new Set([u, ...state.maskingPeers]);
  for (const id of survivors) {
    // Bonawitz et al. 2017, Round 3: U3 must be a subset of this client's view (U2 ∩ N(u)); non-neighbours are not in its view at all.
    if ((id === u || topology.isNeighbour(u, id)) && !known.has(id)) {
      return reject('UNKNOWN_CLIENT', `${where}: ${requestName} names client ${id} as a survivor, but this client never masked with it`);
    }
  }
  if (!survivors.includes(u)) return reject('MALFORMED', `${where}: ${requestName} does not list this client (${u}) among the survivors it asks`);
  if (survivors.length < config.threshold) return 'below';
  return null;
}

/**
 * Round 3 (ConsistencyCheck): sign the one survivor set this client is told about. It signs no
 * other, and only one whose members among its neighbours it all masked with (checkSurvivorView):
 * so the signature also states its masking claim among U3, N(u) ∩ U3.
 */
async function consistencyCheck(state: State<'awaitingConsistency'>, message: { survivors: Uint8Array }, where: string): Promise<SecAggClientStepResult> {
  const { config, clientId: u } = state;
  const auth = state.auth as ClientAuthState;
  const survivors = cohortMembers(message.survivors, config.clientCount);
  if (!survivors) {
    return reject(
      'WRONG_LENGTH',
      `${where}: consistencyRequest survivors must be a bitset of ${Math.ceil(config.clientCount / 8)} bytes with no padding bit set`,
    );
  }
  const viewError = checkSurvivorView(state, survivors, where, 'consistencyRequest');
  if (viewError === 'below') {
    return {
      ok: true,
      state: aborted(
        state,
        secAggError('BELOW_THRESHOLD', `${where}: consistencyRequest names ${survivors.length} survivors, need threshold ${config.threshold}`),
      ),
      outbound: null,
    };
  }
  if (viewError) return viewError;
  const signature = await sign(auth.privateKey, consistencyTranscript(config.roundId, auth.planHash, u, cohortBitset(survivors, config.clientCount)));
  const next: SecAggClientState = {
    stage: 'awaitingUnmaskRequest',
    config,
    clientId: u,
    auth: state.auth,
    peerIdentities: state.peerIdentities,
    maskingPeers: state.maskingPeers,
    held: state.held,
    signedSurvivors: survivors,
  };
  return { ok: true, state: next, outbound: { type: 'consistency', roundId: config.roundId, signature } };
}

/**
 * Round 4 precondition in an authenticated round, checked before any share leaves: the request's
 * survivors are those of the one set U3 this client signed; ≥ q = max(t, ⌊n/2⌋ + 1) members signed
 * that same set (so no other set can have q signatures: the server tells every honest client the
 * same U3); every member signed the peers it masked with; and no group of survivors smaller than
 * U3 can be unmasked on its own (see freeGroups and docs/secure-aggregation.md, "Active server").
 */
async function verifyUnmaskRequest(
  state: State<'awaitingUnmaskRequest'>,
  message: UnmaskRequestMessage,
  nowMs: number,
  cache: PeerCertificateCache | undefined,
  where: string,
): Promise<Rejection | null> {
  const { config, clientId: u } = state;
  const auth = state.auth as ClientAuthState;
  const topology = topologyOf(config);
  const survivors = state.signedSurvivors ?? [];
  const { consistencySigned, signatures, claims, certificateRefs, certificates = [] } = message;
  if (!consistencySigned || !signatures || !claims || !certificateRefs) {
    return reject('INCONSISTENT_VIEW', `${where}: unmaskRequest carries no signatures or masking claims in an authenticated round`);
  }
  const signedByRound3 = membersOf(consistencySigned, survivors);
  if (!signedByRound3) return reject('WRONG_LENGTH', `${where}: unmaskRequest consistencySigned is not a bitset over the ${survivors.length} survivors`);
  const round3 = new Set(signedByRound3);
  // This client answered Round 3, and a server that says otherwise misstates it.
  if (!round3.has(u)) return reject('INCONSISTENT_VIEW', `${where}: unmaskRequest says this client did not sign the survivor set`);
  const claimBytes = Math.ceil(topology.neighbours(u).length / 8);
  const others = survivors.filter((id) => id !== u && !topology.isNeighbour(u, id));
  const recordError =
    checkRecords(signatures, survivors.length, SIGNATURE_BYTES, `${where}: unmaskRequest signatures`) ??
    checkRecords(claims, survivors.length - round3.size, claimBytes, `${where}: unmaskRequest claims`) ??
    checkRecords(certificateRefs, others.length, CERTIFICATE_REF_BYTES, `${where}: unmaskRequest certificateRefs`);
  if (recordError) return recordError;
  // Signing keys: neighbours from Round 1; the other survivors from certificates checked here.
  const keys = new Map<number, Uint8Array>(state.peerIdentities.map((p) => [p.id, p.signingKey]));
  const subjects = new Set<string>([auth.subject, ...state.peerIdentities.map((p) => p.subject)]);
  const resolved = await resolveCertificates(certificateRefs, certificates, auth.enrollmentIssuer, nowMs, cache);
  if (!resolved.ok) {
    return reject(
      resolved.code,
      `${where}: unmaskRequest ${resolved.index === null ? '' : `certificate of client ${others[resolved.index]}: `}${resolved.reason}`,
    );
  }
  for (const [index, id] of others.entries()) {
    const identity = resolved.identities[index] as { subject: string; publicKey: Uint8Array };
    if (subjects.has(identity.subject))
      return reject('BAD_CERTIFICATE', `${where}: unmaskRequest client ${id}'s certificate subject already holds another seat`);
    subjects.add(identity.subject);
    keys.set(id, identity.publicKey);
  }
  const survivorBits = cohortBitset(survivors, config.clientCount);
  const survivorSet = new Set(survivors);
  const claimed = new Map<number, readonly number[]>();
  // This client signed this very set in Round 3: it counts towards the quorum.
  let valid = 1;
  let claimIndex = 0;
  for (const [index, id] of survivors.entries()) {
    if (id === u) {
      claimed.set(id, state.maskingPeers);
      continue;
    }
    const key = keys.get(id) as Uint8Array;
    const signature = signatures.subarray(index * SIGNATURE_BYTES, (index + 1) * SIGNATURE_BYTES);
    if (round3.has(id)) {
      if (!(await verifySignature(key, consistencyTranscript(config.roundId, auth.planHash, id, survivorBits), signature))) {
        return reject('BAD_SIGNATURE', `${where}: survivor ${id}'s consistency signature does not verify on this survivor set`);
      }
      // Its claim among U3 is implied: it signed only because it masked with every neighbour in U3.
      claimed.set(
        id,
        topology.neighbours(id).filter((v) => survivorSet.has(v)),
      );
      valid++;
      continue;
    }
    const claim = claims.subarray(claimIndex * claimBytes, (claimIndex + 1) * claimBytes);
    claimIndex++;
    const peers = membersOf(claim, topology.neighbours(id));
    if (!peers) return reject('MALFORMED', `${where}: unmaskRequest masking claim of ${id} is not a bitset over its neighbours`);
    if (!(await verifySignature(key, maskingTranscript(config.roundId, auth.planHash, id, claim), signature))) {
      return reject('BAD_SIGNATURE', `${where}: survivor ${id}'s masking claim does not verify`);
    }
    claimed.set(id, peers);
  }
  const quorum = consistencyQuorum(config.clientCount, config.threshold);
  if (valid < quorum) {
    return reject('INCONSISTENT_VIEW', `${where}: ${valid} valid consistency signatures on the survivor set, need ${quorum} (max(t, ⌊n/2⌋ + 1))`);
  }
  // The server may learn Σ over any free group (see freeGroups). Only the total over all of U3 is
  // the protocol's output: a second free group (a disconnected relation, attack 3) or an isolated
  // victim (attack 1) is refused. No free group at all means masks that cannot cancel: refused too.
  const groups = freeGroups(survivors, claimed);
  if (groups.length === 0) {
    return reject('ISOLATED_GROUP', `${where}: the signed masking relation among the ${survivors.length} survivors is not mutual; their masks cannot cancel`);
  }
  if (groups.length > 1 || (groups[0] as number[]).length !== survivors.length) {
    const smallest = groups[0] as number[];
    return reject(
      'ISOLATED_GROUP',
      `${where}: survivors ${smallest.slice(0, 10).join(',')} (${smallest.length} of ${survivors.length}) could be unmasked apart from the rest (${groups.length} separable groups); expected one group of all survivors`,
    );
  }
  return null;
}

/**
 * Round 4 (Unmasking): for the survivors U3 the server names, reveal b-shares; for the peers this
 * client masked with that are not in U3, reveal s-key shares. Each client answers one request
 * only, so no peer ever gets both kinds revealed by it (Bonawitz et al. 2017, Round 4 (Unmasking): "the server must not learn
 * both"); the round continues only if U3 has at least t clients.
 */
async function unmask(
  state: State<'awaitingUnmaskRequest'>,
  message: UnmaskRequestMessage,
  nowMs: number,
  cache: PeerCertificateCache | undefined,
  where: string,
): Promise<SecAggClientStepResult> {
  const { config, clientId: u } = state;
  let listed: number[];
  if (state.auth) {
    // The survivors are those of the one U3 this client signed in Round 3, among its holders.
    if (message.survivors !== undefined) {
      return reject('MALFORMED', `${where}: unmaskRequest lists survivors in an authenticated round; they are the set this client signed`);
    }
    const topology = topologyOf(config);
    listed = (state.signedSurvivors ?? []).filter((id) => id === u || topology.isNeighbour(u, id));
  } else {
    if (message.survivors === undefined) return reject('MALFORMED', `${where}: unmaskRequest lists no survivors`);
    listed = message.survivors;
  }
  const viewError = checkSurvivorView(state, listed, where, 'unmaskRequest');
  if (viewError && viewError !== 'below') return viewError;
  if (state.auth && viewError !== 'below') {
    const refused = await verifyUnmaskRequest(state, message, nowMs, cache, where);
    if (refused) return refused;
  }
  const survivors = new Set(listed);
  if (viewError === 'below') {
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
    auth: state.auth,
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
