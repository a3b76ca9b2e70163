import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { LivePlan, RoundReport, TaskProgress } from '@murmur/fl-core/protocol';
import type { PrivacyLedger } from '@murmur/fl-core/privacy';
import type { BudgetProjection } from '@murmur/fl-core/round';
import type { AggregatorConfig } from '../config';
import type { AggregatorMetrics } from '../metrics';
import type { ReleaseGate } from '../release-gate';
import type { InitialState } from '../store';
import { Coordination, type PoolCounts } from './coordination';
import type { DistributedConfig } from './config';
import { RedisGroupLink } from './group-link';
import { migrate } from './migrations';
import { RecordStore } from './record-store';
import { openReplica, type Replica } from './replica';
import { TaskCoordinator } from './task-coordinator';

/** What the process tells the task's coordinator about its pool, this often (well inside poolCountTtlMs). */
const POOL_REPORT_MIN_MS = 250;

export interface DistributedNodeInput {
  config: AggregatorConfig;
  stores: DistributedConfig;
  logger: Logger;
  /** The task's version 0 when this process is the first to start it. */
  initial: () => InitialState;
  /** Each round this process's replica applies, oldest first. */
  onApplied: (report: RoundReport) => void;
}

export interface NodeRoles {
  metrics: AggregatorMetrics;
  gate: ReleaseGate;
  plan: () => { plan: LivePlan; revision: number };
  project: (live: LivePlan, samplingRate: number, population: number, round: number, ledger: PrivacyLedger, sumClients: number) => BudgetProjection;
  /** Sockets held and clients checked in, reported to the task's coordinator. */
  poolCounts: () => PoolCounts;
  /** While this process holds the lease: each round it opens and how it ended (the dashboard stream). */
  onProgress?: (event: TaskProgress) => void;
}

/**
 * One aggregator process of the distributed mode: its connections to the record (PostgreSQL,
 * migrated on start) and to coordination (Redis), its replica of the record, the group link its
 * RoundCoordinator runs rounds through, and — started by `startRoles` once the process serves —
 * its pool reports and its candidacy for the task's lease (TaskCoordinator).
 */
export class DistributedNode {
  readonly processId: string;
  readonly records: RecordStore;
  readonly coordination: Coordination;
  readonly replica: Replica;
  readonly link: RedisGroupLink;
  readonly #input: DistributedNodeInput;
  #task: TaskCoordinator | null = null;
  #poolTimer: ReturnType<typeof setInterval> | null = null;

  private constructor(input: DistributedNodeInput, processId: string, records: RecordStore, coordination: Coordination, replica: Replica) {
    this.#input = input;
    this.processId = processId;
    this.records = records;
    this.coordination = coordination;
    this.replica = replica;
    this.link = new RedisGroupLink({
      coordination,
      replica,
      taskId: input.config.distributed.taskId,
      groupId: processId,
      groupSize: input.config.distributed.groupSize,
      logger: input.logger,
    });
  }

  static async open(input: DistributedNodeInput): Promise<DistributedNode> {
    const { config, stores, logger } = input;
    const { taskId, population } = config.distributed;
    const processId =
      config.distributed.processId ??
      `${hostname()
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .slice(0, 40)}-${config.port}`;
    const records = await RecordStore.open(stores, (error) => logger.warn({ err: error }, 'PostgreSQL pool: a connection failed'));
    const coordination = new Coordination(stores, processId);
    try {
      await migrate(records.pool, stores.pgSchema);
      await coordination.connect();
      const replica = await openReplica({
        records,
        taskId,
        population,
        dataDir: config.dataDir,
        initial: input.initial,
        keepModels: config.limits.keepModels,
        logger,
        onApplied: (report) => input.onApplied(report),
      });
      const node = new DistributedNode(input, processId, records, coordination, replica);
      node.link.start();
      logger.info(
        { taskId, population, processId, modelVersion: replica.store.modelVersion, nextRound: replica.store.nextRound },
        'distributed mode: replica in step with the record',
      );
      return node;
    } catch (error) {
      await coordination.close();
      await records.close();
      throw error;
    }
  }

  /** The task coordinator of this process (it acts only while it holds the lease). */
  get task(): TaskCoordinator | null {
    return this.#task;
  }

  /** Starts reporting the pool and competing for the task's lease. */
  startRoles(roles: NodeRoles): void {
    const { config, stores, logger } = this.#input;
    const { taskId } = config.distributed;
    const report = () =>
      void this.coordination.reportPool(taskId, roles.poolCounts()).catch((error: unknown) => logger.debug({ err: error }, 'pool count not reported (Redis)'));
    report();
    this.#poolTimer = setInterval(report, Math.max(POOL_REPORT_MIN_MS, Math.floor(stores.poolCountTtlMs / 4)));
    this.#poolTimer.unref();
    this.#task = new TaskCoordinator({
      records: this.records,
      coordination: this.coordination,
      replica: this.replica,
      taskId,
      // A new holder per incarnation: a restarted process must not inherit its predecessor's epoch.
      holder: `${this.processId}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString('hex')}`,
      distributed: stores,
      config,
      gate: roles.gate,
      plan: roles.plan,
      project: roles.project,
      metrics: roles.metrics,
      logger: logger.child({ role: 'task-coordinator' }),
      ...(roles.onProgress ? { onProgress: roles.onProgress } : {}),
    });
    this.#task.start();
  }

  /** Stops the roles (the lease is released), the link, and the connections. Call after the RoundCoordinator stopped. */
  async close(): Promise<void> {
    if (this.#poolTimer) clearInterval(this.#poolTimer);
    await this.#task?.stop();
    await this.link.stop();
    await this.coordination.close();
    await this.records.close();
  }
}
