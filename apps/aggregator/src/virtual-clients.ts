import * as tf from '@tensorflow/tfjs';
import { io, type Socket } from 'socket.io-client';
import type { Logger } from 'pino';
import { enrollDevice, type DeviceIdentity } from '@murmur/fl-core/identity';
import { buildModel, type ModelSpec } from '@murmur/fl-core/model';
import {
  asParticipantSocket,
  connectParticipant,
  DEFAULT_PLAN_POLICY,
  downloadPlanModel,
  handshakeAuth,
  prepareContribution,
  type ParticipantConnection,
  type ParticipantEvent,
  type ParticipantSocket,
  type PlanPolicy,
} from '@murmur/fl-core/participant';
import {
  protocolFailure,
  routingBucketOf,
  type ClientToServerEvents,
  type ProtocolResult,
  type RoundPlan,
  type ServerToClientEvents,
} from '@murmur/fl-core/protocol';
import { type ExampleSet } from '@murmur/fl-core/text';

/**
 * Headless virtual clients: the fl-core participant (the same code a browser Web Worker runs)
 * over real socket.io-client connections, each with its own device identity (a non-extractable
 * P-256 key certified by the enrollment service) and its own natural slice of a corpus. Used by `npm start -- --demo N`, the integration tests and the benches.
 */
export interface VirtualClientData {
  id: string;
  examples: ExampleSet;
}

/** Device behaviours worth simulating: a device that goes away mid-round, or one that is slow. */
export interface VirtualClientBehaviour {
  /** Disconnect for good on receiving this server message (a dropout at that phase). */
  dropOn?: 'roundPlan' | 'peerKeys' | 'encryptedShares' | 'unmaskRequest';
  /** Lose the connection (not the state) on receiving this server message; socket.io reconnects. */
  blipOn?: 'roundPlan' | 'peerKeys' | 'encryptedShares' | 'unmaskRequest';
  /** Send this secure-aggregation message only after a delay (a late client). */
  late?: { type: 'advertiseKeys' | 'shareKeys' | 'maskedInput' | 'unmask'; ms: number };
  /** Report no consent (the check-in must be refused). */
  noConsent?: boolean;
}

export interface VirtualClientOptions {
  url: string;
  clients: readonly VirtualClientData[];
  behaviour?: (index: number) => VirtualClientBehaviour | undefined;
  onEvent?: (index: number, event: ParticipantEvent) => void;
  logger?: Logger;
  /** @default 250 */
  reconnectionDelayMs?: number;
  /** Device identities to reuse (e.g. the same devices after a restart); enrolled when absent. */
  identities?: readonly DeviceIdentity[];
  /** Where the enrollment service answers. @default url (the service npm start hosts) */
  enrollmentUrl?: string;
  /**
   * The local address each client's socket connects from (Linux routes all of 127.0.0.0/8 to
   * loopback): clients on distinct networks on one machine, for the per-network limits' tests.
   * @default the system's choice
   */
  localAddress?: (index: number) => string | undefined;
  /**
   * What these devices accept, checked on every plan before they train (checkPlanAgainstPolicy),
   * as a browser checks it: a plan below it is declined and the round counts a dropout. A server
   * whose operator turned privacy off needs PRIVACY_OFF_PLAN_POLICY.
   * @default DEFAULT_PLAN_POLICY
   */
  planPolicy?: PlanPolicy;
}

export interface VirtualClient {
  index: number;
  id: string;
  identity: DeviceIdentity;
  socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  connection: ParticipantConnection;
}

export interface VirtualClientPool {
  clients: VirtualClient[];
  close(): Promise<void>;
}

/** One model instance per process: training is serialized through it (tfjs runs on this thread anyway). */
class SharedTrainer {
  readonly #models = new Map<string, tf.LayersModel>();
  readonly #weights = new Map<string, Promise<Float32Array>>();
  #lock: Promise<unknown> = Promise.resolve();

  constructor(private readonly baseUrl: string) {}

