import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ParticipantEvent, PRIVACY_OFF_PLAN_POLICY } from '@murmur/fl-core/participant';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { statusResponseSchema, type RoundReport } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientBehaviour, type VirtualClientData, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';
import type { AggregatorConfigInput } from './config';

let cleanup: (() => Promise<void>)[] = [];
let clientsData: VirtualClientData[];

beforeAll(async () => {
  await useNodeBackend('wasm');
  clientsData = stateOfTheUnionClients(TEST_SPEC, 30);
});
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function scenario(
  count: number,
  behaviours: Record<number, VirtualClientBehaviour>,
  overrides: AggregatorConfigInput,
): Promise<{ aggregator: RunningAggregator; pool: VirtualClientPool; events: ParticipantEvent[][] }> {
  const data = tempDataDir();
  const aggregator = await startWithEnrollment(testConfig(data.dir, overrides), { logger: testLogger() });
  const events: ParticipantEvent[][] = Array.from({ length: count }, () => []);
  const pool = await startVirtualClients({
    url: aggregator.url,
    clients: clientsData.slice(0, count),
    behaviour: (index) => behaviours[index],
    onEvent: (index, event) => events[index]?.push(event),
    planPolicy: overrides.privacy?.mode === 'off' ? PRIVACY_OFF_PLAN_POLICY : TEST_PLAN_POLICY,
  });
  cleanup.push(async () => {
    await pool.close();
    await aggregator.close();
    data.remove();
  });
  return { aggregator, pool, events };
}

const firstRound = (aggregator: RunningAggregator) => eventually(() => aggregator.store.rounds[0], 60_000, 'the first round record');

/** Examples a client trains on: its examples less the held-out 20%, capped at maxExamples (128). */
const trained = (index: number) => {
  const count = clientsData[index]?.examples.count ?? 0;
  return Math.min(count - Math.min(Math.floor(count * 0.2), 128), 128);
};

