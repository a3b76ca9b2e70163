import { describe, expect, it } from 'vitest';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { concatBytes } from './bytes';
import { createSecAggClient, PEER_KEYS_BYTES, SHARE_CIPHERTEXT_BYTES, secAggClientStep, type SecAggClientState } from './client';
import type { RoundConfigInput } from './config';
import type { SecAggErrorCode } from './errors';
import type { ClientToServerMessage, ServerToClientMessage } from './messages';
import { createSecAggServer, heldShareKinds, pendingClients, secAggServerStep, type Outbound, type SecAggServerState } from './server';
import { SHAMIR_PRIME, SHARE_BYTES } from './shamir';
import { numberToBytesBE } from '@noble/curves/utils.js';

/** The fixed-size records of a packed field (peer keys, ciphertexts, shares), as copies. */
function records(packed: Uint8Array, size: number): Uint8Array[] {
  return Array.from({ length: packed.length / size }, (_, i) => packed.slice(i * size, (i + 1) * size));
}

function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

const D = 4;
function config(overrides: Partial<RoundConfigInput> = {}): RoundConfigInput {
  return { roundId: 'r1', clientCount: 5, threshold: 3, vectorLength: D, modulusBits: 12, graph: { kind: 'full' }, ...overrides };
}

interface Round {
  server: SecAggServerState;
  clients: (SecAggClientState | null)[];
  /** The last replies of each client, not yet given to the server. */
  replies: Map<number, ClientToServerMessage>;
  /** The server's last messages to each client. */
  sent: Map<number, ServerToClientMessage>;
}

async function start(cfg: RoundConfigInput = config()): Promise<Round> {
  const created = createSecAggServer(cfg);
  if (!created.ok) throw new Error(created.error.message);
  const round: Round = { server: created.state, clients: [], replies: new Map(), sent: new Map() };
  for (let id = 0; id < created.state.config.clientCount; id++) {
    const made = await createSecAggClient({
      config: cfg,
      clientId: id,
      input: Uint32Array.from({ length: D }, (_, i) => (id * 10 + i) % 4096),
      randomBytes: testBytes(id),
    });
    if (!made.ok) throw new Error(made.error.message);
    round.clients.push(made.state);
    round.replies.set(id, made.outbound);
  }
  return round;
}

async function serverGets(round: Round, from: number, message: unknown) {
  const step = await secAggServerStep(round.server, { type: 'message', from, message });
  if (step.ok) round.server = step.state;
  return step;
}

/**
 * Gives the server every pending reply (except `silent` clients'), closes the stage and delivers
 * its messages — except to `hold`, which stay where they were so a test can feed them variants.
 */
async function advance(round: Round, silent: readonly number[] = [], hold: readonly number[] = []): Promise<void> {
  for (const [from, message] of round.replies) {
    if (silent.includes(from)) continue;
    const step = await serverGets(round, from, message);
    if (!step.ok) throw new Error(step.error.message);
  }
  round.replies.clear();
  const closed = await secAggServerStep(round.server, { type: 'closeStage', stage: round.server.stage });
  if (!closed.ok) throw new Error(closed.error.message);
  round.server = closed.state;
  round.sent = new Map(closed.outbound.map((o: Outbound) => [o.to, o.message]));
  for (const { to, message } of closed.outbound) {
    const client = round.clients[to];
    if (!client || silent.includes(to) || hold.includes(to)) continue;
    const step = await secAggClientStep(client, message, { randomBytes: testBytes(100 + to) });
    if (!step.ok) throw new Error(step.error.message);
    round.clients[to] = step.state;
    if (step.outbound) round.replies.set(to, step.outbound);
  }
}

/** A rejected message leaves the machine exactly as it was (checked on a structured clone). */
async function expectServerRejects(round: Round, from: number, message: unknown, code: SecAggErrorCode, pattern?: RegExp) {
  const before = structuredClone(round.server);
  const step = await serverGets(round, from, message);
  expect(step.ok).toBe(false);
  if (!step.ok) {
    expect(step.error.code).toBe(code);
    if (pattern) expect(step.error.message).toMatch(pattern);
  }
  expect(round.server).toEqual(before);
}

