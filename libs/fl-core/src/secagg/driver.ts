import { secureRandomBytes, type RandomBytes } from '../random/index';
import type { CertificateLedger, PeerCertificateCache } from './certificates';
import { createSecAggClient, secAggClientStep, type SecAggClientState } from './client';
import { defaultSuite, type CryptoSuite } from './crypto';
import type { SecAggError } from './errors';
import type { ClientToServerMessage, RoundConfig, ServerToClientMessage } from './messages';
import { createSecAggServer, secAggServerStep, type Outbound, type SecAggServerStage, type SecAggServerState, type SecAggServerStepResult } from './server';

/** Which clients go silent, and when. A client listed at several points drops at the first. */
export interface SecAggDropouts {
  /** Never advertise keys. */
  beforeAdvertiseKeys?: readonly number[];
  /** Advertise keys, then never send shares. */
  beforeShareKeys?: readonly number[];
  /** Send shares, then never send a masked input. */
  beforeMaskedInput?: readonly number[];
  /** Send a masked input, then never answer the unmask request. */
  afterMaskedInput?: readonly number[];
}

export interface SecAggRoundOptions {
  /** One encoded input per client (client id = index), all of the same length, words < 2^k. */
  inputs: readonly Uint32Array[];
  threshold: number;
  /** @default 32 */
  modulusBits?: number;
  /** 'full' (Bonawitz et al. 2017) or SecAgg+ with k neighbours (Bell et al. 2020). @default 'full' */
  graph?: 'full' | { neighbours: number; seed?: Uint8Array };
  dropouts?: SecAggDropouts;
  /** @default 'round-1' */
  roundId?: string;
  /** @default secureRandomBytes */
  randomBytes?: RandomBytes;
  /** @default the fastest suite this runtime supports */
  suite?: CryptoSuite;
  /**
   * Runs the authenticated (active-server) protocol: one certified identity per client, the
   * enrollment issuer every party checks certificates against, and the plan hash they all sign.
   */
  auth?: {
    enrollmentIssuer: { name: string; publicKey: Uint8Array };
    planHash: Uint8Array;
    identities: readonly { certificate: string; privateKey: CryptoKey }[];
    /**
     * Per client, its certificate cache, and the server's ledger: pass the same ones to several
     * rounds to run them as one connection would (certificates sent once, then named).
     */
    certificateCaches?: readonly PeerCertificateCache[];
    certificateLedger?: CertificateLedger;
  };
  /** A malicious client: rewrites what `from` sends (the server must refuse or detect it). */
  tamper?: (from: number, message: ClientToServerMessage) => ClientToServerMessage;
  /** Closes the unmasking stage somewhere else (an aggregator's worker thread): must answer as secAggServerStep would. */
  closeUnmasking?: (state: SecAggServerState) => Promise<SecAggServerStepResult>;
  /** Sees every message as it crosses the (simulated) wire: what a transport-level observer sees. */
  observe?: (event: { direction: 'toServer' | 'toClient'; client: number; message: ClientToServerMessage | ServerToClientMessage }) => void;
}

export interface SecAggRoundCost {
  /** Server compute per stage close and message handling, in ms. */
  serverMs: number;
  serverMsByStage: Record<SecAggServerStage, number>;
  /** Per client: compute in its machine steps, in ms. */
  clientMs: number[];
  /** Per client: payload bytes sent to / received from the server (binary + JSON of the rest). */
  bytesSent: number[];
  bytesReceived: number[];
}

export interface SecAggRoundResult {
  status: 'done' | 'aborted';
  /** Σ x_u over the survivors, mod 2^k; null when aborted. */
  sum: Uint32Array | null;
  survivors: number[];
  dropped: number[];
  abort: SecAggError | null;
  /** Clients that stopped on their own (e.g. too few peers), with why. */
  clientAborts: { client: number; reason: SecAggError }[];
  config: RoundConfig;
  server: SecAggServerState;
  clients: (SecAggClientState | null)[];
  cost: SecAggRoundCost;
}

/**
 * Payload size of a message: binary fields at their byte length plus the JSON text of everything
 * else — what Socket.IO puts on the wire, less its per-attachment framing.
 */
export function messageBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 2 + value.reduce<number>((sum, item, i) => sum + messageBytes(item) + (i > 0 ? 1 : 0), 0);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return 2 + entries.reduce((sum, [key, item], i) => sum + JSON.stringify(key).length + 1 + messageBytes(item) + (i > 0 ? 1 : 0), 0);
  }
  return JSON.stringify(value)?.length ?? 0;
}

/**
 * Runs one SecAgg round in-process: it only moves messages between one server machine and n client
 * machines (no transport, no shortcuts), drops clients where told, and measures each party's
 * compute and bytes. Reused by tests, benchmarks and simulations.
 */
