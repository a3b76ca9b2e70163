import { x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate } from '../identity/certificate';
import { generateSigningKeyPair, sign, verify } from '../identity/signing';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { advertiseTranscript, bitsetOf, cohortBitset, consistencyTranscript, maskingTranscript, selfMaskCommitment, SIGNATURE_BYTES } from './auth';
import { concatBytes, unpackWords, utf8 } from './bytes';
import { certificateRef, createPeerCertificateCache } from './certificates';
import { createSecAggClient, SHARE_CIPHERTEXT_BYTES, secAggClientStep, type SecAggClientState } from './client';
import { parseRoundConfig, topologyOf, type RoundConfigInput } from './config';
import { deriveKey, nobleSuite, shareAssociatedData, shareNonce } from './crypto';
import type { SecAggErrorCode } from './errors';
import type { ClientToServerMessage, RoundConfig, ServerToClientMessage } from './messages';
import { expandMask } from './prg';
import { createSecAggServer, secAggServerStep, type SecAggServerState } from './server';
import { combineShares, SHAMIR_PRIME, SHARE_BYTES } from './shamir';

/**
 * The client machine stage by stage, with tiny rounds (n ≤ 6, d = 3, k = 12) so that a mutation run
 * can afford it. Expected values come from the spec recomputed here (noble X25519, HKDF, the PRG,
 * Shamir reconstruction, plain sums), never from the client's own output.
 */

const D = 3;
const K = 12;
const PLAN = sha256(utf8('plan v1'));

function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

function cfg(overrides: Partial<RoundConfigInput> = {}): RoundConfigInput {
  return { roundId: 'r1', clientCount: 5, threshold: 3, vectorLength: D, modulusBits: K, graph: { kind: 'full' }, ...overrides };
}

interface Identity {
  certificate: string;
  privateKey: CryptoKey;
  publicKey: Uint8Array;
  subject: string;
}
interface Cohort {
  issuer: { name: string; publicKey: Uint8Array };
  ids: Identity[];
  /** Same name, another key: certificates that do not verify against `issuer`. */
  forger: Identity;
}

async function makeCohort(count: number): Promise<Cohort> {
  const name = 'client-test-issuer';
  const issuerKeys = await generateSigningKeyPair();
  const forgerKeys = await generateSigningKeyPair();
  const now = Date.now();
  const certify = async (issuerKey: CryptoKey, subject: string): Promise<Identity> => {
    const device = await generateSigningKeyPair();
    const certificate = await issueCertificate(issuerKey, {
      clientId: subject,
      publicKey: device.publicKey,
      issuer: name,
      issuedAtMs: now - 60_000,
      expiresAtMs: now + 3_600_000,
    });
    return { certificate, privateKey: device.privateKey, publicKey: device.publicKey, subject };
  };
  const ids = await Promise.all(Array.from({ length: count }, (_, i) => certify(issuerKeys.privateKey, `device-${i}`)));
  return { issuer: { name, publicKey: issuerKeys.publicKey }, ids, forger: await certify(forgerKeys.privateKey, 'forged') };
}

let cohort: Cohort;
beforeAll(async () => {
  cohort = await makeCohort(6);
});

interface Secrets {
  encryptionSecretKey: Uint8Array;
  maskingSecretKey: Uint8Array;
  selfMaskSeed: Uint8Array;
}

interface Round {
  config: RoundConfig;
  authenticated: boolean;
  server: SecAggServerState;
  clients: (SecAggClientState | null)[];
  /** Copies of each client's Round 0 secrets, taken before any step could wipe them. */
  secrets: Secrets[];
  inputs: Uint32Array[];
  /** Every message each client sent, in order. */
  log: Map<number, ClientToServerMessage[]>;
  replies: Map<number, ClientToServerMessage>;
  sent: Map<number, ServerToClientMessage>;
}

function inputOf(id: number): Uint32Array {
  // Values spread over Z_(2^12), the last one at the top of the range.
  return Uint32Array.of((id * 1000 + 7) % 4096, (id * 333 + 4000) % 4096, 4095 - id);
}

function authOf(id: number) {
  const identity = cohort.ids[id] as Identity;
  return { identity: { certificate: identity.certificate, privateKey: identity.privateKey }, enrollmentIssuer: cohort.issuer, planHash: PLAN };
}

async function start(input: RoundConfigInput = cfg()): Promise<Round> {
  const authenticated = input.authenticated === true;
  const created = createSecAggServer(input, authenticated ? { enrollmentIssuer: cohort.issuer, planHash: PLAN } : undefined);
  if (!created.ok) throw new Error(created.error.message);
  const n = created.state.config.clientCount;
  const round: Round = {
    config: created.state.config,
    authenticated,
    server: created.state,
    clients: [],
    secrets: [],
    inputs: [],
    log: new Map(),
    replies: new Map(),
    sent: new Map(),
  };
  for (let id = 0; id < n; id++) {
    const made = await createSecAggClient({
      config: input,
      clientId: id,
      input: inputOf(id),
      randomBytes: testBytes(id + 1),
      ...(authenticated ? { auth: authOf(id) } : {}),
    });
    if (!made.ok) throw new Error(made.error.message);
    const state = made.state;
    if (state.stage !== 'awaitingPeerKeys') throw new Error('unexpected stage');
    round.secrets.push({
      encryptionSecretKey: state.encryptionSecretKey.slice(),
      maskingSecretKey: state.maskingSecretKey.slice(),
      selfMaskSeed: state.selfMaskSeed.slice(),
    });
    round.inputs.push(inputOf(id));
    round.clients.push(state);
    round.replies.set(id, made.outbound);
    round.log.set(id, [made.outbound]);
  }
  return round;
}

/** Server takes every pending reply (but `silent` ones), closes its stage, and clients (but `silent` and `hold`) step on what it sends. */
async function advance(round: Round, silent: readonly number[] = [], hold: readonly number[] = []): Promise<void> {
  for (const [from, message] of round.replies) {
    if (silent.includes(from)) continue;
    const certificate = cohort.ids[from]?.certificate;
    const received = round.authenticated && message.type === 'advertiseKeys' ? { ...message, certificate } : message;
    const step = await secAggServerStep(round.server, { type: 'message', from, message: received });
    if (!step.ok) throw new Error(step.error.message);
    round.server = step.state;
  }
  round.replies.clear();
  const closed = await secAggServerStep(round.server, { type: 'closeStage', stage: round.server.stage });
  if (!closed.ok) throw new Error(closed.error.message);
  round.server = closed.state;
  round.sent = new Map(closed.outbound.map((o) => [o.to, o.message]));
  for (const { to, message } of closed.outbound) {
    const client = round.clients[to];
    if (!client || silent.includes(to) || hold.includes(to)) continue;
    const step = await secAggClientStep(client, message, { randomBytes: testBytes(100 + to) });
    if (!step.ok) throw new Error(`client ${to}: ${step.error.message}`);
    round.clients[to] = step.state;
    if (step.outbound) {
      round.replies.set(to, step.outbound);
      round.log.get(to)?.push(step.outbound);
    }
  }
}

function sentTo<T extends ServerToClientMessage['type']>(round: Round, id: number, type: T): Extract<ServerToClientMessage, { type: T }> {
  const message = round.sent.get(id);
  if (message?.type !== type) throw new Error(`client ${id} was sent ${message?.type}, not ${type}`);
  return message as Extract<ServerToClientMessage, { type: T }>;
}

function logged<T extends ClientToServerMessage['type']>(round: Round, id: number, type: T): Extract<ClientToServerMessage, { type: T }> {
  const message = round.log.get(id)?.find((m) => m.type === type);
  if (!message) throw new Error(`client ${id} never sent ${type}`);
  return message as Extract<ClientToServerMessage, { type: T }>;
}

function stateOf<S extends SecAggClientState['stage']>(round: Round, id: number, stage: S): Extract<SecAggClientState, { stage: S }> {
  const state = round.clients[id];
  if (state?.stage !== stage) throw new Error(`client ${id} is ${state?.stage}, not ${stage}`);
  return state as Extract<SecAggClientState, { stage: S }>;
}

/** Clone without the CryptoKey (kept by reference): enough to see that a rejected message changed nothing. */
function snapshot(state: SecAggClientState): unknown {
  const { auth, ...rest } = state;
  return { ...structuredClone(rest), auth: auth ? { ...auth, planHash: auth.planHash.slice() } : null };
}

async function expectRejects(state: SecAggClientState, message: unknown, code: SecAggErrorCode, pattern?: RegExp): Promise<void> {
  const before = snapshot(state);
  const step = await secAggClientStep(state, message, { randomBytes: testBytes(999) });
  expect(step.ok ? `accepted (${step.state.stage})` : step.error.code).toBe(code);
  if (!step.ok && pattern) expect(step.error.message).toMatch(pattern);
  expect(snapshot(state)).toEqual(before);
}