async function expectClientRejects(round: Round, id: number, message: unknown, code: SecAggErrorCode, pattern?: RegExp) {
  const state = round.clients[id] as SecAggClientState;
  const before = structuredClone(state);
  const step = await secAggClientStep(state, message, { randomBytes: testBytes(999) });
  expect(step.ok).toBe(false);
  if (!step.ok) {
    expect(step.error.code).toBe(code);
    if (pattern) expect(step.error.message).toMatch(pattern);
  }
  expect(state).toEqual(before);
}

describe('server edge validation', () => {
  it('rejects stale, malformed, wrong-length and unknown messages in AdvertiseKeys', async () => {
    const round = await start();
    const good = round.replies.get(0) as Extract<ClientToServerMessage, { type: 'advertiseKeys' }>;
    await expectServerRejects(round, 0, { ...good, roundId: 'r0' }, 'STALE_ROUND', /expected round "r1", got "r0"/);
    await expectServerRejects(round, 0, null, 'MALFORMED', /expected a message object, got null/);
    await expectServerRejects(round, 0, { ...good, type: 'hello' }, 'MALFORMED', /expected type one of/);
    await expectServerRejects(round, 0, { ...good, extra: 1 }, 'MALFORMED');
    // Binary stays binary: a JSON array of numbers is not a key.
    await expectServerRejects(round, 0, { ...good, maskingPublicKey: Array.from(good.maskingPublicKey) }, 'MALFORMED', /maskingPublicKey/);
    await expectServerRejects(
      round,
      0,
      { ...good, maskingPublicKey: good.maskingPublicKey.subarray(1) },
      'WRONG_LENGTH',
      /maskingPublicKey has 31 bytes, expected 32/,
    );
    await expectServerRejects(round, 7, good, 'UNKNOWN_CLIENT', /not a member of the cohort \[0, 5\)/);
    await expectServerRejects(
      round,
      0,
      { type: 'maskedInput', roundId: 'r1', maskedInput: new Uint8Array(8) },
      'WRONG_PHASE',
      /expected advertiseKeys, got maskedInput/,
    );
    expect((await serverGets(round, 0, good)).ok).toBe(true);
    await expectServerRejects(round, 0, good, 'REPLAY', /already sent advertiseKeys/);
    // Client 1 replaying client 0's keys (or reusing one of its own as both) is refused.
    await expectServerRejects(round, 1, { ...good }, 'INVALID_KEY');
    const closeWrong = await secAggServerStep(round.server, { type: 'closeStage', stage: 'unmasking' });
    expect(closeWrong.ok || closeWrong.error.code).toBe('WRONG_PHASE');
  });

  it('rejects bad ShareKeys and MaskedInput messages and late or replayed earlier ones', async () => {
    const round = await start();
    await advance(round, [4]); // client 4 never advertises
    const shares = round.replies.get(0) as Extract<ClientToServerMessage, { type: 'shareKeys' }>;
    await expectServerRejects(round, 4, round.replies.get(1), 'UNKNOWN_CLIENT', /not in U1/);
    await expectServerRejects(
      round,
      0,
      { type: 'advertiseKeys', roundId: 'r1', encryptionPublicKey: new Uint8Array(32), maskingPublicKey: new Uint8Array(32) },
      'REPLAY',
    );
    await expectServerRejects(
      round,
      4,
      { type: 'advertiseKeys', roundId: 'r1', encryptionPublicKey: new Uint8Array(32), maskingPublicKey: new Uint8Array(32) },
      'WRONG_PHASE',
      /expected shareKeys, got advertiseKeys/,
    );
    // One record per peer the server named in peerKeys (1, 2, 3), in that order; no id list comes back.
    const sealed = records(shares.ciphertexts, SHARE_CIPHERTEXT_BYTES);
    expect(sealed).toHaveLength(3);
    await expectServerRejects(round, 0, { ...shares, ciphertexts: concatBytes(...sealed.slice(1)) }, 'WRONG_LENGTH', /expected 3 × 82 = 246/);
    await expectServerRejects(round, 0, { ...shares, ciphertexts: shares.ciphertexts.subarray(1) }, 'WRONG_LENGTH', /has 245 bytes, expected 3 × 82 = 246/);
    await expectServerRejects(round, 0, { ...shares, to: [1, 2, 3] }, 'MALFORMED');
    await expectServerRejects(round, 0, { ...shares, to: 1 }, 'MALFORMED');
    await advance(round);
    const masked = round.replies.get(0) as Extract<ClientToServerMessage, { type: 'maskedInput' }>;
    // k = 12: two bytes per word; 0xffff is ≥ 2^12.
    await expectServerRejects(
      round,
      0,
      { ...masked, maskedInput: masked.maskedInput.subarray(2) },
      'WRONG_LENGTH',
      /has 6 bytes, expected 8 \(d = 4 × 2 bytes\)/,
    );
    const tooBig = masked.maskedInput.slice();
    tooBig.set([0xff, 0xff], 2);
    await expectServerRejects(round, 0, { ...masked, maskedInput: tooBig }, 'OUT_OF_RANGE', /word 1 is ≥ 2\^12/);
    await expectServerRejects(round, 4, masked, 'UNKNOWN_CLIENT', /not in U2/);
    expect((await serverGets(round, 0, masked)).ok).toBe(true);
    await expectServerRejects(round, 0, masked, 'REPLAY');
    expect(pendingClients(round.server)).toEqual([1, 2, 3]);
  });

  it('rejects unmask responses of the wrong kind: it never holds both kinds of shares for a client', async () => {
    const round = await start();
    await advance(round);
    await advance(round);
    await advance(round, [3]); // client 3 sends shares but no masked input: dropped
    expect(round.server.survivors).toEqual([0, 1, 2, 4]);
    expect(round.server.dropped).toEqual([3]);
    const response = round.replies.get(0) as Extract<ClientToServerMessage, { type: 'unmask' }>;
    expect(response.selfMaskOf).toEqual([0, 1, 2, 4]);
    expect(response.maskingKeyOf).toEqual([3]);
    const bShares = records(response.selfMaskShares, SHARE_BYTES);
    const [b0, b1, b2, b4] = bShares as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const sShare = response.maskingKeyShares;
    await expectServerRejects(
      round,
      0,
      { ...response, selfMaskOf: [0, 1, 2, 3, 4], selfMaskShares: concatBytes(b0, b1, b2, sShare, b4) },
      'SHARE_KIND_CONFLICT',
      /client 3, which dropped/,
    );
    await expectServerRejects(round, 0, { ...response, maskingKeyOf: [1], maskingKeyShares: b1 }, 'SHARE_KIND_CONFLICT', /client 1, which survived/);
    await expectServerRejects(
      round,
      0,
      { ...response, maskingKeyShares: sShare.subarray(1) },
      'WRONG_LENGTH',
      /maskingKeyShares: has 32 bytes, expected 1 × 33/,
    );
    await expectServerRejects(round, 0, { ...response, maskingKeyShares: new Uint8Array(33).fill(0xff) }, 'OUT_OF_RANGE', /not an element of GF\(p\)/);
    // p itself is the smallest 33-byte value that is not a field element; p − 1 is one.
    await expectServerRejects(round, 0, { ...response, maskingKeyShares: numberToBytesBE(SHAMIR_PRIME, SHARE_BYTES) }, 'OUT_OF_RANGE', /share of client 3/);
    await expectServerRejects(round, 0, { ...response, selfMaskOf: [4, 2, 1, 0], selfMaskShares: concatBytes(b4, b2, b1, b0) }, 'MALFORMED', /ascending/);
    await expectServerRejects(round, 3, response, 'UNKNOWN_CLIENT', /not a survivor/);
    await advance(round);
    expect(round.server.stage).toBe('done');
    expect(heldShareKinds(round.server)).toEqual({ selfMaskOf: [0, 1, 2, 4], maskingKeyOf: [3] });
    await expectServerRejects(round, 1, response, 'WRONG_PHASE', /round is done/);
  });
});

