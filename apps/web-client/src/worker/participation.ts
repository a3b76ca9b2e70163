import { io, type Socket } from 'socket.io-client';
import {
  asParticipantSocket,
  connectParticipant,
  downloadPlanModel,
  handshakeAuth,
  prepareContribution,
  type ParticipantConnection,
  type ParticipantEvent,
} from '@murmur/fl-core/participant';
import {
  payloadBytes,
  protocolFailure,
  roundReportSchema,
  type ClientToServerEvents,
  type Eligibility,
  type ProtocolResult,
  type RoundPlan,
  type ServerToClientEvents,
} from '@murmur/fl-core/protocol';
import { type ExampleSet } from '@murmur/fl-core/text';
import type * as tf from '@tensorflow/tfjs';
import { planUploadBoundBytes } from '../scheduler/upload-budget';
import { PLAN_POLICY } from '../privacy/plan-policy';
import { participationRecordOf } from '../privacy/participation-record';
import type { ParticipationEvent, UploadAllowance } from './protocol';

/** What the session needs from the engine that owns tfjs. */
export interface ContributionHost {
  /** A model for this spec on the chosen backend (reused across rounds). */
  trainerFor(plan: RoundPlan): tf.LayersModel;
  backendName(): string;
}

interface RoundLedger {
  roundId: string;
  round: number;
  modelVersion: number;
  startedAt: number;
  numExamples: number;
  contributed: boolean;
}

const SERVER_DISCONNECT_RETRY_MS = 2_000;
/** A pace-steering wait at least this long is spent without a connection. */
export const PACED_DISCONNECT_MS = 20_000;
/** The connection comes back this long before the time the aggregator named. */
const PACED_RECONNECT_LEAD_MS = 5_000;
/** How often a refused handshake proof may trigger a look at the aggregator's clock. */
const CLOCK_CHECK_MS = 30_000;
/** Progress reports while training: often enough to move the bar, rarely enough not to flood postMessage. */
const PROGRESS_EVERY_MS = 250;

/**
 * Bytes this worker sent for training, against what the month's upload budget still allows. It
 * lives as long as the worker (across participation sessions), so its running total matches the
 * page's ledger: the page says how much was left once it had recorded the first
 * `accountedBytes`, and everything sent since counts against that.
 */
export class UploadMeter {
  private sentBytes = 0;
  private allowance: UploadAllowance = { remainingBytes: null, accountedBytes: 0 };

  setAllowance(allowance: UploadAllowance): void {
    this.allowance = allowance;
  }

  /** Bytes still allowed; null: unlimited. */
  remaining(): number | null {
    const { remainingBytes, accountedBytes } = this.allowance;
    return remainingBytes === null ? null : Math.max(0, remainingBytes - (this.sentBytes - accountedBytes));
  }

  fits(bytes: number): boolean {
    const remaining = this.remaining();
    return remaining === null || bytes <= remaining;
  }

  /** Counts bytes sent; returns the running total. */
  add(bytes: number): number {
    this.sentBytes += bytes;
    return this.sentBytes;
  }
}

/**
 * One browser's participation: a Socket.IO connection from inside the training worker, driven by
 * fl-core's participant glue (check in, train → clip → noise → encode, secure aggregation). The
 * socket reconnects by itself after network loss or an aggregator restart; the glue then checks
 * in again (or resumes the round the aggregator still counts it in). Everything about a round that
 * the privacy page's log shows — bytes, ε, backend, duration — is accounted here.
 */
