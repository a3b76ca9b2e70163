import { beforeAll, describe, expect, it } from 'vitest';
import { numberToBytesBE } from '@noble/curves/utils.js';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { certifiedCohort, planHashOf, type CertifiedCohort } from './attacks/harness';
import { concatBytes, toHex } from './bytes';
import { certificateRef, createCertificateLedger, createPeerCertificateCache, type CertificateLedger, type PeerCertificateCache } from './certificates';
import { createSecAggClient, SHARE_CIPHERTEXT_BYTES, secAggClientStep, type SecAggClientState } from './client';
import { topologyOf, type RoundConfigInput } from './config';
import { defaultSuite, generateKeyPair, type CryptoSuite } from './crypto';
import type { SecAggErrorCode } from './errors';
import type {
  AdvertiseKeysMessage,
  ClientToServerMessage,
  EncryptedSharesMessage,
  MaskedInputMessage,
  PeerKeysMessage,
  ServerToClientMessage,
  ShareKeysMessage,
  UnmaskMessage,
  UnmaskRequestMessage,
} from './messages';
import {
  createSecAggServer,
  heldShareKinds,
  pendingClients,
  secAggServerStep,
  type Outbound,
  type SecAggServerState,
  type SecAggServerStepOptions,
} from './server';
import { SHARE_BYTES, splitSecret } from './shamir';

/**
 * The server machine driven stage by stage with tiny rounds (3–7 clients, a few coordinates, k = 12):
 * what it sends at each close, what it refuses and with which code, when it aborts and why, and the
 * unmasked sum. Expected values come from the clients' own messages (keys, ciphertexts, masked
 * words), from bitsets and neighbour lists worked out by hand, and from the plain sum of the
 * survivors' inputs — never from the server's arithmetic.
 */

function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

const K = 12;
const inputOf = (id: number, d: number, k: number) => Uint32Array.from({ length: d }, (_, i) => (id * 1009 + i * 331 + 17) % 2 ** k);

/** Σ x_u over `who`, mod 2^k, one coordinate at a time. */
function plainSum(inputs: readonly Uint32Array[], who: readonly number[], k: number): number[] {
  const d = inputs[0]?.length ?? 0;
  return Array.from({ length: d }, (_, i) => who.reduce((sum, id) => sum + (inputs[id] as Uint32Array)[i]!, 0) % 2 ** k);
}

/** A bitset over `universe` by hand: bit j set when universe[j] is a member. */
function bits(members: readonly number[], universe: readonly number[]): number[] {
  const out = new Array<number>(Math.ceil(universe.length / 8)).fill(0);
  universe.forEach((id, j) => {
    if (members.includes(id)) out[j >> 3] = (out[j >> 3] as number) | (1 << (j & 7));
  });
  return out;
}

interface Setup {
  n: number;
  t: number;
  d?: number;
  graph?: RoundConfigInput['graph'];
  roundId?: string;
  cohort?: CertifiedCohort;
  caches?: PeerCertificateCache[];
  ledger?: CertificateLedger;
  absent?: readonly number[];
  options?: SecAggServerStepOptions;
}

interface Round {
  config: RoundConfigInput;
  server: SecAggServerState;
  clients: (SecAggClientState | null)[];
  /** Each client's reply not yet given to the server. */
  replies: Map<number, ClientToServerMessage>;
  /** Everything each client has sent, by type. */
  history: Map<string, Map<number, ClientToServerMessage>>;
  /** The server's last close: its messages in order. */
  outbound: Outbound[];
  sent: Map<number, ServerToClientMessage>;
  inputs: Uint32Array[];
  options: SecAggServerStepOptions;
  cohort: CertifiedCohort | undefined;
  caches: readonly PeerCertificateCache[];
}

const PLAN = planHashOf('server.test plan');

async function start(setup: Setup): Promise<Round> {
  const d = setup.d ?? 3;
  const config: RoundConfigInput = {
    roundId: setup.roundId ?? 'r1',
    clientCount: setup.n,
    threshold: setup.t,
    vectorLength: d,
    modulusBits: K,
    graph: setup.graph ?? { kind: 'full' },
    ...(setup.cohort ? { authenticated: true } : {}),
  };
  const { cohort } = setup;
  const created = createSecAggServer(config, cohort ? { enrollmentIssuer: cohort.enrollmentIssuer, planHash: PLAN } : undefined);
  if (!created.ok) throw new Error(created.error.message);
  const inputs = Array.from({ length: setup.n }, (_, id) => inputOf(id, d, K));
  const round: Round = {
    config,
    server: created.state,
    clients: new Array<SecAggClientState | null>(setup.n).fill(null),
    replies: new Map(),
    history: new Map(),
    outbound: [],
    sent: new Map(),
    inputs,
    options: { ...setup.options, ...(setup.ledger ? { certificateLedger: setup.ledger } : {}) },
    cohort,
    caches: setup.caches ?? [],
  };
  for (let id = 0; id < setup.n; id++) {
    if (setup.absent?.includes(id)) continue;
    const cache = setup.caches?.[id];
    const made = await createSecAggClient({
      config,
      clientId: id,
      input: inputs[id] as Uint32Array,
      randomBytes: testBytes(id + 1000 * config.roundId.length),
      ...(cache ? { certificateCache: cache } : {}),
      ...(cohort ? { auth: { identity: cohort.identities[id]!, enrollmentIssuer: cohort.enrollmentIssuer, planHash: PLAN } } : {}),
    });
    if (!made.ok) throw new Error(made.error.message);
    round.clients[id] = made.state;
    record(round, id, made.outbound);
  }
  return round;
}

function record(round: Round, id: number, message: ClientToServerMessage) {
  round.replies.set(id, message);
  const byType = round.history.get(message.type) ?? new Map<number, ClientToServerMessage>();
  byType.set(id, message);
  round.history.set(message.type, byType);
}

function sentBy<T extends ClientToServerMessage>(round: Round, type: T['type'], id: number): T {
  return round.history.get(type)?.get(id) as T;
}

/** What the transport hands the server: an authenticated advertisement gains its connection's certificate. */
function received(round: Round, from: number, message: unknown): unknown {
  const typed = message as { type?: string };
  if (round.cohort && typed?.type === 'advertiseKeys' && !('certificate' in typed)) {
    return { ...typed, certificate: round.cohort.identities[from]?.certificate };
  }
  return message;
}

async function send(round: Round, from: number, message: unknown, options: SecAggServerStepOptions = round.options) {
  const step = await secAggServerStep(round.server, { type: 'message', from, message: received(round, from, message) }, options);
  if (step.ok) round.server = step.state;
  return step;
}

async function sendReplies(round: Round, order?: readonly number[]) {
  const ids = order ?? [...round.replies.keys()];
  for (const id of ids) {
    const step = await send(round, id, round.replies.get(id));
    if (!step.ok) throw new Error(`${step.error.code}: ${step.error.message}`);
    round.replies.delete(id);
  }
}

async function close(round: Round) {
  const step = await secAggServerStep(round.server, { type: 'closeStage', stage: round.server.stage }, round.options);
  if (!step.ok) throw new Error(`${step.error.code}: ${step.error.message}`);
  round.server = step.state;
  round.outbound = step.outbound;
  round.sent = new Map(step.outbound.map((o) => [o.to, o.message]));
  return step;
}

/** Delivers the last close's messages; `silent` clients drop out (receive nothing more, answer nothing). */
async function deliver(round: Round, silent: readonly number[] = []) {
  for (const id of silent) round.clients[id] = null;
  for (const { to, message } of round.outbound) {
    const client = round.clients[to];
    if (!client) continue;
    const cache = round.caches[to];
    const step = await secAggClientStep(client, message, { randomBytes: testBytes(500 + to), ...(cache ? { certificateCache: cache } : {}) });
    if (!step.ok) throw new Error(`client ${to}: ${step.error.code}: ${step.error.message}`);
    round.clients[to] = step.state;
    if (step.outbound) record(round, to, step.outbound);
  }
}

/** Replies in (optionally) a given order, closes the stage, delivers; `silent` drop after the close. */
async function advance(round: Round, silent: readonly number[] = [], order?: readonly number[]) {
  await sendReplies(round, order);
  await close(round);
  await deliver(round, silent);
  for (const id of silent) round.replies.delete(id);
}

