import { createAdapter } from '@socket.io/redis-adapter';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Namespace, Server } from 'socket.io';
import { z } from 'zod';
import type { DistributedConfig } from './config';
import { DistributedError, describe } from './errors';

/**
 * Fan-out between aggregator processes (docs/scale-out.md, "Fan-out: dashboard and revocations"):
 * Socket.IO's Redis adapter (@socket.io/redis-adapter) on a Socket.IO server, so that a broadcast
 * (`io.emit`, `io.to(room).emit`) on any process reaches the matching sockets on every process,
 * and a revocation cuts the device off on whichever process holds its socket.
 *
 * Each attached server gets two connections of its own: `pub` publishes (no offline queue, a
 * command timeout: an emit during a Redis outage is dropped for the other processes, never queued
 * and never waited on), `sub` is in subscriber mode (a connection of its own, as Redis requires),
 * and ioredis resubscribes it after a reconnect. Both keep reconnecting, at most once a second.
 * Every promise the adapter leaves unawaited is given a handler and every connection an 'error'
 * listener, so a Redis outage never crashes the process; the adapter delivers to local sockets
 * whether or not its publish worked, so local delivery carries on while Redis is down, and
 * cross-process delivery resumes by itself once both links are back.
 *
 * Redis pub/sub is at-most-once: what is published while a link is down is lost. Nothing
 * durable depends on it. Revocations are recorded in PostgreSQL first (`revocations`, with a
 * sequence number) and the fan-out only makes them immediate: `onRestored` fires when both links
 * come back after an outage, and is where a process catches up (revocations after its last
 * sequence number, the current phase to its dashboard viewers).
 *
 * How the aggregator wires both of its Socket.IO servers (transport.ts: `io` for devices, and the
 * dashboard's own Server at DASHBOARD_SOCKET_PATH, reachable as `transport.dashboard.server`),
 * between attachTransport and listen (replacing a server's adapter drops the rooms of sockets
 * already connected):
 *
 *   const clients = await attachFanout(transport.io, config, {
 *     key: FANOUT_KEYS.clients, processId, logger,
 *     // every process: its sockets of the device are already cut off; refuse its next handshake
 *     // (ClientVerifier#revoke) and drop it from a round in flight
 *     onRevoked: (clientId) => verifier.revoke(clientId),
 *     onRestored: () => void catchUpRevocations(), // RecordStore's revocations after the last sequence number
 *   });
 *   const dashboard = await attachFanout(transport.dashboard.server, config, {
 *     key: FANOUT_KEYS.dashboard, processId, logger,
 *     onRestored: () => transport.dashboard.emit('phase', coordinator.lastPhaseEvent),
 *   });
 *   // revoking (after the revocation is recorded in PostgreSQL): clients.revoke(clientId)
 *   // the lease holder's phase events: transport.dashboard.emit('phase', event) reaches every process's viewers
 *   // per-process health (dashboard, /healthz): clients.health(), dashboard.health()
 *   // shutdown: transport.close(), then clients.close() and dashboard.close()
 *
 * The two servers must use different keys: both serve the namespace '/', and with one key a
 * dashboard broadcast would reach the devices' sockets on the other processes, and vice versa.
 * A broadcast from a process that does not hold the task's lease is not refused here; the
 * coordinator decides who emits phases.
 */

/** The channel prefixes of the aggregator's two Socket.IO servers (one per server, never shared). */
export const FANOUT_KEYS = { clients: 'murmur:io:clients', dashboard: 'murmur:io:dashboard' } as const;

/** The server-side event a revocation travels as between processes (Namespace#serverSideEmit). */
export const REVOKE_EVENT = 'murmur:revoke';

export interface FanoutOptions {
  /** This process incarnation, as for Coordination: in logs and on the revocations it sends. */
  processId: string;
  /** The Redis channel prefix of this server's fan-out: FANOUT_KEYS.clients or FANOUT_KEYS.dashboard. */
  key: string;
  logger: Logger;
  /**
   * Called on every process (this one included) for every revocation, after that process's
   * sockets of the subject were disconnected. A throw is logged, never propagated.
   */
  onRevoked?: (subject: string) => void;
  /** Called when both links are up again after an outage: catch up on what the fan-out missed. */
  onRestored?: () => void;
}

export type FanoutLinkStatus = Redis['status'];

export interface FanoutHealth {
  /** Both links ready: broadcasts and revocations reach the other processes. */
  up: boolean;
  pub: FanoutLinkStatus;
  sub: FanoutLinkStatus;
  /** The last Redis error either link saw (kept after recovery, for the dashboard). */
  lastError: string | null;
}

export interface Fanout {
  readonly key: string;
  /**
   * Disconnects this process's sockets whose `socket.data.clientId` is `subject` and calls
   * onRevoked, then asks every other process to do the same. `disconnected` counts the local
   * sockets; `published` is whether the links were up when it was sent (at-most-once: when false
   * the other processes learn it from the record when their links return, see onRestored).
   */
  revoke(subject: string): { disconnected: number; published: boolean };
  health(): FanoutHealth;
  /** Closes both connections; the server keeps delivering to its local sockets. Idempotent. */
  close(): Promise<void>;
}

