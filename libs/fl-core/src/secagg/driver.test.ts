import { describe, expect, it } from 'vitest';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { certifiedCohort, planHashOf } from './attacks/harness';
import { createCertificateLedger, createPeerCertificateCache } from './certificates';
import { messageBytes, runSecAggRound, type SecAggRoundOptions } from './driver';
import { hararyNeighbours } from './graph';
import type { ClientToServerMessage, ServerToClientMessage } from './messages';
import { secAggServerStep } from './server';

/**
 * The in-process round driver on small cohorts (fast enough to mutation-test): message sizes worked
 * out by hand, sums of hand-picked inputs, who is silent where, the cost accounting against what an
 * observer of the wire sees, and every option passed through.
 */

/** Deterministic bytes so failures reproduce; production always uses secureRandomBytes. */
function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

type Event = { direction: 'toServer' | 'toClient'; client: number; message: ClientToServerMessage | ServerToClientMessage };

/** Runs a round, recording what crosses the wire and the wall time around it. */
async function observed(options: SecAggRoundOptions) {
  const events: Event[] = [];
  const start = performance.now();
  const result = await runSecAggRound({ ...options, observe: (event) => events.push(event) });
  const wallMs = performance.now() - start;
  const n = options.inputs.length;
  const sent = new Array<number>(n).fill(0);
  const received = new Array<number>(n).fill(0);
  const typesSent: string[][] = Array.from({ length: n }, () => []);
  for (const { direction, client, message } of events) {
    if (direction === 'toServer') {
      sent[client] = (sent[client] as number) + messageBytes(message);
      typesSent[client]?.push(message.type);
    } else received[client] = (received[client] as number) + messageBytes(message);
  }
  return { result, events, wallMs, sent, received, typesSent };
}