async function expectRejects(round: Round, from: number, message: unknown, code: SecAggErrorCode, pattern?: RegExp, options?: SecAggServerStepOptions) {
  const before = structuredClone(round.server);
  const step = await send(round, from, message, options);
  expect(step.ok ? 'accepted' : step.error.code).toBe(code);
  if (!step.ok && pattern) expect(step.error.message).toMatch(pattern);
  expect(round.server).toEqual(before);
}

function words12(bytes: Uint8Array): number[] {
  return Array.from({ length: bytes.length / 2 }, (_, i) => (bytes[2 * i] as number) | ((bytes[2 * i + 1] as number) << 8));
}

const share = (value: bigint) => numberToBytesBE(value, SHARE_BYTES);

describe('createSecAggServer', () => {
  it('starts in AdvertiseKeys with nothing collected', () => {
    const created = createSecAggServer({ roundId: 'r1', clientCount: 3, threshold: 2, vectorLength: 2, modulusBits: 8, graph: { kind: 'full' } });
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.state).toEqual({
      stage: 'advertiseKeys',
      config: { roundId: 'r1', clientCount: 3, threshold: 2, vectorLength: 2, modulusBits: 8, graph: { kind: 'full' } },
      advertised: [],
      shared: [],
      masked: [],
      accumulator: null,
      survivors: [],
      dropped: [],
      unmaskResponses: [],
      result: null,
      abort: null,
      auth: null,
      identities: [],
      maskingClaims: [],
      consistency: [],
    });
    expect(pendingClients(created.state)).toEqual([0, 1, 2]);
    expect(heldShareKinds(created.state)).toEqual({ selfMaskOf: [], maskingKeyOf: [] });
  });

  it('refuses a bad config, auth that does not match the config, and a plan hash of the wrong length', () => {
    const base = { roundId: 'r1', clientCount: 3, threshold: 2, vectorLength: 2, modulusBits: 8, graph: { kind: 'full' as const } };
    const issuer = { name: 'issuer', publicKey: new Uint8Array(65) };
    const codeOf = (r: ReturnType<typeof createSecAggServer>) => (r.ok ? 'ok' : `${r.error.code}: ${r.error.message}`);
    expect(codeOf(createSecAggServer({ ...base, threshold: 4 }))).toMatch(/^INVALID_CONFIG: round config: threshold 4 exceeds/);
    expect(codeOf(createSecAggServer({ ...base, authenticated: true }))).toMatch(/^INVALID_CONFIG: createSecAggServer: an authenticated round needs/);
    expect(codeOf(createSecAggServer(base, { enrollmentIssuer: issuer, planHash: PLAN }))).toMatch(/^INVALID_CONFIG: createSecAggServer/);
    expect(codeOf(createSecAggServer({ ...base, authenticated: false }))).toBe('ok');
    expect(codeOf(createSecAggServer({ ...base, authenticated: true }, { enrollmentIssuer: issuer, planHash: new Uint8Array(31) }))).toBe(
      'WRONG_LENGTH: createSecAggServer: planHash has 31 bytes, expected 32',
    );
    expect(codeOf(createSecAggServer({ ...base, authenticated: true }, { enrollmentIssuer: issuer, planHash: new Uint8Array(33) }))).toMatch(/^WRONG_LENGTH/);
    const planHash = PLAN.slice();
    const created = createSecAggServer({ ...base, authenticated: true }, { enrollmentIssuer: issuer, planHash });
    if (!created.ok) throw new Error(created.error.message);
    planHash.fill(0);
    // The server keeps its own copy of the plan hash.
    expect(created.state.auth?.planHash).toEqual(PLAN);
    expect(created.state.auth?.enrollmentIssuer).toBe(issuer);
  });
});

describe('a full-graph round, stage by stage', () => {
  it('relays exactly the advertised keys and the shares addressed to each client, and sums the survivors', async () => {
    // n = 7, t = 4: 6 never advertises, 1 advertises but sends no shares, 3 sends shares but no masked input.
    const round = await start({ n: 7, t: 4, absent: [6] });
    expect(pendingClients(round.server)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    await sendReplies(round, [3, 5, 0]);
    expect(pendingClients(round.server)).toEqual([1, 2, 4, 6]);
    await sendReplies(round, [4, 1, 2]);
    expect(round.server.advertised.map((a) => a.id)).toEqual([3, 5, 0, 4, 1, 2]);
    await close(round);
    expect(round.server.stage).toBe('shareKeys');
    expect(round.server.advertised.map((a) => a.id)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(round.outbound.map((o) => o.to)).toEqual([0, 1, 2, 3, 4, 5]);
    const u1 = [0, 1, 2, 3, 4, 5];
    for (const to of u1) {
      const message = round.sent.get(to) as PeerKeysMessage;
      const peers = u1.filter((id) => id !== to);
      const universe = [0, 1, 2, 3, 4, 5, 6].filter((id) => id !== to);
      const keys = peers.flatMap((id) => {
        const a = sentBy<AdvertiseKeysMessage>(round, 'advertiseKeys', id);
        return [a.encryptionPublicKey, a.maskingPublicKey];
      });
      expect(message).toEqual({ type: 'peerKeys', roundId: 'r1', peers: Uint8Array.from(bits(peers, universe)), publicKeys: concatBytes(...keys) });
    }
    await deliver(round, []);
    expect(pendingClients(round.server)).toEqual(u1);
    // Shares arrive out of order; 1 never sends its own.
    round.replies.delete(1);
    await sendReplies(round, [5, 0, 3, 2, 4]);
    expect(pendingClients(round.server)).toEqual([1]);
    expect(round.server.shared.find((s) => s.from === 0)?.to).toEqual([1, 2, 3, 4, 5]);
    await close(round);
    expect(round.server.stage).toBe('maskedInput');
    expect(round.server.shared.map((s) => s.from)).toEqual([0, 2, 3, 4, 5]);
    const u2 = [0, 2, 3, 4, 5];
    // Client 1 (in U1, not U2) gets nothing; each other gets the records addressed to it, senders ascending.
    expect(round.outbound.map((o) => o.to)).toEqual(u2);
    for (const to of u2) {
      const message = round.sent.get(to) as EncryptedSharesMessage;
      const senders = u2.filter((id) => id !== to);
      const records = senders.map((from) => {
        const index = u1.filter((id) => id !== from).indexOf(to);
        const ciphertexts = sentBy<ShareKeysMessage>(round, 'shareKeys', from).ciphertexts;
        return ciphertexts.subarray(index * SHARE_CIPHERTEXT_BYTES, (index + 1) * SHARE_CIPHERTEXT_BYTES);
      });
      const universe = [0, 1, 2, 3, 4, 5, 6].filter((id) => id !== to);
      expect(message).toEqual({ type: 'encryptedShares', roundId: 'r1', from: Uint8Array.from(bits(senders, universe)), ciphertexts: concatBytes(...records) });
    }
    await deliver(round, []);
    round.replies.delete(3);
    expect(pendingClients(round.server)).toEqual(u2);
    await sendReplies(round, [5, 2, 0, 4]);
    expect(pendingClients(round.server)).toEqual([3]);
    expect(round.server.masked).toEqual([5, 2, 0, 4]);
    // The running sum is Σ y_u mod 2^12 over the masked inputs received, word by word.
    const ys = [5, 2, 0, 4].map((id) => words12(sentBy<MaskedInputMessage>(round, 'maskedInput', id).maskedInput));
    expect(Array.from(round.server.accumulator ?? [])).toEqual([0, 1, 2].map((i) => ys.reduce((s, y) => s + (y[i] as number), 0) % 4096));
    await close(round);
    expect(round.server.stage).toBe('unmasking');
    expect(round.server.survivors).toEqual([0, 2, 4, 5]);
    expect(round.server.dropped).toEqual([3]);
    expect(round.outbound).toEqual([0, 2, 4, 5].map((to) => ({ to, message: { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 2, 4, 5] } })));
    await deliver(round, []);
    expect(pendingClients(round.server)).toEqual([0, 2, 4, 5]);
    await sendReplies(round, [4, 0]);
    expect(pendingClients(round.server)).toEqual([2, 5]);
    expect(heldShareKinds(round.server)).toEqual({ selfMaskOf: [0, 2, 4, 5], maskingKeyOf: [3] });
    await sendReplies(round);
    const done = await close(round);
    expect(done.outbound).toEqual([]);
    expect(round.server.stage).toBe('done');
    expect(round.server.accumulator).toBeNull();
    expect(pendingClients(round.server)).toEqual([]);
    expect(round.server.result?.survivors).toEqual([0, 2, 4, 5]);
    expect(round.server.result?.dropped).toEqual([3]);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 2, 4, 5], K));
  });

  it('continues at exactly t clients in every stage', async () => {
    const round = await start({ n: 5, t: 3, absent: [3, 4] });
    for (let stage = 0; stage < 4; stage++) await advance(round);
    expect(round.server.stage).toBe('done');
    expect(round.server.result?.survivors).toEqual([0, 1, 2]);
    expect(round.server.result?.dropped).toEqual([]);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 2], K));
  });

  it('finishes without the unmask answers of survivors beyond t, and with a dropped client on either side of each survivor', async () => {
    const round = await start({ n: 5, t: 3 });
    await advance(round);
    await advance(round, [1]); // 1 sends shares, then nothing: dropped, between survivors 0 and 2
    await advance(round, [4]); // 4 masked, then never answers
    expect(round.server.dropped).toEqual([1]);
    await sendReplies(round);
    expect(pendingClients(round.server)).toEqual([4]);
    await close(round);
    expect(round.server.result?.survivors).toEqual([0, 2, 3, 4]);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 2, 3, 4], K));
  });

  it('uses the injected crypto suite for the unmasking', async () => {
    const real = await defaultSuite();
    const calls = { agree: 0, keystream: 0 };
    const suite: CryptoSuite = {
      ...real,
      agree: (secretKey, publicKeys) => (calls.agree++, real.agree(secretKey, publicKeys)),
      keystream: (key, bytes, first) => (calls.keystream++, real.keystream(key, bytes, first)),
    };
    const round = await start({ n: 4, t: 3 });
    await advance(round);
    await advance(round, [3]);
    await advance(round);
    await sendReplies(round);
    round.options = { suite };
    await close(round);
    // publicKeyOf and the agreement for dropped client 3; one keystream per mask at least.
    expect(calls.agree).toBeGreaterThanOrEqual(2);
    expect(calls.keystream).toBeGreaterThanOrEqual(6);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 2], K));
  });

  it('keeps no ledger entries in an unauthenticated round', async () => {
    const ledger = createCertificateLedger();
    const round = await start({ n: 3, t: 2, ledger });
    for (let stage = 0; stage < 4; stage++) await advance(round);
    expect(round.server.stage).toBe('done');
    expect(ledger.clients.size).toBe(0);
  });
});