async function expectAborts(state: SecAggClientState, message: unknown, pattern: RegExp): Promise<void> {
  const step = await secAggClientStep(state, message, { randomBytes: testBytes(999) });
  if (!step.ok) throw new Error(`rejected: ${step.error.message}`);
  expect(step.outbound).toBeNull();
  expect(step.state.stage).toBe('aborted');
  if (step.state.stage === 'aborted') {
    expect(step.state.reason.code).toBe('BELOW_THRESHOLD');
    expect(step.state.reason.message).toMatch(pattern);
    expect(step.state.clientId).toBe(state.clientId);
    expect(step.state.config).toBe(state.config);
    expect(step.state.auth).toBe(state.auth);
  }
}

async function accepts(state: SecAggClientState, message: unknown) {
  const step = await secAggClientStep(state, message, { randomBytes: testBytes(777) });
  if (!step.ok) throw new Error(`rejected: ${step.error.code}: ${step.error.message}`);
  return step;
}

function records(packed: Uint8Array, size: number): Uint8Array[] {
  return Array.from({ length: packed.length / size }, (_, i) => packed.slice(i * size, (i + 1) * size));
}

/** The spec's pair key for (u, v), from u's secret and v's advertised public key (noble X25519 + HKDF). */
function pairKey(round: Round, u: number, v: number, purpose: 'pairwise-mask' | 'share-encryption'): Uint8Array {
  const advertised = logged(round, v, 'advertiseKeys');
  const secrets = round.secrets[u] as Secrets;
  const shared =
    purpose === 'pairwise-mask'
      ? x25519.getSharedSecret(secrets.maskingSecretKey, advertised.maskingPublicKey)
      : x25519.getSharedSecret(secrets.encryptionSecretKey, advertised.encryptionPublicKey);
  return deriveKey(shared, purpose, round.config.roundId, u, v);
}

/** y_u = x_u + PRG(b_u) + Σ_{v > u} PRG(s_uv) − Σ_{v < u} PRG(s_uv) mod 2^k, over the peers it masked with. */
async function expectedMasked(round: Round, u: number, maskingPeers: readonly number[]): Promise<number[]> {
  const modulus = 2 ** K;
  const y = Array.from(round.inputs[u] as Uint32Array);
  const add = (mask: Uint32Array, sign: number) => {
    for (let i = 0; i < D; i++) y[i] = ((((y[i] as number) + sign * (mask[i] as number)) % modulus) + modulus) % modulus;
  };
  add(await expandMask(nobleSuite, (round.secrets[u] as Secrets).selfMaskSeed, D, K), 1);
  for (const v of maskingPeers) add(await expandMask(nobleSuite, pairKey(round, u, v, 'pairwise-mask'), D, K), v > u ? 1 : -1);
  return y;
}

/** What `from` sealed for `to`: the s-key share then the b share, opened as `to` would (independently of the client). */
async function openShare(round: Round, from: number, to: number, ciphertext: Uint8Array): Promise<{ s: Uint8Array; b: Uint8Array }> {
  const key = pairKey(round, to, from, 'share-encryption');
  const plaintext = await nobleSuite.open(key, shareNonce(from, to), ciphertext, shareAssociatedData(round.config.roundId, from, to));
  if (!plaintext) throw new Error(`share ${from} → ${to} does not open`);
  return { s: plaintext.slice(0, SHARE_BYTES), b: plaintext.slice(SHARE_BYTES) };
}

function plainSum(round: Round, who: readonly number[]): number[] {
  return Array.from({ length: D }, (_, i) => who.reduce((sum, id) => sum + ((round.inputs[id] as Uint32Array)[i] as number), 0) % 2 ** K);
}

