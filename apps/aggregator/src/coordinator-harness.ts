import { cpSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import { pino } from 'pino';
import { createServerOptimizer } from '@murmur/fl-core/aggregate';
import { createMetricsLayout, encodingParams, encodeWithMetrics } from '@murmur/fl-core/encode';
import { type ModelSpec, parameterCount } from '@murmur/fl-core/model';
import {
  packSecAgg,
  parseClientEvent,
  type CheckInResult,
  parseServerEvent,
  type PhaseEvent,
  payloadBytes,
  type RoundPlan,
  type RoundReport,
  type ServerEventName,
  type ServerEventPayload,
} from '@murmur/fl-core/protocol';
import { generateSigningKeyPair, issueCertificate } from '@murmur/fl-core/identity';
import { roundPlanHash } from '@murmur/fl-core/round';
import {
  createPeerCertificateCache,
  createSecAggClient,
  defaultSuite,
  secAggClientStep,
  type ClientToServerMessage,
  type SecAggClientState,
  type SecAggServerState,
  type SecAggServerStepResult,
} from '@murmur/fl-core/secagg';
import { AuditLog } from './audit';
import type { AggregatorConfigInput } from './config';
import { RoundCoordinator, type GroupLink } from './coordinator';
import { createMetrics } from './metrics';
import { configuredPlan } from './plan';
import { ReleaseGate } from './release-gate';
import { publicRoundRecord } from './public-view';
import { roundStateFromJSON, roundStateToJSON, type RoundState } from './round-state';
import { DataStore } from './store';
import { eventually, tempDataDir, testConfig } from './test-helpers';

/**
 * The coordinator's transitions without sockets or browsers: its `send` delivers to in-process
 * SecAgg client machines (fl-core's, the ones browsers run), whose answers go straight to
 * handleSecAgg after the same edge parsing the transport applies. Each client's input is a fixed
 * update (no training), so the sum, the mean and the ledger can be computed by hand.
 */

/** A model small enough that 12 SecAgg clients take milliseconds: 530 weights. */
export const SPEC: ModelSpec = { architecture: 'gru', vocabularySize: 100, contextLength: 2, embeddingDim: 2, hiddenUnits: 2 };
export const DIMENSION = parameterCount(SPEC);
/** Each honest client's update coordinate: norm 0.01·√530 ≈ 0.23, under C = 1, so nothing is clipped. */
export const UPDATE = 0.01;
export const METRICS = { examples: 10, trainLossSum: 20, evalCount: 4, evalLossSum: 8, evalTop1: 1, evalTop3: 2 };
export const LIMITS = { maxBytes: 64 * 1024 * 1024 };

type DownType = 'roundPlan' | 'peerKeys' | 'encryptedShares' | 'consistencyRequest' | 'unmaskRequest';

export interface Behaviour {
  /** Goes away for good on receiving this server message. */
  dropOn?: DownType;
  /** Sends this coordinate value instead of an honest update (a dishonest input SecAgg cannot see). */
  update?: number;
  /** The rounds it sends `update` in (honest in the others); absent: every round. */
  updateInRounds?: number[];
  /** Stays connected but never answers this server message (silent, not disconnected). */
  muteOn?: DownType;
  /** The rounds it is silent in (muteOn 'roundPlan' only); absent: every round. */
  muteInRounds?: number[];
  /** Its first message is also sent by this token, which is not in the cohort. */
  echoAs?: string;
  /** When it goes away (dropOn), the transport reports the disconnection (coordinator.disconnected). */
  reportDisconnect?: boolean;
  /** Checks in again on receiving its plan (a reconnecting member's client would). */
  checkInOnPlan?: boolean;
}

/** What the coordinator handed its transport: every send, whether or not the member was still there. */
interface Sent {
  tokenId: string;
  event: ServerEventName;
  payload: unknown;
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

/** Runs `cleanup` after the current test (the harness stops its coordinator and removes its data this way). */
export function afterThisTest(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

export async function harness(
  n: number,
  behaviours: Record<number, Behaviour>,
  overrides: AggregatorConfigInput,
  options: {
    failingGate?: boolean;
    crashSnapshot?: string;
    initialWeight?: number;
    group?: (store: DataStore) => GroupLink;
    /** Authenticated rounds: an enrollment issuer for the coordinator, a certified identity for every client. */
    enrolled?: boolean;
    /** The off-thread unmasking close the coordinator is given (unmask-thread.ts's place). */
    unmasking?: { closeUnmasking(state: SecAggServerState): Promise<SecAggServerStepResult> | null };
  } = {},
) {
  const data = tempDataDir();
  /** What the operator's log says at info level and above, one object per line. */
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const config = testConfig(data.dir, { ...overrides, round: { pauseMs: 10_000, reconnectGraceMs: 0, ...overrides.round } });
  const initial = () => ({
    spec: SPEC,
    weights: new Float32Array(DIMENSION).fill(options.initialWeight ?? 0),
    optimizer: createServerOptimizer(config.optimizer, DIMENSION),
  });
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
  const enrollment = options.enrolled ? await enrollAll(tokens) : undefined;
  /** What the coordinator's onPhase handed on, in order. */
  const phases: PhaseEvent[] = [];
  const gone = new Set<string>();
  const clients = new Map<string, SecAggClientState>();
  const reports: RoundReport[] = [];
  const states: RoundState[] = [];
  const refusals: string[] = [];
  const refusalErrors: { code: string; message: string }[] = [];
  const sent: Sent[] = [];
  /** Every client message the coordinator accepted, in order (replayed by tests of stale messages). */
  const accepted: { tokenId: string; message: ClientToServerMessage }[] = [];
  /** Check-ins of members on receiving their plan (checkInOnPlan): the answer and the pool size after it. */
  const memberCheckIns: { answer: CheckInResult; poolSize: number }[] = [];
  let chain: Promise<void> = Promise.resolve();

  const up = async (tokenId: string, message: ClientToServerMessage) => {
    const packed = packSecAgg(message);
    const parsed = parseClientEvent('secagg', packed, LIMITS);
    if (!parsed.ok) throw new Error(`${tokenId}: ${parsed.error.message}`);
    // Authenticated rounds: the transport ties a key advertisement to the certificate of the connection's handshake.
    const certificate = enrollment?.identities.get(tokenId)?.certificate;
    const inbound = parsed.value.type === 'advertiseKeys' && certificate !== undefined ? { ...parsed.value, certificate } : parsed.value;
    const refused = await coordinator.handleSecAgg(tokenId, inbound, payloadBytes(packed));
    if (refused) refusals.push(`${tokenId}: ${refused.code}`);
    if (refused) refusalErrors.push(refused);
    else accepted.push({ tokenId, message });
  };
  const receive = async (tokenId: string, event: ServerEventName, payload: unknown) => {
    const behaviour = behaviourOf.get(tokenId) ?? {};
    if (event === behaviour.dropOn) {
      gone.add(tokenId);
      return;
    }
    if (event === behaviour.muteOn && (behaviour.muteInRounds?.includes((payload as RoundPlan).round) ?? true)) return;
    if (event === 'roundPlan') {
      const parsedPlan = parseServerEvent('roundPlan', payload, LIMITS);
      if (!parsedPlan.ok) throw new Error(`${tokenId}: ${parsedPlan.error.message}`);
      const plan = parsedPlan.value;
      const layout = createMetricsLayout(plan.metrics, { maxClients: plan.encoding.maxClients, modulusBits: plan.encoding.modulusBits });
      // With adaptive clipping: b − 1/2 = +1/2, the update fit under C.
      const metrics: Record<string, number> = plan.metrics.unclipped ? { ...METRICS, unclipped: 0.5 } : { ...METRICS };
      const dishonest = behaviour.update !== undefined && (behaviour.updateInRounds?.includes(plan.round) ?? true);
      const update = new Float32Array(DIMENSION).fill(dishonest ? (behaviour.update ?? UPDATE) : UPDATE);
      const input = encodeWithMetrics(update, metrics, encodingParams(plan.encoding), layout);
      const identity = enrollment?.identities.get(tokenId);
      const auth = enrollment && identity ? { auth: { identity, enrollmentIssuer: enrollment.issuer, planHash: roundPlanHash(plan) } } : {};
      const cache = enrollment ? { certificateCache: certificateCacheOf(tokenId) } : {};
      const made = await createSecAggClient({ config: plan.secagg, clientId: plan.participantId, input, suite, ...auth, ...cache });
      if (!made.ok) throw new Error(`${tokenId}: ${made.error.message}`);
      clients.set(tokenId, made.state);
      if (behaviour.checkInOnPlan) {
        memberCheckIns.push({ answer: coordinator.checkIn(tokenId, { consent: true, backend: 'cpu' }), poolSize: coordinator.poolSize });
      }
      if (behaviour.echoAs !== undefined) await up(behaviour.echoAs, made.outbound);
      return up(tokenId, made.outbound);
    }
    if (event !== 'secagg') return;
    const parsed = parseServerEvent('secagg', payload, LIMITS);
    if (!parsed.ok) throw new Error(`${tokenId}: ${parsed.error.message}`);
    if (parsed.value.type === behaviour.dropOn) {
      gone.add(tokenId);
      if (behaviour.reportDisconnect) coordinator.disconnected(tokenId);
      return;
    }
    if (parsed.value.type === behaviour.muteOn) return;
    const state = clients.get(tokenId);
    if (!state) return;
    const step = await secAggClientStep(state, parsed.value, { suite, certificateCache: certificateCacheOf(tokenId) });
    if (!step.ok) throw new Error(`${tokenId}: ${step.error.message}`);
    clients.set(tokenId, step.state);
    if (step.outbound) await up(tokenId, step.outbound);
  };

  const certificateCaches = new Map<string, ReturnType<typeof createPeerCertificateCache>>();
  const certificateCacheOf = (tokenId: string) => {
    let cache = certificateCaches.get(tokenId);
    if (!cache) certificateCaches.set(tokenId, (cache = createPeerCertificateCache()));
    return cache;
  };

  const coordinator: RoundCoordinator = new RoundCoordinator({
    config,
    store,
    logger,
    metrics,
    gate,
    plan: { plan: configuredPlan(config, store), revision: 0 },
    send<K extends ServerEventName>(tokenId: string, event: K, payload: ServerEventPayload<K>): boolean {
      sent.push({ tokenId, event, payload });
      if (gone.has(tokenId)) return false;
      // The 'roundPlan' payload is built per member; plans are read as sent, so no copy is needed.
      chain = chain.then(() => receive(tokenId, event, payload));
      return true;
    },
    isConnected: (tokenId) => !gone.has(tokenId),
    onPhase: (event) => {
      phases.push(event);
      const state = coordinator.roundState;
      if (state) states.push(roundStateFromJSON(JSON.parse(JSON.stringify(roundStateToJSON(state)))));
    },
    onReport: (report) => reports.push(report),
    ...(options.group ? { group: options.group(store) } : {}),
    ...(enrollment ? { enrollmentIssuer: enrollment.issuer } : {}),
    ...(options.unmasking ? { unmasking: options.unmasking } : {}),
  });
  afterThisTest(async () => {
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
  /** What `tokenId` was sent, by event. */
  const sentTo = (tokenId: string, event: ServerEventName) => sent.filter((s) => s.tokenId === tokenId && s.event === event).map((s) => s.payload);
  /** Resolves once every client has handled what it was sent so far. */
  const delivered = () => chain;
  return {
    store,
    config,
    tokens,
    firstReport,
    states,
    refusals,
    coordinator,
    sent,
    sentTo,
    accepted,
    metrics,
    reports,
    logs,
    memberCheckIns,
    refusalErrors,
    delivered,
    phases,
    gone,
  };
}

/** An enrollment issuer and one certified device identity per token (what the enrollment service hands out). */
async function enrollAll(tokens: string[]) {
  const issuerKeys = await generateSigningKeyPair();
  const issuer = { name: 'murmur-coordinator-test', publicKey: issuerKeys.publicKey };
  const now = Date.now();
  const identities = new Map<string, { certificate: string; privateKey: CryptoKey }>();
  for (const token of tokens) {
    const device = await generateSigningKeyPair();
    const certificate = await issueCertificate(issuerKeys.privateKey, {
      clientId: `device-${token}`,
      publicKey: device.publicKey,
      issuer: issuer.name,
      issuedAtMs: now - 60_000,
      expiresAtMs: now + 3_600_000,
    });
    identities.set(token, { certificate, privateKey: device.privateKey });
  }
  return { issuer, identities };
}

/** The round-end message each member was sent, and whether it was told of a SecAgg abort first. */
export function endings(sentTo: (tokenId: string, event: ServerEventName) => unknown[], tokenId: string) {
  const secagg = sentTo(tokenId, 'secagg').map((payload) => {
    const parsed = parseServerEvent('secagg', payload, LIMITS);
    if (!parsed.ok) throw new Error(parsed.error.message);
    return parsed.value;
  });
  return { roundEnd: sentTo(tokenId, 'roundEnd'), secaggTypes: secagg.map((m) => m.type), aborts: secagg.filter((m) => m.type === 'abort') };
}

export async function gauge(metric: { get(): Promise<{ values: { value: number; labels: object }[] }> }, labels: object = {}): Promise<number | undefined> {
  return (await metric.get()).values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value;
}