describe('refusals, each leaving the state as it was', () => {
  it('refuses senders outside the cohort and answers REPLAY or WRONG_PHASE for messages of other stages', async () => {
    const round = await start({ n: 5, t: 3 });
    const advert = round.replies.get(4) as AdvertiseKeysMessage;
    for (const from of [-1, 5, 1.5, Number.NaN]) await expectRejects(round, from, advert, 'UNKNOWN_CLIENT', /not a member of the cohort \[0, 5\)/);
    await expectRejects(round, 4, { ...advert, roundId: 'r0' }, 'STALE_ROUND');
    await expectRejects(round, 4, { type: 'shareKeys', roundId: 'r1', ciphertexts: new Uint8Array(0) }, 'WRONG_PHASE', /expected advertiseKeys, got shareKeys/);
    await expectRejects(round, 4, { type: 'peerKeys', roundId: 'r1' }, 'MALFORMED');
    await expectRejects(round, 4, { ...advert, extra: 1 }, 'MALFORMED');
    await expectRejects(
      round,
      4,
      { ...advert, encryptionPublicKey: advert.encryptionPublicKey.subarray(1) },
      'WRONG_LENGTH',
      /encryptionPublicKey has 31 bytes, expected 32/,
    );
    await expectRejects(
      round,
      4,
      { ...advert, maskingPublicKey: concatBytes(advert.maskingPublicKey, new Uint8Array(1)) },
      'WRONG_LENGTH',
      /maskingPublicKey has 33 bytes/,
    );
    await expectRejects(round, 4, { ...advert, maskingPublicKey: advert.encryptionPublicKey }, 'INVALID_KEY', /fresh and distinct/);
    expect((await send(round, 4, advert)).ok).toBe(true);
    expect((await send(round, 0, round.replies.get(0))).ok).toBe(true);
    await expectRejects(round, 4, advert, 'REPLAY', /client 4: already sent advertiseKeys/);
    // A key already in the round, in either field, even crossed over.
    const other = round.replies.get(1) as AdvertiseKeysMessage;
    const zero = round.replies.get(0) as AdvertiseKeysMessage;
    await expectRejects(round, 1, { ...other, encryptionPublicKey: advert.encryptionPublicKey }, 'INVALID_KEY');
    await expectRejects(round, 1, { ...other, maskingPublicKey: zero.maskingPublicKey }, 'INVALID_KEY');
    await expectRejects(round, 1, { ...other, encryptionPublicKey: zero.maskingPublicKey }, 'INVALID_KEY');
    // A persisted (cloned) state still knows every key advertised in it.
    round.server = structuredClone(round.server);
    await expectRejects(round, 1, { ...other, maskingPublicKey: advert.encryptionPublicKey }, 'INVALID_KEY');
    await expectRejects(round, 2, { type: 'shareKeys', roundId: 'r1', ciphertexts: new Uint8Array(0) }, 'WRONG_PHASE');
    await sendReplies(round, [1, 2, 3]);
    expect(await secAggServerStep(round.server, { type: 'closeStage', stage: 'shareKeys' })).toEqual({
      ok: false,
      error: { code: 'WRONG_PHASE', message: 'server: asked to close shareKeys, but the stage is advertiseKeys' },
    });
    await close(round);
    await deliver(round);
    const shares = round.replies.get(0) as ShareKeysMessage;
    // Three of its four records (3 × 82 = 246 bytes): the message names the sender, the stage and the field.
    await expectRejects(
      round,
      0,
      { ...shares, ciphertexts: shares.ciphertexts.subarray(SHARE_CIPHERTEXT_BYTES) },
      'WRONG_LENGTH',
      /^server \(shareKeys\) from client 0: shareKeys ciphertexts: has 246 bytes, expected 4 × 82 = 328$/,
    );
    await expectRejects(round, 0, advert, 'REPLAY', /already sent advertiseKeys/);
    await expectRejects(round, 0, { type: 'maskedInput', roundId: 'r1', maskedInput: new Uint8Array(6) }, 'WRONG_PHASE', /expected shareKeys, got maskedInput/);
    await expectRejects(round, 0, { type: 'consistency', roundId: 'r1', signature: new Uint8Array(64) }, 'WRONG_PHASE');
    await expectRejects(
      round,
      0,
      { type: 'unmask', roundId: 'r1', selfMaskOf: [], selfMaskShares: new Uint8Array(0), maskingKeyOf: [], maskingKeyShares: new Uint8Array(0) },
      'WRONG_PHASE',
    );
    expect((await send(round, 0, shares)).ok).toBe(true);
    await expectRejects(round, 0, shares, 'REPLAY', /already sent shareKeys/);
    round.replies.delete(0);
    await sendReplies(round);
    await close(round);
    await deliver(round);
    const masked = round.replies.get(2) as MaskedInputMessage;
    await expectRejects(round, 2, { ...masked, maskedInput: masked.maskedInput.subarray(2) }, 'WRONG_LENGTH', /has 4 bytes, expected 6 \(d = 3 × 2 bytes\)/);
    const tooBig = masked.maskedInput.slice();
    tooBig.set([0x00, 0x10], 4); // word 2 = 4096 = 2^12
    await expectRejects(round, 2, { ...masked, maskedInput: tooBig }, 'OUT_OF_RANGE', /word 2 is ≥ 2\^12/);
    const firstTooBig = masked.maskedInput.slice();
    firstTooBig.set([0xff, 0xff], 0);
    await expectRejects(round, 2, { ...masked, maskedInput: firstTooBig }, 'OUT_OF_RANGE', /word 0 is ≥ 2\^12/);
    await expectRejects(round, 2, shares, 'REPLAY', /already sent shareKeys/);
    expect((await send(round, 2, masked)).ok).toBe(true);
    await expectRejects(round, 2, masked, 'REPLAY', /already sent maskedInput/);
    await expectRejects(
      round,
      3,
      { type: 'consistency', roundId: 'r1', signature: new Uint8Array(64) },
      'WRONG_PHASE',
      /expected maskedInput, got consistency/,
    );
    round.replies.delete(2);
    await advance(round, [], [0, 1, 3, 4]);
    await expectRejects(round, 2, masked, 'REPLAY', /already sent maskedInput/);
    const unmask = round.replies.get(1) as UnmaskMessage;
    expect((await send(round, 1, unmask)).ok).toBe(true);
    await expectRejects(round, 1, unmask, 'REPLAY', /already sent unmask/);
    await expectRejects(round, 2, { type: 'consistency', roundId: 'r1', signature: new Uint8Array(64) }, 'WRONG_PHASE', /expected unmask, got consistency/);
    round.replies.delete(1);
    await sendReplies(round);
    await close(round);
    expect(await secAggServerStep(round.server, { type: 'closeStage', stage: 'done' })).toEqual({
      ok: false,
      error: { code: 'WRONG_PHASE', message: 'server: the round is done; there is no stage to close' },
    });
    await expectRejects(round, 1, unmask, 'WRONG_PHASE', /server \(done\) from client 1: the round is done; no message is accepted/);
    await expectRejects(round, 7, unmask, 'UNKNOWN_CLIENT');
  });

  it('refuses a third client reusing a key the second advertised', async () => {
    const round = await start({ n: 3, t: 2 });
    await sendReplies(round, [0, 1]);
    const second = sentBy<AdvertiseKeysMessage>(round, 'advertiseKeys', 1);
    const third = sentBy<AdvertiseKeysMessage>(round, 'advertiseKeys', 2);
    await expectRejects(round, 2, { ...third, maskingPublicKey: second.maskingPublicKey }, 'INVALID_KEY');
    await expectRejects(round, 2, { ...third, encryptionPublicKey: second.maskingPublicKey }, 'INVALID_KEY');
    expect((await send(round, 2, third)).ok).toBe(true);
  });

  it('refuses ShareKeys from outside U1 and MaskedInput from outside U2', async () => {
    const round = await start({ n: 5, t: 3, absent: [4] });
    await advance(round, [3]); // 3 advertised, then stops
    await expectRejects(round, 4, { type: 'shareKeys', roundId: 'r1', ciphertexts: new Uint8Array(2 * SHARE_CIPHERTEXT_BYTES) }, 'UNKNOWN_CLIENT', /not in U1/);
    // Client 0's recipients are U1 ∩ N(0) = 1, 2, 3 (4 never advertised).
    await sendReplies(round, [0]);
    expect(round.server.shared[0]?.to).toEqual([1, 2, 3]);
    await advance(round);
    const masked = round.replies.get(0) as MaskedInputMessage;
    await expectRejects(round, 3, masked, 'UNKNOWN_CLIENT', /did not share keys \(not in U2\)/);
    await expectRejects(round, 4, masked, 'UNKNOWN_CLIENT', /not in U2/);
  });

  it('checks every unmask response: survivors only, one kind per client, ids, lengths and field elements', async () => {
    const big = await start({ n: 7, t: 4, absent: [6] });
    await advance(big, [5]);
    await advance(big, [3]);
    await advance(big);
    expect(big.server.survivors).toEqual([0, 1, 2, 4]);
    expect(big.server.dropped).toEqual([3]);
    const response = big.replies.get(0) as UnmaskMessage;
    expect(response.selfMaskOf).toEqual([0, 1, 2, 4]);
    expect(response.maskingKeyOf).toEqual([3]);
    const b = (i: number) => response.selfMaskShares.subarray(i * SHARE_BYTES, (i + 1) * SHARE_BYTES);
    const s3 = response.maskingKeyShares;
    const p = (1n << 256n) + 297n;
    await expectRejects(big, 3, response, 'UNKNOWN_CLIENT', /not a survivor \(not in U3\)/);
    await expectRejects(
      big,
      0,
      { ...response, selfMaskShares: response.selfMaskShares.subarray(1) },
      'WRONG_LENGTH',
      /selfMaskShares: has 131 bytes, expected 4 × 33/,
    );
    await expectRejects(big, 0, { ...response, maskingKeyShares: concatBytes(s3, s3) }, 'WRONG_LENGTH', /maskingKeyShares: has 66 bytes, expected 1 × 33/);
    await expectRejects(big, 0, { ...response, selfMaskOf: [0, 1, 2, 7] }, 'OUT_OF_RANGE', /selfMaskShares: client id 7 is outside the cohort/);
    await expectRejects(big, 0, { ...response, maskingKeyOf: [7] }, 'OUT_OF_RANGE', /maskingKeyShares: client id 7/);
    await expectRejects(big, 0, { ...response, selfMaskOf: [0, 2, 1, 4] }, 'MALFORMED', /ascending/);
    await expectRejects(
      big,
      0,
      { ...response, selfMaskOf: [0, 1, 3, 4] },
      'SHARE_KIND_CONFLICT',
      /selfMaskShares includes client 3, which dropped; expected only survivors/,
    );
    await expectRejects(
      big,
      0,
      { ...response, maskingKeyOf: [1], maskingKeyShares: b(1) },
      'SHARE_KIND_CONFLICT',
      /maskingKeyShares includes client 1, which survived; expected only dropped clients/,
    );
    // 5 advertised but sent no shares; 6 never advertised: neither is in U3 or in U2 \ U3.
    await expectRejects(big, 0, { ...response, selfMaskOf: [0, 1, 2, 5] }, 'UNKNOWN_CLIENT', /selfMaskShares includes client 5, which is not in U3/);
    await expectRejects(big, 0, { ...response, maskingKeyOf: [6] }, 'UNKNOWN_CLIENT', /maskingKeyShares includes client 6, which is not in U2 \\ U3/);
    await expectRejects(big, 0, { ...response, maskingKeyOf: [5] }, 'UNKNOWN_CLIENT', /client 5, which is not in U2 \\ U3/);
    // p is not an element of GF(p); p − 1 is. Checked at each record's own offset.
    const bad = concatBytes(b(0), share(p), b(2), b(3));
    await expectRejects(big, 0, { ...response, selfMaskShares: bad }, 'OUT_OF_RANGE', /selfMaskShares share of client 1 is not an element of GF\(p\)/);
    await expectRejects(big, 0, { ...response, maskingKeyShares: share(p) }, 'OUT_OF_RANGE', /maskingKeyShares share of client 3/);
    expect((await send(big, 0, { ...response, maskingKeyShares: share(p - 1n) })).ok).toBe(true);
    expect(big.server.unmaskResponses).toEqual([
      { from: 0, selfMaskOf: [0, 1, 2, 4], selfMaskShares: response.selfMaskShares, maskingKeyOf: [3], maskingKeyShares: share(p - 1n) },
    ]);
  });
});

