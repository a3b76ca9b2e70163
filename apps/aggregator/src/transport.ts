import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { Server, type Namespace, type Socket } from 'socket.io';
import { Decoder, Encoder, PacketType } from 'socket.io-parser';
import type { Logger } from 'pino';
import {
  DASHBOARD_SOCKET_PATH,
  handshakeSchema,
  parseClientEvent,
  payloadBytes,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  protocolError,
  routingBucketOf,
  secAggEventLimits,
  SOCKET_ATTACHMENTS_PER_EVENT,
  type ClientToServerEvents,
  type DashboardClientToServerEvents,
  type DashboardServerToClientEvents,
  type ProtocolError,
  type SecAggUp,
  type ServerEventName,
  type ServerEventPayload,
  type ServerToClientEvents,
} from '@murmur/fl-core/protocol';
import { type ReceivedAdvertiseKeysMessage } from '@murmur/fl-core/secagg';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import type { ClientVerifier } from './client-identity';
import type { RoundCoordinator } from './coordinator';
import { ConnectionCounter, CoolDown, KeyedRateLimiter } from './rate-limit';
import { isLoopbackAddress, networkOf } from './network';

interface SocketData {
  /** The certificate's client id (client-identity.ts): the client's name in rounds, limits and revocation. */
  clientId: string;
  /** The device certificate the handshake verified: the sender's certificate in its SecAgg advertisements. */
  certificate: string;
}
type ClientSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<never, never>, SocketData>;

export interface TransportDeps {
  config: AggregatorConfig;
  verifier: ClientVerifier;
  metrics: AggregatorMetrics;
  logger: Logger;
  /** engine.io's frame limit: a larger frame closes the connection before any handler runs. */
  maxHttpBufferSize: number;
  coordinator: () => RoundCoordinator;
}

const KNOWN_EVENTS = new Set(['checkIn', 'secagg']);
/** How many rate-limited events a connection may send before it is cut off (and its client id cooled down). */
const MAX_STRIKES = 100;
/**
 * Frame limit of the dashboard stream. A viewer sends a CONNECT packet and engine.io pongs, a few
 * bytes each; anything near this is not a viewer.
 */
const DASHBOARD_MAX_FRAME_BYTES = 4096;

/**
 * socket.io's parser with its attachment bound lowered from 10 to what this protocol sends
 * (SOCKET_ATTACHMENTS_PER_EVENT): the decoder buffers a packet's attachments before socket.io
 * knows whether the connection is authenticated, so ten announced attachments would let anyone
 * pin ten frames of up to maxHttpBufferSize each.
 */
class ClientDecoder extends Decoder {
  constructor() {
    super({ maxAttachments: SOCKET_ATTACHMENTS_PER_EVENT });
  }
}

/**
 * The dashboard stream's parser: a viewer may join (CONNECT) and leave (DISCONNECT), nothing else.
 * Every other packet is refused from its first character, before any JSON.parse and before an
 * attachment is buffered; socket.io closes the connection whose data the decoder throws on.
 */
class SendOnlyDecoder extends Decoder {
  override add(chunk: unknown): void {
    if (typeof chunk !== 'string') throw new Error('dashboard stream: got binary data, expected none (the stream is send-only)');
    const type = chunk.charCodeAt(0) - 48;
    if (type !== PacketType.CONNECT && type !== PacketType.DISCONNECT) {
      throw new Error(`dashboard stream: got packet type ${JSON.stringify(chunk.charAt(0))}, expected CONNECT (0) or DISCONNECT (1) (the stream is send-only)`);
    }
    super.add(chunk);
  }
}

function connectError(error: ProtocolError): Error & { data: ProtocolError } {
  return Object.assign(new Error(`${error.code}: ${error.message}`), { data: { code: error.code, message: error.message } });
}