export class ParticipationSession {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private readonly connection: ParticipantConnection;
  private eligibility: Eligibility | null;
  private examples: ExampleSet | null;
  private bytesSent = 0;
  private bytesReceived = 0;
  private current: RoundLedger | null = null;
  /** The round left because its upload would not fit the budget: its local error is expected. */
  private declinedRoundId: string | null = null;
  private stopped = false;
  private pacedReconnect: ReturnType<typeof setTimeout> | null = null;
  /** The aggregator's clock minus this device's, learnt when a handshake proof was refused for its time. */
  private clockOffsetMs = 0;
  private lastClockCheckAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly origin: string,
    identity: { certificate: string; privateKey: CryptoKey; issuer: { name: string; publicKey: Uint8Array } },
    initial: { eligibility: Eligibility | null; examples: ExampleSet | null },
    private readonly host: ContributionHost,
    private readonly report: (event: ParticipationEvent) => void,
    private readonly uploads: UploadMeter,
    routingBucket: number | null = null,
  ) {
    this.eligibility = initial.eligibility;
    this.examples = initial.examples;
    this.socket = io(origin, {
      // A fresh proof of possession on every (re)connection: the aggregator accepts each once.
      auth: handshakeAuth(identity, { now: () => Date.now() + this.clockOffsetMs }),
      transports: ['websocket'],
      // The proxy in front of several aggregator processes hashes on it (docs/scale-out.md, "Routing"):
      // the handshake's auth arrives too late to route on.
      ...(routingBucket === null ? {} : { query: { bucket: String(routingBucket) } }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 5_000,
    });
    this.socket.on('connect', () => this.report({ kind: 'connection', status: 'connected', detail: null }));
    this.socket.on('disconnect', (reason) => {
      this.report({ kind: 'connection', status: 'disconnected', detail: reason });
      // Socket.IO reconnects by itself after a lost transport, but not after the server closed the
      // session (e.g. while shutting down): try again, and let the handshake say if we are unwelcome.
      if (reason === 'io server disconnect') {
        setTimeout(() => {
          if (!this.stopped) this.socket.connect();
        }, SERVER_DISCONNECT_RETRY_MS);
      }
    });
    this.socket.on('connect_error', (error: Error & { data?: { code?: unknown } }) => {
      const code = typeof error.data?.code === 'string' ? error.data.code : null;
      // A certificate the aggregator does not accept (expired, another issuer) or a revoked client
      // id: retrying the same identity cannot help; the page decides (enroll again, or say so).
      if (code === 'UNKNOWN_IDENTITY' || code === 'REVOKED_IDENTITY') {
        this.report({ kind: 'identityRejected', code, message: error.message.slice(0, 1000) });
        this.stop();
        return;
      }
      // Refused proofs are not retried by socket.io; one made on a clock far from the aggregator's
      // is retried once the offset is known (at most every CLOCK_CHECK_MS).
      if (code === 'BAD_PROOF') void this.learnClockOffset();
      this.report({ kind: 'connection', status: 'disconnected', detail: error.message.slice(0, 500) });
    });
    this.socket.onAny((_event: string, ...args: unknown[]) => {
      this.bytesReceived += args.reduce<number>((sum, arg) => sum + payloadBytes(arg), 0);
    });
    const raw = asParticipantSocket(this.socket);
    this.connection = connectParticipant(
      {
        on: (event, listener) => raw.on(event, listener),
        off: (event, listener) => raw.off(event, listener),
        emit: (event, payload) => {
          const bytes = payloadBytes(payload);
          // The last guard of the month's budget, for a round's messages (the page checks in only
          // when a whole round, check-in included, fits; contribute() checks the plan): one that
          // would go over is not sent, and the round goes on without this device.
          const round = this.current?.roundId ?? null;
          if (round !== null && (round === this.declinedRoundId || !this.uploads.fits(bytes))) {
            this.decline(round, bytes);
            return false;
          }
          this.bytesSent += bytes;
          this.report({ kind: 'uploaded', bytes, totalBytes: this.uploads.add(bytes) });
          return raw.emit(event, payload);
        },
      },
      {
        eligibility: () => (this.examples && this.eligibility ? { ...this.eligibility, exampleCount: this.examples.count } : null),
        contribute: (plan, signal) => this.contribute(plan, signal),
        onEvent: (event) => this.onEvent(event),
        identity: { certificate: identity.certificate, privateKey: identity.privateKey },
        enrollmentIssuer: identity.issuer,
        planPolicy: PLAN_POLICY,
        recheckMs: 2_000,
      },
    );
  }

  update(change: { eligibility?: Eligibility | null; examples?: ExampleSet | null; online?: boolean }): void {
    if (change.eligibility !== undefined) this.eligibility = change.eligibility;
    if (change.examples !== undefined) this.examples = change.examples;
    // The page learns of a lost network long before a missed ping would (25 s + 20 s): drop the
    // connection at once, and reconnect as soon as the network is back instead of at the next backoff.
    if (change.online === false && this.socket.connected) {
      this.socket.disconnect();
      this.report({ kind: 'connection', status: 'disconnected', detail: 'the network went away' });
    }
    if (change.online === true && !this.stopped && !this.socket.connected) this.socket.connect();
  }

  /**
   * The aggregator's time from the Date header of GET /healthz (one-second resolution, halfway
   * through the request), against this device's clock; then one more connection attempt.
   */
  private async learnClockOffset(): Promise<void> {
    const startedAt = Date.now();
    if (startedAt - this.lastClockCheckAt < CLOCK_CHECK_MS) return;
    this.lastClockCheckAt = startedAt;
    try {
      const response = await fetch(`${this.origin}/healthz`, { cache: 'no-store' });
      const serverMs = Date.parse(response.headers.get('date') ?? '');
      if (!Number.isFinite(serverMs)) return;
      const offset = serverMs + 500 - (startedAt + Date.now()) / 2;
      // Within a few seconds the proof was refused for something else (a replay, a bad key): keep the clock.
      if (Math.abs(offset) > 5_000) this.clockOffsetMs = offset;
    } catch {
      return;
    }
    if (!this.stopped && !this.socket.connected) this.socket.connect();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pacedReconnect) clearTimeout(this.pacedReconnect);
    this.connection.stop();
    this.socket.disconnect();
  }

  private async downloadModel(plan: RoundPlan): Promise<Float32Array> {
    const { weights, bytes } = await downloadPlanModel(plan.model, this.origin);
    this.bytesReceived += bytes;
    return weights;
  }

  /** Leaves the round (the aggregator counts a dropout) and tells the page why. */
  private decline(roundId: string, uploadBytes: number): void {
    if (this.declinedRoundId === roundId) return;
    this.declinedRoundId = roundId;
    this.report({ kind: 'declined', roundId, uploadBytes, remainingBytes: this.uploads.remaining() ?? 0 });
  }

  private async contribute(plan: RoundPlan, signal: AbortSignal): Promise<ProtocolResult<Uint32Array>> {
    const examples = this.examples;
    if (!examples) return protocolFailure('CONTRIBUTION_FAILED', 'no local examples');
    // Before downloading and training: a round whose upload cannot fit is not worth starting.
    const uploadBytes = planUploadBoundBytes(plan);
    if (!this.uploads.fits(uploadBytes)) {
      this.decline(plan.roundId, uploadBytes);
      return protocolFailure('CONTRIBUTION_FAILED', `this round uploads up to ${uploadBytes} bytes; this month's budget has ${this.uploads.remaining()} left`);
    }
    let weights: Float32Array;
    try {
      weights = await this.downloadModel(plan);
    } catch (error) {
      return protocolFailure('BAD_SERVER_MESSAGE', (error as Error).message);
    }
    let reportedAt = Number.NEGATIVE_INFINITY;
    const onBatch = ({ batch, batches }: { batch: number; batches: number }) => {
      const now = performance.now();
      if (now - reportedAt < PROGRESS_EVERY_MS && batch < batches) return;
      reportedAt = now;
      this.report({ kind: 'progress', roundId: plan.roundId, step: batch, steps: batches });
    };
    const result = await prepareContribution({ plan, model: this.host.trainerFor(plan), globalWeights: weights, examples, signal, onBatch });
    if (!result.ok) return result;
    if (this.current?.roundId === plan.roundId) this.current.numExamples = result.value.report.numExamples;
    // Counted for the device's own ε from here on, whatever becomes of the round: the update is
    // ready and its masked form may leave next.
    this.report({ kind: 'participated', record: participationRecordOf(plan, Date.now()) });
    this.report({
      kind: 'trained',
      roundId: plan.roundId,
      numExamples: result.value.report.numExamples,
      seconds: result.value.report.seconds,
      wasClipped: result.value.report.wasClipped,
    });
    return { ok: true, value: result.value.input };
  }

  /**
   * Pace steering: the aggregator has enough devices waiting and said when to come back. A long
   * wait is spent without a connection (the point of steering: idle devices hold no socket); the
   * socket comes back shortly before, and its welcome checks in again.
   */
  private restUntilPaced(retryAfterMs: number): void {
    if (retryAfterMs < PACED_DISCONNECT_MS || this.stopped) return;
    if (this.pacedReconnect) clearTimeout(this.pacedReconnect);
    this.socket.disconnect();
    this.pacedReconnect = setTimeout(() => {
      this.pacedReconnect = null;
      if (!this.stopped) this.socket.connect();
    }, retryAfterMs - PACED_RECONNECT_LEAD_MS);
  }

  private onEvent(event: ParticipantEvent): void {
    switch (event.type) {
      case 'welcome':
        this.report({ kind: 'welcome', modelVersion: event.modelVersion });
        return;
      case 'checkedIn':
        this.report({ kind: 'checkedIn', status: event.status, retryAfterMs: event.retryAfterMs });
        if (event.status === 'later') this.restUntilPaced(event.retryAfterMs);
        return;
      case 'belowMinimum':
        // Fewer examples than the aggregator asks for: nothing was sent (the count stays here).
        this.report({ kind: 'checkedIn', status: 'ineligible', retryAfterMs: 0 });
        return;
      case 'selected':
        this.bytesSent = 0;
        this.bytesReceived = 0;
        this.current = {
          roundId: event.plan.roundId,
          round: event.plan.round,
          modelVersion: event.plan.model.version,
          startedAt: Date.now(),
          numExamples: 0,
          contributed: false,
        };
        this.report({ kind: 'selected', roundId: event.plan.roundId, round: event.plan.round, uploadBytes: planUploadBoundBytes(event.plan) });
        return;
      case 'refused': {
        const ledger = this.current;
        const reasons = event.reasons.map((r) => r.message);
        this.report({ kind: 'refused', roundId: event.plan.roundId, reasons });
        // Logged now, not at the round's end: nothing more happens here for this round.
        if (ledger && ledger.roundId === event.plan.roundId) {
          this.current = null;
          void this.logRound(ledger, 'refused', reasons.join('; '));
        }
        return;
      }
      case 'contributed':
        if (this.current?.roundId === event.roundId) this.current.contributed = true;
        this.report({ kind: 'phase', roundId: event.roundId, stage: 'advertised keys' });
        return;
      case 'phase':
        this.report({ kind: 'phase', roundId: event.roundId, stage: event.stage });
        return;
      case 'roundEnd': {
        const ledger = this.current;
        this.report({ kind: 'roundEnd', roundId: event.result.roundId, status: event.result.status, modelVersion: event.result.modelVersion });
        if (ledger && ledger.roundId === event.result.roundId) {
          this.current = null;
          void this.logRound(
            ledger,
            event.result.status === 'committed' && ledger.contributed ? 'contributed' : 'aborted',
            event.result.reason?.message ?? null,
          );
        }
        return;
      }
      case 'error':
        // A round left for the budget was already reported as `declined`, in words.
        if (event.from === 'local' && this.declinedRoundId !== null && this.declinedRoundId === this.current?.roundId) return;
        this.report({ kind: 'error', code: event.error.code, message: event.error.message.slice(0, 2000), from: event.from });
        return;
      default: {
        const unknown: never = event;
        throw new Error(`unhandled participant event ${JSON.stringify(unknown)}`);
      }
    }
  }

  /**
   * The aggregator's population ε after the round, from its round record (the ledger is the
   * aggregator's to keep); null when it cannot be had. The device's own ε is the page's.
   */
  private async populationPrivacy(round: number): Promise<{ epsilon: number | null; delta: number | null }> {
    try {
      const response = await fetch(new URL(`/api/rounds/${round}`, this.origin));
      if (response.ok) {
        const parsed = roundReportSchema.safeParse(await response.json());
        if (parsed.success) return { epsilon: parsed.data.privacy.epsilon, delta: parsed.data.privacy.delta };
      }
    } catch {
      // The log entry is still worth keeping without ε; it says so with a dash.
    }
    return { epsilon: null, delta: null };
  }

  /** A refused round is logged before it ends, with no ε: there is none to fetch yet. */
  private async logRound(ledger: RoundLedger, status: 'contributed' | 'aborted' | 'refused', reason: string | null): Promise<void> {
    const { epsilon, delta } = status === 'refused' ? { epsilon: null, delta: null } : await this.populationPrivacy(ledger.round);
    this.report({
      kind: 'contribution',
      record: {
        at: Date.now(),
        roundId: ledger.roundId,
        modelVersion: ledger.modelVersion,
        status,
        reason,
        bytesSent: this.bytesSent,
        bytesReceived: this.bytesReceived,
        epsilon,
        delta,
        backend: this.host.backendName(),
        durationMs: Date.now() - ledger.startedAt,
        numExamples: ledger.numExamples,
      },
    });
  }
}