describe('aborts below the threshold', () => {
  const expectAbort = (round: Round, message: string, notify: number[]) => {
    expect(round.server.stage).toBe('aborted');
    expect(round.server.abort).toEqual({ code: 'BELOW_THRESHOLD', message });
    expect(round.server.result).toBeNull();
    expect(round.server.accumulator).toBeNull();
    expect(round.server.shared).toEqual([]);
    expect(round.server.unmaskResponses).toEqual([]);
    expect(round.outbound).toEqual(notify.map((to) => ({ to, message: { type: 'abort', roundId: 'r1', reason: { code: 'BELOW_THRESHOLD', message } } })));
    expect(pendingClients(round.server)).toEqual([]);
  };

  it('in AdvertiseKeys, and refuses everything afterwards', async () => {
    const round = await start({ n: 5, t: 3, absent: [0, 2, 4] });
    await sendReplies(round, [3, 1]);
    await close(round);
    expectAbort(round, 'AdvertiseKeys: 2 clients sent keys, need threshold 3', [1, 3]);
    await expectRejects(round, 1, sentBy(round, 'advertiseKeys', 1), 'ABORTED', /the round was aborted \(BELOW_THRESHOLD\); nothing more is accepted/);
    const again = await secAggServerStep(round.server, { type: 'closeStage', stage: 'aborted' });
    expect(again.ok || again.error.code).toBe('ABORTED');
  });

  it('in ShareKeys', async () => {
    const round = await start({ n: 5, t: 3, absent: [4] });
    await advance(round, [0, 2]);
    await sendReplies(round, [3, 1]);
    await close(round);
    expectAbort(round, 'ShareKeys: 2 clients sent shares, need threshold 3', [1, 3]);
  });

  it('in MaskedInputCollection', async () => {
    const round = await start({ n: 5, t: 3 });
    await advance(round);
    await advance(round, [1, 4, 2]);
    await sendReplies(round, [3, 0]);
    await close(round);
    expectAbort(round, 'MaskedInputCollection: 2 masked inputs, need threshold 3', [0, 3]);
  });

  it('in Unmasking', async () => {
    const round = await start({ n: 5, t: 3, absent: [4] });
    await advance(round);
    await advance(round, [3]);
    await advance(round, [1]);
    await sendReplies(round, [2, 0]);
    await close(round);
    expectAbort(round, 'Unmasking: 2 clients answered, need threshold 3', [0, 1, 2]);
  });
});

