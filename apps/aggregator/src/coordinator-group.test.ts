import { describe, expect, it } from 'vitest';
import { createMetricsLayout, decodeSumWithMetrics, encodingParams } from '@murmur/fl-core/encode';
import { protocolError, type LivePlan, type ProtocolError, type RoundPlan } from '@murmur/fl-core/protocol';
import type { GroupContribution, GroupLink, GroupOrder, GroupOutcome, PaceSteering } from './coordinator';
import { DIMENSION, endings, gauge, harness, METRICS, UPDATE } from './coordinator-harness';
import type { DataStore, StoredModel } from './store';
import { eventually } from './test-helpers';

/**
 * The distributed mode's group turn (coordinator.ts #runGroupTurn) without Redis or PostgreSQL: the
 * task coordinator's side of GroupLink is played in memory, so each test decides what the order
 * says, when the round is cancelled and how it ends, and reads what this process handed on.
 * distributed/*.distributed-test.ts run the same turn against the real link and stores.
 */
class InMemoryTaskCoordinator implements GroupLink {
  readonly groupId = 'g0';
  groupSize = 500;
  /** Every answer this process gave, in order: its groups' summed sum with each group's report count, or null. */
  readonly answers: (GroupContribution | null)[] = [];
  readonly #orders: GroupOrder[] = [];
  #waiter: ((order: GroupOrder | null) => void) | null = null;
  readonly #cancelled = new Map<number, ProtocolError>();
  #outcome: Promise<GroupOutcome>;
  #settle: (outcome: GroupOutcome) => void = () => undefined;
  /** The plan orders carry unless a test says otherwise (the harness's configured plan: minReports 4). */
  live: LivePlan | null = null;
  baseFails = false;
  /** How many nextOrder calls throw before orders are handed out again. */
  orderFailures = 0;
  putFails = false;
  steering: PaceSteering | null = null;

  constructor(readonly store: DataStore) {
    this.#outcome = new Promise((resolve) => (this.#settle = resolve));
  }

  /** The task coordinator opens a round: this process's turn takes it (now, or at its next nextOrder). */
  open(order: Partial<GroupOrder> & { round: number }): GroupOrder {
    const base = this.store.trainingBase();
    if (!this.live) throw new Error('no plan for the order');
    const full: GroupOrder = {
      roundId: `r${order.round}-0badc0de`,
      samplingRate: 1,
      population: 6,
      maxClients: 20,
      base: { version: base.version, hash: base.hash },
      live: this.live,
      planRevision: 2,
      ...order,
    };
    if (this.#waiter) {
      this.#waiter(full);
      this.#waiter = null;
    } else this.#orders.push(full);
    return full;
  }
  cancel(round: number, reason: ProtocolError): void {
    this.#cancelled.set(round, reason);
  }
  settle(outcome: GroupOutcome): void {
    this.#settle(outcome);
  }

  nextOrder(): Promise<GroupOrder | null> {
    if (this.orderFailures > 0) {
      this.orderFailures--;
      return Promise.reject(new Error('control stream: malformed entry'));
    }
    const next = this.#orders.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve) => (this.#waiter = resolve));
  }
  interrupt(): void {
    this.#waiter?.(null);
    this.#waiter = null;
  }
  async baseModel(order: GroupOrder): Promise<StoredModel> {
    if (this.baseFails) throw new Error('replica: PostgreSQL is unreachable');
    const base = this.store.trainingBase();
    expect(base.version).toBe(order.base.version);
    return base;
  }
  async putSum(_order: GroupOrder, contribution: GroupContribution | null): Promise<void> {
    if (this.putFails) throw new Error('Redis: connection refused');
    this.answers.push(contribution);
  }
  outcome(): Promise<GroupOutcome> {
    return this.#outcome;
  }
  cancelled(round: number): ProtocolError | null {
    return this.#cancelled.get(round) ?? null;
  }
  paceSteering(): PaceSteering | null {
    return this.steering;
  }
}