describe('binary on the wire', () => {
  it('takes binary fields as Node Buffers at odd offsets, as Socket.IO hands them to the aggregator', async () => {
    const round = await start();
    // Buffer.slice() is a view, not a copy: the server must copy into fresh, aligned memory.
    const asOddBuffers = (message: ClientToServerMessage) =>
      Object.fromEntries(
        Object.entries(message).map(([key, value]) => [key, value instanceof Uint8Array ? Buffer.concat([Buffer.alloc(1), value]).subarray(1) : value]),
      );
    for (let stage = 0; stage < 4; stage++) {
      for (const [id, message] of round.replies) round.replies.set(id, asOddBuffers(message) as unknown as ClientToServerMessage);
      await advance(round);
    }
    expect(round.server.stage).toBe('done');
    const expected = Array.from({ length: D }, (_, i) => [0, 1, 2, 3, 4].reduce((sum, id) => sum + ((id * 10 + i) % 4096), 0) % 4096);
    expect(Array.from(round.server.result?.sum ?? [])).toEqual(expected);
  });
});

describe('client edge validation', () => {
  it('checks peer keys: round, own keys handed back, low order, non-neighbours, lengths', async () => {
    const round = await start();
    const own = round.replies.get(0) as Extract<ClientToServerMessage, { type: 'advertiseKeys' }>;
    await advance(round, [], [0]);
    const peerKeys = round.sent.get(0) as Extract<ServerToClientMessage, { type: 'peerKeys' }>;
    expect(Array.from(peerKeys.peers)).toEqual([0b1111]);
    const withFirstKeys = (encryptionPublicKey: Uint8Array, maskingPublicKey: Uint8Array) =>
      concatBytes(encryptionPublicKey, maskingPublicKey, peerKeys.publicKeys.subarray(PEER_KEYS_BYTES));
    const firstKeys = peerKeys.publicKeys.subarray(0, PEER_KEYS_BYTES);
    await expectClientRejects(round, 0, { ...peerKeys, roundId: 'r2' }, 'STALE_ROUND', /expected round "r1", got "r2"/);
    await expectClientRejects(
      round,
      0,
      { ...peerKeys, publicKeys: withFirstKeys(firstKeys.subarray(0, 32), own.maskingPublicKey) },
      'INVALID_KEY',
      /client 1 reuses a public key/,
    );
    await expectClientRejects(round, 0, { ...peerKeys, publicKeys: withFirstKeys(new Uint8Array(32), firstKeys.subarray(32)) }, 'INVALID_KEY', /low-order/);
    // peers is a bitset over client 0's neighbours 1–4: it cannot name client 0 or a non-neighbour.
    await expectClientRejects(round, 0, { ...peerKeys, peers: Uint8Array.of(0b0111) }, 'WRONG_LENGTH', /publicKeys: has 256 bytes, expected 3 × 64/);
    await expectClientRejects(
      round,
      0,
      { ...peerKeys, publicKeys: peerKeys.publicKeys.subarray(16) },
      'WRONG_LENGTH',
      /publicKeys: has 240 bytes, expected 4 × 64 = 256/,
    );
    await expectClientRejects(round, 0, { ...peerKeys, peers: Uint8Array.of(0b11111) }, 'WRONG_LENGTH', /bitset over this client's 4 neighbours/);
    await expectClientRejects(round, 0, { ...peerKeys, peers: Uint8Array.of(0b1111, 0) }, 'WRONG_LENGTH', /bitset over this client's 4 neighbours/);
    await expectClientRejects(round, 0, { ...peerKeys, peers: [1, 2, 3, 4] }, 'MALFORMED');
    await expectClientRejects(round, 0, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2] }, 'WRONG_PHASE', /expected peerKeys, got unmaskRequest/);
    // A SecAgg+ client's peers are a bitset over its 2 neighbours: a third client cannot even be named.
    const plus = await start(config({ clientCount: 7, threshold: 2, graph: { kind: 'harary', degree: 2, seed: new Uint8Array(32).fill(1) } }));
    await advance(plus, [], [0]);
    const sent = plus.sent.get(0) as Extract<ServerToClientMessage, { type: 'peerKeys' }>;
    expect(Array.from(sent.peers)).toEqual([0b11]);
    await expectClientRejects(
      plus,
      0,
      { ...sent, peers: Uint8Array.of(0b111), publicKeys: concatBytes(sent.publicKeys, new Uint8Array(PEER_KEYS_BYTES)) },
      'WRONG_LENGTH',
      /bitset over this client's 2 neighbours/,
    );
  });

  it('rejects share messages that do not authenticate: tampered, relabelled, or from another round', async () => {
    const round = await start();
    await advance(round);
    await advance(round, [], [0]);
    const inbox = round.sent.get(0) as Extract<ServerToClientMessage, { type: 'encryptedShares' }>;
    expect(Array.from(inbox.from)).toEqual([0b1111]);
    const [a, b, ...rest] = records(inbox.ciphertexts, SHARE_CIPHERTEXT_BYTES) as [Uint8Array, Uint8Array, ...Uint8Array[]];
    const flipped = a.slice();
    flipped[20] = (flipped[20] as number) ^ 1;
    await expectClientRejects(
      round,
      0,
      { ...inbox, ciphertexts: concatBytes(flipped, b, ...rest) },
      'DECRYPTION_FAILED',
      /from client 1 does not authenticate/,
    );
    // The associated data binds the sender: 2's ciphertext presented as 1's does not open.
    await expectClientRejects(round, 0, { ...inbox, ciphertexts: concatBytes(b, b, ...rest) }, 'DECRYPTION_FAILED', /from client 1/);
    // Same clients, same keys (same test randomness), round "r2": its ciphertexts do not open in "r1".
    const other = await start(config({ roundId: 'r2' }));
    await advance(other);
    await advance(other, [], [0]);
    const otherInbox = other.sent.get(0) as Extract<ServerToClientMessage, { type: 'encryptedShares' }>;
    expect(Array.from(otherInbox.from)).toEqual([0b1111]);
    const sameSender = otherInbox.ciphertexts.subarray(0, SHARE_CIPHERTEXT_BYTES);
    await expectClientRejects(round, 0, { ...inbox, ciphertexts: concatBytes(sameSender, b, ...rest) }, 'DECRYPTION_FAILED');
    await expectClientRejects(
      round,
      0,
      { ...inbox, from: Uint8Array.of(0b11111), ciphertexts: concatBytes(a, a, b, ...rest) },
      'WRONG_LENGTH',
      /bitset over this client's 4 neighbours/,
    );
    await expectClientRejects(round, 0, { ...inbox, ciphertexts: inbox.ciphertexts.subarray(2) }, 'WRONG_LENGTH', /expected 4 × 82/);
  });

  it('answers one unmask request only, never revealing both kinds for a peer', async () => {
    const round = await start();
    await advance(round);
    await advance(round);
    await advance(round, [3]); // 3 dropped before its masked input
    const client = round.clients[0] as SecAggClientState;
    expect(client.stage).toBe('done');
    if (client.stage === 'done') {
      expect(client.revealedSelfMaskOf).toEqual([0, 1, 2, 4]);
      expect(client.revealedMaskingKeyOf).toEqual([3]);
    }
    // A (malicious) server now claims 3 survived, to get its b-share as well: refused.
    await expectClientRejects(
      round,
      0,
      { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2, 3, 4] },
      'REPLAY',
      /already answered its one unmask request/,
    );
    await expectClientRejects(round, 0, { type: 'peerKeys', roundId: 'r1', peers: [], publicKeys: new Uint8Array(0) }, 'WRONG_PHASE');
  });

  it('checks the unmask request itself: known peers, itself included, at least t survivors', async () => {
    const make = async () => {
      const round = await start();
      await advance(round);
      await advance(round);
      for (const [from, message] of round.replies) await serverGets(round, from, message);
      return round;
    };
    const round = await make();
    await expectClientRejects(round, 0, { type: 'unmaskRequest', roundId: 'r1', survivors: [1, 2, 3] }, 'MALFORMED', /does not list this client/);
    await expectClientRejects(round, 0, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 1] }, 'MALFORMED', /appears twice/);
    await expectClientRejects(round, 0, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 9] }, 'OUT_OF_RANGE');
    await expectClientRejects(round, 0, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2], extra: true }, 'MALFORMED');
    await expectClientRejects(round, 0, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1, 2, 3, 4].map(String) }, 'MALFORMED');
    // Fewer than t survivors: a server trying to isolate one input; the client stops for good.
    const step = await secAggClientStep(round.clients[0] as SecAggClientState, { type: 'unmaskRequest', roundId: 'r1', survivors: [0, 1] });
    expect(step.ok && step.state.stage === 'aborted' && step.state.reason.code).toBe('BELOW_THRESHOLD');
    expect(step.ok && step.outbound).toBeNull();
  });
});