describe('reconstruction in Unmasking', () => {
  /** A round of 5 (t = 3) at Unmasking with 3 dropped after ShareKeys; the unmask answers not yet given. */
  async function atUnmasking() {
    const round = await start({ n: 5, t: 3 });
    await advance(round);
    await advance(round, [3]);
    await advance(round);
    expect(round.server.survivors).toEqual([0, 1, 2, 4]);
    return round;
  }
  const withShare = (packed: Uint8Array, index: number, value: Uint8Array) => {
    const out = packed.slice();
    out.set(value, index * SHARE_BYTES);
    return out;
  };
  const unmaskOf = (round: Round, id: number) => round.replies.get(id) as UnmaskMessage;

  it('uses only the first t shares of each secret, from the lowest responders, whatever the arrival order', async () => {
    const round = await atUnmasking();
    // Responder 4 answers first, with garbage for b_0 and s_3: as the fourth holder its shares are never used.
    const four = unmaskOf(round, 4);
    expect((await send(round, 4, { ...four, selfMaskShares: withShare(four.selfMaskShares, 0, share(12345n)), maskingKeyShares: share(6789n) })).ok).toBe(true);
    for (const id of [2, 1, 0]) expect((await send(round, id, unmaskOf(round, id))).ok).toBe(true);
    await close(round);
    expect(round.server.stage).toBe('done');
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 2, 4], K));
  });

  it('a wrong share among the first t changes the reconstruction (so the points are the ids + 1)', async () => {
    const round = await atUnmasking();
    const zero = unmaskOf(round, 0);
    expect((await send(round, 0, { ...zero, maskingKeyShares: share(6789n) })).ok).toBe(true);
    for (const id of [1, 2]) expect((await send(round, id, unmaskOf(round, id))).ok).toBe(true);
    await close(round);
    expect(round.server.abort).toEqual({
      code: 'RECONSTRUCTION_FAILED',
      message: 'Unmasking: the s-key shares of client 3 do not reconstruct its advertised key',
    });
    expect(round.outbound.map((o) => o.to)).toEqual([0, 1, 2, 4]);
  });

  it('aborts when a survivor has fewer than t b-shares, or a dropped client fewer than t s-key shares', async () => {
    for (const [omit, field, message] of [
      [[0, 1], 'selfMaskOf', 'Unmasking: 1 b-shares of client 4, need threshold 3'],
      [[0, 1, 2], 'selfMaskOf', 'Unmasking: 0 b-shares of client 4, need threshold 3'],
      [[1], 'maskingKeyOf', 'Unmasking: 2 s-key shares of dropped client 3, need threshold 3'],
      [[0, 1, 2], 'maskingKeyOf', 'Unmasking: 0 s-key shares of dropped client 3, need threshold 3'],
    ] as const) {
      const round = await atUnmasking();
      for (const id of [0, 1, 2]) {
        const m = unmaskOf(round, id);
        const edited: UnmaskMessage = !(omit as readonly number[]).includes(id)
          ? m
          : field === 'selfMaskOf'
            ? { ...m, selfMaskOf: [0, 1, 2], selfMaskShares: m.selfMaskShares.subarray(0, 3 * SHARE_BYTES) }
            : { ...m, maskingKeyOf: [], maskingKeyShares: new Uint8Array(0) };
        expect((await send(round, id, edited)).ok).toBe(true);
      }
      await close(round);
      expect(round.server.abort).toEqual({ code: 'BELOW_THRESHOLD', message });
      expect(round.server.result).toBeNull();
    }
  });

  it('aborts when shares reconstruct to a value that is not 32 bytes, or to a key other than the advertised one', async () => {
    // Shares all equal to c lie on the constant polynomial c: they reconstruct c.
    const over = share((1n << 256n) + 1n); // a field element ≥ 2^256: no 32-byte secret
    for (const [edit, message] of [
      [(m: UnmaskMessage) => ({ ...m, selfMaskShares: withShare(m.selfMaskShares, 1, over) }), 'Unmasking: the b-shares of client 1 are inconsistent'],
      [(m: UnmaskMessage) => ({ ...m, maskingKeyShares: over }), 'Unmasking: the s-key shares of client 3 do not reconstruct its advertised key'],
      [(m: UnmaskMessage) => ({ ...m, maskingKeyShares: share(5n) }), 'Unmasking: the s-key shares of client 3 do not reconstruct its advertised key'],
    ] as const) {
      const round = await atUnmasking();
      for (const id of [0, 1, 2]) expect((await send(round, id, edit(unmaskOf(round, id)))).ok).toBe(true);
      await close(round);
      expect(round.server.abort).toEqual({ code: 'RECONSTRUCTION_FAILED', message });
      expect(round.outbound.map((o) => o.to)).toEqual([0, 1, 2, 4]);
    }
  });

  it('aborts with INVALID_KEY when a survivor paired with a dropped client has a low-order masking key (hand-built round)', async () => {
    const suite = await defaultSuite();
    const random = testBytes(77);
    const keys = [];
    for (let id = 0; id < 3; id++) keys.push({ c: await generateKeyPair(suite, random), s: await generateKeyPair(suite, random) });
    const created = createSecAggServer({ roundId: 'r1', clientCount: 3, threshold: 2, vectorLength: 2, modulusBits: 8, graph: { kind: 'full' } });
    if (!created.ok) throw new Error(created.error.message);
    let state = created.state;
    const step = async (event: Parameters<typeof secAggServerStep>[1]) => {
      const result = await secAggServerStep(state, event);
      if (!result.ok) throw new Error(result.error.message);
      state = result.state;
      return result;
    };
    for (let id = 0; id < 3; id++) {
      const maskingPublicKey = id === 1 ? new Uint8Array(32) : keys[id]!.s.publicKey; // all zeros: a low-order point
      await step({
        type: 'message',
        from: id,
        message: { type: 'advertiseKeys', roundId: 'r1', encryptionPublicKey: keys[id]!.c.publicKey, maskingPublicKey },
      });
    }
    await step({ type: 'closeStage', stage: 'advertiseKeys' });
    for (let id = 0; id < 3; id++) {
      await step({ type: 'message', from: id, message: { type: 'shareKeys', roundId: 'r1', ciphertexts: random(new Uint8Array(2 * SHARE_CIPHERTEXT_BYTES)) } });
    }
    await step({ type: 'closeStage', stage: 'shareKeys' });
    for (const id of [0, 1]) await step({ type: 'message', from: id, message: { type: 'maskedInput', roundId: 'r1', maskedInput: Uint8Array.of(1, 2) } });
    await step({ type: 'closeStage', stage: 'maskedInput' });
    const b = [random(new Uint8Array(32)), random(new Uint8Array(32))].map((seed) => splitSecret(seed, [1, 2, 3], 2, random));
    const s2 = splitSecret(keys[2]!.s.secretKey, [1, 2, 3], 2, random);
    for (const id of [0, 1]) {
      const message = {
        type: 'unmask',
        roundId: 'r1',
        selfMaskOf: [0, 1],
        selfMaskShares: concatBytes(b[0]![id]!, b[1]![id]!),
        maskingKeyOf: [2],
        maskingKeyShares: s2[id]!,
      };
      await step({ type: 'message', from: id, message });
    }
    const closed = await step({ type: 'closeStage', stage: 'unmasking' });
    expect(state.abort).toEqual({ code: 'INVALID_KEY', message: "Unmasking: client 1's masking key is of low order" });
    expect(closed.outbound.map((o) => o.to)).toEqual([0, 1]);
  });
});

