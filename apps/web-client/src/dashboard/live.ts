import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import {
  DASHBOARD_SOCKET_PATH,
  dashboardEventSchemas,
  payloadBytes,
  type DashboardClientToServerEvents,
  type DashboardServerToClientEvents,
  type PhaseEvent,
  type RoundReport,
  type TaskProgress,
} from '@murmur/fl-core/protocol';
import type { Connection } from './store';

/**
 * The live feed: the aggregator's send-only dashboard stream, a Socket.IO server of its own at
 * DASHBOARD_SOCKET_PATH (it closes a connection that sends anything but a connect). socket.io-client
 * reconnects on its own with backoff; every (re)connect is reported so the page can refetch what
 * it missed over REST. Each event is size-capped and parsed with fl-core's schema before use; a
 * refused event is reported, never silently dropped.
 */
export interface LiveHandlers {
  phase(event: PhaseEvent): void;
  round(report: RoundReport): void;
  /** The distributed mode's task rounds, from the lease holder whichever process this page is served by. */
  task(event: TaskProgress): void;
  connection(connection: Connection, detail: string | null): void;
  rejected(message: string): void;
}

/** A round record is ~1 KB and ~60 values; a phase event a few hundred bytes. */
export const MAX_EVENT_BYTES = 64 * 1024;
/** Values walked while sizing an event: a bound on the work a hostile, deeply nested one costs. */
const MAX_EVENT_NODES = 10_000;

export interface LiveOptions {
  /** Longest wait between reconnection attempts. @default 10_000 */
  reconnectionDelayMaxMs?: number;
  /** Wait before reconnecting after the server closed the connection. @default 1_000 */
  serverDisconnectRetryMs?: number;
}

/** Connects to the dashboard stream of `origin`; returns the function that closes it. */
export function connectLive(origin: string, handlers: LiveHandlers, options: LiveOptions = {}): () => void {
  const socket: Socket<DashboardServerToClientEvents, DashboardClientToServerEvents> = io(origin.replace(/\/$/, ''), {
    path: DASHBOARD_SOCKET_PATH,
    reconnectionDelayMax: options.reconnectionDelayMaxMs ?? 10_000,
    // WebSocket first, long-polling only if it fails: a dashboard left open all day then holds one
    // socket instead of a stream of polling requests.
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
  });
  handlers.connection('connecting', null);
  socket.on('connect', () => handlers.connection('connected', null));
  let retry: ReturnType<typeof setTimeout> | null = null;
  socket.on('disconnect', (reason) => {
    handlers.connection('disconnected', reason);
    // socket.io-client leaves reconnecting to us when the server closed the connection itself,
    // which is what a graceful aggregator restart does; a dashboard should come back on its own.
    if (reason === 'io server disconnect') retry = setTimeout(() => socket.connect(), options.serverDisconnectRetryMs ?? 1_000);
  });
  socket.on('connect_error', (error) => handlers.connection('disconnected', error.message));

  const parse = <K extends keyof typeof dashboardEventSchemas>(event: K, raw: unknown): z.output<(typeof dashboardEventSchemas)[K]> | null => {
    const bytes = payloadBytes(raw, MAX_EVENT_NODES);
    if (bytes > MAX_EVENT_BYTES) {
      // Infinity: the walk stopped at its node budget, which can come before the byte cap.
      const got = Number.isFinite(bytes) ? `${bytes} bytes` : `over ${MAX_EVENT_NODES} values`;
      handlers.rejected(`${event} event refused: ${got}, expected at most ${MAX_EVENT_BYTES} bytes`);
      return null;
    }
    const parsed = dashboardEventSchemas[event].safeParse(raw);
    if (!parsed.success) {
      const detail = z.prettifyError(parsed.error).replace(/\n/g, '; ');
      handlers.rejected(`${event} event refused: ${detail.length > 300 ? `${detail.slice(0, 300)}…` : detail}`);
      return null;
    }
    return parsed.data as z.output<(typeof dashboardEventSchemas)[K]>;
  };
  socket.on('phase', (raw: unknown) => {
    const event = parse('phase', raw);
    if (event) handlers.phase(event);
  });
  socket.on('round', (raw: unknown) => {
    const report = parse('round', raw);
    if (report) handlers.round(report);
  });
  socket.on('task', (raw: unknown) => {
    const event = parse('task', raw);
    if (event) handlers.task(event);
  });
  return () => {
    if (retry) clearTimeout(retry);
    socket.removeAllListeners();
    socket.disconnect();
  };
}