/**
 * Socket.IO, the only way clients talk to rounds: the handshake checks protocol version, the
 * device certificate and its proof of possession (client-identity.ts), every inbound payload is
 * validated by the fl-core schemas (size, NaN/Inf, shape) before it reaches the coordinator, each
 * client id has a token bucket that outlives its connections, and every rejection is answered
 * with a protocolError event naming the code. One connection per client id: a reconnecting device
 * replaces its old socket (and keeps its place in a running round). A client cut off for flooding
 * is refused at the handshake for a cool-down.
 *
 * The dashboard stream is a second Socket.IO server on the same HTTP server, at
 * DASHBOARD_SOCKET_PATH: unauthenticated, send-only (its parser refuses every inbound packet but
 * CONNECT/DISCONNECT), a frame limit of a few KiB, and a cap on open connections per address.
 */
/**
 * A device names its routing bucket (`?bucket=N`) for the proxy in front of the processes to hash
 * on (docs/scale-out.md, "Routing"). It must be its own: otherwise a device, or a swarm of fake
 * ones, could pick the process and so the SecAgg group it lands in. No bucket: a direct connection.
 */
export function bucketRefusal(bucket: unknown, clientId: string): ProtocolError | null {
  if (bucket === undefined) return null;
  const own = routingBucketOf(clientId);
  if (typeof bucket === 'string' && /^\d{1,10}$/.test(bucket) && Number(bucket) === own) return null;
  return protocolError('MALFORMED', `handshake: bucket ${JSON.stringify(bucket)} is not this client's routing bucket (${own})`);
}