/** Any Socket.IO server, whatever its event maps and socket data (the fan-out only reads `data.clientId`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the function is generic over the server's event maps and socket data
type AnyServer = Server<any, any, any, any>;

const PROCESS_ID = /^[A-Za-z0-9._:-]{1,100}$/;
const KEY = /^[A-Za-z0-9._:-]{1,100}$/;
const MAX_SUBJECT = 1024;
const revocationSchema = z.object({ subject: z.string().min(1).max(MAX_SUBJECT), from: z.string().max(100) }).strict();

/** Commands the adapter (or ioredis' resubscribe) sends without handling their promise. */
const UNAWAITED = { pub: ['publish'], sub: ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe'] } as const;

/**
 * Sets the Redis adapter on `io` and returns the fan-out's handle. Connects first: throws
 * COORDINATION_UNAVAILABLE when Redis does not answer (nothing is left running then). Resolves
 * once this server's subscriptions are active, so a broadcast from another process after that
 * reaches it.
 */
export async function attachFanout(
  io: AnyServer,
  config: Pick<DistributedConfig, 'redisUrl' | 'redisCommandTimeoutMs'>,
  options: FanoutOptions,
): Promise<Fanout> {
  const { processId, key, logger } = options;
  const where = `attachFanout(${key})`;
  if (!PROCESS_ID.test(processId)) throw new RangeError(`${where}: processId must match ${PROCESS_ID.source}, got ${JSON.stringify(processId)}`);
  if (!KEY.test(key)) throw new RangeError(`${where}: key must match ${KEY.source}, got ${JSON.stringify(key)}`);
  const log = logger.child({ component: 'fanout', key, processId });

  const redisOptions: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A publish cut off by a dropped connection is not sent again after the reconnect (at most once).
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.redisCommandTimeoutMs,
    connectTimeout: Math.max(1000, config.redisCommandTimeoutMs),
    // Keep trying forever, at most once a second: cross-process delivery resumes by itself.
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
  };
  const links = { pub: new Redis(config.redisUrl, redisOptions), sub: new Redis(config.redisUrl, redisOptions) };
  let lastError: string | null = null;
  let closed = false;
  // Whether an outage is under way (a link went down after both had been up): the next time both are ready, it is over.
  let outage = false;
  const isUp = () => links.pub.status === 'ready' && links.sub.status === 'ready';

  const ignored = (error: unknown) => {
    lastError = describe(error);
    log.debug({ err: lastError }, 'fan-out: Redis command failed (dropped, not retried)');
  };
  for (const [name, connection] of Object.entries(links) as ['pub' | 'sub', Redis][]) {
    guardUnawaited(connection, UNAWAITED[name], ignored);
    connection.on('error', (error: Error) => {
      lastError = describe(error);
    });
    connection.on('close', () => {
      if (closed || outage) return;
      outage = true;
      log.warn({ link: name, err: lastError }, 'fan-out: Redis link down; delivering to local sockets only until it returns');
    });
    connection.on('ready', () => {
      if (closed || !outage || !isUp()) return;
      outage = false;
      log.info('fan-out: Redis links back; cross-process delivery resumed');
      try {
        options.onRestored?.();
      } catch (error) {
        log.error({ err: error }, 'fan-out: onRestored threw');
      }
    });
  }

  try {
    await Promise.all([links.pub.connect(), links.sub.connect()]);
  } catch (error) {
    closed = true;
    links.pub.disconnect();
    links.sub.disconnect();
    throw new DistributedError('COORDINATION_UNAVAILABLE', where, `Redis: ${describe(error)}`, { cause: error });
  }

  io.adapter(createAdapter(links.pub, links.sub, { key }));
  const namespace: Namespace = io.of('/');

  const revokeLocally = (subject: string, from: string): number => {
    let disconnected = 0;
    for (const socket of namespace.sockets.values()) {
      if ((socket.data as { clientId?: unknown } | undefined)?.clientId !== subject) continue;
      socket.disconnect(true);
      disconnected++;
    }
    log.info({ subject: subject.slice(0, 6), from, disconnected }, 'fan-out: revocation applied');
    try {
      options.onRevoked?.(subject);
    } catch (error) {
      log.error({ err: error, subject: subject.slice(0, 6) }, 'fan-out: onRevoked threw');
    }
    return disconnected;
  };
  const onRevocation = (payload: unknown) => {
    const parsed = revocationSchema.safeParse(payload);
    if (!parsed.success) return void log.warn({ payload: typeof payload }, `fan-out: ignored a malformed ${REVOKE_EVENT}`);
    revokeLocally(parsed.data.subject, parsed.data.from);
  };
  // Messages from the other processes (the adapter does not echo a process's own serverSideEmit).
  namespace.on(REVOKE_EVENT, onRevocation);

  // Redis runs a connection's commands in order: once this PING is answered, the adapter's
  // SUBSCRIBE and PSUBSCRIBE before it are active.
  await links.sub.ping().catch(ignored);

  return {
    key,
    revoke(subject: string) {
      if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT)
        throw new RangeError(`revoke: subject must be a string of 1..${MAX_SUBJECT} characters`);
      const published = isUp() && !closed;
      const disconnected = revokeLocally(subject, processId);
      namespace.serverSideEmit(REVOKE_EVENT, { subject, from: processId });
      return { disconnected, published };
    },
    health: () => ({ up: !closed && isUp(), pub: links.pub.status, sub: links.sub.status, lastError }),
    async close() {
      if (closed) return;
      closed = true;
      namespace.off(REVOKE_EVENT, onRevocation);
      links.pub.disconnect();
      links.sub.disconnect();
    },
  };
}

/**
 * Replaces `methods` on this connection with versions whose returned promise has a rejection
 * handler (and is returned unchanged), so that the commands the adapter fires and forgets cannot
 * become unhandled rejections while Redis is down.
 */
function guardUnawaited(connection: Redis, methods: readonly string[], onError: (error: unknown) => void): void {
  const target = connection as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of methods) {
    const original = target[name];
    if (typeof original !== 'function') throw new TypeError(`guardUnawaited: ioredis has no ${name}`);
    target[name] = (...args: unknown[]) => {
      const result = original.apply(connection, args);
      if (result instanceof Promise) result.catch(onError);
      return result;
    };
  }
}