  /** Downloads a model version once for all clients and verifies it against the plan. */
  weightsFor(plan: RoundPlan): Promise<Float32Array> {
    const key = `${plan.model.version}:${plan.model.hash}`;
    let pending = this.#weights.get(key);
    if (!pending) {
      pending = downloadPlanModel(plan.model, this.baseUrl).then(({ weights }) => weights);
      pending.catch(() => this.#weights.delete(key));
      if (this.#weights.size >= 2) this.#weights.delete(this.#weights.keys().next().value as string);
      this.#weights.set(key, pending);
    }
    return pending;
  }

  #model(spec: ModelSpec): tf.LayersModel {
    const key = JSON.stringify(spec);
    let model = this.#models.get(key);
    if (!model) {
      model = buildModel(spec);
      this.#models.set(key, model);
    }
    return model;
  }

  contribute(plan: RoundPlan, examples: ExampleSet, signal: AbortSignal): Promise<ProtocolResult<Uint32Array>> {
    const run = async (): Promise<ProtocolResult<Uint32Array>> => {
      // tfjs work resolves through microtasks; yield a macrotask so sockets answer heartbeats
      // between clients (a thousand trainings in a row would otherwise starve the I/O loop).
      await new Promise((resolve) => setImmediate(resolve));
      if (signal.aborted) return protocolFailure('CONTRIBUTION_FAILED', 'the round ended before training started');
      let weights: Float32Array;
      try {
        weights = await this.weightsFor(plan);
      } catch (error) {
        return protocolFailure('BAD_SERVER_MESSAGE', error instanceof Error ? error.message : String(error));
      }
      const result = await prepareContribution({ plan, model: this.#model(plan.model.spec), globalWeights: weights, examples, signal });
      return result.ok ? { ok: true, value: result.value.input } : result;
    };
    const next = this.#lock.then(run, run);
    this.#lock = next.catch(() => undefined);
    return next;
  }

  dispose(): void {
    for (const model of this.#models.values()) model.dispose();
    this.#models.clear();
  }
}

/** Enrolls one Node device with the enrollment service at `url` (a fresh key pair, proof of possession, a certificate). */
export function enroll(url: string): Promise<DeviceIdentity> {
  return enrollDevice({ baseUrl: url });
}

/** The message type inside a packed secagg message (see packSecAgg). */
function packedType(payload: unknown): unknown {
  return (payload as { shape?: { type?: unknown } } | null)?.shape?.type;
}

function withBehaviour(
  socket: Socket<ServerToClientEvents, ClientToServerEvents>,
  behaviour: VirtualClientBehaviour | undefined,
  stop: () => void,
): ParticipantSocket {
  const raw = asParticipantSocket(socket);
  if (!behaviour?.dropOn && !behaviour?.late && !behaviour?.blipOn) return raw;
  const { dropOn, late, blipOn } = behaviour;
  let blipped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const wrappers = new Map<(payload: unknown) => void, (payload: unknown) => void>();
  return {
    on(event, listener) {
      const wrapped = (payload: unknown) => {
        const type = event === 'secagg' ? packedType(payload) : event;
        if (dropOn && type === dropOn) {
          for (const timer of timers) clearTimeout(timer);
          socket.disconnect();
          stop();
          return;
        }
        if (blipOn && type === blipOn && !blipped) {
          blipped = true;
          // Closing the transport (not the socket) is a network failure: socket.io reconnects.
          socket.io.engine.close();
        }
        listener(payload);
      };
      wrappers.set(listener, wrapped);
      return raw.on(event, wrapped);
    },
    off: (event, listener) => raw.off(event, wrappers.get(listener) ?? listener),
    emit(event, payload) {
      if (late && event === 'secagg' && packedType(payload) === late.type) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          raw.emit(event, payload);
        }, late.ms);
        timers.add(timer);
        return true;
      }
      return raw.emit(event, payload);
    },
  };
}

export async function startVirtualClients(options: VirtualClientOptions): Promise<VirtualClientPool> {
  const trainer = new SharedTrainer(options.url);
  const clients: VirtualClient[] = [];
  for (const [index, data] of options.clients.entries()) {
    const identity = options.identities?.[index] ?? (await enroll(options.enrollmentUrl ?? options.url));
    const behaviour = options.behaviour?.(index);
    const localAddress = options.localAddress?.(index);
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(options.url, {
      auth: handshakeAuth(identity),
      // What a proxy in front of several processes routes on (docs/scale-out.md, "Routing").
      query: { bucket: String(routingBucketOf(identity.clientId)) },
      transports: ['websocket'],
      reconnectionDelay: options.reconnectionDelayMs ?? 250,
      reconnectionDelayMax: 2_000,
      // engine.io-client hands localAddress to the ws package in Node; its types leave it out.
      ...(localAddress ? ({ localAddress } as object) : {}),
    });
    let connection: ParticipantConnection | null = null;
    const wrapped = withBehaviour(socket, behaviour, () => connection?.stop());
    connection = connectParticipant(wrapped, {
      eligibility: () => ({ consent: !behaviour?.noConsent, exampleCount: data.examples.count, idle: true, charging: true, backend: tf.getBackend() }),
      contribute: (plan, signal) => trainer.contribute(plan, data.examples, signal),
      identity,
      enrollmentIssuer: identity.issuer,
      planPolicy: options.planPolicy ?? DEFAULT_PLAN_POLICY,
      onEvent: (event) => {
        if (event.type === 'error')
          options.logger?.debug({ client: data.id, from: event.from, code: event.error.code, message: event.error.message }, 'virtual client error');
        options.onEvent?.(index, event);
      },
    });
    clients.push({ index, id: data.id, identity, socket, connection });
  }
  return {
    clients,
    async close() {
      for (const client of clients) {
        client.connection.stop();
        client.socket.disconnect();
      }
      trainer.dispose();
    },
  };
}

/** Enrolls `count` Node devices with the enrollment service at `url`, `batch` at a time. */
export async function enrollDevices(url: string, count: number, batch = 100): Promise<DeviceIdentity[]> {
  const identities: DeviceIdentity[] = [];
  for (let i = 0; i < count; i += batch) identities.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, () => enroll(url)))));
  return identities;
}

/** Sockets of enrolled devices that were welcomed and never check in. */
export interface IdleDevices {
  sockets: Socket[];
  close(): void;
}

/**
 * Connects each identity until its welcome, `batch` at a time; none ever checks in. What a process
 * holds for devices that are not taking part: an idle page, or fake devices keeping sockets open.
 * On a failure the sockets opened so far are closed.
 */
export async function connectIdleDevices(options: { url: string; identities: readonly DeviceIdentity[]; batch?: number }): Promise<IdleDevices> {
  const batch = options.batch ?? 250;
  const sockets: Socket[] = [];
  const close = () => sockets.forEach((socket) => socket.disconnect());
  try {
    for (let i = 0; i < options.identities.length; i += batch) {
      await Promise.all(
        options.identities.slice(i, i + batch).map(
          (identity) =>
            new Promise<void>((resolve, reject) => {
              const socket = io(options.url, {
                auth: handshakeAuth(identity),
                query: { bucket: String(routingBucketOf(identity.clientId)) },
                transports: ['websocket'],
                reconnection: false,
                timeout: 60_000,
              });
              sockets.push(socket);
              socket.once('welcome', () => resolve());
              socket.once('connect_error', reject);
            }),
        ),
      );
    }
  } catch (error) {
    close();
    throw error;
  }
  return { sockets, close };
}