describe('malicious parties', () => {
  it('a server telling holders different stories cannot collect t shares of both kinds (t > holders/2)', async () => {
    const round = await start(); // n = 5, t = 3, full graph: holders of each secret are all 5
    await advance(round);
    await advance(round);
    for (const [from, message] of round.replies) await serverGets(round, from, message);
    // Everyone sent a masked input. The server tells 0 and 1 that client 4 survived and 2 and 3
    // that it dropped, hoping for b_4 and s_4 (which would unmask x_4).
    const answers: Extract<ClientToServerMessage, { type: 'unmask' }>[] = [];
    for (const [id, survivors] of [
      [0, [0, 1, 2, 3, 4]],
      [1, [0, 1, 2, 3, 4]],
      [2, [0, 1, 2, 3]],
      [3, [0, 1, 2, 3]],
    ] as const) {
      const step = await secAggClientStep(round.clients[id] as SecAggClientState, { type: 'unmaskRequest', roundId: 'r1', survivors: [...survivors] });
      if (!step.ok) throw new Error(step.error.message);
      answers.push(step.outbound as Extract<ClientToServerMessage, { type: 'unmask' }>);
    }
    const bShares = answers.filter((a) => a.selfMaskOf.includes(4)).length;
    const sShares = answers.filter((a) => a.maskingKeyOf.includes(4)).length;
    // Client 4 itself (honest) would add one more b-share at most: 3 b-shares, 2 s-shares < t = 3.
    expect(bShares + 1).toBeGreaterThanOrEqual(3);
    expect(sShares).toBeLessThan(3);
    for (const a of answers) {
      const b = new Set(a.selfMaskOf);
      expect(a.maskingKeyOf.filter((of) => b.has(of))).toEqual([]);
      expect(a.selfMaskShares.length).toBe(a.selfMaskOf.length * SHARE_BYTES);
    }
  });

  it('a malicious client cannot get itself counted as both dropped and survived', async () => {
    const round = await start();
    await advance(round);
    await advance(round);
    const late = round.replies.get(3) as ClientToServerMessage;
    await advance(round, [3]); // the server closes MaskedInputCollection without client 3
    // Client 3 now sends its masked input late, answers the unmask request it was never sent, and
    // replays earlier messages: all refused.
    await expectServerRejects(round, 3, late, 'WRONG_PHASE', /expected unmask, got maskedInput/);
    await expectServerRejects(round, 3, round.replies.get(0), 'UNKNOWN_CLIENT', /not a survivor/);
    await expectServerRejects(
      round,
      3,
      { type: 'advertiseKeys', roundId: 'r1', encryptionPublicKey: new Uint8Array(32), maskingPublicKey: new Uint8Array(32) },
      'REPLAY',
    );
    await advance(round);
    // Honest clients revealed only s-shares of 3 and only b-shares of survivors.
    expect(heldShareKinds(round.server)).toEqual({ selfMaskOf: [0, 1, 2, 4], maskingKeyOf: [3] });
    for (const id of [0, 1, 2, 4]) {
      const c = round.clients[id] as SecAggClientState;
      if (c.stage !== 'done') throw new Error(`client ${id} is ${c.stage}`);
      expect(c.revealedSelfMaskOf).not.toContain(3);
      expect(c.revealedMaskingKeyOf).toEqual([3]);
    }
    expect(round.server.result?.survivors).toEqual([0, 1, 2, 4]);
  });

  it('shares of a key other than the advertised one are caught when reconstructed', async () => {
    const round = await start();
    // Client 2 advertises its real s public key but Shamir-shares a different secret key.
    const cheat = round.clients[2] as SecAggClientState;
    if (cheat.stage !== 'awaitingPeerKeys') throw new Error('unexpected stage');
    round.clients[2] = { ...cheat, maskingSecretKey: new Uint8Array(32).fill(5) };
    await advance(round);
    await advance(round);
    await advance(round, [2]); // and then drops, so the server must reconstruct its s key
    await advance(round);
    expect(round.server.stage).toBe('aborted');
    expect(round.server.abort?.code).toBe('RECONSTRUCTION_FAILED');
    expect(round.server.abort?.message).toMatch(/client 2 do not reconstruct its advertised key/);
    expect(round.server.result).toBeNull();
  });
});
