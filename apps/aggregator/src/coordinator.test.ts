import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServerOptimizer } from '@murmur/fl-core/aggregate';
import { createMetricsLayout, encodingParams, encodeWithMetrics } from '@murmur/fl-core/encode';
import { type ModelSpec, parameterCount } from '@murmur/fl-core/model';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import {
  packSecAgg,
  parseClientEvent,
  parseServerEvent,
  payloadBytes,
  type RoundReport,
  type ServerEventName,
  type ServerEventPayload,
} from '@murmur/fl-core/protocol';
import { createSecAggClient, defaultSuite, secAggClientStep, type ClientToServerMessage, type SecAggClientState } from '@murmur/fl-core/secagg';
import { AuditLog } from './audit';
import type { AggregatorConfigInput } from './config';
import { RoundCoordinator } from './coordinator';
import { createMetrics } from './metrics';
import { configuredPlan } from './plan';
import { ReleaseGate } from './release-gate';
import { publicRoundRecord } from './public-view';
import { planAggregatorRound, roundStateFromJSON, roundStateToJSON, type RoundState } from './round-state';
import { DataStore } from './store';
import { eventually, tempDataDir, testConfig, testLogger } from './test-helpers';

/**
 * The coordinator's transitions without sockets or browsers: its `send` delivers to in-process
 * SecAgg client machines (fl-core's, the ones browsers run), whose answers go straight to
 * handleSecAgg after the same edge parsing the transport applies. Each client's input is a fixed
 * update (no training), so the sum, the mean and the ledger can be computed by hand.
 */

/** A model small enough that 12 SecAgg clients take milliseconds: 530 weights. */
const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 100, contextLength: 2, embeddingDim: 2, hiddenUnits: 2 };
const DIMENSION = parameterCount(SPEC);
/** Each honest client's update coordinate: norm 0.01·√530 ≈ 0.23, under C = 1, so nothing is clipped. */
const UPDATE = 0.01;
const METRICS = { examples: 10, trainLossSum: 20, evalCount: 4, evalLossSum: 8, evalTop1: 1, evalTop3: 2 };
const LIMITS = { maxBytes: 64 * 1024 * 1024 };

type DownType = 'peerKeys' | 'encryptedShares' | 'consistencyRequest' | 'unmaskRequest';

interface Behaviour {
  /** Goes away for good on receiving this server message. */
  dropOn?: DownType;
  /** Sends this coordinate value instead of an honest update (a dishonest input SecAgg cannot see). */
  update?: number;
}

class FailingGate extends ReleaseGate {
  override atCommit(): never {
    throw new Error('disk full while writing the release state');
  }
}

