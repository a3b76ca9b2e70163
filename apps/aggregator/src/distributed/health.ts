import type { Logger } from 'pino';
import { MAX_STATUS_PROCESSES, type DistributedStatus } from '@murmur/fl-core/protocol';
import type { Coordination } from './coordination';
import type { RecordStore } from './record-store';

/** How often a process refreshes its view of the task (the dashboard polls /api/status about as often). */
export const HEALTH_INTERVAL_MS = 1_000;

/**
 * One process's view of the distributed task for /api/status and the dashboard (per-process
 * health): every process's pool as reported to Redis, who holds the lease, and whether this
 * process reaches PostgreSQL and Redis. Refreshed in the background, read synchronously, so a
 * status request never waits on a store that is down.
 */
export class ProcessHealthMonitor {
  readonly #records: RecordStore;
  readonly #coordination: Coordination;
  readonly #taskId: string;
  readonly #logger: Logger;
  #timer: ReturnType<typeof setInterval> | null = null;
  #refreshing: Promise<void> | null = null;
  #status: DistributedStatus;

  constructor(input: { records: RecordStore; coordination: Coordination; taskId: string; logger: Logger }) {
    this.#records = input.records;
    this.#coordination = input.coordination;
    this.#taskId = input.taskId;
    this.#logger = input.logger;
    this.#status = {
      taskId: input.taskId,
      processId: input.coordination.processId,
      coordinator: null,
      epoch: 0,
      processes: [],
      record: 'down',
      coordination: 'down',
      checkedAt: new Date().toISOString(),
    };
  }

  get status(): DistributedStatus {
    return this.#status;
  }

  start(): void {
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), HEALTH_INTERVAL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#refreshing;
  }

  /** One refresh (at most one at a time); each store is asked on its own, so one down does not hide the other. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const now = Date.now();
    const [lease, pools] = await Promise.allSettled([this.#records.leases.current(this.#taskId), this.#coordination.poolCounts(this.#taskId)]);
    const next: DistributedStatus = { ...this.#status, checkedAt: new Date(now).toISOString() };
    if (lease.status === 'fulfilled') {
      next.record = 'up';
      // Holders are `<processId>-<incarnation>` (node.ts): the dashboard names the process.
      next.coordinator = lease.value?.holder.replace(/-[0-9a-f]{8}$/, '') ?? null;
      next.epoch = lease.value?.epoch ?? (await this.#records.leases.epoch(this.#taskId).catch(() => this.#status.epoch));
    } else {
      next.record = 'down';
    }
    if (pools.status === 'fulfilled') {
      next.coordination = 'up';
      next.processes = pools.value.processes
        .slice(0, MAX_STATUS_PROCESSES)
        .map((p) => ({ processId: p.processId, connected: p.connected, eligible: p.eligible, reportedMsAgo: Math.max(0, now - p.at) }));
    } else {
      next.coordination = 'down';
    }
    if (next.record !== this.#status.record || next.coordination !== this.#status.coordination) {
      this.#logger.info({ record: next.record, coordination: next.coordination }, 'distributed health changed');
    }
    this.#status = next;
  }
}