function shareBytesAbove(): Uint8Array {
  // p + 1 = 2^256 + 298 as 33 big-endian bytes: not an element of GF(p).
  const bytes = new Uint8Array(SHARE_BYTES);
  let value = SHAMIR_PRIME + 1n;
  for (let i = SHARE_BYTES - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

describe('createSecAggClient', () => {
  it('refuses a bad config, id, input or identity, naming what was expected', async () => {
    const base = { config: cfg(), clientId: 0, input: inputOf(0), randomBytes: testBytes(1) };
    const code = async (options: Partial<Parameters<typeof createSecAggClient>[0]>, pattern?: RegExp) => {
      const made = await createSecAggClient({ ...base, ...options });
      if (made.ok) return 'accepted';
      if (pattern) expect(made.error.message).toMatch(pattern);
      return made.error.code;
    };
    expect(await code({ config: cfg({ threshold: 6 }) })).toBe('INVALID_CONFIG');
    expect(await code({ clientId: 1.5 }, /clientId 1.5 is outside the cohort \[0, 5\)/)).toBe('OUT_OF_RANGE');
    expect(await code({ clientId: -1 })).toBe('OUT_OF_RANGE');
    expect(await code({ clientId: 5 }, /clientId 5 is outside/)).toBe('OUT_OF_RANGE');
    expect(await code({ clientId: 4 })).toBe('accepted');
    expect(await code({ clientId: 0 })).toBe('accepted');
    expect(await code({ input: Int32Array.of(1, 2, 3) as unknown as Uint32Array }, /input has 3 words, expected vectorLength 3/)).toBe('WRONG_LENGTH');
    expect(await code({ input: undefined as unknown as Uint32Array }, /input has undefined words/)).toBe('WRONG_LENGTH');
    expect(await code({ input: Uint32Array.of(1, 2) }, /input has 2 words, expected vectorLength 3/)).toBe('WRONG_LENGTH');
    expect(await code({ input: Uint32Array.of(1, 2, 3, 4) })).toBe('WRONG_LENGTH');
    expect(await code({ input: Uint32Array.of(0, 4096, 5000) }, /input word 1 is 4096, expected < 2\^12/)).toBe('OUT_OF_RANGE');
    expect(await code({ input: Uint32Array.of(4096, 0, 0) }, /input word 0 is 4096/)).toBe('OUT_OF_RANGE');
    expect(await code({ input: Uint32Array.of(4095, 0, 4095) })).toBe('accepted');
    expect(await code({ config: cfg({ modulusBits: 32 }), input: Uint32Array.of(0xffffffff, 0, 1) })).toBe('accepted');
    expect(await code({ auth: authOf(0) }, /the round is not authenticated but this client has identity/)).toBe('INVALID_CONFIG');
    expect(await code({ config: cfg({ authenticated: true }) }, /the round is authenticated but this client has no identity/)).toBe('INVALID_CONFIG');
    expect(await code({ config: cfg({ authenticated: false }), auth: authOf(0) })).toBe('INVALID_CONFIG');
    const authed = { config: cfg({ authenticated: true }) };
    expect(await code({ ...authed, auth: { ...authOf(0), planHash: PLAN.subarray(1) } }, /planHash has 31 bytes, expected 32/)).toBe('WRONG_LENGTH');
    expect(await code({ ...authed, auth: { ...authOf(0), planHash: concatBytes(PLAN, Uint8Array.of(1)) } })).toBe('WRONG_LENGTH');
    const forged = {
      identity: { certificate: cohort.forger.certificate, privateKey: cohort.forger.privateKey },
      enrollmentIssuer: cohort.issuer,
      planHash: PLAN,
    };
    expect(await code({ ...authed, auth: forged }, /this client's own certificate bad-signature/)).toBe('BAD_CERTIFICATE');
    // The clock of the options decides validity: 2 h later the certificate (valid 1 h) has expired.
    expect(await code({ ...authed, auth: authOf(0), nowMs: () => Date.now() + 7_200_000 }, /own certificate expired/)).toBe('BAD_CERTIFICATE');
    expect(await code({ ...authed, auth: authOf(0), nowMs: () => Date.now() + 60_000 })).toBe('accepted');
  });

  it('advertises the X25519 public keys of secrets drawn from its random source, and keeps a copy of the input', async () => {
    const input = inputOf(2);
    const made = await createSecAggClient({ config: cfg(), clientId: 2, input, randomBytes: testBytes(42) });
    if (!made.ok) throw new Error(made.error.message);
    // The seeded source's first 96 bytes, in order: c secret, s secret, b.
    const drawn = testBytes(42)(new Uint8Array(96));
    const [c, s, b] = [drawn.slice(0, 32), drawn.slice(32, 64), drawn.slice(64)];
    expect(made.outbound).toEqual({
      type: 'advertiseKeys',
      roundId: 'r1',
      encryptionPublicKey: x25519.getPublicKey(c),
      maskingPublicKey: x25519.getPublicKey(s),
    });
    const state = made.state;
    if (state.stage !== 'awaitingPeerKeys') throw new Error(state.stage);
    expect(state).toEqual({
      stage: 'awaitingPeerKeys',
      config: { ...cfg() },
      clientId: 2,
      auth: null,
      encryptionSecretKey: c,
      maskingSecretKey: s,
      selfMaskSeed: b,
      encryptionPublicKey: x25519.getPublicKey(c),
      maskingPublicKey: x25519.getPublicKey(s),
      input: inputOf(2),
    });
    input[0] = 99;
    expect(state.input[0]).toBe(inputOf(2)[0]);
    // Without a source, the CSPRNG: two clients get different keys.
    const a1 = await createSecAggClient({ config: cfg(), clientId: 0, input: inputOf(0) });
    const a2 = await createSecAggClient({ config: cfg(), clientId: 0, input: inputOf(0) });
    expect(a1.ok && a2.ok && a1.outbound.maskingPublicKey).not.toEqual(a2.ok && a2.outbound.maskingPublicKey);
  });

  it('authenticated: commits to b, signs its keys for this round and plan, and names its certificate cache', async () => {
    const planHash = PLAN.slice();
    const cache = createPeerCertificateCache(testBytes(5));
    const config = cfg({ authenticated: true });
    const made = await createSecAggClient({
      config,
      clientId: 3,
      input: inputOf(3),
      randomBytes: testBytes(3),
      auth: { ...authOf(3), planHash },
      certificateCache: cache,
    });
    if (!made.ok) throw new Error(made.error.message);
    const state = made.state;
    if (state.stage !== 'awaitingPeerKeys') throw new Error(state.stage);
    const { outbound } = made;
    expect(Object.keys(outbound).sort()).toEqual([
      'certificateCache',
      'encryptionPublicKey',
      'maskingPublicKey',
      'roundId',
      'selfMaskCommitment',
      'signature',
      'type',
    ]);
    expect(outbound.selfMaskCommitment).toEqual(selfMaskCommitment('r1', 3, state.selfMaskSeed));
    expect(outbound.certificateCache).toEqual(cache.id);
    const transcript = advertiseTranscript('r1', PLAN, 3, outbound.encryptionPublicKey, outbound.maskingPublicKey);
    expect(await verify((cohort.ids[3] as Identity).publicKey, transcript, outbound.signature as Uint8Array)).toBe(true);
    expect(state.auth).toEqual({
      certificate: (cohort.ids[3] as Identity).certificate,
      privateKey: (cohort.ids[3] as Identity).privateKey,
      enrollmentIssuer: cohort.issuer,
      planHash: PLAN,
      subject: 'device-3',
    });
    planHash.fill(0);
    expect(state.auth?.planHash).toEqual(PLAN);
    const noCache = await createSecAggClient({ config, clientId: 3, input: inputOf(3), auth: authOf(3) });
    expect(noCache.ok && 'certificateCache' in noCache.outbound).toBe(false);
  });
});

describe('authenticated rounds', () => {
  const authed = (overrides: Partial<RoundConfigInput> = {}) => cfg({ authenticated: true, ...overrides });

  it('Round 1: takes peers whose certificate verifies and whose key signed their keys, one seat per subject', async () => {
    const round = await start(authed());
    await advance(round, [], [0]);
    const state = round.clients[0] as SecAggClientState;
    const peerKeys = sentTo(round, 0, 'peerKeys');
    const refs = records(peerKeys.certificateRefs as Uint8Array, 8);
    const sigs = records(peerKeys.signatures as Uint8Array, SIGNATURE_BYTES);
    expect(refs.map((r) => Array.from(r))).toEqual([1, 2, 3, 4].map((i) => Array.from(certificateRef((cohort.ids[i] as Identity).certificate))));
    const { certificateRefs, signatures, ...bare } = peerKeys;
    await expectRejects(state, { ...bare, signatures }, 'BAD_SIGNATURE', /peerKeys carries no certificate references or signatures in an authenticated round/);
    await expectRejects(state, { ...bare, certificateRefs }, 'BAD_SIGNATURE', /carries no certificate references or signatures/);
    await expectRejects(
      state,
      { ...peerKeys, certificateRefs: certificateRefs?.subarray(8) },
      'WRONG_LENGTH',
      /peerKeys certificateRefs: has 24 bytes, expected 4 × 8/,
    );
    await expectRejects(state, { ...peerKeys, signatures: signatures?.subarray(1) }, 'WRONG_LENGTH', /peerKeys signatures: has 255 bytes, expected 4 × 64/);
    const { certificates, ...noCertificates } = peerKeys;
    expect(certificates?.length).toBe(4);
    await expectRejects(state, noCertificates, 'BAD_CERTIFICATE', /peerKeys client 1: no certificate sent/);
    await expectRejects(
      state,
      { ...peerKeys, certificates: [...(certificates ?? []), cohort.forger.certificate] },
      'MALFORMED',
      /: peerKeys a certificate is sent that no reference names/,
    );
    const withRef = (index: number, identity: Identity, extra: string[] = [identity.certificate]) => {
      const copy = refs.slice();
      copy[index] = certificateRef(identity.certificate);
      return { ...peerKeys, certificateRefs: concatBytes(...copy), certificates: [...(certificates ?? []).filter((_, i) => i !== index), ...extra] };
    };
    await expectRejects(state, withRef(1, cohort.forger), 'BAD_CERTIFICATE', /peerKeys client 2: certificate bad-signature/);
    await expectRejects(state, withRef(1, cohort.ids[0] as Identity), 'BAD_CERTIFICATE', /peerKeys client 2's certificate subject is already in this round/);
    await expectRejects(state, withRef(2, cohort.ids[1] as Identity, []), 'BAD_CERTIFICATE', /client 3's certificate subject is already in this round/);
    const swapped = concatBytes(sigs[1] as Uint8Array, sigs[0] as Uint8Array, sigs[2] as Uint8Array, sigs[3] as Uint8Array);
    await expectRejects(
      state,
      { ...peerKeys, signatures: swapped },
      'BAD_SIGNATURE',
      /peerKeys client 1's keys are not signed by its certificate's key for this round and plan/,
    );
    const lastSwapped = concatBytes(sigs[0] as Uint8Array, sigs[1] as Uint8Array, sigs[3] as Uint8Array, sigs[2] as Uint8Array);
    await expectRejects(state, { ...peerKeys, signatures: lastSwapped }, 'BAD_SIGNATURE', /client 3's keys/);
    // The step's clock decides certificate validity.
    const late = await secAggClientStep(state, peerKeys, { nowMs: () => Date.now() + 7_200_000 });
    expect(!late.ok && late.error.message).toMatch(/peerKeys client 1: certificate expired/);
    // Certificates this client verified before (its cache) may be named instead of sent.
    const cache = createPeerCertificateCache(testBytes(8));
    const named = await secAggClientStep(state, noCertificates, { certificateCache: cache });
    expect(named.ok ? 'accepted' : named.error.message).toMatch(/no certificate sent/);
    const step = await secAggClientStep(state, peerKeys, { randomBytes: testBytes(9), certificateCache: cache });
    if (!step.ok) throw new Error(step.error.message);
    expect(cache.entries.size).toBe(4);
    const next = step.state as Extract<SecAggClientState, { stage: 'awaitingShares' }>;
    expect(next.peerIdentities).toEqual([1, 2, 3, 4].map((id) => ({ id, subject: `device-${id}`, signingKey: (cohort.ids[id] as Identity).publicKey })));
    // Another round of the same connection: references alone resolve through the cache.
    const again = await start(authed({ roundId: 'r1' }));
    await advance(again, [], [0]);
    const { certificates: sent, ...refsOnly } = sentTo(again, 0, 'peerKeys');
    expect(sent?.length).toBe(4);
    const viaCache = await secAggClientStep(again.clients[0] as SecAggClientState, refsOnly, { certificateCache: cache });
    expect(viaCache.ok && viaCache.state.stage).toBe('awaitingShares');
  });

  it('Round 2 signs the peers it masked with; Round 3 signs the one survivor set it is sent, if it is in its view', async () => {
    const round = await start(authed());
    await advance(round);
    await advance(round, [3], [0]); // 3 sends no shares
    const state = round.clients[0] as SecAggClientState;
    const step = await accepts(state, sentTo(round, 0, 'encryptedShares'));
    const sent = step.outbound as Extract<ClientToServerMessage, { type: 'maskedInput' }>;
    expect(Object.keys(sent).sort()).toEqual(['maskedInput', 'maskingPeers', 'roundId', 'signature', 'type']);
    // Neighbours of 0 are 1, 2, 3, 4; it masked with 1, 2, 4: bits 0, 1, 3.
    expect(Array.from(sent.maskingPeers as Uint8Array)).toEqual([0b1011]);
    expect(await verify((cohort.ids[0] as Identity).publicKey, maskingTranscript('r1', PLAN, 0, Uint8Array.of(0b1011)), sent.signature as Uint8Array)).toBe(
      true,
    );
    const y = unpackWords(sent.maskedInput, K);
    expect('words' in y && Array.from(y.words)).toEqual(await expectedMasked(round, 0, [1, 2, 4]));
    const consistent = step.state;
    expect(consistent.stage).toBe('awaitingConsistency');
    expect(Object.keys(consistent).sort()).toEqual(['auth', 'clientId', 'config', 'held', 'maskingPeers', 'peerIdentities', 'stage']);
    const request = (bits: number[]) => ({ type: 'consistencyRequest', roundId: 'r1', survivors: Uint8Array.from(bits) });
    await expectRejects(consistent, request([0b10111, 0]), 'WRONG_LENGTH', /consistencyRequest survivors must be a bitset of 1 bytes with no padding bit set/);
    await expectRejects(consistent, request([0b110111]), 'WRONG_LENGTH');
    await expectRejects(consistent, request([0b10110]), 'MALFORMED', /consistencyRequest does not list this client \(0\)/);
    await expectRejects(
      consistent,
      request([0b11111]),
      'UNKNOWN_CLIENT',
      /consistencyRequest names client 3 as a survivor, but this client never masked with it/,
    );
    await expectAborts(consistent, request([0b10001]), /consistencyRequest names 2 survivors, need threshold 3/);
    const signed = await accepts(consistent, request([0b10011]));
    expect(signed.outbound && Object.keys(signed.outbound).sort()).toEqual(['roundId', 'signature', 'type']);
    expect([signed.outbound?.type, signed.outbound?.roundId]).toEqual(['consistency', 'r1']);
    const signature = (signed.outbound as { signature: Uint8Array }).signature;
    expect(await verify((cohort.ids[0] as Identity).publicKey, consistencyTranscript('r1', PLAN, 0, Uint8Array.of(0b10011)), signature)).toBe(true);
    const waiting = signed.state as Extract<SecAggClientState, { stage: 'awaitingUnmaskRequest' }>;
    expect(waiting.stage).toBe('awaitingUnmaskRequest');
    expect(waiting.signedSurvivors).toEqual([0, 1, 4]);
    expect(waiting.maskingPeers).toEqual([1, 2, 4]);
    expect(waiting.held.map((h) => h.of)).toEqual([0, 1, 2, 4]);
    expect(waiting.peerIdentities.map((p) => p.id)).toEqual([1, 2, 3, 4]);
  });

  describe('Round 4: checks the signatures and the masking relation before revealing anything', () => {
    let round: Round;
    beforeAll(async () => {
      round = await start(authed());
      await advance(round);
      await advance(round);
      await advance(round);
      await advance(round, [], [0]);
    });
    const everyone = [0, 1, 2, 3, 4];
    /** An unmask request signed by the survivors' own keys: Round 3 signatures from `signed`, claims (ids) from the others. */
    async function forge(
      signed: number[],
      claims: Record<number, number[]>,
      options: { claimBits?: Record<number, Uint8Array>; signer?: Record<number, number> } = {},
    ) {
      const topology = topologyOf(round.config);
      const bits = cohortBitset(everyone, 5);
      const signatures: Uint8Array[] = [];
      const claimed: Uint8Array[] = [];
      for (const v of everyone) {
        const key = (cohort.ids[options.signer?.[v] ?? v] as Identity).privateKey;
        if (signed.includes(v)) {
          signatures.push(await sign(key, consistencyTranscript('r1', PLAN, v, bits)));
          continue;
        }
        const claim = options.claimBits?.[v] ?? bitsetOf(claims[v] ?? [], topology.neighbours(v));
        claimed.push(claim);
        signatures.push(await sign(key, maskingTranscript('r1', PLAN, v, claim)));
      }
      return {
        type: 'unmaskRequest',
        roundId: 'r1',
        consistencySigned: bitsetOf(signed, everyone),
        signatures: concatBytes(...signatures),
        claims: concatBytes(...claimed),
        certificateRefs: new Uint8Array(0),
      };
    }
    const state = () => round.clients[0] as SecAggClientState;

    it('answers the request the server built, and its own forgery-free variants', async () => {
      const real = sentTo(round, 0, 'unmaskRequest');
      expect(Array.from(real.consistencySigned as Uint8Array)).toEqual([0b11111]);
      const step = await accepts(state(), real);
      expect(step.state).toEqual({
        stage: 'done',
        config: round.config,
        clientId: 0,
        auth: state().auth,
        revealedSelfMaskOf: everyone,
        revealedMaskingKeyOf: [],
      });
      expect((step.outbound as { selfMaskOf: number[] }).selfMaskOf).toEqual(everyone);
      // Exactly the quorum q = max(3, ⌊5/2⌋ + 1) = 3 of Round 3 signers (0 itself, 2, 3); 1 and 4 did not mask with each other.
      const quorum = await forge([0, 2, 3], { 1: [0, 2, 3], 4: [0, 2, 3] });
      expect(Array.from(quorum.claims)).toEqual([0b0111, 0b1101]);
      expect((await accepts(state(), quorum)).state.stage).toBe('done');
    });

    it('refuses missing, misshapen or misstated fields', async () => {
      const real = sentTo(round, 0, 'unmaskRequest');
      for (const field of ['consistencySigned', 'signatures', 'claims', 'certificateRefs'] as const) {
        const { [field]: _dropped, ...rest } = real;
        await expectRejects(state(), rest, 'INCONSISTENT_VIEW', /unmaskRequest carries no signatures or masking claims in an authenticated round/);
      }
      await expectRejects(state(), { ...real, survivors: everyone }, 'MALFORMED', /lists survivors in an authenticated round/);
      await expectRejects(
        state(),
        { ...real, consistencySigned: Uint8Array.of(0b11111, 0) },
        'WRONG_LENGTH',
        /consistencySigned is not a bitset over the 5 survivors/,
      );
      await expectRejects(state(), { ...real, consistencySigned: Uint8Array.of(0b111111) }, 'WRONG_LENGTH', /consistencySigned/);
      const without0 = await forge([1, 2, 3], { 0: [1, 2, 3, 4], 4: [0, 1, 2, 3] });
      await expectRejects(state(), without0, 'INCONSISTENT_VIEW', /says this client did not sign the survivor set/);
      await expectRejects(
        state(),
        { ...real, signatures: (real.signatures as Uint8Array).subarray(64) },
        'WRONG_LENGTH',
        /unmaskRequest signatures: has 256 bytes, expected 5 × 64/,
      );
      await expectRejects(state(), { ...real, claims: Uint8Array.of(1) }, 'WRONG_LENGTH', /unmaskRequest claims: has 1 bytes, expected 0 × 1/);
      await expectRejects(
        state(),
        { ...real, certificateRefs: new Uint8Array(8) },
        'WRONG_LENGTH',
        /unmaskRequest certificateRefs: has 8 bytes, expected 0 × 8/,
      );
      await expectRejects(
        state(),
        { ...real, certificates: [cohort.forger.certificate] },
        'MALFORMED',
        /: unmaskRequest a certificate is sent that no reference names/,
      );
    });

    it('counts valid Round 3 signatures towards the quorum and verifies every claim', async () => {
      await expectRejects(
        state(),
        await forge([0, 2], { 1: [0, 2, 3, 4], 3: [0, 1, 2, 4], 4: [0, 1, 2, 3] }),
        'INCONSISTENT_VIEW',
        /2 valid consistency signatures on the survivor set, need 3 \(max\(t, ⌊n\/2⌋ \+ 1\)\)/,
      );
      await expectRejects(
        state(),
        await forge([0, 2, 3], { 1: [0, 2, 3], 4: [0, 2, 3] }, { signer: { 2: 3 } }),
        'BAD_SIGNATURE',
        /survivor 2's consistency signature does not verify on this survivor set/,
      );
      await expectRejects(
        state(),
        await forge([0, 2, 3], { 1: [0, 2, 3], 4: [0, 2, 3] }, { signer: { 4: 1 } }),
        'BAD_SIGNATURE',
        /survivor 4's masking claim does not verify/,
      );
      await expectRejects(
        state(),
        await forge([0, 2, 3], { 1: [0, 2, 3], 4: [0, 2, 3] }, { signer: { 1: 4 } }),
        'BAD_SIGNATURE',
        /survivor 1's masking claim does not verify/,
      );
      await expectRejects(
        state(),
        await forge([0, 2, 3], { 4: [0, 2, 3] }, { claimBits: { 1: Uint8Array.of(0b10111) } }),
        'MALFORMED',
        /unmaskRequest masking claim of 1 is not a bitset over its neighbours/,
      );
    });

    it('refuses a masking relation that leaves a survivor apart, or that is not mutual', async () => {
      await expectRejects(
        state(),
        await forge([0, 1, 2, 3], { 4: [] }),
        'ISOLATED_GROUP',
        /survivors 4 \(1 of 5\) could be unmasked apart from the rest \(1 separable groups\); expected one group of all survivors/,
      );
      await expectRejects(
        state(),
        await forge([0, 1, 2, 3], { 4: [0] }),
        'ISOLATED_GROUP',
        /the signed masking relation among the 5 survivors is not mutual; their masks cannot cancel/,
      );
    });
  });

  it('names at most ten members of a separable group (n = 24, hand-built state)', async () => {
    const parsed = parseRoundConfig(authed({ clientCount: 24, threshold: 13 }));
    if (!parsed.ok) throw new Error(parsed.error.message);
    const config = parsed.config;
    const everyone = Array.from({ length: 24 }, (_, i) => i);
    const keys = await Promise.all(everyone.map(() => generateSigningKeyPair()));
    const zero = new Uint8Array(SHARE_BYTES);
    const state: SecAggClientState = {
      stage: 'awaitingUnmaskRequest',
      config,
      clientId: 0,
      auth: {
        certificate: (cohort.ids[0] as Identity).certificate,
        privateKey: (keys[0] as { privateKey: CryptoKey }).privateKey,
        enrollmentIssuer: cohort.issuer,
        planHash: PLAN,
        subject: 's0',
      },
      peerIdentities: everyone.slice(1).map((id) => ({ id, subject: `s${id}`, signingKey: (keys[id] as { publicKey: Uint8Array }).publicKey })),
      maskingPeers: everyone.slice(1),
      held: everyone.map((of) => ({ of, maskingKeyShare: zero, selfMaskShare: zero })),
      signedSurvivors: everyone,
    };
    // Quorum q = max(13, 13): 0–12 sign U3 (implied claims: everyone); 13–23 say they masked only among themselves.
    const topology = topologyOf(config);
    const signatures: Uint8Array[] = [];
    const claims: Uint8Array[] = [];
    for (const v of everyone) {
      const key = (keys[v] as { privateKey: CryptoKey }).privateKey;
      if (v < 13) {
        signatures.push(await sign(key, consistencyTranscript('r1', PLAN, v, cohortBitset(everyone, 24))));
        continue;
      }
      const claim = bitsetOf(
        everyone.filter((w) => w >= 13 && w !== v),
        topology.neighbours(v),
      );
      claims.push(claim);
      signatures.push(await sign(key, maskingTranscript('r1', PLAN, v, claim)));
    }
    const request = {
      type: 'unmaskRequest',
      roundId: 'r1',
      consistencySigned: bitsetOf(everyone.slice(0, 13), everyone),
      signatures: concatBytes(...signatures),
      claims: concatBytes(...claims),
      certificateRefs: new Uint8Array(0),
    };
    await expectRejects(
      state,
      request,
      'ISOLATED_GROUP',
      /: survivors 13,14,15,16,17,18,19,20,21,22 \(11 of 24\) could be unmasked apart from the rest \(1 separable groups\)/,
    );
  });

  it('SecAgg+: survivors outside its neighbourhood come with certificates, one seat each; below t among its holders it stops', async () => {
    const config = authed({ clientCount: 6, threshold: 2, graph: { kind: 'harary', degree: 2, seed: new Uint8Array(32).fill(3) } });
    const round = await start(config);
    await advance(round);
    await advance(round);
    await advance(round, [], [0]);
    const atConsistency = round.clients[0] as SecAggClientState;
    const neighbours = topologyOf(round.config).neighbours(0);
    const others = [1, 2, 3, 4, 5].filter((v) => !neighbours.includes(v));
    // Not the server's set: 0 and its non-neighbours only. It is in 0's view (no neighbour it did not mask with).
    const signed = await accepts(atConsistency, { type: 'consistencyRequest', roundId: 'r1', survivors: cohortBitset([0, ...others], 6) });
    expect(signed.state.stage).toBe('awaitingUnmaskRequest');
    // Among 0 and its neighbours only 0 survives: below t = 2, it stops before checking anything.
    await expectAborts(signed.state, { type: 'unmaskRequest', roundId: 'r1' }, /unmaskRequest names 1 survivors, need threshold 2/);
    await expectRejects(signed.state, { type: 'unmaskRequest', roundId: 'r1', survivors: [0] }, 'MALFORMED', /lists survivors in an authenticated round/);
    const real = await accepts(atConsistency, sentTo(round, 0, 'consistencyRequest'));
    round.clients[0] = real.state;
    round.replies.set(0, real.outbound as ClientToServerMessage);
    await advance(round, [], [0]);
    const state = round.clients[0] as SecAggClientState;
    const request = sentTo(round, 0, 'unmaskRequest');
    const refs = records(request.certificateRefs as Uint8Array, 8);
    expect(refs.map((r) => Array.from(r))).toEqual(others.map((i) => Array.from(certificateRef((cohort.ids[i] as Identity).certificate))));
    const { certificates, ...refsOnly } = request;
    await expectRejects(state, refsOnly, 'BAD_CERTIFICATE', new RegExp(`unmaskRequest certificate of client ${others[0]}: no certificate sent`));
    const seat = (index: number, identity: Identity, send = true) => {
      const copy = refs.slice();
      copy[index] = certificateRef(identity.certificate);
      const kept = (certificates ?? []).filter((c) => c !== cohort.ids[others[index] as number]?.certificate);
      return { ...request, certificateRefs: concatBytes(...copy), certificates: send ? [...kept, identity.certificate] : kept };
    };
    await expectRejects(
      state,
      seat(1, cohort.ids[neighbours[0] as number] as Identity),
      'BAD_CERTIFICATE',
      new RegExp(`unmaskRequest client ${others[1]}'s certificate subject already holds another seat`),
    );
    await expectRejects(state, seat(2, cohort.ids[0] as Identity), 'BAD_CERTIFICATE', /already holds another seat/);
    await expectRejects(
      state,
      seat(0, cohort.ids[others[1] as number] as Identity, false),
      'BAD_CERTIFICATE',
      new RegExp(`client ${others[1]}'s certificate subject already holds another seat`),
    );
    await expectRejects(
      state,
      seat(0, cohort.forger),
      'BAD_CERTIFICATE',
      new RegExp(`unmaskRequest certificate of client ${others[0]}: certificate bad-signature`),
    );
    const late = await secAggClientStep(state, request, { nowMs: () => Date.now() + 7_200_000 });
    expect(!late.ok && late.error.message).toMatch(/certificate expired/);
    const cache = createPeerCertificateCache(testBytes(4));
    const step = await secAggClientStep(state, request, { certificateCache: cache });
    if (!step.ok) throw new Error(step.error.message);
    expect(cache.entries.size).toBe(3);
    expect(step.state.stage === 'done' && [step.state.revealedSelfMaskOf, step.state.revealedMaskingKeyOf]).toEqual([[0, ...neighbours], []]);
    // The same request again with references only: resolved from the cache this step filled.
    const again = await secAggClientStep(state, refsOnly, { certificateCache: cache });
    expect(again.ok && again.state.stage).toBe('done');
  });
});

describe('an honest unauthenticated round, stage by stage', () => {
  it('shares s and b at points id + 1 to the right peers, masks with y = x + PRG(b) ± PRG(s_uv), and the masks cancel', async () => {
    const round = await start(cfg({ clientCount: 4 }));
    const before = round.clients.slice() as SecAggClientState[];
    await advance(round);
    for (let u = 0; u < 4; u++) {
      const sent = round.replies.get(u);
      expect(sent && Object.keys(sent).sort()).toEqual(['ciphertexts', 'roundId', 'type']);
      expect(sent?.type === 'shareKeys' && sent.roundId).toBe('r1');
      const ciphertexts = (sent as Extract<ClientToServerMessage, { type: 'shareKeys' }>).ciphertexts;
      expect(ciphertexts.length).toBe(3 * SHARE_CIPHERTEXT_BYTES);
      const peers = [0, 1, 2, 3].filter((v) => v !== u);
      const opened = await Promise.all(records(ciphertexts, SHARE_CIPHERTEXT_BYTES).map((c, i) => openShare(round, u, peers[i] as number, c)));
      const state = stateOf(round, u, 'awaitingShares');
      expect(state.own.of).toBe(u);
      // Any t = 3 shares at points id + 1 give back s_sk and b; the client's own share is one of them.
      const at = (i: number) => (peers[i] as number) + 1;
      expect(combineShares(opened.map((o, i) => ({ point: at(i), share: o.s })))).toEqual(round.secrets[u]?.maskingSecretKey);
      expect(combineShares(opened.map((o, i) => ({ point: at(i), share: o.b })))).toEqual(round.secrets[u]?.selfMaskSeed);
      const withOwn = (kind: 's' | 'b', own: Uint8Array) => [
        { point: u + 1, share: own },
        { point: at(0), share: (opened[0] as { s: Uint8Array; b: Uint8Array })[kind] },
        { point: at(2), share: (opened[2] as { s: Uint8Array; b: Uint8Array })[kind] },
      ];
      expect(combineShares(withOwn('s', state.own.maskingKeyShare))).toEqual(round.secrets[u]?.maskingSecretKey);
      expect(combineShares(withOwn('b', state.own.selfMaskShare))).toEqual(round.secrets[u]?.selfMaskSeed);
      expect(state.peers.map((p) => p.id)).toEqual(peers);
      expect(state.peers.map((p) => p.maskKey)).toEqual(peers.map((v) => pairKey(round, u, v, 'pairwise-mask')));
      expect(state.peers.map((p) => p.encryptionKey)).toEqual(peers.map((v) => pairKey(round, u, v, 'share-encryption')));
      expect(state.peerIdentities).toEqual([]);
      expect(state.input).toEqual(inputOf(u));
      expect(state.selfMaskSeed).toEqual(round.secrets[u]?.selfMaskSeed);
      // The consumed state's key pairs are wiped.
      const old = before[u] as Extract<SecAggClientState, { stage: 'awaitingPeerKeys' }>;
      expect(old.encryptionSecretKey.every((x) => x === 0)).toBe(true);
      expect(old.maskingSecretKey.every((x) => x === 0)).toBe(true);
    }
    const sharing = round.clients.slice() as Extract<SecAggClientState, { stage: 'awaitingShares' }>[];
    await advance(round);
    let total = [0, 0, 0];
    for (let u = 0; u < 4; u++) {
      const sent = round.replies.get(u) as Extract<ClientToServerMessage, { type: 'maskedInput' }>;
      expect(Object.keys(sent).sort()).toEqual(['maskedInput', 'roundId', 'type']);
      expect([sent.type, sent.roundId]).toEqual(['maskedInput', 'r1']);
      const peers = [0, 1, 2, 3].filter((v) => v !== u);
      const y = unpackWords(sent.maskedInput, K);
      expect(sent.maskedInput.length).toBe(2 * D);
      expect('words' in y && Array.from(y.words)).toEqual(await expectedMasked(round, u, peers));
      if ('words' in y) total = total.map((t, i) => (t + (y.words[i] as number)) % 4096);
      const state = stateOf(round, u, 'awaitingUnmaskRequest');
      expect(state.maskingPeers).toEqual(peers);
      expect(state.signedSurvivors).toBeNull();
      expect(state.held.map((h) => h.of)).toEqual([0, 1, 2, 3]);
      expect(Object.keys(state).sort()).toEqual(['auth', 'clientId', 'config', 'held', 'maskingPeers', 'peerIdentities', 'signedSurvivors', 'stage']);
      // Held shares are what each peer sealed for u (opened independently) and u's own.
      for (const held of state.held) {
        if (held.of === u) {
          expect(held).toEqual(sharing[u]?.own);
          continue;
        }
        const index = [0, 1, 2, 3].filter((v) => v !== held.of).indexOf(u);
        const ciphertext = (logged(round, held.of, 'shareKeys').ciphertexts as Uint8Array).slice(
          index * SHARE_CIPHERTEXT_BYTES,
          (index + 1) * SHARE_CIPHERTEXT_BYTES,
        );
        const opened = await openShare(round, held.of, u, ciphertext);
        expect([held.maskingKeyShare, held.selfMaskShare]).toEqual([opened.s, opened.b]);
      }
      const old = sharing[u] as Extract<SecAggClientState, { stage: 'awaitingShares' }>;
      expect(old.selfMaskSeed.every((x) => x === 0) && old.input.every((x) => x === 0)).toBe(true);
      expect(old.peers.every((p) => p.maskKey.every((x) => x === 0) && p.encryptionKey.every((x) => x === 0))).toBe(true);
    }
    // Pairwise masks cancel: Σ y − Σ PRG(b_u) = Σ x.
    for (let u = 0; u < 4; u++) {
      const b = await expandMask(nobleSuite, (round.secrets[u] as Secrets).selfMaskSeed, D, K);
      total = total.map((t, i) => (t - (b[i] as number) + 4096) % 4096);
    }
    expect(total).toEqual(plainSum(round, [0, 1, 2, 3]));
    await advance(round);
    for (let u = 0; u < 4; u++) {
      const sent = round.replies.get(u) as Extract<ClientToServerMessage, { type: 'unmask' }>;
      expect(stateOf(round, u, 'done')).toEqual({
        stage: 'done',
        config: round.config,
        clientId: u,
        auth: null,
        revealedSelfMaskOf: [0, 1, 2, 3],
        revealedMaskingKeyOf: [],
      });
      expect(sent.selfMaskOf).toEqual([0, 1, 2, 3]);
      expect(sent.maskingKeyOf).toEqual([]);
      expect(sent.maskingKeyShares.length).toBe(0);
      expect(sent.selfMaskShares.length).toBe(4 * SHARE_BYTES);
    }
    await advance(round);
    expect(round.server.stage).toBe('done');
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round, [0, 1, 2, 3]));
  });

  it('after a dropout reveals b-shares of the survivors and s-shares of the dropped peer, never both for one peer', async () => {
    const round = await start();
    await advance(round);
    await advance(round);
    await advance(round, [3]); // 3 sent shares, then no masked input
    const answers = new Map<number, Extract<ClientToServerMessage, { type: 'unmask' }>>();
    for (const u of [0, 1, 2, 4]) {
      const state = stateOf(round, u, 'done');
      expect([state.revealedSelfMaskOf, state.revealedMaskingKeyOf]).toEqual([[0, 1, 2, 4], [3]]);
      const sent = round.replies.get(u) as Extract<ClientToServerMessage, { type: 'unmask' }>;
      expect(Object.keys(sent).sort()).toEqual(['maskingKeyOf', 'maskingKeyShares', 'roundId', 'selfMaskOf', 'selfMaskShares', 'type']);
      expect([sent.type, sent.roundId, sent.selfMaskOf, sent.maskingKeyOf]).toEqual(['unmask', 'r1', [0, 1, 2, 4], [3]]);
      expect(sent.selfMaskShares.length).toBe(4 * SHARE_BYTES);
      answers.set(u, sent);
    }
    // Three holders' s-shares of client 3 give its advertised s secret; their b-shares of 4 give b_4.
    const sOf3 = [0, 1, 2].map((u) => ({ point: u + 1, share: (answers.get(u) as { maskingKeyShares: Uint8Array }).maskingKeyShares }));
    expect(combineShares(sOf3)).toEqual(round.secrets[3]?.maskingSecretKey);
    const bOf4 = [0, 2, 4].map((u) => ({
      point: u + 1,
      share: records((answers.get(u) as { selfMaskShares: Uint8Array }).selfMaskShares, SHARE_BYTES)[3] as Uint8Array,
    }));
    expect(combineShares(bOf4)).toEqual(round.secrets[4]?.selfMaskSeed);
    const bOf0 = [1, 2, 4].map((u) => ({
      point: u + 1,
      share: records((answers.get(u) as { selfMaskShares: Uint8Array }).selfMaskShares, SHARE_BYTES)[0] as Uint8Array,
    }));
    expect(combineShares(bOf0)).toEqual(round.secrets[0]?.selfMaskSeed);
    await advance(round);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round, [0, 1, 2, 4]));
  });
});

describe('Round 1 (ShareKeys): the peer keys it accepts', () => {
  it('refuses bitsets, lengths, reused and low-order keys, and leaves its state unchanged', async () => {
    const round = await start();
    await advance(round, [], [0]);
    const state = round.clients[0] as SecAggClientState;
    const peerKeys = sentTo(round, 0, 'peerKeys');
    expect(Array.from(peerKeys.peers)).toEqual([0b1111]);
    const own = logged(round, 0, 'advertiseKeys');
    const keys = records(peerKeys.publicKeys, 32); // c1 s1 c2 s2 c3 s3 c4 s4
    const withKeys = (...replace: [number, Uint8Array][]) => {
      const copy = keys.slice();
      for (const [i, key] of replace) copy[i] = key;
      return { ...peerKeys, publicKeys: concatBytes(...copy) };
    };
    await expectRejects(
      state,
      { ...peerKeys, peers: Uint8Array.of(0b11111) },
      'WRONG_LENGTH',
      /peers must be a bitset over this client's 4 neighbours \(1 bytes, no padding bit set\)/,
    );
    await expectRejects(state, { ...peerKeys, peers: Uint8Array.of(0b1111, 0) }, 'WRONG_LENGTH', /4 neighbours \(1 bytes/);
    await expectRejects(state, { ...peerKeys, publicKeys: peerKeys.publicKeys.subarray(1) }, 'WRONG_LENGTH', /publicKeys: has 255 bytes, expected 4 × 64/);
    await expectRejects(state, { ...peerKeys, peers: Uint8Array.of(0b0111) }, 'WRONG_LENGTH', /expected 3 × 64/);
    await expectRejects(state, withKeys([0, own.encryptionPublicKey]), 'INVALID_KEY', /client 1 reuses a public key/);
    await expectRejects(state, withKeys([5, own.maskingPublicKey]), 'INVALID_KEY', /client 3 reuses/);
    await expectRejects(state, withKeys([1, keys[0] as Uint8Array]), 'INVALID_KEY', /client 1 reuses/);
    await expectRejects(state, withKeys([7, keys[2] as Uint8Array]), 'INVALID_KEY', /client 4 reuses/);
    await expectRejects(state, withKeys([4, new Uint8Array(32)]), 'INVALID_KEY', /client 3 has a low-order public key/);
    await expectRejects(state, withKeys([7, new Uint8Array(32)]), 'INVALID_KEY', /client 4 has a low-order public key/);
    // Unauthenticated: the authentication fields are not looked at.
    expect((await accepts(state, { ...peerKeys, certificateRefs: new Uint8Array(3) })).state.stage).toBe('awaitingShares');
  });

  it("draws the Shamir coefficients from the step's random source", async () => {
    const round = await start();
    await advance(round, [], [0]);
    const peerKeys = sentTo(round, 0, 'peerKeys');
    const twin = await createSecAggClient({ config: cfg(), clientId: 0, input: inputOf(0), randomBytes: testBytes(1) });
    if (!twin.ok) throw new Error(twin.error.message);
    const copy = structuredClone(twin.state);
    const a = await secAggClientStep(round.clients[0] as SecAggClientState, peerKeys, { randomBytes: testBytes(50) });
    const b = await secAggClientStep(twin.state, peerKeys, { randomBytes: testBytes(50) });
    const c = await secAggClientStep(copy, peerKeys, { randomBytes: testBytes(51) });
    const sharesOf = (step: typeof a) => (step.ok && step.state.stage === 'awaitingShares' ? step.state.own : null);
    expect(sharesOf(a)).not.toBeNull();
    // Same secrets, same coefficient source: the same shares; another source: other shares.
    expect(sharesOf(b)).toEqual(sharesOf(a));
    expect(sharesOf(c)?.selfMaskShare).not.toEqual(sharesOf(a)?.selfMaskShare);
  });

  it('goes on with exactly t holders and stops below, revealing nothing', async () => {
    const round = await start();
    await advance(round, [], [0]);
    const state = round.clients[0] as SecAggClientState;
    const peerKeys = sentTo(round, 0, 'peerKeys');
    // Peers 2 and 4 only: holders {0, 2, 4} = t.
    const two = {
      ...peerKeys,
      peers: Uint8Array.of(0b1010),
      publicKeys: concatBytes(peerKeys.publicKeys.subarray(64, 128), peerKeys.publicKeys.subarray(192)),
    };
    const step = await accepts(state, two);
    expect(step.outbound?.type === 'shareKeys' && step.outbound.ciphertexts.length).toBe(2 * SHARE_CIPHERTEXT_BYTES);
    const next = step.state as Extract<SecAggClientState, { stage: 'awaitingShares' }>;
    expect(next.peers.map((p) => p.id)).toEqual([2, 4]);
    const ciphertexts = records((step.outbound as { ciphertexts: Uint8Array }).ciphertexts, SHARE_CIPHERTEXT_BYTES);
    const to2 = await openShare(round, 0, 2, ciphertexts[0] as Uint8Array);
    const to4 = await openShare(round, 0, 4, ciphertexts[1] as Uint8Array);
    const reconstruct = (a: Uint8Array, b: Uint8Array, own: Uint8Array) =>
      combineShares([
        { point: 1, share: own },
        { point: 3, share: a },
        { point: 5, share: b },
      ]);
    expect(reconstruct(to2.s, to4.s, next.own.maskingKeyShare)).toEqual(round.secrets[0]?.maskingSecretKey);
    expect(reconstruct(to2.b, to4.b, next.own.selfMaskShare)).toEqual(round.secrets[0]?.selfMaskSeed);
    const fresh = await start();
    await advance(fresh, [], [0]);
    const one = { ...peerKeys, peers: Uint8Array.of(0b0001), publicKeys: sentTo(fresh, 0, 'peerKeys').publicKeys.subarray(0, 64) };
    await expectAborts(fresh.clients[0] as SecAggClientState, one, /2 share holders \(this client and peers with keys\), need threshold 3/);
  });
});

describe('Round 2 (MaskedInputCollection)', () => {
  async function atShares() {
    const round = await start();
    await advance(round);
    await advance(round, [], [0]);
    return { round, state: round.clients[0] as SecAggClientState, inbox: sentTo(round, 0, 'encryptedShares') };
  }

  it('refuses share messages that are malformed, do not authenticate, or hold values outside GF(p)', async () => {
    const { round, state, inbox } = await atShares();
    expect(Array.from(inbox.from)).toEqual([0b1111]);
    const cts = records(inbox.ciphertexts, SHARE_CIPHERTEXT_BYTES);
    await expectRejects(state, { ...inbox, from: Uint8Array.of(0b10000) }, 'WRONG_LENGTH', /from must be a bitset over this client's 4 neighbours \(1 bytes/);
    await expectRejects(state, { ...inbox, from: Uint8Array.of() }, 'WRONG_LENGTH', /encryptedShares from must be a bitset/);
    await expectRejects(state, { ...inbox, ciphertexts: inbox.ciphertexts.subarray(1) }, 'WRONG_LENGTH', /ciphertexts: has 327 bytes, expected 4 × 82/);
    const flipped = (cts[2] as Uint8Array).slice();
    flipped[5] = (flipped[5] as number) ^ 1;
    await expectRejects(
      state,
      { ...inbox, ciphertexts: concatBytes(cts[0] as Uint8Array, cts[1] as Uint8Array, flipped, cts[3] as Uint8Array) },
      'DECRYPTION_FAILED',
      /from client 3 does not authenticate/,
    );
    // A valid record of 2 presented as 1's: the nonce and associated data bind the sender.
    await expectRejects(
      state,
      { ...inbox, ciphertexts: concatBytes(cts[1] as Uint8Array, cts[1] as Uint8Array, cts[2] as Uint8Array, cts[3] as Uint8Array) },
      'DECRYPTION_FAILED',
      /client 1/,
    );
    // Client 2 (malicious) seals a share that is not below p, correctly encrypted to 0.
    const key = pairKey(round, 2, 0, 'share-encryption');
    const good = await openShare(round, 2, 0, cts[1] as Uint8Array);
    for (const plaintext of [concatBytes(shareBytesAbove(), good.b), concatBytes(good.s, shareBytesAbove())]) {
      const sealed = await nobleSuite.seal(key, shareNonce(2, 0), plaintext, shareAssociatedData('r1', 2, 0));
      await expectRejects(
        state,
        { ...inbox, ciphertexts: concatBytes(cts[0] as Uint8Array, sealed, cts[2] as Uint8Array, cts[3] as Uint8Array) },
        'OUT_OF_RANGE',
        /shares from client 2 are not elements of GF\(p\)/,
      );
    }
  });

  it('masks with exactly the senders, goes on with t − 1 of them and stops below; refuses senders it never keyed with', async () => {
    const { round, state, inbox } = await atShares();
    const cts = records(inbox.ciphertexts, SHARE_CIPHERTEXT_BYTES);
    // Shares from 1 and 3 only: this client and two peers = t.
    const step = await accepts(state, { ...inbox, from: Uint8Array.of(0b0101), ciphertexts: concatBytes(cts[0] as Uint8Array, cts[2] as Uint8Array) });
    const next = step.state as Extract<SecAggClientState, { stage: 'awaitingUnmaskRequest' }>;
    expect(next.maskingPeers).toEqual([1, 3]);
    expect(next.held.map((h) => h.of)).toEqual([0, 1, 3]);
    const y = unpackWords((step.outbound as { maskedInput: Uint8Array }).maskedInput, K);
    expect('words' in y && Array.from(y.words)).toEqual(await expectedMasked(round, 0, [1, 3]));
    const fresh = await atShares();
    await expectAborts(
      fresh.state,
      { ...fresh.inbox, from: Uint8Array.of(0b0100), ciphertexts: fresh.inbox.ciphertexts.subarray(2 * SHARE_CIPHERTEXT_BYTES, 3 * SHARE_CIPHERTEXT_BYTES) },
      /shares arrived from 1 peers; with this client that is below threshold 3/,
    );
    // A client that keyed with 2 and 4 only refuses shares "from" 3.
    const partial = await start();
    await advance(partial, [], [0]);
    const peerKeys = sentTo(partial, 0, 'peerKeys');
    const keyed = await accepts(partial.clients[0] as SecAggClientState, {
      ...peerKeys,
      peers: Uint8Array.of(0b1010),
      publicKeys: concatBytes(peerKeys.publicKeys.subarray(64, 128), peerKeys.publicKeys.subarray(192)),
    });
    const ctsOther = records(inbox.ciphertexts, SHARE_CIPHERTEXT_BYTES);
    await expectRejects(
      keyed.state,
      { ...inbox, from: Uint8Array.of(0b1110), ciphertexts: concatBytes(ctsOther[1] as Uint8Array, ctsOther[2] as Uint8Array, ctsOther[3] as Uint8Array) },
      'UNKNOWN_CLIENT',
      /from client 3, which was not among this client's peers/,
    );
  });
});

describe('message order, replays and aborts', () => {
  it('tells a replay from a skipped stage, and refuses other rounds and non-messages', async () => {
    const round = await start();
    const at0 = round.clients[0] as SecAggClientState;
    await expectRejects(
      at0,
      { type: 'encryptedShares', roundId: 'r1', from: Uint8Array.of(0), ciphertexts: new Uint8Array(0) },
      'WRONG_PHASE',
      /\(awaitingPeerKeys\): expected peerKeys, got encryptedShares/,
    );
    await expectRejects(at0, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2] }, 'WRONG_PHASE', /expected peerKeys, got unmaskRequest/);
    await expectRejects(at0, null, 'MALFORMED');
    await expectRejects(at0, undefined, 'MALFORMED');
    await expectRejects(at0, 7, 'MALFORMED');
    await expectRejects(at0, 'abort', 'MALFORMED');
    await advance(round, [], [0]);
    const peerKeys = sentTo(round, 0, 'peerKeys');
    await expectRejects(at0, { ...peerKeys, roundId: 'r2' }, 'STALE_ROUND', /client 0 \(awaitingPeerKeys\): expected round "r1", got "r2"/);
    await expectRejects(at0, { ...peerKeys, extra: 1 }, 'MALFORMED');
    const at1 = round.clients[1] as SecAggClientState;
    await expectRejects(at1, peerKeys, 'REPLAY', /client 1 \(awaitingShares\): peerKeys was already processed; expected encryptedShares/);
    await expectRejects(
      at1,
      { type: 'consistencyRequest', roundId: 'r1', survivors: Uint8Array.of(31) },
      'WRONG_PHASE',
      /expected encryptedShares, got consistencyRequest/,
    );
    await advance(round);
    const waiting = round.clients[1] as SecAggClientState;
    expect(waiting.stage).toBe('awaitingUnmaskRequest');
    await expectRejects(
      waiting,
      { type: 'consistencyRequest', roundId: 'r1', survivors: Uint8Array.of(31) },
      'REPLAY',
      /consistencyRequest was already processed; expected unmaskRequest/,
    );
    await expectRejects(waiting, peerKeys, 'REPLAY');
    await advance(round);
    const done = round.clients[1] as SecAggClientState;
    expect(done.stage).toBe('done');
    await expectRejects(done, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2, 3, 4] }, 'REPLAY', /already answered its one unmask request/);
    await expectRejects(done, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2, 3, 4], extra: 1 }, 'MALFORMED');
    await expectRejects(done, { type: 'unmaskRequest', roundId: 'r0', survivors: [0, 1] }, 'STALE_ROUND');
    await expectRejects(done, peerKeys, 'WRONG_PHASE', /client 1 \(done\): got peerKeys after the round finished/);
  });

  it('takes a well-formed abort of this round at any stage, then nothing more', async () => {
    const abort = { type: 'abort', roundId: 'r1', reason: { code: 'BELOW_THRESHOLD', message: 'too few' } };
    const round = await start();
    const check = async (state: SecAggClientState) => {
      await expectRejects(state, { ...abort, roundId: 'r2' }, 'STALE_ROUND');
      await expectRejects(state, { ...abort, reason: { code: 'X' } }, 'MALFORMED');
      await expectRejects(state, { ...abort, extra: true }, 'MALFORMED');
      const step = await accepts(state, abort);
      expect(step.outbound).toBeNull();
      expect(step.state).toEqual({
        stage: 'aborted',
        config: state.config,
        clientId: state.clientId,
        auth: state.auth,
        reason: { code: 'ABORTED', message: 'server aborted the round: BELOW_THRESHOLD: too few' },
      });
      await expectRejects(
        step.state,
        { type: 'peerKeys', roundId: 'r1' },
        'ABORTED',
        /client \d \(aborted\): the round was aborted \(ABORTED\); nothing more is accepted/,
      );
      await expectRejects(step.state, abort, 'ABORTED');
    };
    await check(round.clients[0] as SecAggClientState);
    await advance(round);
    await check(round.clients[1] as SecAggClientState);
    await advance(round);
    expect(round.clients[2]?.stage).toBe('awaitingUnmaskRequest');
    await check(round.clients[2] as SecAggClientState);
    await advance(round);
    expect(round.clients[3]?.stage).toBe('done');
    await advance(round);
    await check(round.clients[3] as SecAggClientState);
    const stopped = await accepts(round.clients[4] as SecAggClientState, abort);
    if (stopped.state.stage !== 'aborted') throw new Error('not aborted');
    await expectRejects(stopped.state, {}, 'ABORTED', /the round was aborted \(ABORTED\)/);
  });
});