/** The process dies while committing: the disk is copied as it is at that moment, and nothing after runs. */
class CrashingGate extends ReleaseGate {
  constructor(
    deps: ConstructorParameters<typeof ReleaseGate>[0],
    readonly dataDir: string,
    readonly snapshotDir: string,
  ) {
    super(deps);
  }
  override atCommit(): never {
    cpSync(this.dataDir, this.snapshotDir, { recursive: true });
    throw new Error('killed');
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(
  n: number,
  behaviours: Record<number, Behaviour>,
  overrides: AggregatorConfigInput,
  options: { failingGate?: boolean; crashSnapshot?: string } = {},
) {
  const data = tempDataDir();
  const logger = testLogger();
  const config = testConfig(data.dir, { ...overrides, round: { pauseMs: 10_000, reconnectGraceMs: 0, ...overrides.round } });
  const initial = () => ({ spec: SPEC, weights: new Float32Array(DIMENSION), optimizer: createServerOptimizer(config.optimizer, DIMENSION) });
  const store = DataStore.open(data.dir, initial, logger);
  const metrics = createMetrics();
  const gateDeps = { policy: config.release, store, audit: AuditLog.open(data.dir, logger), metrics, logger, privacyMode: config.privacy.mode };
  const gate = options.crashSnapshot
    ? new CrashingGate(gateDeps, data.dir, options.crashSnapshot)
    : options.failingGate
      ? new FailingGate(gateDeps)
      : new ReleaseGate(gateDeps);
  const suite = await defaultSuite();
  const tokens = Array.from({ length: n }, (_, i) => `token-${String(i).padStart(2, '0')}`);
  const behaviourOf = new Map(tokens.map((token, i) => [token, behaviours[i] ?? {}]));
  const gone = new Set<string>();
  const clients = new Map<string, SecAggClientState>();
  const reports: RoundReport[] = [];
  const states: RoundState[] = [];
  const refusals: string[] = [];
  let chain: Promise<void> = Promise.resolve();

  const up = async (tokenId: string, message: ClientToServerMessage) => {
    const packed = packSecAgg(message);
    const parsed = parseClientEvent('secagg', packed, LIMITS);
    if (!parsed.ok) throw new Error(`${tokenId}: ${parsed.error.message}`);
    const refused = await coordinator.handleSecAgg(tokenId, parsed.value, payloadBytes(packed));
    if (refused) refusals.push(`${tokenId}: ${refused.code}`);
  };
  const receive = async (tokenId: string, event: ServerEventName, payload: unknown) => {
    const behaviour = behaviourOf.get(tokenId) ?? {};
    if (event === 'roundPlan') {
      const parsedPlan = parseServerEvent('roundPlan', payload, LIMITS);
      if (!parsedPlan.ok) throw new Error(`${tokenId}: ${parsedPlan.error.message}`);
      const plan = parsedPlan.value;
      const layout = createMetricsLayout(plan.metrics, { maxClients: plan.encoding.maxClients, modulusBits: plan.encoding.modulusBits });
      // With adaptive clipping: b − 1/2 = +1/2, the update fit under C.
      const metrics: Record<string, number> = plan.metrics.unclipped ? { ...METRICS, unclipped: 0.5 } : { ...METRICS };
      const update = new Float32Array(DIMENSION).fill(behaviour.update ?? UPDATE);
      const input = encodeWithMetrics(update, metrics, encodingParams(plan.encoding), layout);
      const made = await createSecAggClient({ config: plan.secagg, clientId: plan.participantId, input, suite });
      if (!made.ok) throw new Error(`${tokenId}: ${made.error.message}`);
      clients.set(tokenId, made.state);
      return up(tokenId, made.outbound);
    }
    if (event !== 'secagg') return;
    const parsed = parseServerEvent('secagg', payload, LIMITS);
    if (!parsed.ok) throw new Error(`${tokenId}: ${parsed.error.message}`);
    if (parsed.value.type === behaviour.dropOn) {
      gone.add(tokenId);
      return;
    }
    const state = clients.get(tokenId);
    if (!state) return;
    const step = await secAggClientStep(state, parsed.value, { suite });
    if (!step.ok) throw new Error(`${tokenId}: ${step.error.message}`);
    clients.set(tokenId, step.state);
    if (step.outbound) await up(tokenId, step.outbound);
  };

  const coordinator: RoundCoordinator = new RoundCoordinator({
    config,
    store,
    logger,
    metrics,
    gate,
    plan: { plan: configuredPlan(config, store), revision: 0 },
    send<K extends ServerEventName>(tokenId: string, event: K, payload: ServerEventPayload<K>): boolean {
      if (gone.has(tokenId)) return false;
      // The 'roundPlan' payload is built per member; plans are read as sent, so no copy is needed.
      chain = chain.then(() => receive(tokenId, event, payload));
      return true;
    },
    isConnected: (tokenId) => !gone.has(tokenId),
    onPhase: () => {
      const state = coordinator.roundState;
      if (state) states.push(roundStateFromJSON(JSON.parse(JSON.stringify(roundStateToJSON(state)))));
    },
    onReport: (report) => reports.push(report),
  });
  cleanups.push(async () => {
    await coordinator.stop();
    await chain.catch(() => undefined);
    data.remove();
  });
  coordinator.start();
  for (const token of tokens) {
    expect(coordinator.checkIn(token, { consent: true, backend: 'cpu' })).toEqual({ status: 'waiting', retryAfterMs: 0 });
  }
  /** The first round's full record, as the store keeps it; what was published of it is its public view. */
  const firstReport = async () => {
    const published = await eventually(() => reports[0], 60_000, 'the first round record');
    // Every client message was handled (or its error surfaced) before the record was read.
    await chain;
    const report = store.rounds[0] as RoundReport;
    expect(published).toEqual(publicRoundRecord(report));
    return report;
  };
  return { store, config, tokens, firstReport, states, refusals, coordinator };
}

describe('RoundCoordinator transitions (no sockets)', () => {
  it('refuses to reveal a sum of fewer than minReports masked inputs although every SecAgg+ neighbourhood still has t holders', async () => {
    // n = 12, δ = 0.1%: a Harary graph of degree 10, threshold 6. Two clients leave before masking,
    // so each of the 10 left has ≥ 8 live share holders and SecAgg alone would unmask their sum;
    // the noise was calibrated to minReports = 11, so the round must abort instead.
    const { firstReport, store, refusals } = await harness(
      12,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'encryptedShares' } },
      { round: { target: 12, minReports: 11, secAggPlusFrom: 8, dropoutRate: 0.001 } },
    );
    const report = await firstReport();
    expect(refusals).toEqual([]);
    expect(report.secagg).toMatchObject({ graph: 'harary', degree: 10, threshold: 6 });
    expect(report.status).toBe('aborted');
    expect(report.abort).toEqual({ code: 'BELOW_THRESHOLD', message: 'round 1: 10 masked inputs, need minReports 11' });
    expect(report.cohort).toMatchObject({ selected: 12, masked: 10, unmasked: 0 });
    expect(report.privacy.recordedNoiseMultiplier).toBeNull();
    expect(store.ledger.entries).toHaveLength(0);
    expect(store.modelVersion).toBe(0);
  });

  it("records the survivors' noise in the ledger and divides the sum by the planned m, not by the reports", async () => {
    // 7 selected of 7 (q = 1, m = 7), minReports 4: each client adds σC/√4. Client 0 leaves before
    // masking, client 1 after: its input is still in the sum of 6, which carries σC·√(6/4).
    const { firstReport, store } = await harness(
      7,
      { 0: { dropOn: 'encryptedShares' }, 1: { dropOn: 'unmaskRequest' } },
      { round: { target: 7, minReports: 4 }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1 } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    // The commit's head.json holds the ledger now: the release record written at unmasking is gone.
    expect(existsSync(join(store.dir, 'released.json'))).toBe(false);
    expect(report.cohort).toMatchObject({ selected: 7, masked: 6, unmasked: 5 });
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(Math.sqrt(6 / 4), 12);
    const independent = new PrivacyLedger();
    independent.record({ round: 1, samplingRate: 1, noiseMultiplier: Math.sqrt(6 / 4) });
    expect(report.privacy.epsilon).toBeCloseTo(independent.epsilon(1e-5).epsilon, 9);
    expect(store.ledger.entries).toEqual([{ round: 1, samplingRate: 1, noiseMultiplier: report.privacy.recordedNoiseMultiplier, steps: 1 }]);
    // FedAvg at learning rate 1 from zero weights: 6 inputs of 0.01 over m = 7 (0.008571…), not over 6 (0.01).
    // Stochastic rounding moves the sum by under 6/scale per coordinate.
    for (const w of store.weights) expect(w).toBeCloseTo((6 * UPDATE) / 7, 5);
  });

  it('keeps the ledger entry of a sum refused after unmasking (REJECTED_SUM): it was released all the same', async () => {
    // Client 2 sends coordinates of 0.9 (norm 0.9·√530 ≈ 20.7 > C = 1, each within the encoding's range): the decoded mean leaves the bounds.
    const { firstReport, store } = await harness(5, { 2: { update: 0.9 } }, { round: { target: 5, minReports: 4 } });
    const report = await firstReport();
    expect(report.status).toBe('aborted');
    expect(report.abort?.code).toBe('REJECTED_SUM');
    expect(report.cohort).toMatchObject({ masked: 5, unmasked: 5 });
    expect(store.modelVersion).toBe(0);
    // 5 inputs, k_min = 4: σ·√(5/4) with σ = 0.02.
    expect(store.ledger.entries).toEqual([{ round: 1, samplingRate: 1, noiseMultiplier: report.privacy.recordedNoiseMultiplier, steps: 1 }]);
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(0.02 * Math.sqrt(5 / 4), 12);
  });

  it('keeps the ledger entry when the commit fails after unmasking (an exception), and leaves the model', async () => {
    const { firstReport, store } = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { failingGate: true });
    const report = await firstReport();
    expect(report.status).toBe('aborted');
    expect(report.abort).toEqual({ code: 'INTERNAL', message: 'round 1: disk full while writing the release state' });
    expect(store.modelVersion).toBe(0);
    expect(store.ledger.entries).toHaveLength(1);
    expect(report.privacy.recordedNoiseMultiplier).toBeCloseTo(0.02 * Math.sqrt(5 / 4), 12);
  });

  it('keeps the ledger entry of a sum unmasked just before the process was killed: the restart records the round as INTERRUPTED', async () => {
    const snapshot = tempDataDir();
    cleanups.push(() => snapshot.remove());
    const { firstReport } = await harness(5, {}, { round: { target: 5, minReports: 4 } }, { crashSnapshot: snapshot.dir });
    await firstReport();
    // The disk as the kill left it: no round record, head.json from before the round.
    expect(existsSync(join(snapshot.dir, 'rounds', '00000001.json'))).toBe(false);
    const restarted = DataStore.open(
      snapshot.dir,
      () => {
        throw new Error('the data directory exists');
      },
      testLogger(),
    );
    expect(restarted.nextRound).toBe(2);
    expect(restarted.modelVersion).toBe(0);
    const [record] = restarted.rounds;
    expect(record).toMatchObject({ round: 1, status: 'aborted', abort: { code: 'INTERRUPTED' } });
    // 5 inputs were unmasked, k_min = 4: the same entry a finished round would have written.
    expect(restarted.ledger.entries).toEqual([{ round: 1, samplingRate: 1, noiseMultiplier: record?.privacy.recordedNoiseMultiplier, steps: 1 }]);
    expect(record?.privacy.recordedNoiseMultiplier).toBeCloseTo(0.02 * Math.sqrt(5 / 4), 12);
    expect(existsSync(join(snapshot.dir, 'released.json'))).toBe(false);
    // Opened again: recorded once, not twice.
    const again = DataStore.open(
      snapshot.dir,
      () => {
        throw new Error('the data directory exists');
      },
      testLogger(),
    );
    expect(again.ledger.entries).toHaveLength(1);
    expect(again.rounds).toHaveLength(1);
  });

  it('keeps its per-round state as plain data: every phase of a running round survives a JSON round trip', async () => {
    const { firstReport, states, coordinator } = await harness(
      12,
      {},
      { round: { target: 12, minReports: 8, secAggPlusFrom: 8, dropoutRate: 0.001 }, privacy: { adaptiveClipping: {} } },
    );
    const report = await firstReport();
    expect(report.status).toBe('committed');
    expect(coordinator.roundState).toBeNull();
    // One snapshot per phase change inside the round, each decoded from JSON text by roundStateFromJSON.
    expect(states.length).toBeGreaterThanOrEqual(5);
    const last = states.at(-1) as RoundState;
    expect(last.plan.secagg.graph.kind).toBe('harary');
    expect(last.plan.privacy.clipIndicatorNoiseStdDev).toBeDefined();
    expect(last.members).toHaveLength(12);
    expect(last.funnel).toEqual({ eligible: 12, selected: 12, advertised: 12, shared: 12, masked: 12, unmasked: 12 });
  });
});

