import { test, expect, type TestInfo } from '@playwright/test';
import type { SimParams } from '../sim/params';
import { runSimulation, type FaultSchedule, type SimOptions, type SimResult } from '../sim/simulation';

/**
 * The full set (`npm run e2e:full`): real browsers through the simulation harness, a real
 * aggregator process each, faults at chosen phases. Each takes one to three minutes on two cores,
 * so `npm test` leaves them out (tag @full, see playwright.config.ts).
 */
function params(testInfo: TestInfo, change: Partial<SimParams>): SimParams {
  return { clients: 4, rounds: 2, dropout: 0, seed: 1, killAggregatorAt: null, out: testInfo.outputPath('sim'), ...change };
}

function simulate(testInfo: TestInfo, change: Partial<SimParams>, options: SimOptions, browser: Parameters<typeof runSimulation>[0]): Promise<SimResult> {
  return runSimulation(browser, params(testInfo, change), () => undefined, options);
}

const noFaults: FaultSchedule = { faults: [], kill: null };

function expectExact(result: SimResult): void {
  for (const round of result.rounds) {
    if (round.record.status !== 'committed') continue;
    expect(round.exact?.exact, `round ${round.record.round}: ${round.exact?.detail}`).toBe(true);
  }
}

test('convergence: with four browsers, the held-out loss falls and top-1 accuracy rises over three rounds @full', async ({ browser }, testInfo) => {
  test.setTimeout(600_000);
  const result = await simulate(testInfo, { rounds: 3 }, { schedule: noFaults }, browser);
  expect(result.rounds.map((r) => r.record.status)).toEqual(['committed', 'committed', 'committed']);
  // Each round's federated evaluation measures the model it started from (v0, v1, v2).
  const loss = result.rounds.map((r) => r.record.metrics?.eval.loss ?? Number.NaN);
  const top1 = result.rounds.map((r) => r.record.metrics?.eval.top1 ?? Number.NaN);
  expect(loss[1]).toBeLessThan(loss[0] as number);
  expect(loss[2]).toBeLessThan(loss[1] as number);
  expect(top1[2]).toBeGreaterThan(top1[0] as number);
  expectExact(result);
  for (const client of result.clients) expect(client.roundsContributed, `client ${client.index}`).toEqual([1, 2, 3]);
});

test('dropouts at each phase (closed pages, offline contexts): exact aggregation every round, and every device is back the round after @full', async ({
  browser,
}, testInfo) => {
  test.setTimeout(900_000);
  const schedule: FaultSchedule = {
    faults: [
      { round: 1, client: 0, phase: 'advertiseKeys', kind: 'close' },
      { round: 2, client: 1, phase: 'shareKeys', kind: 'offline' },
      { round: 3, client: 2, phase: 'maskedInput', kind: 'close' },
      { round: 4, client: 3, phase: 'unmasking', kind: 'offline' },
    ],
    kill: null,
  };
  const result = await simulate(testInfo, { clients: 5, rounds: 5 }, { schedule }, browser);
  expect(result.rounds.map((r) => r.record.status)).toEqual(Array(5).fill('committed'));
  expectExact(result);
  const [r1, r2, r3, r4] = result.rounds.map((r) => r.record.cohort);
  // Nobody leaves before the phase the fault hit; training takes seconds, so the first drop is certain.
  expect(r1).toMatchObject({ selected: 5, advertised: 4 });
  expect(r2).toMatchObject({ selected: 5, advertised: 5 });
  expect(r3).toMatchObject({ advertised: 5, shared: 5 });
  expect(r4).toMatchObject({ advertised: 5, shared: 5, masked: 5 });
  // Later phases can only have lost that one device.
  for (const cohort of [r2, r3, r4]) expect(cohort?.unmasked).toBeGreaterThanOrEqual(4);
  for (const fault of schedule.faults) {
    const client = result.clients[fault.client];
    expect(result.rounds[fault.round - 1]?.faults.find((f) => f.client === fault.client)?.applied, `fault ${JSON.stringify(fault)}`).toBe(true);
    // Back (reopened, or online again): it contributes in a later round, logged in its own IndexedDB.
    expect(
      client?.roundsContributed.some((round) => round > fault.round),
      `client ${fault.client} after round ${fault.round}`,
    ).toBe(true);
    if (fault.phase !== 'unmasking') expect(client?.roundsContributed).not.toContain(fault.round);
  }
});

test('below threshold: a round that loses one of three devices aborts and leaves the model version unchanged @full', async ({ browser }, testInfo) => {
  test.setTimeout(600_000);
  const schedule: FaultSchedule = { faults: [{ round: 1, client: 1, phase: 'shareKeys', kind: 'close' }], kill: null };
  const result = await simulate(testInfo, { clients: 3, rounds: 2 }, { schedule }, browser);
  const [first, second] = result.rounds.map((r) => r.record);
  expect(first?.status).toBe('aborted');
  expect(first?.abort?.code).toMatch(/BELOW_THRESHOLD/);
  expect(first?.modelVersion).toEqual({ from: 0, to: 0 });
  expect(first?.metrics).toBeNull();
  // The reopened device joins again and the next round commits from the same model.
  expect(second?.status).toBe('committed');
  expect(second?.modelVersion).toEqual({ from: 0, to: 1 });
  expectExact(result);
  for (const client of result.clients) expect(client.roundsContributed).not.toContain(1);
});

test('aggregator SIGKILLed mid-round (masked input): restarted on the same port and data directory, the round reruns and the devices resume @full', async ({
  browser,
}, testInfo) => {
  test.setTimeout(600_000);
  const result = await simulate(
    testInfo,
    { rounds: 2, killAggregatorAt: 'maskedInput' },
    { schedule: { faults: [], kill: { round: 1, phase: 'maskedInput' } } },
    browser,
  );
  expect(result.restarts).toBe(1);
  expect(result.rounds.map((r) => r.record.status)).toEqual(['committed', 'committed']);
  // The lost attempt ran under another round id; the record is the rerun's.
  expect(result.attempts[1]?.length).toBe(2);
  expect(result.attempts[1]?.at(-1)).toBe(result.rounds[0]?.record.roundId);
  expect(result.rounds[0]?.record.modelVersion).toEqual({ from: 0, to: 1 });
  expectExact(result);
  // Every device reconnected on its own and contributed after the restart.
  for (const client of result.clients) expect(client.roundsContributed.length, `client ${client.index}`).toBeGreaterThanOrEqual(1);
});

test('a page reloading mid-training: the round commits with exact aggregation, the page is in it exactly when its own log says so, and it contributes the next round @full', async ({
  browser,
}, testInfo) => {
  test.setTimeout(600_000);
  const schedule: FaultSchedule = { faults: [{ round: 1, client: 0, phase: 'advertiseKeys', kind: 'reload' }], kill: null };
  const result = await simulate(testInfo, { rounds: 2 }, { schedule }, browser);
  expect(result.rounds[0]?.faults[0]?.applied).toBe(true);
  expect(result.rounds.map((r) => r.record.status)).toEqual(['committed', 'committed']);
  expectExact(result);
  const reloaded = result.clients[0]?.roundsContributed ?? [];
  // Reconnecting with the same token keeps its cohort place and the plan is sent again
  // (docs/aggregator.md, "Reconnection") — if the new page is back before the training stage
  // closes; otherwise it left that round at advertiseKeys. Either way the funnel must agree with its log.
  expect(result.rounds[0]?.record.cohort.advertised).toBe(reloaded.includes(1) ? 4 : 3);
  expect(reloaded).toContain(2);
});