export function attachTransport(httpServer: HttpServer, deps: TransportDeps) {
  const { config, verifier, metrics, logger } = deps;
  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<never, never>, SocketData>(httpServer, {
    maxHttpBufferSize: deps.maxHttpBufferSize,
    parser: { Encoder, Decoder: ClientDecoder },
    serveClient: false,
    pingInterval: 10_000,
    pingTimeout: config.limits.pingTimeoutMs,
    connectTimeout: 10_000,
  });
  const sockets = new Map<string, ClientSocket>();
  // Keyed by client id, not connection: a client cut off cannot start afresh by reconnecting.
  const buckets = new KeyedRateLimiter(config.limits.eventsPerSecond, config.limits.eventBurst);
  const coolDown = new CoolDown(config.limits.floodCoolDownMs);

  const admitHandshake = async (auth: unknown): Promise<{ ok: true; clientId: string; certificate: string } | { ok: false; error: ProtocolError }> => {
    const version = (auth as { protocolVersion?: unknown } | undefined)?.protocolVersion;
    if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
      return { ok: false, error: protocolError('UNSUPPORTED_PROTOCOL', `handshake: this aggregator speaks protocol ${PROTOCOL_VERSION}, got ${version}`) };
    }
    const handshake = handshakeSchema.safeParse(auth);
    if (!handshake.success) {
      return {
        ok: false,
        error: protocolError(
          'MALFORMED',
          'handshake: expected auth { protocolVersion, certificate, proof: { atMs, nonce, signature } } (enroll at /api/enrollment/)',
        ),
      };
    }
    const verified = await verifier.verify(handshake.data);
    if (!verified.ok) return verified;
    const waitMs = coolDown.remainingMs(verified.value);
    if (waitMs > 0)
      return { ok: false, error: protocolError('RATE_LIMITED', `handshake: this client was cut off for flooding; retry in ${Math.ceil(waitMs / 1000)} s`) };
    return { ok: true, clientId: verified.value, certificate: handshake.data.certificate };
  };
  io.use((socket, next) => {
    admitHandshake(socket.handshake.auth).then(
      (admitted) => {
        if (!admitted.ok) {
          metrics.protocolErrors.inc({ code: admitted.error.code });
          return next(connectError(admitted.error));
        }
        const misrouted = bucketRefusal(socket.handshake.query.bucket, admitted.clientId);
        if (misrouted) {
          metrics.protocolErrors.inc({ code: misrouted.code });
          return next(connectError(misrouted));
        }
        socket.data.clientId = admitted.clientId;
        socket.data.certificate = admitted.certificate;
        next();
      },
      (error: unknown) => {
        logger.error({ err: error }, 'handshake check failed');
        next(connectError(protocolError('INTERNAL', 'handshake: internal error (logged)')));
      },
    );
  });

  io.on('connection', (socket) => {
    const { clientId, certificate: handshakeCertificate } = socket.data;
    const coordinator = deps.coordinator();
    const previous = sockets.get(clientId);
    sockets.set(clientId, socket);
    if (previous) previous.disconnect(true);
    else metrics.connected.inc();
    let strikes = 0;
    const reject = (event: string, error: ProtocolError) => {
      metrics.protocolErrors.inc({ code: error.code });
      logger.debug({ clientId: clientId.slice(0, 6), event, code: error.code, message: error.message }, 'rejected client event');
      socket.emit('protocolError', { code: error.code, message: error.message, event });
    };
    const admit = (event: string): boolean => {
      if (buckets.take(clientId)) return true;
      reject(
        event,
        protocolError('RATE_LIMITED', `${event}: more than ${config.limits.eventsPerSecond} events/s (burst ${config.limits.eventBurst}); event dropped`),
      );
      if (++strikes > MAX_STRIKES && socket.connected) {
        coolDown.start(clientId);
        logger.warn({ clientId: clientId.slice(0, 6), coolDownMs: config.limits.floodCoolDownMs }, 'client cut off for flooding');
        socket.disconnect(true);
      }
      return false;
    };
    socket.onAny((event: string) => {
      if (!KNOWN_EVENTS.has(event) && admit(event))
        reject(
          String(event).slice(0, 64),
          protocolError('UNKNOWN_EVENT', `no event named ${JSON.stringify(String(event).slice(0, 64))}; expected checkIn or secagg`),
        );
    });
    socket.on('checkIn', (raw: unknown) => {
      if (!admit('checkIn')) return;
      const parsed = parseClientEvent('checkIn', raw, { maxBytes: PROTOCOL_LIMITS.checkInBytes });
      if (!parsed.ok) return reject('checkIn', parsed.error);
      // The network the cohort cap counts this client in (round.maxPerNetwork; network.ts).
      const address = socket.handshake.address;
      const network = config.round.exemptLoopback && isLoopbackAddress(address) ? null : networkOf(address, config.limits);
      socket.emit('checkInResult', coordinator.checkIn(clientId, parsed.value.eligibility, network));
    });
    socket.on('secagg', (raw: unknown) => {
      if (!admit('secagg')) return;
      const active = coordinator.secAggConfigOf(clientId);
      const parsed = parseClientEvent('secagg', raw, active ? secAggEventLimits(active) : { maxBytes: 4096 });
      if (!parsed.ok) return reject('secagg', parsed.error);
      const bytes = payloadBytes(raw);
      // The round's key advertisement is tied to the certificate this connection's handshake
      // verified (with its proof of possession): the client does not send it again every round.
      let message: SecAggUp = parsed.value;
      if (message.type === 'advertiseKeys') {
        const advertisement: ReceivedAdvertiseKeysMessage = { ...message, certificate: handshakeCertificate };
        message = advertisement;
      }
      void coordinator
        .handleSecAgg(clientId, message, bytes)
        .then((error) => error && reject('secagg', error))
        .catch((error: unknown) => logger.error({ err: error }, 'secagg handler failed'));
    });
    socket.on('disconnect', (reason) => {
      if (sockets.get(clientId) !== socket) return;
      sockets.delete(clientId);
      metrics.connected.dec();
      coordinator.disconnected(clientId);
      logger.debug({ clientId: clientId.slice(0, 6), reason }, 'client disconnected');
    });
    socket.emit('welcome', {
      protocolVersion: PROTOCOL_VERSION,
      // The version suggestions come from: the web client fetches /api/model/released when it differs from what it holds.
      modelVersion: coordinator.releasedVersion,
      paused: coordinator.paused,
      cohortRoundId: coordinator.cohortRoundIdOf(clientId),
      serverTime: new Date().toISOString(),
      // Devices below it do not check in: their example count never crosses the wire.
      minExamples: config.round.minExamples,
    });
    coordinator.connected(clientId);
  });

  const dashboardIo = attachDashboard(httpServer, deps);
  const dashboard: Namespace<DashboardClientToServerEvents, DashboardServerToClientEvents> = dashboardIo.sockets;
  // A new viewer gets the current phase at once; committed records follow as they happen
  // (history: GET /api/rounds).
  dashboard.on('connection', (socket) => socket.emit('phase', deps.coordinator().lastPhaseEvent));

  return {
    io,
    dashboard,
    /** Closes the dashboard stream, then the clients' server and with it the HTTP server. */
    close(): Promise<void> {
      // Server#close() also closes the HTTP server it is attached to, which can be closed once:
      // the dashboard's sockets and engine go first by hand, the clients' server closes the rest.
      dashboardIo.disconnectSockets(true);
      dashboardIo.engine.close();
      // The callback fires once the HTTP server has closed; close()'s own promise only covers the adapters.
      return new Promise<void>((resolve, reject) => {
        io.close(() => resolve()).catch(reject);
      });
    },
    get connectedClients(): number {
      return sockets.size;
    },
    send<K extends ServerEventName>(clientId: string, event: K, payload: ServerEventPayload<K>): boolean {
      const socket = sockets.get(clientId);
      if (!socket) return false;
      (socket.emit as (event: K, payload: ServerEventPayload<K>) => boolean)(event, payload);
      return true;
    },
    isConnected: (clientId: string) => sockets.has(clientId),
    /** Cuts off a revoked device at once. */
    disconnectClient(clientId: string): void {
      sockets.get(clientId)?.disconnect(true);
    },
  };
}

