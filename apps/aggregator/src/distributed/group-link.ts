import type { Logger } from 'pino';
import { protocolError, type ProtocolError } from '@murmur/fl-core/protocol';
import type { GroupContribution, GroupLink, GroupOrder, GroupOutcome, PaceSteering } from '../coordinator';
import type { StoredModel } from '../store';
import { TASK_ABORT_CODES, type Coordination, type ControlMessage } from './coordination';
import type { Replica } from './replica';

/** How long past an order's deadline a group waits for the task coordinator's verdict before calling the round lost. */
export const OUTCOME_GRACE_MS = 30_000;
/** A blocking read of the control stream returns at least this often, so the reader notices a stop. */
const READ_BLOCK_MS = 1_000;
/** While a group waits for its round's verdict, how often it looks for the round in the record. */
const RECORD_POLL_MS = 1_000;
/** Pause between reads after Redis failed, so an outage is not a busy loop. */
const RETRY_MS = 500;
/** A pace-steering window older than this is ignored (its coordinator is gone or silent): every check-in is pooled. */
export const PACE_STEERING_TTL_MS = 5 * 60_000;

type Verdict = { kind: 'round-end'; modelVersion: number } | { kind: 'abort-round'; reason: ProtocolError };

/**
 * A process's side of the distributed round (docs/scale-out.md): reads the task's control stream
 * (Redis), turns `open-round` into orders for this process's RoundCoordinator, puts its group sum,
 * and resolves the round's outcome from `round-end` / `abort-round` after bringing the replica up
 * to the record. Messages from a deposed coordinator (an epoch below the highest seen) are
 * dropped: a paused old holder cannot open or end rounds.
 */
export class RedisGroupLink implements GroupLink {
  readonly groupId: string;
  readonly groupSize: number;
  readonly #coordination: Coordination;
  readonly #replica: Replica;
  readonly #taskId: string;
  readonly #logger: Logger;
  #lastId = '$';
  #epoch = 0;
  #stopped = false;
  #reader: Promise<void> | null = null;
  /** The newest order not yet taken, and the waiters for one. */
  #pending: { order: GroupOrder; openedAt: number; deadlineMs: number } | null = null;
  #orderWaiter: ((order: GroupOrder | null) => void) | null = null;
  readonly #deadlines = new Map<number, number>();
  readonly #verdicts = new Map<number, Verdict>();
  readonly #verdictWaiters = new Map<number, Set<() => void>>();
  #steering: { window: PaceSteering; at: number } | null = null;

  constructor(input: { coordination: Coordination; replica: Replica; taskId: string; groupId: string; groupSize: number; logger: Logger }) {
    this.#coordination = input.coordination;
    this.#replica = input.replica;
    this.#taskId = input.taskId;
    this.groupId = input.groupId;
    this.groupSize = input.groupSize;
    this.#logger = input.logger;
  }