/** The SecAgg+ graph of the tests below: n = 7, degree 4, seed 0x01…01. */
const HARARY_7 = { kind: 'harary' as const, degree: 4, seed: new Uint8Array(32).fill(1) };
// The neighbour lists of this seed (checked against the topology in the SecAgg+ tests).
const HARARY_7_NEIGHBOURS = [
  [1, 2, 3, 6],
  [0, 2, 5, 6],
  [0, 1, 3, 4],
  [0, 2, 4, 5],
  [2, 3, 5, 6],
  [1, 3, 4, 6],
  [0, 1, 4, 5],
];

describe('SecAgg+ (Harary graph, n = 7, k = 4, t = 3)', () => {
  const graph = HARARY_7;
  const N = HARARY_7_NEIGHBOURS;

  it('relays keys and shares among neighbours only and unmasks with dropouts', async () => {
    const round = await start({ n: 7, t: 3, graph, absent: [2] });
    const topology = topologyOf(round.server.config);
    expect(N.map((_, id) => [...topology.neighbours(id)])).toEqual(N);
    await sendReplies(round, [6, 4, 0, 5, 1, 3]);
    await close(round);
    const u1 = [0, 1, 3, 4, 5, 6];
    expect(round.outbound.map((o) => o.to)).toEqual(u1);
    for (const to of u1) {
      const peers = (N[to] as number[]).filter((id) => u1.includes(id));
      const keys = peers.flatMap((id) => {
        const a = sentBy<AdvertiseKeysMessage>(round, 'advertiseKeys', id);
        return [a.encryptionPublicKey, a.maskingPublicKey];
      });
      expect(round.sent.get(to)).toEqual({
        type: 'peerKeys',
        roundId: 'r1',
        peers: Uint8Array.from(bits(peers, N[to] as number[])),
        publicKeys: concatBytes(...keys),
      });
    }
    await deliver(round);
    await sendReplies(round, [5, 3, 6, 0, 4, 1]);
    expect(round.server.shared.find((s) => s.from === 4)?.to).toEqual([3, 5, 6]);
    await close(round);
    for (const to of u1) {
      const senders = (N[to] as number[]).filter((id) => u1.includes(id));
      const records = senders.map((from) => {
        const index = (N[from] as number[]).filter((id) => u1.includes(id)).indexOf(to);
        return sentBy<ShareKeysMessage>(round, 'shareKeys', from).ciphertexts.subarray(index * SHARE_CIPHERTEXT_BYTES, (index + 1) * SHARE_CIPHERTEXT_BYTES);
      });
      expect(round.sent.get(to)).toEqual({
        type: 'encryptedShares',
        roundId: 'r1',
        from: Uint8Array.from(bits(senders, N[to] as number[])),
        ciphertexts: concatBytes(...records),
      });
    }
    await deliver(round, [3]);
    await sendReplies(round);
    await close(round);
    // U3 = 0, 1, 4, 5, 6; each is asked about itself and its surviving neighbours.
    expect(round.server.survivors).toEqual([0, 1, 4, 5, 6]);
    expect(round.server.dropped).toEqual([3]);
    expect(round.outbound.map((o) => [o.to, (o.message as UnmaskRequestMessage).survivors])).toEqual([
      [0, [0, 1, 6]],
      [1, [0, 1, 5, 6]],
      [4, [4, 5, 6]],
      [5, [1, 4, 5, 6]],
      [6, [0, 1, 4, 5, 6]],
    ]);
    await deliver(round);
    // Client 1 may not send a b-share of survivor 4, which is not its neighbour.
    const one = round.replies.get(1) as UnmaskMessage;
    await expectRejects(
      round,
      1,
      {
        ...one,
        selfMaskOf: [0, 1, 4, 5, 6],
        selfMaskShares: concatBytes(one.selfMaskShares.subarray(0, 2 * SHARE_BYTES), share(1n), one.selfMaskShares.subarray(2 * SHARE_BYTES)),
      },
      'UNKNOWN_CLIENT',
      /selfMaskShares includes client 4, which is not a neighbour/,
    );
    expect((round.replies.get(0) as UnmaskMessage).maskingKeyOf).toEqual([3]);
    await sendReplies(round, [6, 5, 4, 1, 0]);
    // Inserted in arrival order, reported ascending.
    expect(heldShareKinds(round.server)).toEqual({ selfMaskOf: [0, 1, 4, 5, 6], maskingKeyOf: [3] });
    await close(round);
    expect(round.server.stage).toBe('done');
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 4, 5, 6], K));
  });

  it('continues when every secret has exactly t surviving holders', async () => {
    const round = await start({ n: 7, t: 3, graph });
    await advance(round);
    await advance(round, [2, 3]);
    await sendReplies(round);
    await close(round);
    // Survivor 0 keeps 1 and 6 (+ itself), 4 keeps 5 and 6; dropped 2 is held by 0, 1, 4, dropped 3 by 0, 4, 5.
    expect(round.server.stage).toBe('unmasking');
    await deliver(round);
    await advance(round);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 4, 5, 6], K));
  });

  it('aborts before anything is revealed when a survivor or a dropped client has fewer than t surviving holders', async () => {
    const survivorShort = await start({ n: 7, t: 3, graph });
    await advance(survivorShort);
    await advance(survivorShort, [2, 3, 6]);
    await sendReplies(survivorShort);
    await close(survivorShort);
    // Survivors 0, 1, 4, 5: client 0's neighbours 1, 2, 3, 6 keep only 1, so 2 holders with itself.
    const message = "MaskedInputCollection: client 0's secrets have 2 surviving holders, need threshold 3";
    expect(survivorShort.server.abort).toEqual({ code: 'BELOW_THRESHOLD', message });
    expect(survivorShort.outbound.map((o) => o.to)).toEqual([0, 1, 4, 5]);
    const droppedShort = await start({ n: 7, t: 3, graph });
    await advance(droppedShort);
    await advance(droppedShort, [0, 1, 6]);
    await sendReplies(droppedShort);
    await close(droppedShort);
    // Survivors 2, 3, 4, 5 each keep ≥ 3; dropped 0's holders are its neighbours 2 and 3 only (not itself).
    expect(droppedShort.server.abort).toEqual({
      code: 'BELOW_THRESHOLD',
      message: "MaskedInputCollection: client 0's secrets have 2 surviving holders, need threshold 3",
    });
  });
});