export type Transport = ReturnType<typeof attachTransport>;

/**
 * The dashboard stream's own Socket.IO server. engine.io's allowRequest admits a new connection
 * only while its address holds fewer than `limits.dashboardConnectionsPerAddress`; the slot is
 * taken at admission (so concurrent handshakes cannot overshoot) and given back when the
 * connection closes, or when the handshake dies before it became one.
 */
function attachDashboard(httpServer: HttpServer, deps: TransportDeps): Server<DashboardClientToServerEvents, DashboardServerToClientEvents> {
  const { config, logger } = deps;
  const perAddress = new ConnectionCounter(config.limits.dashboardConnectionsPerAddress);
  const admitted = new WeakMap<IncomingMessage, { release: () => void; abandoned: () => void }>();
  const dashboardIo = new Server<DashboardClientToServerEvents, DashboardServerToClientEvents>(httpServer, {
    path: DASHBOARD_SOCKET_PATH,
    parser: { Encoder, Decoder: SendOnlyDecoder },
    maxHttpBufferSize: DASHBOARD_MAX_FRAME_BYTES,
    serveClient: false,
    pingInterval: 10_000,
    pingTimeout: config.limits.pingTimeoutMs,
    connectTimeout: 10_000,
    allowRequest: (req, answer) => {
      const address = req.socket.remoteAddress ?? 'unknown';
      const release = perAddress.acquire(address);
      if (!release) {
        logger.debug({ address }, 'dashboard connection refused: per-address cap');
        return answer(`more than ${config.limits.dashboardConnectionsPerAddress} dashboard connections from this address`, false);
      }
      // A WebSocket upgrade that fails after admission never becomes a connection; its TCP socket closing gives the slot back.
      const abandoned = () => release();
      req.socket.once('close', abandoned);
      admitted.set(req, { release, abandoned });
      answer(null, true);
    },
  });
  const settle = (req: IncomingMessage): (() => void) | undefined => {
    const slot = admitted.get(req);
    if (!slot) return undefined;
    admitted.delete(req);
    req.socket.off('close', slot.abandoned);
    return slot.release;
  };
  dashboardIo.engine.on('connection', (conn: { request: IncomingMessage; once(event: 'close', listener: () => void): void }) => {
    const release = settle(conn.request);
    if (release) conn.once('close', release);
  });
  dashboardIo.engine.on('connection_error', ({ req }: { req: IncomingMessage }) => settle(req)?.());
  return dashboardIo;
}
