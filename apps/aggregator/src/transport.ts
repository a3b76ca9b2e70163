import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { Logger } from 'pino';
import {
  handshakeSchema,
  parseClientEvent,
  payloadBytes,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  protocolError,
  secAggEventLimits,
  type ClientToServerEvents,
  type DashboardClientToServerEvents,
  type DashboardServerToClientEvents,
  type ProtocolError,
  type ServerEventName,
  type ServerEventPayload,
  type ServerToClientEvents,
} from '@murmur/fl-core';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import type { EnrollmentAuthority } from './tokens';
import type { RoundCoordinator } from './coordinator';
import { TokenBucket } from './rate-limit';

interface SocketData {
  tokenId: string;
}
type ClientSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<never, never>, SocketData>;

export interface TransportDeps {
  config: AggregatorConfig;
  authority: EnrollmentAuthority;
  metrics: AggregatorMetrics;
  logger: Logger;
  /** engine.io's frame limit: a larger frame closes the connection before any handler runs. */
  maxHttpBufferSize: number;
  coordinator: () => RoundCoordinator;
}

const KNOWN_EVENTS = new Set(['checkIn', 'secagg']);
/** How many rate-limited events a connection may send before it is cut off. */
const MAX_STRIKES = 100;

function connectError(error: ProtocolError): Error & { data: ProtocolError } {
  return Object.assign(new Error(`${error.code}: ${error.message}`), { data: { code: error.code, message: error.message } });
}

/**
 * Socket.IO, the only way clients talk to rounds: the handshake checks protocol version and
 * enrollment token, every inbound payload is validated by the fl-core schemas (size, NaN/Inf,
 * shape) before it reaches the coordinator, each connection has a token bucket, and every
 * rejection is answered with a protocolError event naming the code. One connection per token: a
 * reconnecting device replaces its old socket (and keeps its place in a running round).
 */
export function attachTransport(httpServer: HttpServer, deps: TransportDeps) {
  const { config, authority, metrics, logger } = deps;
  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<never, never>, SocketData>(httpServer, {
    maxHttpBufferSize: deps.maxHttpBufferSize,
    serveClient: false,
    pingInterval: 10_000,
    pingTimeout: config.limits.pingTimeoutMs,
    connectTimeout: 10_000,
  });
  const sockets = new Map<string, ClientSocket>();

  io.use((socket, next) => {
    const handshake = handshakeSchema.safeParse(socket.handshake.auth);
    if (!handshake.success) {
      const version = (socket.handshake.auth as { protocolVersion?: unknown } | undefined)?.protocolVersion;
      if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
        return next(connectError(protocolError('UNSUPPORTED_PROTOCOL', `handshake: this aggregator speaks protocol ${PROTOCOL_VERSION}, got ${version}`)));
      }
      return next(connectError(protocolError('MALFORMED', 'handshake: expected auth { protocolVersion: number, token: string }')));
    }
    if (handshake.data.protocolVersion !== PROTOCOL_VERSION) {
      return next(connectError(protocolError('UNSUPPORTED_PROTOCOL', `handshake: this aggregator speaks protocol ${PROTOCOL_VERSION}, got ${handshake.data.protocolVersion}`)));
    }
    const verified = authority.verify(handshake.data.token);
    if (!verified.ok) return next(connectError(verified.error));
    socket.data.tokenId = verified.value;
    next();
  });

  io.on('connection', (socket) => {
    const { tokenId } = socket.data;
    const coordinator = deps.coordinator();
    const previous = sockets.get(tokenId);
    sockets.set(tokenId, socket);
    if (previous) previous.disconnect(true);
    else metrics.connected.inc();
    const bucket = new TokenBucket(config.limits.eventsPerSecond, config.limits.eventBurst);
    let strikes = 0;
    const reject = (event: string, error: ProtocolError) => {
      metrics.protocolErrors.inc({ code: error.code });
      logger.debug({ tokenId: tokenId.slice(0, 6), event, code: error.code, message: error.message }, 'rejected client event');
      socket.emit('protocolError', { code: error.code, message: error.message, event });
    };
    const admit = (event: string): boolean => {
      if (bucket.take()) return true;
      reject(event, protocolError('RATE_LIMITED', `${event}: more than ${config.limits.eventsPerSecond} events/s (burst ${config.limits.eventBurst}); event dropped`));
      if (++strikes > MAX_STRIKES) socket.disconnect(true);
      return false;
    };
    socket.onAny((event: string) => {
      if (!KNOWN_EVENTS.has(event) && admit(event)) reject(String(event).slice(0, 64), protocolError('UNKNOWN_EVENT', `no event named ${JSON.stringify(String(event).slice(0, 64))}; expected checkIn or secagg`));
    });
    socket.on('checkIn', (raw: unknown) => {
      if (!admit('checkIn')) return;
      const parsed = parseClientEvent('checkIn', raw, { maxBytes: PROTOCOL_LIMITS.checkInBytes });
      if (!parsed.ok) return reject('checkIn', parsed.error);
      socket.emit('checkInResult', coordinator.checkIn(tokenId, parsed.value.eligibility));
    });
    socket.on('secagg', (raw: unknown) => {
      if (!admit('secagg')) return;
      const active = coordinator.activeSecAggConfig;
      const parsed = parseClientEvent('secagg', raw, active ? secAggEventLimits(active) : { maxBytes: 4096 });
      if (!parsed.ok) return reject('secagg', parsed.error);
      const bytes = payloadBytes(raw);
      void coordinator
        .handleSecAgg(tokenId, parsed.value, bytes)
        .then((error) => error && reject('secagg', error))
        .catch((error: unknown) => logger.error({ err: error }, 'secagg handler failed'));
    });
    socket.on('disconnect', (reason) => {
      if (sockets.get(tokenId) !== socket) return;
      sockets.delete(tokenId);
      metrics.connected.dec();
      coordinator.disconnected(tokenId);
      logger.debug({ tokenId: tokenId.slice(0, 6), reason }, 'client disconnected');
    });
    socket.emit('welcome', {
      protocolVersion: PROTOCOL_VERSION,
      modelVersion: coordinator.modelVersion,
      paused: coordinator.paused,
      cohortRoundId: coordinator.cohortRoundIdOf(tokenId),
      serverTime: new Date().toISOString(),
    });
    coordinator.connected(tokenId);
  });

  const dashboard = io.of('/dashboard') as unknown as import('socket.io').Namespace<DashboardClientToServerEvents, DashboardServerToClientEvents>;
  // Read-only: no handlers, so nothing a dashboard sends has any effect. A new viewer gets the
  // current phase at once; committed records follow as they happen (history: GET /api/rounds).
  dashboard.on('connection', (socket) => socket.emit('phase', deps.coordinator().lastPhaseEvent));

  return {
    io,
    dashboard,
    get connectedClients(): number {
      return sockets.size;
    },
    send<K extends ServerEventName>(tokenId: string, event: K, payload: ServerEventPayload<K>): boolean {
      const socket = sockets.get(tokenId);
      if (!socket) return false;
      (socket.emit as (event: K, payload: ServerEventPayload<K>) => boolean)(event, payload);
      return true;
    },
    isConnected: (tokenId: string) => sockets.has(tokenId),
    /** Cuts off a revoked device at once. */
    disconnectToken(tokenId: string): void {
      sockets.get(tokenId)?.disconnect(true);
    },
  };
}

export type Transport = ReturnType<typeof attachTransport>;