function checkCost(run: Awaited<ReturnType<typeof observed>>): void {
  const { cost } = run.result;
  expect(cost.bytesSent).toEqual(run.sent);
  expect(cost.bytesReceived).toEqual(run.received);
  const stages = Object.values(cost.serverMsByStage);
  for (const ms of stages) expect(ms).toBeGreaterThanOrEqual(0);
  expect(cost.serverMs).toBeCloseTo(
    stages.reduce((a, b) => a + b, 0),
    6,
  );
  for (const ms of cost.clientMs) expect(ms).toBeGreaterThanOrEqual(0);
  // Everything runs in turn on one thread: the parts cannot add up to more than the whole.
  expect(cost.serverMs + cost.clientMs.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(run.wallMs);
  expect(cost.serverMsByStage.done).toBe(0);
}

describe('messageBytes (worked out by hand)', () => {
  it('counts binary fields at their length and the rest as JSON text', () => {
    expect(messageBytes(new Uint8Array(5))).toBe(5);
    expect(messageBytes(Uint8Array.of())).toBe(0);
    // '[]', '[1,2]', '[1,[2,3]]'
    expect(messageBytes([])).toBe(2);
    expect(messageBytes([1, 2])).toBe(5);
    expect(messageBytes([1, [2, 3]])).toBe(9);
    // '[5]', '[1,2,3]', '[[],[],[],[]]': one comma fewer than elements.
    expect(messageBytes([5])).toBe(3);
    expect(messageBytes([1, 2, 3])).toBe(7);
    expect(messageBytes([[], [], [], []])).toBe(13);
    // '{}', '{"a":1}', '{"a":1,"bc":"x"}'
    expect(messageBytes({})).toBe(2);
    expect(messageBytes({ a: 1 })).toBe(7);
    expect(messageBytes({ a: 1, bc: 'x' })).toBe(16);
    // {"k": <10 bytes>, "l": [<3 bytes>, <4 bytes>]}: 2 + (3 + 1 + 10) + 1 + (3 + 1 + (2 + 3 + 1 + 4))
    expect(messageBytes({ k: new Uint8Array(10), l: [new Uint8Array(3), new Uint8Array(4)] })).toBe(31);
    expect(messageBytes(null)).toBe(4);
    expect(messageBytes('ab')).toBe(4);
    expect(messageBytes(true)).toBe(4);
    expect(messageBytes(undefined)).toBe(0);
  });
});

describe('runSecAggRound', () => {
  it('sums hand-picked inputs mod 2^32 by default, with every default in the config, and accounts every byte', async () => {
    const inputs = [Uint32Array.of(1, 2, 3), Uint32Array.of(10, 20, 30), Uint32Array.of(100, 200, 300), Uint32Array.of(2 ** 32 - 1, 0, 5)];
    const run = await observed({ inputs, threshold: 3, randomBytes: testBytes(1) });
    const { result } = run;
    expect(result.status).toBe('done');
    // 1 + 10 + 100 + (2^32 − 1) ≡ 110, 222, 338 (mod 2^32).
    expect(result.sum).toEqual(Uint32Array.of(110, 222, 338));
    expect(result.survivors).toEqual([0, 1, 2, 3]);
    expect(result.dropped).toEqual([]);
    expect(result.abort).toBeNull();
    expect(result.clientAborts).toEqual([]);
    expect(result.config).toEqual({ roundId: 'round-1', clientCount: 4, threshold: 3, vectorLength: 3, modulusBits: 32, graph: { kind: 'full' } });
    expect(result.server.stage).toBe('done');
    expect(result.clients.map((c) => c?.stage)).toEqual(['done', 'done', 'done', 'done']);
    for (const types of run.typesSent) expect(types).toEqual(['advertiseKeys', 'shareKeys', 'maskedInput', 'unmask']);
    checkCost(run);
    for (let id = 0; id < 4; id++) {
      expect(run.sent[id]).toBeGreaterThan(0);
      expect(run.received[id]).toBeGreaterThan(0);
      expect(result.cost.clientMs[id]).toBeGreaterThan(0);
    }
    expect(result.cost.serverMsByStage.advertiseKeys).toBeGreaterThan(0);
    expect(result.cost.serverMsByStage.unmasking).toBeGreaterThan(0);
    expect(result.cost.serverMsByStage.aborted).toBe(0);
  });

  it('silences each client where told: never created, after advertising, after its shares, after its masked input', async () => {
    const n = 9;
    const inputs = Array.from({ length: n }, (_, i) => Uint32Array.of(i + 1, 1000 * (i + 1)));
    const run = await observed({
      inputs,
      threshold: 5,
      modulusBits: 16,
      roundId: 'dropouts',
      dropouts: { beforeAdvertiseKeys: [0], beforeShareKeys: [1], beforeMaskedInput: [2], afterMaskedInput: [3] },
      randomBytes: testBytes(2),
    });
    const { result } = run;
    expect(result.status).toBe('done');
    expect(result.config.roundId).toBe('dropouts');
    expect(result.config.modulusBits).toBe(16);
    // Survivors sent a masked input: 3 … 8. Σ (i + 1) = 4 + … + 9 = 39; Σ 1000(i + 1) = 39000.
    expect(result.survivors).toEqual([3, 4, 5, 6, 7, 8]);
    expect(result.sum).toEqual(Uint32Array.of(39, 39_000));
    // Only client 2's masks had to be removed (its s reconstructed); nobody masked with 0 or 1.
    expect(result.dropped).toEqual([2]);
    expect(result.clients).toHaveLength(n);
    for (const id of [0, 1, 2, 3]) expect(result.clients[id]).toBeNull();
    expect(result.clients.map((c) => c?.stage ?? null)).toEqual([null, null, null, null, 'done', 'done', 'done', 'done', 'done']);
    expect(run.typesSent.slice(0, 5)).toEqual([
      [],
      ['advertiseKeys'],
      ['advertiseKeys', 'shareKeys'],
      ['advertiseKeys', 'shareKeys', 'maskedInput'],
      ['advertiseKeys', 'shareKeys', 'maskedInput', 'unmask'],
    ]);
    // A silent client still received what was sent to it before it went silent; one never created received nothing.
    expect(run.received[0]).toBe(0);
    expect(result.cost.clientMs[0]).toBe(0);
    for (const id of [1, 2, 3]) expect(run.received[id]).toBeGreaterThan(0);
    expect(run.events.filter((e) => e.direction === 'toClient' && e.client === 1).map((e) => e.message.type)).toEqual(['peerKeys']);
    checkCost(run);
  });

  it('aborts below threshold: no sum, no survivors, and the server’s abort is not counted as a client’s own', async () => {
    const n = 9;
    const inputs = Array.from({ length: n }, () => Uint32Array.of(1));
    const run = await observed({ inputs, threshold: 5, dropouts: { beforeAdvertiseKeys: [0, 1, 2, 3, 4] }, randomBytes: testBytes(3) });
    const { result } = run;
    expect(result.status).toBe('aborted');
    expect(result.sum).toBeNull();
    expect(result.survivors).toEqual([]);
    expect(result.dropped).toEqual([]);
    expect(result.abort?.code).toBe('BELOW_THRESHOLD');
    expect(result.clientAborts).toEqual([]);
    expect(result.clients).toEqual([null, null, null, null, null, ...result.clients.slice(5)]);
    expect(result.clients.map((c) => c?.stage ?? null)).toEqual([null, null, null, null, null, 'aborted', 'aborted', 'aborted', 'aborted']);
    expect(run.events.filter((e) => e.direction === 'toClient').map((e) => [e.client, e.message.type])).toEqual([
      [5, 'abort'],
      [6, 'abort'],
      [7, 'abort'],
      [8, 'abort'],
    ]);
    checkCost(run);
  });

  it('records a client that stops on its own (SecAgg+, too few neighbours advertised) and sends it nothing more', async () => {
    const n = 12;
    const seed = new Uint8Array(32).fill(5);
    const neighbours = hararyNeighbours(n, 4, seed)[0] as number[];
    const inputs = Array.from({ length: n }, (_, i) => Uint32Array.of(i));
    const run = await observed({
      inputs,
      threshold: 3,
      graph: { neighbours: 4, seed },
      dropouts: { beforeAdvertiseKeys: neighbours.slice(0, 3) },
      randomBytes: testBytes(4),
    });
    const { result } = run;
    expect(result.config.graph).toEqual({ kind: 'harary', degree: 4, seed });
    // The graph for this seed (hararyNeighbours, checked against python3 in crypto.test.ts): client 0's
    // neighbours are 1, 2, 8, 9, and 1, 2, 8 never advertise, so client 0 has 2 share holders < t = 3
    // and stops at peerKeys. Client 9's neighbours are 0, 1, 3, 8: 1 and 8 silent, 0 stopped, so
    // shares arrive from 3 alone (1 + 1 < 3) and it stops at the shares.
    expect(neighbours).toEqual([1, 2, 8, 9]);
    expect(hararyNeighbours(n, 4, seed)[9]).toEqual([0, 1, 3, 8]);
    expect(result.clientAborts.map((a) => [a.client, a.reason.code, a.reason.message])).toEqual([
      [0, 'BELOW_THRESHOLD', 'client 0 (awaitingPeerKeys): 2 share holders (this client and peers with keys), need threshold 3'],
      [9, 'BELOW_THRESHOLD', 'client 9 (awaitingShares): shares arrived from 1 peers; with this client that is below threshold 3'],
    ]);
    expect(result.clients[0]?.stage).toBe('aborted');
    expect(result.clients[9]?.stage).toBe('aborted');
    // Client 0 received its peer list and nothing after it.
    expect(run.events.filter((e) => e.direction === 'toClient' && e.client === 0).map((e) => e.message.type)).toEqual(['peerKeys']);
    expect(run.typesSent[0]).toEqual(['advertiseKeys']);
    checkCost(run);
  });

  it('skips a client that stopped on its own when the server (here a closeUnmasking elsewhere) still addresses it', async () => {
    const n = 12;
    const seed = new Uint8Array(32).fill(1);
    const inputs = Array.from({ length: n }, (_, i) => Uint32Array.of(i));
    // Client 0's neighbours for this seed include 5, 6 and 11, which never advertise: client 0 stops
    // at peerKeys (2 holders < t = 3), the others finish. The unmasking close also sends client 0
    // an abort, which an aborted client would refuse: the driver must not deliver it.
    expect(hararyNeighbours(n, 4, seed)[0]).toEqual(expect.arrayContaining([5, 6, 11]));
    let closes = 0;
    const run = await observed({
      inputs,
      threshold: 3,
      graph: { neighbours: 4, seed },
      dropouts: { beforeAdvertiseKeys: [5, 6, 11] },
      randomBytes: testBytes(4),
      closeUnmasking: async (state) => {
        closes++;
        const closed = await secAggServerStep(state, { type: 'closeStage', stage: 'unmasking' });
        const abort: ServerToClientMessage = { type: 'abort', roundId: state.config.roundId, reason: { code: 'ABORTED', message: 'late' } };
        return closed.ok ? { ...closed, outbound: [...closed.outbound, { to: 0, message: abort }] } : closed;
      },
    });
    expect(closes).toBe(1);
    expect(run.result.status).toBe('done');
    expect(run.result.clients[0]?.stage).toBe('aborted');
    expect(run.result.clientAborts.map((a) => a.client)).toEqual([0]);
    // Σ i over the 8 clients that finished: 1 + 2 + 3 + 4 + 7 + 8 + 9 + 10 = 44.
    expect(run.result.sum).toEqual(Uint32Array.of(44));
    expect(run.events.filter((e) => e.direction === 'toClient' && e.client === 0).map((e) => e.message.type)).toEqual(['peerKeys']);
    checkCost(run);
  });

  it('draws the SecAgg+ graph seed first from randomBytes when none is given', async () => {
    const source = testBytes(5);
    const draws: Uint8Array[] = [];
    const recording: RandomBytes = (out) => {
      source(out);
      draws.push(out.slice());
      return out;
    };
    const inputs = Array.from({ length: 5 }, (_, i) => Uint32Array.of(i, 2 * i));
    const { result } = await observed({ inputs, threshold: 3, graph: { neighbours: 2 }, randomBytes: recording });
    expect(result.status).toBe('done');
    expect(result.sum).toEqual(Uint32Array.of(10, 20));
    expect(draws[0]).toHaveLength(32);
    expect(result.config.graph).toEqual({ kind: 'harary', degree: 2, seed: draws[0] });
  });

  it('hands the unmasking close to closeUnmasking, once, and times it as the server’s', async () => {
    const calls: string[] = [];
    const inputs = Array.from({ length: 3 }, (_, i) => Uint32Array.of(7 * i));
    const run = await observed({
      inputs,
      threshold: 2,
      randomBytes: testBytes(6),
      closeUnmasking: async (state) => {
        calls.push(state.stage);
        const busyUntil = performance.now() + 25;
        while (performance.now() < busyUntil);
        return secAggServerStep(state, { type: 'closeStage', stage: 'unmasking' });
      },
    });
    expect(calls).toEqual(['unmasking']);
    expect(run.result.sum).toEqual(Uint32Array.of(21));
    expect(run.result.cost.serverMsByStage.unmasking).toBeGreaterThanOrEqual(25);
    checkCost(run);
  });

  it('reports a failed unmasking close, a rejected message, a bad config and a bad input, naming each', async () => {
    const inputs = Array.from({ length: 3 }, () => Uint32Array.of(1));
    await expect(
      runSecAggRound({
        inputs,
        threshold: 2,
        closeUnmasking: async () => ({ ok: false, error: { code: 'ABORTED', message: 'elsewhere' } }),
      }),
    ).rejects.toThrow('runSecAggRound: closing unmasking failed: ABORTED: elsewhere');
    // A server message the client refuses (client 0's peerKeys again, after the round) is reported with its type.
    let replay: ServerToClientMessage | undefined;
    await expect(
      runSecAggRound({
        inputs,
        threshold: 2,
        observe: (event) => {
          if (event.direction === 'toClient' && event.client === 0 && event.message.type === 'peerKeys') replay = event.message as ServerToClientMessage;
        },
        closeUnmasking: async (state) => {
          const closed = await secAggServerStep(state, { type: 'closeStage', stage: 'unmasking' });
          return closed.ok ? { ...closed, outbound: [{ to: 0, message: replay as ServerToClientMessage }] } : closed;
        },
      }),
    ).rejects.toThrow(/^runSecAggRound: client 0 rejected the server's peerKeys: [A-Z_]+: /);
    const seen: unknown[] = [];
    await expect(
      runSecAggRound({
        inputs,
        threshold: 2,
        tamper: (from, message) => (from === 1 ? ({ ...message, extra: true } as unknown as ClientToServerMessage) : message),
        observe: (event) => {
          if (event.client === 1) seen.push(event.message);
        },
      }),
    ).rejects.toThrow(/^runSecAggRound: server rejected client 1: [A-Z_]+: /);
    // The observer saw what the tampering client sent, not what its machine made.
    expect(seen).toEqual([expect.objectContaining({ type: 'advertiseKeys', extra: true })]);
    await expect(runSecAggRound({ inputs, threshold: 0 })).rejects.toThrow(/^runSecAggRound: [A-Z_]+: /);
    await expect(runSecAggRound({ inputs, threshold: 0 })).rejects.toBeInstanceOf(RangeError);
    // No clients at all: the server refuses the config (it is not read past the end of the inputs).
    await expect(runSecAggRound({ inputs: [], threshold: 1 })).rejects.toThrow(/^runSecAggRound: [A-Z_]+: /);
    await expect(runSecAggRound({ inputs: [Uint32Array.of(1), Uint32Array.of(70_000), Uint32Array.of(2)], threshold: 2, modulusBits: 16 })).rejects.toThrow(
      /^runSecAggRound: client 1: OUT_OF_RANGE: /,
    );
  });

  it('runs the authenticated protocol with certified identities, and names certificates in a second round over the same caches and ledger', async () => {
    const n = 4;
    const cohort = await certifiedCohort(n);
    const planHash = planHashOf('plan');
    const caches = Array.from({ length: n }, () => createPeerCertificateCache());
    const auth = {
      enrollmentIssuer: cohort.enrollmentIssuer,
      planHash,
      identities: cohort.identities,
      certificateCaches: caches,
      certificateLedger: createCertificateLedger(),
    };
    const inputs = Array.from({ length: n }, (_, i) => Uint32Array.of(i + 1, 5));
    const first = await observed({
      inputs,
      threshold: 3,
      modulusBits: 8,
      roundId: 'a-1',
      auth,
      dropouts: { afterMaskedInput: [3] },
      randomBytes: testBytes(7),
    });
    expect(first.result.status).toBe('done');
    expect(first.result.config.authenticated).toBe(true);
    expect(first.result.sum).toEqual(Uint32Array.of(10, 20));
    // Client 3 went silent at the consistency check, after its masked input.
    expect(first.typesSent[3]).toEqual(['advertiseKeys', 'shareKeys', 'maskedInput']);
    expect(first.typesSent[0]).toEqual(['advertiseKeys', 'shareKeys', 'maskedInput', 'consistency', 'unmask']);
    expect(first.result.clients[3]).toBeNull();
    checkCost(first);
    const second = await observed({ inputs, threshold: 3, modulusBits: 8, roundId: 'a-2', auth, randomBytes: testBytes(8) });
    expect(second.result.sum).toEqual(Uint32Array.of(10, 20));
    // Certificates were sent in full once; now they are named by 8-byte references.
    for (let id = 0; id < 3; id++) expect(second.received[id]).toBeLessThan((first.received[id] as number) - 500);
    checkCost(second);
    // Without the ledger the server cannot know what the caches hold, and sends the certificates again.
    const { certificateLedger: _, ...noLedger } = auth;
    const third = await observed({ inputs, threshold: 3, modulusBits: 8, roundId: 'a-3', auth: noLedger, randomBytes: testBytes(9) });
    for (let id = 0; id < 3; id++) expect(third.received[id]).toBeGreaterThan((second.received[id] as number) + 500);
  });

  it('runs an authenticated round without caches or ledger; an identity missing from one is a client that cannot be created', async () => {
    const cohort = await certifiedCohort(3);
    const inputs = Array.from({ length: 3 }, () => Uint32Array.of(1));
    const plain = await runSecAggRound({
      inputs,
      threshold: 2,
      auth: { enrollmentIssuer: cohort.enrollmentIssuer, planHash: planHashOf('p'), identities: cohort.identities },
    });
    expect(plain.sum).toEqual(Uint32Array.of(3));
    expect(plain.config.authenticated).toBe(true);
    await expect(
      runSecAggRound({
        inputs,
        threshold: 2,
        auth: { enrollmentIssuer: cohort.enrollmentIssuer, planHash: planHashOf('p'), identities: cohort.identities.slice(0, 2) },
      }),
    ).rejects.toThrow('runSecAggRound: client 2: INVALID_CONFIG: createSecAggClient: the round is authenticated but this client has no identity');
  });
});