export async function runSecAggRound(options: SecAggRoundOptions): Promise<SecAggRoundResult> {
  const { inputs, threshold } = options;
  const n = inputs.length;
  const randomBytes = options.randomBytes ?? secureRandomBytes;
  const suite = options.suite ?? (await defaultSuite());
  const graphOption = options.graph ?? 'full';
  const graph =
    graphOption === 'full'
      ? { kind: 'full' as const }
      : { kind: 'harary' as const, degree: graphOption.neighbours, seed: graphOption.seed ?? randomBytes(new Uint8Array(32)) };
  const created = createSecAggServer(
    {
      roundId: options.roundId ?? 'round-1',
      clientCount: n,
      threshold,
      vectorLength: inputs[0]?.length ?? 0,
      modulusBits: options.modulusBits ?? 32,
      graph,
      ...(options.auth ? { authenticated: true } : {}),
    },
    options.auth ? { enrollmentIssuer: options.auth.enrollmentIssuer, planHash: options.auth.planHash } : undefined,
  );
  if (!created.ok) throw new RangeError(`runSecAggRound: ${created.error.code}: ${created.error.message}`);
  let server = created.state;
  const cost: SecAggRoundCost = {
    serverMs: 0,
    serverMsByStage: { advertiseKeys: 0, shareKeys: 0, maskedInput: 0, consistencyCheck: 0, unmasking: 0, done: 0, aborted: 0 },
    clientMs: new Array<number>(n).fill(0),
    bytesSent: new Array<number>(n).fill(0),
    bytesReceived: new Array<number>(n).fill(0),
  };
  const clients: (SecAggClientState | null)[] = new Array(n).fill(null);
  const ledger = options.auth?.certificateLedger ? { certificateLedger: options.auth.certificateLedger } : {};
  const clientAborts: { client: number; reason: SecAggError }[] = [];
  const dropouts = options.dropouts ?? {};
  const silentAt = (stage: keyof SecAggDropouts, id: number) => dropouts[stage]?.includes(id) ?? false;

  const toServer = async (from: number, sent: ClientToServerMessage) => {
    const message = options.tamper ? options.tamper(from, sent) : sent;
    cost.bytesSent[from] = (cost.bytesSent[from] as number) + messageBytes(message);
    options.observe?.({ direction: 'toServer', client: from, message });
    // As the aggregator's transport does: the sender's certificate comes from its connection, not the message.
    const certificate = options.auth?.identities[from]?.certificate;
    const received = message.type === 'advertiseKeys' && certificate !== undefined ? { ...message, certificate } : message;
    const stage = server.stage;
    const start = performance.now();
    const step = await secAggServerStep(server, { type: 'message', from, message: received }, { suite, ...ledger });
    const elapsed = performance.now() - start;
    cost.serverMs += elapsed;
    cost.serverMsByStage[stage] += elapsed;
    // An honest client's message is never rejected: that would be a bug in the machines.
    if (!step.ok) throw new Error(`runSecAggRound: server rejected client ${from}: ${step.error.code}: ${step.error.message}`);
    server = step.state;
  };
  const close = async (): Promise<Outbound[]> => {
    const stage = server.stage;
    const start = performance.now();
    const step =
      stage === 'unmasking' && options.closeUnmasking
        ? await options.closeUnmasking(server)
        : await secAggServerStep(server, { type: 'closeStage', stage }, { suite, ...ledger });
    const elapsed = performance.now() - start;
    cost.serverMs += elapsed;
    cost.serverMsByStage[stage] += elapsed;
    if (!step.ok) throw new Error(`runSecAggRound: closing ${stage} failed: ${step.error.code}: ${step.error.message}`);
    server = step.state;
    return step.outbound;
  };
  /** Delivers the server's messages; clients silent at `silence` receive but do not answer. */
  const deliver = async (outbound: Outbound[], silence: keyof SecAggDropouts | null) => {
    for (const { to, message } of outbound) {
      const state = clients[to];
      if (!state || state.stage === 'aborted') continue;
      cost.bytesReceived[to] = (cost.bytesReceived[to] as number) + messageBytes(message);
      options.observe?.({ direction: 'toClient', client: to, message });
      if (silence && silentAt(silence, to)) {
        clients[to] = null;
        continue;
      }
      const start = performance.now();
      const cache = options.auth?.certificateCaches?.[to];
      const step = await secAggClientStep(state, message, { randomBytes, suite, ...(cache ? { certificateCache: cache } : {}) });
      cost.clientMs[to] = (cost.clientMs[to] as number) + performance.now() - start;
      if (!step.ok) throw new Error(`runSecAggRound: client ${to} rejected the server's ${message.type}: ${step.error.code}: ${step.error.message}`);
      clients[to] = step.state;
      if (step.state.stage === 'aborted' && message.type !== 'abort') clientAborts.push({ client: to, reason: step.state.reason });
      if (step.outbound) await toServer(to, step.outbound);
    }
  };

  for (let id = 0; id < n; id++) {
    if (silentAt('beforeAdvertiseKeys', id)) continue;
    const start = performance.now();
    const identity = options.auth?.identities[id];
    const cache = options.auth?.certificateCaches?.[id];
    const made = await createSecAggClient({
      ...(cache ? { certificateCache: cache } : {}),
      config: server.config,
      clientId: id,
      input: inputs[id] as Uint32Array,
      randomBytes,
      suite,
      ...(options.auth && identity ? { auth: { identity, enrollmentIssuer: options.auth.enrollmentIssuer, planHash: options.auth.planHash } } : {}),
    });
    cost.clientMs[id] = performance.now() - start;
    if (!made.ok) throw new RangeError(`runSecAggRound: client ${id}: ${made.error.code}: ${made.error.message}`);
    clients[id] = made.state;
    await toServer(id, made.outbound);
  }
  const silenceAfter: Record<'advertiseKeys' | 'shareKeys' | 'maskedInput' | 'consistencyCheck' | 'unmasking', keyof SecAggDropouts | null> = {
    advertiseKeys: 'beforeShareKeys',
    shareKeys: 'beforeMaskedInput',
    maskedInput: 'afterMaskedInput',
    consistencyCheck: 'afterMaskedInput',
    unmasking: null,
  };
  while (server.stage !== 'done' && server.stage !== 'aborted') {
    const silence = silenceAfter[server.stage];
    await deliver(await close(), silence);
  }
  const result = server.result;
  return {
    status: server.stage === 'done' ? 'done' : 'aborted',
    sum: result?.sum ?? null,
    survivors: result?.survivors ?? [],
    dropped: result?.dropped ?? [],
    abort: server.abort,
    clientAborts,
    config: server.config,
    server,
    clients,
    cost,
  };
}