describe('roundStateToJSON / roundStateFromJSON', () => {
  it('round-trips a state with a SecAgg+ seed exactly, and refuses a malformed one by field', () => {
    const data = tempDataDir();
    cleanups.push(() => data.remove());
    const config = testConfig(data.dir, { round: { secAggPlusFrom: 8, dropoutRate: 0.001 }, privacy: { adaptiveClipping: {} } });
    const live = { target: 12, overSelection: 1, minReports: 8, pauseMs: 50, checkinMs: 300, training: config.training, clipNorm: 1, noiseMultiplier: 0.5 };
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const plan = planAggregatorRound({
      config,
      live,
      round: 4,
      roundId: 'r4-0a0b0c0d',
      base: { version: 3, hash: 'ab'.repeat(32), weights: { length: DIMENSION } },
      spec: SPEC,
      clientCount: 12,
      samplingRate: 0.5,
      population: 24,
      graphSeed: seed,
      authenticated: true,
    });
    const state: RoundState = {
      round: 4,
      roundId: 'r4-0a0b0c0d',
      startedAt: '2026-12-04T15:00:00.000Z',
      plan,
      live,
      planRevision: 2,
      base: { version: 3, hash: 'ab'.repeat(32) },
      members: Array.from({ length: 12 }, (_, i) => ({ tokenId: `t${i}`, backend: 'wasm' })),
      eligible: 24,
      samplingRate: 0.5,
      funnel: { eligible: 24, selected: 12, advertised: 12, shared: 11, masked: 0, unmasked: 0 },
      dropouts: { shareKeys: { silent: 1, disconnected: 0 } },
      bytes: { received: 1234, sent: 5678 },
      durationsMs: { advertiseKeys: 12.5 },
      backends: { wasm: 12 },
    };
    const text = JSON.stringify(roundStateToJSON(state));
    expect(text).toContain(Buffer.from(seed).toString('hex'));
    expect(roundStateFromJSON(JSON.parse(text))).toEqual(state);
    expect(() => roundStateFromJSON({ ...JSON.parse(text), samplingRate: 2 })).toThrow(/samplingRate/);
  });
});