describe('authenticated rounds', () => {
  let cohort: CertifiedCohort;
  let cohort7: CertifiedCohort;
  let stranger: CertifiedCohort;
  let cohort10: CertifiedCohort;
  beforeAll(async () => {
    cohort10 = await certifiedCohort(10);
    cohort = await certifiedCohort(5);
    cohort7 = await certifiedCohort(7);
    stranger = await certifiedCohort(1, 'another-issuer');
  });

  it('verifies and records identities, relays signatures and certificates, and runs ConsistencyCheck', async () => {
    const ledger = createCertificateLedger();
    const caches = Array.from({ length: 5 }, (_, i) => createPeerCertificateCache(testBytes(40 + i)));
    // Client 4 keeps no certificate cache.
    const round = await start({ n: 5, t: 3, cohort, ledger, caches: caches.slice(0, 4) });
    await sendReplies(round, [2, 0, 4, 1, 3]);
    const certificate = (id: number) => cohort.identities[id]!.certificate;
    const identity = round.server.identities.find((i) => i.id === 0);
    const advert0 = sentBy<AdvertiseKeysMessage>(round, 'advertiseKeys', 0);
    expect(identity?.certificate).toBe(certificate(0));
    expect(identity?.subject).toMatch(/^device-0-/);
    expect(identity?.signingKey).toEqual(cohort.identities[0]!.publicKey);
    expect(identity?.selfMaskCommitment).toEqual(advert0.selfMaskCommitment);
    expect(identity?.signature).toEqual(advert0.signature);
    expect(identity?.certificateRef).toEqual(certificateRef(certificate(0)));
    expect(identity?.certificateCache).toBe(toHex(advert0.certificateCache as Uint8Array));
    expect(round.server.identities.find((i) => i.id === 4)?.certificateCache).toBeNull();
    await close(round);
    for (let to = 0; to < 5; to++) {
      const peers = [0, 1, 2, 3, 4].filter((id) => id !== to);
      const message = round.sent.get(to) as PeerKeysMessage;
      expect(message.certificateRefs).toEqual(concatBytes(...peers.map((id) => certificateRef(certificate(id)))));
      expect(message.certificates).toEqual(peers.map(certificate));
      expect(message.signatures).toEqual(concatBytes(...peers.map((id) => sentBy<AdvertiseKeysMessage>(round, 'advertiseKeys', id).signature as Uint8Array)));
    }
    await deliver(round);
    await sendReplies(round);
    // Answering peerKeys acknowledged the peers' certificates (a client without a cache gets no entry).
    const refsOf = (ids: number[]) => new Set(ids.map((id) => toHex(certificateRef(certificate(id)))));
    expect(ledger.clients.size).toBe(4);
    expect(ledger.clients.get(`${identity?.certificateCache}/${identity?.subject}`)).toEqual(refsOf([1, 2, 3, 4]));
    await close(round);
    await deliver(round, [4]);
    await sendReplies(round, [3, 1, 0, 2]);
    expect(round.server.maskingClaims.map((c) => c.id)).toEqual([3, 1, 0, 2]);
    const masked3 = sentBy<MaskedInputMessage>(round, 'maskedInput', 3);
    expect(round.server.maskingClaims[0]).toEqual({ id: 3, claim: masked3.maskingPeers, signature: masked3.signature });
    await close(round);
    expect(round.server.stage).toBe('consistencyCheck');
    expect(round.server.survivors).toEqual([0, 1, 2, 3]);
    expect(round.server.dropped).toEqual([4]);
    expect(round.outbound).toEqual(
      [0, 1, 2, 3].map((to) => ({ to, message: { type: 'consistencyRequest', roundId: 'r1', survivors: Uint8Array.of(0b1111) } })),
    );
    await deliver(round);
    expect(pendingClients(round.server)).toEqual([0, 1, 2, 3]);
    // 3 does not sign; 4 (dropped) cannot.
    await expectRejects(round, 4, { type: 'consistency', roundId: 'r1', signature: new Uint8Array(64) }, 'UNKNOWN_CLIENT', /not a survivor \(not in U3\)/);
    const sig1 = (round.replies.get(1) as { signature: Uint8Array }).signature;
    await expectRejects(round, 0, { type: 'consistency', roundId: 'r1', signature: sig1 }, 'BAD_SIGNATURE', /consistency signature does not verify on U3/);
    round.replies.delete(3);
    await sendReplies(round, [2, 0, 1]);
    await expectRejects(round, 2, { type: 'consistency', roundId: 'r1', signature: sig1 }, 'REPLAY');
    expect(pendingClients(round.server)).toEqual([3]);
    await close(round);
    expect(round.server.stage).toBe('unmasking');
    expect(round.server.consistency.map((c) => c.id)).toEqual([0, 1, 2]);
    // Sent to the three signers: 0–2 signed U3 in Round 3; 3's entry is its Round 2 claim and signature.
    const sigOf = (id: number) => sentBy<{ type: 'consistency'; roundId: string; signature: Uint8Array }>(round, 'consistency', id).signature;
    expect(round.outbound).toEqual(
      [0, 1, 2].map((to) => ({
        to,
        message: {
          type: 'unmaskRequest',
          roundId: 'r1',
          consistencySigned: Uint8Array.of(0b0111),
          signatures: concatBytes(sigOf(0), sigOf(1), sigOf(2), masked3.signature as Uint8Array),
          claims: masked3.maskingPeers,
          certificateRefs: new Uint8Array(0),
        },
      })),
    );
    await deliver(round);
    expect(pendingClients(round.server)).toEqual([0, 1, 2]);
    await sendReplies(round);
    expect(pendingClients(round.server)).toEqual([]);
    await close(round);
    expect(round.server.stage).toBe('done');
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 2, 3], K));

    // The next round on the same connections: certificates already acknowledged are named, not sent.
    const next = await start({ n: 5, t: 3, cohort, ledger, caches: caches.slice(0, 4), roundId: 'r2' });
    await sendReplies(next);
    await close(next);
    for (const to of [0, 1, 2, 3]) {
      expect('certificates' in (next.sent.get(to) as PeerKeysMessage)).toBe(false);
      expect((next.sent.get(to) as PeerKeysMessage).certificateRefs).toHaveLength(4 * 8);
    }
    expect((next.sent.get(4) as PeerKeysMessage).certificates).toHaveLength(4);
  });

  it('refuses advertisements without a valid identity, commitment or signature', async () => {
    const round = await start({ n: 5, t: 3, cohort });
    const advert = round.replies.get(1) as AdvertiseKeysMessage;
    const withCert = (message: object, id = 1) => ({ ...message, certificate: cohort.identities[id]!.certificate });
    // received() adds the certificate only when the message has none: pass one explicitly as undefined.
    await expectRejects(round, 1, { ...advert, certificate: undefined }, 'BAD_SIGNATURE', /needs a commitment and a signature, and the sender's certificate/);
    const { selfMaskCommitment: _c, ...noCommitment } = advert;
    const { signature: _s, ...noSignature } = advert;
    await expectRejects(round, 1, withCert(noCommitment), 'BAD_SIGNATURE', /needs a commitment and a signature/);
    await expectRejects(round, 1, withCert(noSignature), 'BAD_SIGNATURE', /needs a commitment and a signature/);
    await expectRejects(
      round,
      1,
      withCert({ ...advert, selfMaskCommitment: new Uint8Array(31) }),
      'WRONG_LENGTH',
      /selfMaskCommitment has 31 bytes, expected 32/,
    );
    await expectRejects(round, 1, withCert({ ...advert, certificateCache: new Uint8Array(7) }), 'WRONG_LENGTH', /certificateCache has 7 bytes, expected 8/);
    await expectRejects(round, 1, { ...advert, certificate: stranger.identities[0]!.certificate }, 'BAD_CERTIFICATE', /from client 1: certificate /);
    const later = Date.now() + 2 * 3_600_000;
    await expectRejects(round, 1, withCert(advert), 'BAD_CERTIFICATE', /certificate/, { nowMs: () => later });
    // Client 1's advertisement presented as client 2's (with 2's certificate): the signature binds the id.
    await expectRejects(round, 2, withCert(advert, 2), 'BAD_SIGNATURE', /advertiseKeys signature does not verify for this round and plan/);
    const flipped = (advert.signature as Uint8Array).slice();
    flipped[5] = (flipped[5] as number) ^ 1;
    await expectRejects(round, 1, withCert({ ...advert, signature: flipped }), 'BAD_SIGNATURE', /does not verify/);
    // The refused attempts left no trace: the genuine advertisement, with an 8-byte cache id, is accepted.
    expect((await send(round, 1, withCert({ ...advert, certificateCache: new Uint8Array(8).fill(3) }))).ok).toBe(true);
    expect(round.server.identities.map((i) => [i.id, i.certificateCache])).toEqual([[1, '0303030303030303']]);
    // One certificate, one seat.
    await expectRejects(round, 3, withCert(round.replies.get(3) as object, 1), 'BAD_CERTIFICATE', /already holds a seat in this round/);
    expect((await send(round, 3, round.replies.get(3))).ok).toBe(true);
  });

  it('refuses masked inputs without a valid signed masking claim', async () => {
    const round = await start({ n: 5, t: 3, cohort });
    await advance(round);
    await advance(round);
    const masked = round.replies.get(0) as MaskedInputMessage;
    const { maskingPeers: _p, ...noClaim } = masked;
    const { signature: _s, ...noSignature } = masked;
    await expectRejects(round, 0, noClaim, 'BAD_SIGNATURE', /maskedInput needs maskingPeers and a signature/);
    await expectRejects(round, 0, noSignature, 'BAD_SIGNATURE', /maskedInput needs maskingPeers and a signature/);
    await expectRejects(
      round,
      0,
      { ...masked, maskingPeers: Uint8Array.of(0b11111) },
      'WRONG_LENGTH',
      /bitset over its 4 neighbours \(1 bytes, no padding bit set\)/,
    );
    await expectRejects(round, 0, { ...masked, maskingPeers: Uint8Array.of(0b0111) }, 'BAD_SIGNATURE', /maskedInput masking claim does not verify/);
    await expectRejects(round, 0, { ...masked, signature: (round.replies.get(1) as MaskedInputMessage).signature }, 'BAD_SIGNATURE');
    expect(round.server.accumulator).toBeNull();
    expect((await send(round, 0, masked)).ok).toBe(true);
  });

  it('aborts ConsistencyCheck below the quorum', async () => {
    const round = await start({ n: 5, t: 3, cohort });
    await advance(round);
    await advance(round);
    await advance(round);
    expect(round.server.stage).toBe('consistencyCheck');
    await sendReplies(round, [4, 1]);
    await close(round);
    expect(round.server.abort).toEqual({ code: 'BELOW_THRESHOLD', message: 'ConsistencyCheck: 2 signatures on U3, need 3' });
    expect(round.outbound.map((o) => o.to)).toEqual([0, 1, 2, 3, 4]);
  });

  it('sends every signer, per survivor, its Round 3 signature or else its claim and claim signature (clients with caches, no ledger)', async () => {
    const caches = Array.from({ length: 5 }, (_, i) => createPeerCertificateCache(testBytes(90 + i)));
    const round = await start({ n: 5, t: 3, cohort, caches });
    await advance(round);
    await advance(round);
    await advance(round);
    await sendReplies(round, [4, 2, 0]);
    round.replies.clear();
    await close(round);
    const signature = (id: number) => sentBy<{ type: 'consistency'; roundId: string; signature: Uint8Array }>(round, 'consistency', id).signature;
    const masked = (id: number) => sentBy<MaskedInputMessage>(round, 'maskedInput', id);
    const request = {
      type: 'unmaskRequest',
      roundId: 'r1',
      consistencySigned: Uint8Array.of(0b10101),
      signatures: concatBytes(signature(0), masked(1).signature as Uint8Array, signature(2), masked(3).signature as Uint8Array, signature(4)),
      claims: concatBytes(masked(1).maskingPeers as Uint8Array, masked(3).maskingPeers as Uint8Array),
      certificateRefs: new Uint8Array(0),
    };
    expect(round.outbound).toEqual([0, 2, 4].map((to) => ({ to, message: request })));
    await deliver(round);
    await sendReplies(round);
    await close(round);
    expect(round.server.stage).toBe('done');
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, [0, 1, 2, 3, 4], K));
  });

  it('packs claims of two bytes and a survivor bitset of two bytes (n = 10)', async () => {
    const round = await start({ n: 10, t: 6, d: 1, cohort: cohort10 });
    await advance(round);
    await advance(round);
    await advance(round);
    round.replies.delete(2);
    round.replies.delete(5);
    await sendReplies(round);
    await close(round);
    const masked = (id: number) => sentBy<MaskedInputMessage>(round, 'maskedInput', id);
    // Nine neighbours: each claim is 2 bytes. Signed: 0, 1, 3, 4, 6, 7 | 8, 9.
    expect(masked(2).maskingPeers).toHaveLength(2);
    const request = round.sent.get(0) as UnmaskRequestMessage;
    expect(request.consistencySigned).toEqual(Uint8Array.of(0b11011011, 0b11));
    expect(request.claims).toEqual(concatBytes(masked(2).maskingPeers as Uint8Array, masked(5).maskingPeers as Uint8Array));
    expect(request.signatures?.subarray(5 * 64, 6 * 64)).toEqual(masked(5).signature);
    expect(round.outbound.map((o) => o.to)).toEqual([0, 1, 3, 4, 6, 7, 8, 9]);
  });

  it('checks reconstructed b seeds against the signed commitments', async () => {
    const round = await start({ n: 5, t: 3, cohort });
    await advance(round);
    await advance(round);
    await advance(round);
    await advance(round);
    for (const id of [0, 1, 2]) {
      const m = round.replies.get(id) as UnmaskMessage;
      const shares = m.selfMaskShares.slice();
      shares.set(share(7n), 2 * SHARE_BYTES); // b_2 reconstructs as 7
      expect((await send(round, id, { ...m, selfMaskShares: shares })).ok).toBe(true);
    }
    await close(round);
    expect(round.server.abort).toEqual({
      code: 'RECONSTRUCTION_FAILED',
      message: 'Unmasking: the b-shares of client 2 reconstruct a seed that does not match its signed commitment',
    });
  });

  it('SecAgg+: names the certificates of survivors outside each signer’s neighbourhood, and checks holders among the signers', async () => {
    const graph = HARARY_7;
    const N = HARARY_7_NEIGHBOURS;
    const ledger = createCertificateLedger();
    const caches = Array.from({ length: 7 }, (_, i) => createPeerCertificateCache(testBytes(70 + i)));
    const round = await start({ n: 7, t: 3, graph, cohort: cohort7, ledger, caches });
    await advance(round);
    await advance(round);
    await advance(round);
    expect(round.server.stage).toBe('consistencyCheck');
    // Quorum max(t, ⌊7/2⌋ + 1) = 4: 6 does not sign.
    round.replies.delete(6);
    await sendReplies(round, [5, 3, 1, 0, 2, 4]);
    await close(round);
    const certificate = (id: number) => cohort7.identities[id]!.certificate;
    const all = [0, 1, 2, 3, 4, 5, 6];
    expect(round.outbound.map((o) => o.to)).toEqual([0, 1, 2, 3, 4, 5]);
    const claimOf6 = sentBy<MaskedInputMessage>(round, 'maskedInput', 6);
    for (const { to, message } of round.outbound) {
      const outside = all.filter((id) => id !== to && !(N[to] as number[]).includes(id));
      const request = message as UnmaskRequestMessage;
      expect(request.certificateRefs).toEqual(concatBytes(...outside.map((id) => certificateRef(certificate(id)))));
      expect(request.certificates).toEqual(outside.map(certificate));
      expect(request.consistencySigned).toEqual(Uint8Array.of(0b0111111));
      expect(request.claims).toEqual(claimOf6.maskingPeers);
      expect(request.signatures?.subarray(6 * 64)).toEqual(claimOf6.signature);
    }
    await deliver(round);
    await sendReplies(round);
    // Client 0 acknowledged its neighbours' certificates (peerKeys) and then 4's and 5's (unmask request).
    const zero = round.server.identities.find((i) => i.id === 0);
    expect(ledger.clients.get(`${zero?.certificateCache}/${zero?.subject}`)).toEqual(
      new Set([1, 2, 3, 6, 4, 5].map((id) => toHex(certificateRef(certificate(id))))),
    );
    await close(round);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(plainSum(round.inputs, all, K));

    // Holders are counted among the signers: with 1, 2 and 6 silent, client 0 keeps only 3 (and itself).
    const short = await start({ n: 7, t: 3, graph, cohort: cohort7, roundId: 'r3' });
    await advance(short);
    await advance(short);
    await advance(short);
    for (const id of [1, 2, 6]) short.replies.delete(id);
    await sendReplies(short);
    await close(short);
    expect(short.server.abort).toEqual({ code: 'BELOW_THRESHOLD', message: "ConsistencyCheck: client 0's secrets have 2 surviving holders, need threshold 3" });
    expect(short.outbound.map((o) => o.to)).toEqual(all);
  });
});