describe('Round 4 (Unmasking), unauthenticated', () => {
  it('checks the survivors: listed at all, itself among them, only peers it masked with, at least t', async () => {
    const round = await start();
    await advance(round);
    await advance(round, [3]); // 3 sent no shares to anyone: 0 masked with 1, 2, 4
    await advance(round, [], [0]);
    const state = round.clients[0] as SecAggClientState;
    expect(state.stage === 'awaitingUnmaskRequest' && state.maskingPeers).toEqual([1, 2, 4]);
    const request = (survivors?: number[]) => ({ type: 'unmaskRequest', roundId: 'r1', ...(survivors ? { survivors } : {}) });
    await expectRejects(state, request(), 'MALFORMED', /unmaskRequest lists no survivors/);
    await expectRejects(state, request([1, 2, 4]), 'MALFORMED', /does not list this client \(0\) among the survivors it asks/);
    await expectRejects(state, request([0, 1, 2, 3]), 'UNKNOWN_CLIENT', /names client 3 as a survivor, but this client never masked with it/);
    await expectRejects(state, request([0, 2, 1]), 'MALFORMED', /ascending/);
    await expectRejects(state, request([0, 1, 5]), 'OUT_OF_RANGE', /unmaskRequest: client id 5/);
    await expectRejects(state, { ...request([0, 1, 2]), consistencySigned: new Uint8Array(1), survivors: [0, 1, 2], extra: 0 }, 'MALFORMED');
    await expectAborts(state, request([0, 4]), /unmaskRequest names 2 survivors, need threshold 3/);
    const step = await accepts(state, request([0, 2, 4]));
    expect(step.state).toEqual({ stage: 'done', config: state.config, clientId: 0, auth: null, revealedSelfMaskOf: [0, 2, 4], revealedMaskingKeyOf: [1] });
    // The message carries copies: whatever the transport does to it, the record of what was revealed stays.
    const out = step.outbound as Extract<ClientToServerMessage, { type: 'unmask' }>;
    out.selfMaskOf.push(1);
    out.maskingKeyOf.push(2);
    expect(step.state.stage === 'done' && [step.state.revealedSelfMaskOf, step.state.revealedMaskingKeyOf]).toEqual([[0, 2, 4], [1]]);
    out.selfMaskOf.pop();
    out.maskingKeyOf.pop();
    const held = (state as Extract<SecAggClientState, { stage: 'awaitingUnmaskRequest' }>).held;
    expect(step.outbound).toEqual({
      type: 'unmask',
      roundId: 'r1',
      selfMaskOf: [0, 2, 4],
      selfMaskShares: concatBytes(...[0, 2, 3].map((i) => (held[i] as { selfMaskShare: Uint8Array }).selfMaskShare)),
      maskingKeyOf: [1],
      maskingKeyShares: (held[1] as { maskingKeyShare: Uint8Array }).maskingKeyShare,
    });
  });

  it('SecAgg+: survivors that are not neighbours are not in its view, and never revealed', async () => {
    const config = cfg({ clientCount: 6, threshold: 2, graph: { kind: 'harary', degree: 2, seed: new Uint8Array(32).fill(3) } });
    const round = await start(config);
    await advance(round);
    await advance(round);
    await advance(round, [], [0]);
    const neighbours = topologyOf(round.config).neighbours(0);
    const others = [1, 2, 3, 4, 5].filter((v) => !neighbours.includes(v));
    const state = round.clients[0] as SecAggClientState;
    const all = [0, 1, 2, 3, 4, 5];
    const step = await accepts(state, { type: 'unmaskRequest', roundId: 'r1', survivors: all });
    expect(step.state.stage === 'done' && [step.state.revealedSelfMaskOf, step.state.revealedMaskingKeyOf]).toEqual([[0, ...neighbours], []]);
    expect(others.length).toBe(3);
  });
});