async function groupHarness(
  n: number,
  behaviours: Parameters<typeof harness>[1] = {},
  round: Parameters<typeof harness>[2]['round'] = {},
  privacy?: Parameters<typeof harness>[2]['privacy'],
  enrolled = false,
) {
  let link: InMemoryTaskCoordinator | undefined;
  const h = await harness(
    n,
    behaviours,
    { round: { target: 6, minReports: 4, ...round }, ...(privacy ? { privacy } : {}) },
    { group: (store) => (link = new InMemoryTaskCoordinator(store)), enrolled },
  );
  if (!link) throw new Error('the harness did not build the group link');
  link.live = h.coordinator.plan;
  return { ...h, link };
}

describe('RoundCoordinator in the distributed mode: one group turn per order', () => {
  it("runs SecAgg over its own draw and hands on the unmasked group sum, encoded for the round's bound; the members hear the recorded outcome", async () => {
    const { link, tokens, sentTo, store, coordinator, metrics, delivered, logs } = await groupHarness(6);
    const order = link.open({ round: 1 });
    const answer = await eventually(() => link.answers[0], 30_000, 'the group sum');
    const [plan] = sentTo('token-00', 'roundPlan') as RoundPlan[];
    if (!plan || !answer) throw new Error('no plan or no sum');
    // One SecAgg instance per group, named after the order's round id, this process and the group's index.
    expect(plan.roundId).toBe(`${order.roundId}-g0.0`);
    expect(plan.round).toBe(1);
    // Every group encodes for the round's bound (20), not its own 6: the groups' sums add without wrapping.
    expect(plan.encoding.maxClients).toBe(20);
    expect(answer.groupReports).toEqual([6]);
    expect(answer.sum).toHaveLength(plan.secagg.vectorLength);
    const layout = createMetricsLayout(plan.metrics, { maxClients: plan.encoding.maxClients, modulusBits: plan.encoding.modulusBits });
    const decoded = decodeSumWithMetrics(answer.sum, encodingParams(plan.encoding), layout, 6);
    expect(decoded.values).toHaveLength(DIMENSION);
    // Six inputs of 0.01 each; stochastic rounding moves each by under one quantization step.
    for (const value of decoded.values) expect(value).toBeCloseTo(6 * UPDATE, 3);
    expect(decoded.metrics['examples']).toBeCloseTo(6 * METRICS.examples, 3);
    // This process records nothing itself: the task coordinator commits, the replica follows.
    expect(store.rounds).toEqual([]);
    expect(store.ledger.entries).toEqual([]);
    for (const token of tokens) expect(sentTo(token, 'roundEnd')).toEqual([]);
    await eventually(() => (coordinator.phase === 'commit' ? true : undefined), 30_000, 'the wait for the outcome');

    link.settle({ status: 'committed', modelVersion: 1 });
    await eventually(() => (sentTo('token-05', 'roundEnd').length > 0 ? true : undefined), 30_000, 'the round end');
    await delivered();
    for (const token of tokens) expect(endings(sentTo, token).roundEnd).toEqual([{ roundId: plan.roundId, round: 1, status: 'committed', modelVersion: 1 }]);
    expect(await gauge(metrics.rounds, { status: 'committed' })).toBe(1);
    expect(await gauge(metrics.funnel, { stage: 'selected' })).toBe(6);
    expect(logs.filter((line) => line['msg'] === 'group round ended')).toEqual([
      expect.objectContaining({ round: 1, roundId: plan.roundId, status: 'committed', modelVersion: 1 }),
    ]);
    expect(coordinator.currentRound).toBeNull();
    // Completed members may be drawn again at once (not benched).
    for (const token of tokens) expect(coordinator.checkIn(token, { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
  });

  it('runs its group authenticated when it has an enrollment issuer: the plan says so and Round 3 runs', async () => {
    const { link, tokens, sentTo } = await groupHarness(5, {}, {}, undefined, true);
    link.open({ round: 1 });
    const answer = await eventually(() => link.answers[0], 30_000, 'the group sum');
    expect(answer?.groupReports).toEqual([5]);
    for (const token of tokens) {
      expect((sentTo(token, 'roundPlan') as RoundPlan[])[0]?.secagg.authenticated).toBe(true);
      expect(endings(sentTo, token).secaggTypes).toContain('consistencyRequest');
    }
    link.settle({ status: 'committed', modelVersion: 1 });
    await eventually(() => (tokens.every((token) => sentTo(token, 'roundEnd').length > 0) ? true : undefined), 30_000, 'the round ends');
  });

  it('answers "nothing from this process" and tells nobody when its draw is below minReports or above the round\'s bound', async () => {
    const { link, sent, coordinator, logs } = await groupHarness(6);
    // q = 10⁻⁹: nobody drawn (all but surely), below minReports 4.
    link.open({ round: 1, samplingRate: 1e-9 });
    await eventually(() => (link.answers.length === 1 ? true : undefined), 30_000, 'the first answer');
    // q = 1 draws all 6, more than the round's bound of 5: this group's sum could wrap the master sum.
    link.open({ round: 2, maxClients: 5 });
    await eventually(() => (link.answers.length === 2 ? true : undefined), 30_000, 'the second answer');
    // minReports of the order (7), not of this process's config (4), decides.
    link.open({ round: 3, live: { ...coordinator.plan, minReports: 7 } });
    await eventually(() => (link.answers.length === 3 ? true : undefined), 30_000, 'the third answer');
    expect(link.answers).toEqual([null, null, null]);
    expect(sent).toEqual([]);
    expect(coordinator.poolSize).toBe(6);
    // Each told to the operator, without the exact draw (privacy on): a decision, not a failure.
    const said = logs.filter((line) => line['msg'] === 'group: the draw on this process is outside [minReports, maxClients]: no group here this round');
    expect(said).toEqual([
      expect.objectContaining({ round: 1, eligible: 6, samplingRate: 1e-9, minReports: 4 }),
      expect.objectContaining({ round: 2, eligible: 6, samplingRate: 1, minReports: 4 }),
      expect.objectContaining({ round: 3, eligible: 6, samplingRate: 1, minReports: 7 }),
    ]);
    for (const line of said) expect(line).not.toHaveProperty('selected');
    expect(logs.filter((line) => line['msg'] === 'group round failed; the task coordinator records the round')).toEqual([]);
  });

  it("splits a draw larger than groupSize into SecAgg groups run at once, and hands on their summed sum with each group's reports", async () => {
    const { link, tokens, sentTo, delivered } = await groupHarness(12);
    link.groupSize = 5;
    // 12 drawn, groups of at most 5, each ≥ minReports 4: three groups of 4.
    const order = link.open({ round: 1 });
    const answer = await eventually(() => link.answers[0], 30_000, 'the summed group sums');
    if (!answer) throw new Error('no answer');
    expect(answer.groupReports).toEqual([4, 4, 4]);
    const plans = tokens.map((token) => (sentTo(token, 'roundPlan') as RoundPlan[])[0]);
    const byGroup = new Map<string, number[]>();
    for (const plan of plans) {
      if (!plan) throw new Error('a drawn client got no plan');
      byGroup.set(plan.roundId, [...(byGroup.get(plan.roundId) ?? []), plan.participantId]);
      expect(plan.secagg.clientCount).toBe(4);
      expect(plan.encoding.maxClients).toBe(20);
    }
    // Every client is in exactly one group, with participant ids 0 … 3 in each.
    expect([...byGroup.keys()].sort()).toEqual([0, 1, 2].map((index) => `${order.roundId}-g0.${index}`));
    for (const ids of byGroup.values()) expect(ids.sort()).toEqual([0, 1, 2, 3]);
    const [plan] = plans;
    if (!plan) throw new Error('no plan');
    const layout = createMetricsLayout(plan.metrics, { maxClients: plan.encoding.maxClients, modulusBits: plan.encoding.modulusBits });
    const decoded = decodeSumWithMetrics(answer.sum, encodingParams(plan.encoding), layout, 12);
    for (const value of decoded.values) expect(value).toBeCloseTo(12 * UPDATE, 3);
    expect(decoded.metrics['examples']).toBeCloseTo(12 * METRICS.examples, 3);
    link.settle({ status: 'committed', modelVersion: 1 });
    await eventually(() => (tokens.every((token) => sentTo(token, 'roundEnd').length > 0) ? true : undefined), 30_000, 'every round end');
    await delivered();
    for (const token of tokens) expect(sentTo(token, 'roundEnd')).toMatchObject([{ status: 'committed', modelVersion: 1 }]);
  });

  it('hands on the groups that unmasked when another group of the draw fails on its own (its members alone hear why)', async () => {
    // Groups of 4 with minReports 4: the group holding the silent client 0 cannot commit.
    const deadlines = { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 3_000, unmaskingMs: 5_000 };
    const { link, tokens, sentTo, delivered } = await groupHarness(12, { 0: { muteOn: 'encryptedShares' } }, { deadlines });
    link.groupSize = 5;
    link.open({ round: 1 });
    const answer = await eventually(() => link.answers[0], 30_000, 'the summed group sums');
    expect(answer?.groupReports).toEqual([4, 4]);
    const failed = (sentTo('token-00', 'roundPlan') as RoundPlan[])[0]?.roundId;
    const mates = tokens.filter((token) => (sentTo(token, 'roundPlan') as RoundPlan[])[0]?.roundId === failed);
    expect(mates).toHaveLength(4);
    for (const token of mates) expect(sentTo(token, 'roundEnd')).toMatchObject([{ status: 'aborted', reason: { code: 'BELOW_THRESHOLD' } }]);
    link.settle({ status: 'committed', modelVersion: 1 });
    const others = tokens.filter((token) => !mates.includes(token));
    await eventually(() => (others.every((token) => sentTo(token, 'roundEnd').length > 0) ? true : undefined), 30_000, 'the round ends');
    await delivered();
    for (const token of others) expect(sentTo(token, 'roundEnd')).toMatchObject([{ status: 'committed', modelVersion: 1 }]);
    for (const token of mates) expect(sentTo(token, 'roundEnd')).toHaveLength(1);
  });

  it("does not tell a group that failed alone a second time when the other groups' sum cannot be handed on", async () => {
    const deadlines = { advertiseKeysMs: 20_000, shareKeysMs: 5_000, maskedInputMs: 3_000, unmaskingMs: 5_000 };
    const { link, tokens, sentTo } = await groupHarness(12, { 0: { muteOn: 'encryptedShares' } }, { deadlines });
    link.groupSize = 5;
    link.putFails = true;
    link.open({ round: 1 });
    await eventually(() => (tokens.every((token) => sentTo(token, 'roundEnd').length > 0) ? true : undefined), 30_000, 'every round end');
    const failed = (sentTo('token-00', 'roundPlan') as RoundPlan[])[0]?.roundId;
    for (const token of tokens) {
      const mate = (sentTo(token, 'roundPlan') as RoundPlan[])[0]?.roundId === failed;
      expect(sentTo(token, 'roundEnd'), token).toMatchObject([{ status: 'aborted', reason: { code: mate ? 'BELOW_THRESHOLD' : 'INTERNAL' } }]);
    }
  });

  it('caps each network in its draw and counts those left out', async () => {
    const { link, coordinator, metrics } = await groupHarness(4, {}, { maxPerNetwork: 2 });
    for (const name of ['net-a-1', 'net-a-2', 'net-a-3']) coordinator.checkIn(name, { consent: true, backend: 'cpu' }, '203.0.113.0/24');
    link.open({ round: 1 });
    const answer = await eventually(() => link.answers[0], 30_000, 'the group sum');
    expect(answer?.groupReports).toEqual([6]);
    expect(await gauge(metrics.cappedByNetwork)).toBe(1);
    expect(coordinator.poolSize).toBe(1);
    link.settle({ status: 'committed', modelVersion: 1 });
  });

  it('says the exact draw in its log only when privacy is off', async () => {
    const { link, logs } = await groupHarness(6, {}, {}, { mode: 'off', noiseMultiplier: 0 });
    link.open({ round: 1, maxClients: 5 });
    const said = 'group: the draw on this process is outside [minReports, maxClients]: no group here this round';
    await eventually(() => (logs.some((line) => line['msg'] === said) ? true : undefined), 30_000, 'the log line');
    expect(logs.find((line) => line['msg'] === said)).toMatchObject({ round: 1, eligible: 6, selected: 6 });
  });

  it('opens a group of exactly minReports and of exactly the bound', async () => {
    const { link, coordinator } = await groupHarness(6);
    link.open({ round: 1, maxClients: 6, live: { ...coordinator.plan, minReports: 6 } });
    const answer = await eventually(() => link.answers[0], 30_000, 'the group sum');
    expect(answer?.groupReports).toEqual([6]);
    link.settle({ status: 'committed', modelVersion: 1 });
  });

  it("stops at the task coordinator's abort: the members are told its reason, nothing is handed on, nothing recorded here", async () => {
    // Client 0 never masks and the deadlines are 10 minutes: only the cancellation ends the stage.
    const long = { advertiseKeysMs: 600_000, shareKeysMs: 600_000, maskedInputMs: 600_000, unmaskingMs: 600_000 };
    const { link, tokens, sentTo, store, coordinator, metrics } = await groupHarness(6, { 0: { muteOn: 'encryptedShares' } }, { deadlines: long });
    link.open({ round: 1 });
    await eventually(() => (coordinator.phase === 'maskedInput' ? true : undefined), 30_000, 'the masked-input stage');
    const reason = protocolError('COORDINATION_UNAVAILABLE', 'round 1: Redis is unreachable');
    link.cancel(1, reason);
    // A wake (any message or disconnection) lets the stage see the cancellation; a check-in is one.
    coordinator.checkIn('someone', { consent: true, backend: 'cpu' });
    await eventually(() => (link.answers.length === 1 ? true : undefined), 30_000, 'the empty answer');
    expect(link.answers).toEqual([null]);
    for (const token of tokens) {
      const { roundEnd, aborts } = endings(sentTo, token);
      expect(aborts).toMatchObject([{ type: 'abort', reason: { code: 'COORDINATION_UNAVAILABLE', message: 'round 1: Redis is unreachable' } }]);
      expect(roundEnd).toMatchObject([{ status: 'aborted', round: 1, modelVersion: 0, reason: { code: 'COORDINATION_UNAVAILABLE' } }]);
    }
    expect(store.rounds).toEqual([]);
    expect(await gauge(metrics.rounds, { status: 'aborted' })).toBe(1);
    expect(coordinator.currentRound).toBeNull();
  });

  it("relays an aborted outcome with the task coordinator's reason, and does not count its members as having completed", async () => {
    const { link, tokens, sentTo, metrics, delivered } = await groupHarness(6);
    link.open({ round: 1 });
    await eventually(() => link.answers[0], 30_000, 'the group sum');
    link.settle({ status: 'aborted', reason: protocolError('BELOW_THRESHOLD', 'round 1: 9 reports in all, need 12'), modelVersion: 0 });
    await eventually(() => (sentTo('token-05', 'roundEnd').length > 0 ? true : undefined), 30_000, 'the round end');
    await delivered();
    for (const token of tokens) {
      expect(sentTo(token, 'roundEnd')).toEqual([
        {
          roundId: 'r1-0badc0de-g0.0',
          round: 1,
          status: 'aborted',
          modelVersion: 0,
          reason: { code: 'BELOW_THRESHOLD', message: 'round 1: 9 reports in all, need 12' },
        },
      ]);
    }
    expect(await gauge(metrics.rounds, { status: 'aborted' })).toBe(1);
    expect(await gauge(metrics.rounds, { status: 'committed' })).toBeUndefined();
  });

  it('puts the drawn clients back, telling them nothing, when the base model cannot be had', async () => {
    const { link, sent, coordinator, logs } = await groupHarness(6);
    link.baseFails = true;
    link.open({ round: 1 });
    await eventually(
      () => (logs.some((line) => line['msg'] === 'group round failed; the task coordinator records the round') ? true : undefined),
      30_000,
      'the warning',
    );
    expect(sent).toEqual([]);
    expect(coordinator.poolSize).toBe(6);
    expect(coordinator.currentRound).toBeNull();
    // The task coordinator hears "nothing from this process" rather than waiting out its deadline.
    await eventually(() => (link.answers.length === 1 ? true : undefined), 30_000, 'the empty answer');
    expect(link.answers).toEqual([null]);
    expect(logs.find((line) => line['msg'] === 'group round failed; the task coordinator records the round')).toMatchObject({
      round: 1,
      err: expect.anything(),
    });
  });

  it('tells the members the round failed (INTERNAL) when the group sum cannot be handed on', async () => {
    const { link, tokens, sentTo, coordinator, logs } = await groupHarness(6);
    link.putFails = true;
    link.open({ round: 1 });
    await eventually(() => (sentTo('token-05', 'roundEnd').length > 0 ? true : undefined), 30_000, 'the round end');
    for (const token of tokens) {
      expect(sentTo(token, 'roundEnd')).toMatchObject([{ status: 'aborted', reason: { code: 'INTERNAL', message: 'round 1: Redis: connection refused' } }]);
    }
    expect(coordinator.currentRound).toBeNull();
    expect(logs.find((line) => line['msg'] === 'group round aborted')).toMatchObject({
      round: 1,
      roundId: 'r1-0badc0de-g0.0',
      code: 'INTERNAL',
      reason: 'round 1: Redis: connection refused',
    });
    // The sum was being handed on when the put failed: no second, empty answer is attempted.
    expect(logs.filter((line) => line['msg'] === 'group: could not answer the round; the task coordinator will go on without this process')).toEqual([]);
  });

  it('logs an answer it could not hand on, and goes on', async () => {
    const { link, logs, coordinator } = await groupHarness(6);
    link.putFails = true;
    link.open({ round: 1, maxClients: 5 });
    const said = 'group: could not answer the round; the task coordinator will go on without this process';
    await eventually(() => (logs.some((line) => line['msg'] === said) ? true : undefined), 30_000, 'the warning');
    expect(logs.filter((line) => line['msg'] === said)).toEqual([expect.objectContaining({ round: 1, err: expect.anything() })]);
    expect(coordinator.poolSize).toBe(6);
  });

  it("steers the pace by the task coordinator's window, and pools everyone without one", async () => {
    const { link, coordinator } = await groupHarness(6);
    link.steering = { poolTarget: 6, fromMs: 2_000, toMs: 4_000 };
    const later = Array.from({ length: 50 }, (_, i) => coordinator.checkIn(`extra-${i}`, { consent: true, backend: 'cpu' }));
    for (const answer of later) {
      expect(answer.status).toBe('later');
      expect(answer.retryAfterMs).toBeGreaterThanOrEqual(2_000);
      expect(answer.retryAfterMs).toBeLessThanOrEqual(4_000);
    }
    expect(coordinator.poolSize).toBe(6);
    link.steering = null;
    expect(coordinator.checkIn('extra-0', { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
    expect(coordinator.poolSize).toBe(7);
  });

  it('survives a turn that fails outside any round (a broken link): it logs, waits a moment and takes the next order', async () => {
    const { link, logs, tokens, coordinator } = await groupHarness(6);
    link.open({ round: 1 });
    await eventually(() => link.answers[0], 30_000, 'the first group sum');
    // The next wait for an order fails.
    link.orderFailures = 1;
    link.settle({ status: 'committed', modelVersion: 1 });
    const failed = 'group turn failed unexpectedly; waiting for the next order';
    await eventually(() => (logs.some((line) => line['msg'] === failed) ? true : undefined), 30_000, 'the logged failure');
    for (const token of tokens) coordinator.checkIn(token, { consent: true, backend: 'cpu' });
    link.open({ round: 2 });
    const answer = await eventually(() => link.answers[1], 30_000, 'the second group sum');
    expect(answer?.groupReports).toEqual([6]);
    expect(logs.filter((line) => line['msg'] === failed)).toEqual([
      expect.objectContaining({ err: expect.objectContaining({ message: 'control stream: malformed entry' }) }),
    ]);
  });

  it.each([
    ['committed', 'takes a strike off its members: the next silence sits out one bench', (seconds: number) => seconds <= 3],
    ['aborted', 'leaves their strikes: the next silence sits out a doubled bench', (seconds: number) => seconds > 3],
  ] as const)('when the group round is %s, it %s', async (status, _what, benchIsExpected) => {
    let link: InMemoryTaskCoordinator | undefined;
    const deadlines = { advertiseKeysMs: 1_000, shareKeysMs: 5_000, maskedInputMs: 5_000, unmaskingMs: 5_000 };
    const { coordinator, tokens, sentTo } = await harness(
      6,
      { 5: { muteOn: 'roundPlan', muteInRounds: [1, 3] } },
      { round: { target: 6, minReports: 4, deadlines }, participation: { silenceBenchMs: 3_000 } },
      { group: (store) => (link = new InMemoryTaskCoordinator(store)) },
    );
    if (!link) throw new Error('the harness did not build the group link');
    const task = link;
    task.live = coordinator.plan;
    task.settle(
      status === 'committed'
        ? { status, modelVersion: 1 }
        : { status, reason: protocolError('BELOW_THRESHOLD', 'round 1: 9 reports in all, need 12'), modelVersion: 0 },
    );
    const silent = 'token-05';
    const benchSeconds = () => {
      const answer = coordinator.checkIn(silent, { consent: true, backend: 'cpu' });
      const seconds = /another (\d+) s$/.exec(answer.reason?.message ?? '')?.[1];
      if (answer.status !== 'ineligible' || seconds === undefined) throw new Error(`${silent} is not benched: ${JSON.stringify(answer)}`);
      return Number(seconds);
    };
    const playRound = async (round: number) => {
      task.open({ round });
      await eventually(() => (tokens.every((token) => sentTo(token, 'roundEnd').length === round) ? true : undefined), 30_000, `round ${round}'s ends`);
    };
    // Round 1: silent once, one strike, benched 3 s. Round 2, after the bench: in the group, which ends `status`.
    await playRound(1);
    expect(benchSeconds()).toBeLessThanOrEqual(3);
    for (const token of tokens.filter((token) => token !== silent)) coordinator.checkIn(token, { consent: true, backend: 'cpu' });
    await eventually(
      () => (coordinator.checkIn(silent, { consent: true, backend: 'cpu' }).status === 'waiting' ? true : undefined),
      10_000,
      'the bench to end',
    );
    await playRound(2);
    expect(endings(sentTo, silent).roundEnd.at(-1)).toMatchObject({ round: 2, status });
    // Round 3: silent again. After a committed round it starts from no strikes (3 s); otherwise from one (6 s).
    for (const token of tokens) coordinator.checkIn(token, { consent: true, backend: 'cpu' });
    await playRound(3);
    expect(benchIsExpected(benchSeconds())).toBe(true);
  });

  it('stops while waiting for an order, and takes none while paused', async () => {
    const { link, coordinator, sent } = await groupHarness(6);
    coordinator.pause();
    link.open({ round: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).toEqual([]);
    expect(link.answers).toEqual([]);
    await coordinator.stop();
    expect(coordinator.currentRound).toBeNull();
  });
});