  /** Starts reading the control stream from now on (earlier messages are past rounds). */
  start(): void {
    this.#reader ??= this.#read();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.interrupt();
    for (const waiters of this.#verdictWaiters.values()) for (const wake of waiters) wake();
    await this.#reader;
  }

  nextOrder(): Promise<GroupOrder | null> {
    const pending = this.#takePending();
    if (pending) return Promise.resolve(pending);
    if (this.#stopped) return Promise.resolve(null);
    this.#orderWaiter?.(null);
    return new Promise((resolve) => {
      this.#orderWaiter = resolve;
    });
  }

  interrupt(): void {
    const waiter = this.#orderWaiter;
    this.#orderWaiter = null;
    waiter?.(null);
  }

  async baseModel(order: GroupOrder): Promise<StoredModel> {
    await this.#replica.sync();
    const model = this.#replica.store.model(order.base.version);
    if (!model || model.hash !== order.base.hash) {
      throw new Error(`round ${order.round}: base v${order.base.version} ${order.base.hash.slice(0, 12)}… is not in this process's replica`);
    }
    return model;
  }

  async putSum(order: GroupOrder, contribution: GroupContribution | null): Promise<void> {
    const bytes = contribution ? new Uint8Array(contribution.sum.buffer, contribution.sum.byteOffset, contribution.sum.byteLength) : new Uint8Array();
    await this.#coordination.putGroupSum(this.#taskId, order.round, { groupId: this.groupId, groupReports: contribution?.groupReports ?? [], bytes });
  }

  async outcome(order: GroupOrder): Promise<GroupOutcome> {
    const deadline = performance.now() + (this.#deadlines.get(order.round) ?? 0) + OUTCOME_GRACE_MS;
    while (!this.#verdicts.has(order.round) && !this.#stopped && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const waiters = this.#verdictWaiters.get(order.round) ?? new Set();
        const timer = setTimeout(wake, Math.max(0, Math.min(RECORD_POLL_MS, deadline - performance.now())));
        function wake() {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
        this.#verdictWaiters.set(order.round, waiters);
      });
      // The verdict on the stream can be lost (Redis restarted, the coordinator died after its
      // record): the record is the truth, so a round it already holds is not waited on any longer.
      if (!this.#verdicts.has(order.round)) await this.#verdictFromRecord(order.round);
    }
    this.#verdictWaiters.delete(order.round);
    const verdict = this.#verdicts.get(order.round);
    // The record is the truth: bring the replica up to it whatever the stream said.
    await this.#replica.sync().catch((error: unknown) => this.#logger.warn({ err: error }, 'replica: sync after the round failed; retried next round'));
    const modelVersion = this.#replica.store.modelVersion;
    if (verdict?.kind === 'round-end') return { status: 'committed', modelVersion };
    return {
      status: 'aborted',
      modelVersion,
      reason: verdict?.kind === 'abort-round' ? verdict.reason : protocolError('ABORTED', `round ${order.round}: no word from the task coordinator`),
    };
  }

  /** Settles `round` from its stored record, if the record has it (a failed look-up is retried on the next poll). */
  async #verdictFromRecord(round: number): Promise<void> {
    const stored = await this.#replica.findRound(round).catch(() => null);
    if (!stored || this.#verdicts.has(round)) return;
    const abort = stored.record.abort;
    // The codes a task coordinator records (INTERRUPTED: a holder that died before its record).
    const code = [...TASK_ABORT_CODES, 'INTERRUPTED' as const].find((known) => known === abort?.code) ?? 'ABORTED';
    this.#settle(
      round,
      stored.status === 'committed'
        ? { kind: 'round-end', modelVersion: stored.record.modelVersion.to }
        : { kind: 'abort-round', reason: protocolError(code, abort?.message ?? `round ${round}: aborted`) },
    );
  }

  paceSteering(): PaceSteering | null {
    const steering = this.#steering;
    return steering && performance.now() - steering.at < PACE_STEERING_TTL_MS ? steering.window : null;
  }

  cancelled(round: number): ProtocolError | null {
    const verdict = this.#verdicts.get(round);
    return verdict?.kind === 'abort-round' ? verdict.reason : null;
  }

  #takePending(): GroupOrder | null {
    const pending = this.#pending;
    this.#pending = null;
    // An order whose groups' time is mostly gone is not worth starting.
    if (!pending || performance.now() - pending.openedAt > pending.deadlineMs / 2) return null;
    return pending.order;
  }

  async #read(): Promise<void> {
    while (!this.#stopped) {
      try {
        const entries = await this.#coordination.read(this.#taskId, this.#lastId, { blockMs: READ_BLOCK_MS });
        for (const entry of entries) {
          this.#lastId = entry.id;
          if ('error' in entry) this.#logger.warn({ err: entry.error }, 'control stream: an entry that is not a control message, skipped');
          else this.#handle(entry.message);
        }
      } catch (error) {
        if (this.#stopped) break;
        this.#logger.warn({ err: error }, 'control stream: read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  #handle(message: ControlMessage): void {
    if (message.epoch < this.#epoch) {
      this.#logger.warn({ kind: message.kind, epoch: message.epoch, current: this.#epoch }, 'control stream: message of a deposed coordinator, dropped');
      return;
    }
    this.#epoch = message.epoch;
    switch (message.kind) {
      case 'open-round': {
        const order: GroupOrder = {
          round: message.round,
          roundId: message.roundId,
          samplingRate: message.samplingRate,
          population: message.population,
          maxClients: message.maxClients,
          base: message.base,
          live: message.live,
          planRevision: message.planRevision,
          ...(message.rotationSeed ? { rotationSeed: new Uint8Array(Buffer.from(message.rotationSeed, 'hex')) } : {}),
        };
        this.#deadlines.set(message.round, message.deadlineMs);
        const waiter = this.#orderWaiter;
        this.#orderWaiter = null;
        if (waiter) waiter(order);
        else this.#pending = { order, openedAt: performance.now(), deadlineMs: message.deadlineMs };
        return;
      }
      case 'round-end':
        return this.#settle(message.round, { kind: 'round-end', modelVersion: message.modelVersion });
      case 'abort-round':
        return this.#settle(message.round, { kind: 'abort-round', reason: protocolError(message.reason.code, message.reason.message) });
      case 'retry-window':
        this.#steering = { window: { poolTarget: message.poolTarget, fromMs: message.fromMs, toMs: message.toMs }, at: performance.now() };
        return;
      case 'close-phase':
        return;
    }
  }

  #settle(round: number, verdict: Verdict): void {
    this.#verdicts.set(round, verdict);
    // Keep the last few rounds' verdicts only: later messages of older rounds are of no use.
    for (const old of this.#verdicts.keys()) if (old < round - 16) this.#verdicts.delete(old);
    for (const old of this.#deadlines.keys()) if (old < round - 16) this.#deadlines.delete(old);
    for (const wake of this.#verdictWaiters.get(round) ?? []) wake();
  }
}