describe('dropouts and late clients', () => {
  it('commits with clients dropping at every phase: each is counted where it left, and the sum has exactly the masked inputs', async () => {
    const { aggregator } = await scenario(
      10,
      { 0: { dropOn: 'roundPlan' }, 1: { dropOn: 'peerKeys' }, 2: { dropOn: 'encryptedShares' }, 3: { dropOn: 'unmaskRequest' } },
      // Without privacy noise the public record and status carry the exact dropouts (public-view.ts withholds them otherwise).
      { round: { target: 10, minReports: 4, checkinMs: 5_000 }, alerts: { dropoutShare: 0.25 }, privacy: { mode: 'off' } },
    );
    const report: RoundReport = await firstRound(aggregator);
    expect(report.abort).toBeNull();
    expect(report.status).toBe('committed');
    expect(report.cohort).toEqual({ eligible: 10, selected: 10, advertised: 9, shared: 8, masked: 7, unmasked: 6 });
    // Where and why each left, in the durable record.
    const gone = { silent: 0, disconnected: 1 };
    // Certified clients run the authenticated protocol: Round 3 (ConsistencyCheck) has its own
    // count, and nobody leaves there in this script.
    const none = { silent: 0, disconnected: 0 };
    expect(report.dropouts).toEqual({ advertiseKeys: gone, shareKeys: gone, maskedInput: gone, consistencyCheck: none, unmasking: gone });
    expect((await fetch(`${aggregator.url}/api/rounds/1`).then((res) => res.json())).dropouts).toEqual(report.dropouts);
    // 3 of 10 lost before their masked input, above the 25% configured here.
    const status = statusResponseSchema.parse(await fetch(`${aggregator.url}/api/status`).then((res) => res.json()));
    expect(status.alerts?.find((a) => a.kind === 'dropout_spike')).toEqual({
      kind: 'dropout_spike',
      value: 0.3,
      threshold: 0.25,
      message:
        'Dropout spike: round 1 lost 3 of 10 selected clients before their update arrived (30%; alert above 25%): 1 at training and key advertisement (0 silent, 1 disconnected), 1 at key sharing (0 silent, 1 disconnected), 1 at masked input (0 silent, 1 disconnected).',
    });
    const metrics = await fetch(`${aggregator.url}/metrics`).then((res) => res.text());
    expect(metrics).toContain('murmur_alert_active{alert="dropout_spike"} 1');
    expect(metrics).toContain('murmur_round_dropout_ratio 0.3');
    expect(metrics).toContain('murmur_dropouts_total{phase="unmasking",reason="disconnected"} 1');
    // Client 3 masked its input and then left: its input is in the sum (its self-mask was
    // reconstructed from the others' shares); client 2's pairwise masks were removed.
    const inSum = [3, 4, 5, 6, 7, 8, 9];
    expect(report.metrics?.examples).toBe(inSum.reduce((sum, i) => sum + trained(i), 0));
    expect(report.secagg.threshold).toBe(6);
    expect(report.modelVersion).toEqual({ from: 0, to: 1 });
  });

  it('drops a late client at the deadline, tells it why, and commits with the rest', async () => {
    // Client 4 sends its shares 0.5 s after the ShareKeys deadline; client 3 answers the unmask
    // request 2.5 s late but inside that phase's deadline, which keeps the round open meanwhile.
    const { aggregator, events } = await scenario(
      5,
      { 4: { late: { type: 'shareKeys', ms: 1_500 } }, 3: { late: { type: 'unmask', ms: 2_500 } } },
      {
        round: {
          target: 5,
          minReports: 4,
          checkinMs: 5_000,
          deadlines: { advertiseKeysMs: 20_000, shareKeysMs: 1_000, maskedInputMs: 5_000, unmaskingMs: 5_000 },
        },
      },
    );
    const report = await firstRound(aggregator);
    expect(report.status).toBe('committed');
    expect(report.cohort).toMatchObject({ advertised: 5, shared: 4, masked: 4, unmasked: 4 });
    // Connected but too late: silent, not disconnected.
    expect(report.dropouts).toEqual({
      advertiseKeys: { silent: 0, disconnected: 0 },
      shareKeys: { silent: 1, disconnected: 0 },
      maskedInput: { silent: 0, disconnected: 0 },
      consistencyCheck: { silent: 0, disconnected: 0 },
      unmasking: { silent: 0, disconnected: 0 },
    });
    const lateErrors = await eventually(
      () => {
        const found = events[4]?.filter((e) => e.type === 'error' && e.from === 'server');
        return found && found.length > 0 ? found : undefined;
      },
      10_000,
      'the late client to hear why',
    );
    expect(lateErrors[0]).toMatchObject({ error: { code: 'WRONG_PHASE' } });
    await eventually(
      () => (events[4]?.some((e) => e.type === 'roundEnd' && e.result.status === 'committed') ? true : undefined),
      10_000,
      'the late client to hear the round committed',
    );
  });

  it('keeps a client whose connection drops mid-round: it reconnects by itself and its input is in the sum', async () => {
    const { aggregator, events } = await scenario(
      5,
      { 2: { blipOn: 'encryptedShares' }, 3: { blipOn: 'peerKeys' } },
      {
        round: { target: 5, minReports: 4, checkinMs: 5_000 },
      },
    );
    const report = await firstRound(aggregator);
    expect(report.status).toBe('committed');
    expect(report.cohort).toMatchObject({ selected: 5, advertised: 5, shared: 5, masked: 5, unmasked: 5 });
    expect(events[2]?.filter((e) => e.type === 'welcome')).toHaveLength(2);
    expect(report.metrics?.examples).toBe([0, 1, 2, 3, 4].reduce((sum, i) => sum + trained(i), 0));
  });

  it('runs SecAgg+ (a Harary graph) for larger cohorts, with a dropout, and sums exactly the masked inputs', async () => {
    // n = 30 with δ = 5% is the smallest cohort where secAggPlusParameters picks a sparse graph.
    const { aggregator } = await scenario(
      30,
      { 5: { dropOn: 'encryptedShares' } },
      {
        round: { target: 30, minReports: 12, checkinMs: 10_000, secAggPlusFrom: 8, dropoutRate: 0.05 },
      },
    );
    const report = await firstRound(aggregator);
    expect(report.abort).toBeNull();
    expect(report.secagg).toMatchObject({ graph: 'harary', degree: 22, threshold: 12 });
    expect(report.cohort).toMatchObject({ selected: 30, shared: 30, masked: 29, unmasked: 29 });
    const inSum = Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 5);
    expect(report.metrics?.examples).toBe(inSum.reduce((sum, i) => sum + trained(i), 0));
  });

  it('aborts a SecAgg+ round with fewer masked inputs than minReports even though every neighbourhood could still unmask', async () => {
    // n = 12 with δ = 0.1% gets a Harary graph of degree 10 and threshold 6: two dropouts leave
    // every client at least 8 live share holders, so secure aggregation alone would release a sum
    // of 10 inputs. The distributed noise was calibrated to minReports = 11, so that sum must
    // never be revealed.
    const { aggregator, events } = await scenario(
      12,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'encryptedShares' } },
      {
        round: { target: 12, minReports: 11, checkinMs: 5_000, secAggPlusFrom: 8, dropoutRate: 0.001 },
      },
    );
    const report = await firstRound(aggregator);
    expect(report.status).toBe('aborted');
    expect(report.abort).toEqual({ code: 'BELOW_THRESHOLD', message: expect.stringContaining('10 masked inputs, need minReports 11') });
    expect(report.secagg).toMatchObject({ graph: 'harary', degree: 10, threshold: 6 });
    expect(report.cohort).toMatchObject({ selected: 12, shared: 12, masked: 10, unmasked: 0 });
    expect(report.modelVersion).toEqual({ from: 0, to: 0 });
    expect(report.metrics).toBeNull();
    expect(report.privacy.recordedNoiseMultiplier).toBeNull();
    expect(aggregator.store.modelVersion).toBe(0);
    expect(aggregator.store.ledger.entries).toHaveLength(0);
    await eventually(() => (events[5]?.some((e) => e.type === 'roundEnd' && e.result.status === 'aborted') ? true : undefined), 5_000, 'abort announced');
    expect(events[5]?.some((e) => e.type === 'roundEnd' && e.result.status === 'committed')).toBe(false);
  });

  it('records the noise of the inputs in the sum, not of the selected cohort, in the ledger', async () => {
    // 7 selected, minReports 4: each client adds σC/√4. Client 0 leaves before masking its input;
    // client 1 masks its input and leaves before unmasking, so its input is still in the sum.
    // The sum of 6 inputs carries σC·√(6/4): recording √(7/4) (the cohort) would understate ε.
    const { aggregator } = await scenario(
      7,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'unmaskRequest' } },
      {
        round: { target: 7, minReports: 4, checkinMs: 5_000 },
        privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1 },
      },
    );
    const report = await firstRound(aggregator);
    expect(report.status).toBe('committed');
    expect(report.cohort).toMatchObject({ selected: 7, shared: 7, masked: 6, unmasked: 5 });
    const expected = Math.sqrt(6 / 4); // 1.2247448713915890
    expect(report.privacy.noiseMultiplier).toBe(1);
    expect(report.privacy.samplingRate).toBe(1);
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(expected, 12);
    expect(aggregator.store.ledger.entries).toEqual([
      { round: report.round, samplingRate: 1, noiseMultiplier: report.privacy.recordedNoiseMultiplier, steps: 1 },
    ]);
    const independent = new PrivacyLedger();
    independent.record({ round: report.round, samplingRate: 1, noiseMultiplier: expected });
    expect(report.privacy.epsilon).toBeCloseTo(independent.epsilon(report.privacy.delta).epsilon, 9);
  });

  it('aborts cleanly below the threshold: the model and the ledger stay untouched', async () => {
    const { aggregator, events } = await scenario(
      5,
      { 0: { dropOn: 'peerKeys' }, 1: { dropOn: 'peerKeys' } },
      {
        round: { target: 5, minReports: 4, checkinMs: 5_000 },
      },
    );
    const report = await firstRound(aggregator);
    expect(report.status).toBe('aborted');
    expect(report.abort?.code).toBe('BELOW_THRESHOLD');
    expect(report.modelVersion).toEqual({ from: 0, to: 0 });
    expect(report.metrics).toBeNull();
    expect(aggregator.store.modelVersion).toBe(0);
    expect(aggregator.store.ledger.entries).toHaveLength(0);
    await eventually(() => (events[2]?.some((e) => e.type === 'roundEnd' && e.result.status === 'aborted') ? true : undefined), 5_000, 'abort announced');
    const latest = await fetch(`${aggregator.url}/api/model/latest`);
    expect(latest.headers.get('x-model-version')).toBe('0');
  });
});
