import { enrollDevice, EnrollmentFailure, sameIssuer, type EnrollmentIssuer } from '@murmur/fl-core/identity';
import { routingBucketOf, type Eligibility as WireEligibility } from '@murmur/fl-core/protocol';
import { type ExampleSet } from '@murmur/fl-core/text';
import type { LocalStore } from '../storage/db';
import type { ContributionRecord, DeviceControls, IdentityRecord, ParticipationRecord, Settings } from '../storage/schema';
import { monthKey, UploadLedger } from '../storage/upload-ledger';
import { decideEligibility, type ParticipationPolicy } from '../scheduler/eligibility';
import type { DeviceMonitor } from '../scheduler/environment';
import { estimateRoundUploadBytes, formatMegabytes, remainingBytes } from '../scheduler/upload-budget';
import type { ParticipationEvent, UploadAllowance } from '../worker/protocol';
import { problem, type LoadedModelInfo, type ParticipationState, type RuntimeCore, type RuntimeState } from './core';

/** Wait before enrolling again after a failure (offline, aggregator down). */
const ENROLL_RETRY_MS = 10_000;
/** Enroll again this long before the certificate expires, so a round never starts on a dying one. */
const RENEW_BEFORE_EXPIRY_MS = 86_400_000;

export interface ParticipationOptions {
  /** The aggregator's origin (its Socket.IO endpoint). */
  origin: string;
  policy: ParticipationPolicy;
  /** Where to enroll, and the issuer the build pins (null: trust on first use). */
  enrollment: { baseUrl: string; issuer: EnrollmentIssuer | null };
  /** What the browser says about input, power and network. */
  device: Pick<DeviceMonitor, 'current' | 'idleForMs'>;
  /** The examples a round trains on (the example deriver's). */
  trainingSet: () => Promise<ExampleSet | null>;
  /** Look for a newer released model (the aggregator named one, or a round committed). */
  refreshModel: () => Promise<void>;
  /** The stored records changed: recount the storage summary. */
  onStored: () => Promise<void>;
}

/**
 * Helping train: the person's consent and controls, the decision whether this device may train now,
 * the device's enrolled identity, the worker's participation session kept in line with all of
 * these, the worker's round events in words, the upload ledger and the contribution and
 * participation logs. Writes `settings`, `controls`, `upload`, `power`, `eligibility`,
 * `training`, `contributions`, `participations` and `participation` of the runtime's state.
 */
export class Participation {
  readonly #core: RuntimeCore;
  readonly #options: ParticipationOptions;
  /** Whether the worker has a participation session, and what it was last told. */
  #session: { examples: number } | null = null;
  #enrollFailedAt = 0;
  /** The aggregator refused the stored certificate: enroll again before connecting. */
  #renewIdentity = false;
  /** Why this device stopped enrolling for good (revoked, or the enrollment key changed), in words. */
  #identityRefused: string | null = null;
  #syncing = false;
  /** A change arrived while a sync was running: run once more after it. */
  #resync = false;
  /** navigator.onLine as last passed on to the worker's participation session. */
  #lastOnline: boolean | null = null;
  #ledger: UploadLedger | null = null;
  /** Ledger writes and month changes, one at a time and in order. */
  #recording: Promise<void> = Promise.resolve();
  /** The worker's running upload total up to which the ledger has recorded (see UploadAllowance). */
  #accountedUploadBytes = 0;
  #loadingUploadMonth = false;
  /** The upload bound of the last plan this device was sent (its cohort may be larger than assumed). */
  #lastPlanUploadBytes = 0;

  constructor(core: RuntimeCore, options: ParticipationOptions) {
    this.#core = core;
    this.#options = options;
  }

  /** Opens the upload ledger and reads this part's stored state; the runtime sets it with the rest. */
  async open(store: LocalStore): Promise<Pick<RuntimeState, 'settings' | 'controls' | 'upload' | 'contributions' | 'participations'>> {
    this.#ledger = new UploadLedger(store);
    const controls = await store.getControls();
    const usage = await this.#ledger.current();
    return {
      settings: await store.getSettings(),
      controls,
      upload: { ...this.#core.state.upload, ...usage, budgetBytes: controls.monthlyUploadBudgetBytes },
      contributions: await store.listContributions(),
      participations: await store.listParticipations(),
    };
  }

  /** The store is gone (everything deleted): record nothing more. */
  close(): void {
    this.#ledger = null;
  }

  /** Shown at once (the switch follows the tap), then stored; put back if storing fails. */
  async setConsent(consent: boolean): Promise<void> {
    const previous = this.#core.state.settings;
    const settings: Settings = { ...previous, consent, consentChangedAt: Date.now() };
    this.#core.set({ settings });
    try {
      await this.#core.requireStore().putSettings(settings);
    } catch (error) {
      this.#core.set({ settings: previous, notice: problem('consent', `Could not save your choice: ${(error as Error).message}`) });
    }
    this.recomputeEligibility();
  }

  /** Like consent: shown at once, then stored; put back if storing fails. */
  async setControls(change: Partial<Omit<DeviceControls, 'changedAt'>>): Promise<void> {
    const previous = this.#core.state.controls;
    const controls: DeviceControls = { ...previous, ...change, changedAt: Date.now() };
    this.#core.set({ controls, upload: { ...this.#core.state.upload, budgetBytes: controls.monthlyUploadBudgetBytes } });
    try {
      await this.#core.requireStore().putControls(controls);
    } catch (error) {
      this.#core.set({
        controls: previous,
        upload: { ...this.#core.state.upload, budgetBytes: previous.monthlyUploadBudgetBytes },
        notice: problem('controls', `Could not save your choice: ${(error as Error).message}`),
      });
    }
    this.#sendUploadAllowance();
    this.recomputeEligibility();
  }

  async addContribution(record: ContributionRecord): Promise<void> {
    const store = this.#core.requireStore();
    await store.addContribution(record);
    this.#core.set({ contributions: await store.listContributions() });
    await this.#options.onStored();
  }

  /** A new model of another size makes the last plan's upload bound meaningless. */
  modelReplaced(previous: LoadedModelInfo | null, next: LoadedModelInfo): void {
    if (previous && previous.parameters !== next.parameters) this.#lastPlanUploadBytes = 0;
  }

  onDeviceChange(): void {
    const { online } = this.#options.device.current;
    if (this.#session && this.#core.worker && online !== this.#lastOnline) this.#core.worker.request({ type: 'updateParticipation', online });
    this.#lastOnline = online;
    this.recomputeEligibility();
  }

  recomputeEligibility(): void {
    const state = this.#core.state;
    const device = this.#options.device;
    const snapshot = device.current;
    const before = state.eligibility;
    if (this.#ledger && monthKey(Date.now()) !== state.upload.month) this.#loadUploadMonth();
    if (snapshot.charging !== state.power.charging || snapshot.metered !== state.power.metered) {
      this.#core.set({ power: { charging: snapshot.charging, metered: snapshot.metered } });
    }
    const nextRoundBytes = this.#nextRoundBytes();
    if (nextRoundBytes !== this.#core.state.upload.nextRoundBytes) this.#core.set({ upload: { ...this.#core.state.upload, nextRoundBytes } });
    const current = this.#core.state;
    const eligibility = decideEligibility(
      {
        consent: current.settings.consent,
        examples: current.examples,
        idleForMs: device.idleForMs(Date.now()),
        charging: snapshot.charging,
        metered: snapshot.metered,
        online: snapshot.online,
        ready: current.phase === 'ready' && current.model !== null,
        upload: current.upload,
      },
      this.#options.policy,
      current.controls,
    );
    // Ticks every second: re-render only when what is shown changes.
    if (eligibility.reason !== before.reason) this.#core.set({ eligibility });
    if (before.state !== eligibility.state || (this.#session && this.#session.examples !== current.examples)) void this.#sync();
  }

  async onEvent(event: ParticipationEvent): Promise<void> {
    const participation = this.#core.state.participation;
    // `words` is what the status bar says; `detail` keeps the protocol's own terms for "details".
    const at = (words: string, detail: string, change: Partial<ParticipationState> = {}) =>
      this.#core.set({ participation: { ...participation, activity: words, detail, ...change } });
    switch (event.kind) {
      case 'connection':
        if (event.status === 'connected') at('Connected to the Murmur server', 'connected', { connection: event.status });
        else
          at('Not connected to the Murmur server: reconnecting by itself', `disconnected (${event.detail ?? 'unknown'}); reconnecting`, {
            connection: event.status,
          });
        return;
      case 'identityRejected': {
        this.#session = null;
        if (event.code === 'REVOKED_IDENTITY') {
          // An operator took this device out; enrolling again under a new id would undo that.
          this.#identityRefused = 'The Murmur server has removed this browser from training';
          this.#core.set({
            participation: { connection: 'off', activity: this.#identityRefused, detail: `identity ${event.code}: ${event.message}`, roundId: null },
          });
          return;
        }
        // Not accepted (expired, or the aggregator trusts another issuer): enroll again, under the pinned issuer.
        this.#renewIdentity = true;
        this.#core.set({
          participation: {
            connection: 'disconnected',
            activity: 'Registering this browser with the server again',
            detail: `identity ${event.code}; enrolling again`,
            roundId: null,
          },
        });
        void this.#sync();
        return;
      }
      case 'welcome': {
        at('Connected to the Murmur server', `connected; global model v${event.modelVersion}`, { connection: 'connected' });
        const { model } = this.#core.state;
        if (model && event.modelVersion !== model.version) void this.#options.refreshModel();
        return;
      }
      case 'checkedIn':
        if (event.status === 'later') {
          const back = new Date(Date.now() + event.retryAfterMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
          at(`Enough devices are helping right now; checking in again around ${back}`, `checked in: later (pace steering, ${event.retryAfterMs} ms)`);
          return;
        }
        at(
          event.status === 'paused' ? 'Training is paused by the server for now' : 'Ready to help when the next training round starts',
          `checked in: ${event.status}`,
        );
        return;
      case 'selected':
        this.#lastPlanUploadBytes = event.uploadBytes;
        this.#core.set({ training: null });
        at('Training on this device…', `round ${event.round}: selected, training`, { roundId: event.roundId });
        return;
      case 'progress':
        if (participation.roundId === event.roundId) this.#core.set({ training: { step: event.step, steps: event.steps } });
        return;
      case 'uploaded':
        this.#recordUpload(event.bytes, event.totalBytes);
        return;
      case 'declined':
        this.#lastPlanUploadBytes = Math.max(this.#lastPlanUploadBytes, event.uploadBytes);
        this.#core.set({ training: null });
        at(
          `Skipped a round: it uploads up to ${formatMegabytes(event.uploadBytes, 'up')} MB, more than is left of this month's upload budget`,
          `round ${event.roundId}: declined; upload bound ${event.uploadBytes} bytes, ${event.remainingBytes} bytes left this month`,
          { roundId: null },
        );
        this.recomputeEligibility();
        return;
      case 'refused':
        this.#core.set({ training: null });
        at(
          'Skipped a round: the server asked for less privacy than this device accepts',
          `round ${event.roundId}: refused by this device's plan policy: ${event.reasons.join('; ')}`,
          { roundId: null },
        );
        return;
      case 'participated':
        await this.#addParticipation(event.record);
        return;
      case 'trained':
        this.#core.set({ training: null });
        at(
          'Sending a protected update (your text never leaves this device)',
          `trained on ${event.numExamples} examples in ${event.seconds.toFixed(1)} s${event.wasClipped ? ' (update clipped)' : ''}; secure aggregation`,
        );
        return;
      case 'phase':
        at('Combining your protected update with other people’s', `secure aggregation: ${event.stage}`);
        return;
      case 'roundEnd':
        this.#core.set({ training: null });
        at(
          event.status === 'committed' ? 'Round finished: thank you for helping' : 'This round ended without a result; your device will try again later',
          `round ${event.status}; model v${event.modelVersion}`,
          { roundId: null },
        );
        if (event.status === 'committed') void this.#options.refreshModel();
        return;
      case 'error':
        at(
          event.from === 'server'
            ? 'The server could not use this round’s update; it will try again'
            : 'Training on this device hit a problem; it will try again',
          `${event.from === 'server' ? 'aggregator' : 'this device'}: ${event.code}: ${event.message}`,
        );
        return;
      case 'contribution':
        await this.addContribution(event.record);
        return;
      default: {
        const unknown: never = event;
        throw new Error(`unhandled participation event ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** A round this device trained for, stored before its masked update goes out (the device's own ε). */
  async #addParticipation(record: ParticipationRecord): Promise<void> {
    const store = this.#core.requireStore();
    await store.putParticipation(record);
    this.#core.set({ participations: await store.listParticipations() });
    await this.#options.onStored();
  }

  /** What the worker may still upload this month, against its running total (see UploadAllowance). */
  #uploadAllowance(): UploadAllowance {
    return { remainingBytes: remainingBytes(this.#core.state.upload), accountedBytes: this.#accountedUploadBytes };
  }

  #sendUploadAllowance(): void {
    if (this.#session && this.#core.worker) this.#core.worker.request({ type: 'updateParticipation', upload: this.#uploadAllowance() });
  }

  /** Every byte the worker sent for training goes into this month's ledger, in the order sent. */
  #recordUpload(bytes: number, totalBytes: number): void {
    this.#recording = this.#recording
      .then(async () => {
        if (!this.#ledger || this.#core.state.phase === 'deleted') return;
        const usage = await this.#ledger.record(bytes);
        this.#accountedUploadBytes = totalBytes;
        this.#core.set({ upload: { ...this.#core.state.upload, ...usage } });
        this.#sendUploadAllowance();
        this.recomputeEligibility();
      })
      .catch((error: unknown) => this.#core.set({ notice: problem('uploads', `Could not record this month's uploads: ${(error as Error).message}`) }));
  }

  /** A new calendar month starts with the ledger's count for it (zero, unless another tab wrote). */
  #loadUploadMonth(): void {
    if (this.#loadingUploadMonth) return;
    this.#loadingUploadMonth = true;
    this.#recording = this.#recording
      .then(async () => {
        if (!this.#ledger || this.#core.state.phase === 'deleted') return;
        this.#core.set({ upload: { ...this.#core.state.upload, ...(await this.#ledger.current()) } });
        this.#sendUploadAllowance();
        this.recomputeEligibility();
      })
      .catch((error: unknown) => this.#core.set({ notice: problem('uploads', `Could not read this month's uploads: ${(error as Error).message}`) }))
      .finally(() => {
        this.#loadingUploadMonth = false;
      });
  }

  /** The next round's upload bound: from the model's size, or the last plan's when that was larger. */
  #nextRoundBytes(): number {
    const { model } = this.#core.state;
    return model ? Math.max(estimateRoundUploadBytes(model.spec), this.#lastPlanUploadBytes) : 0;
  }

  /**
   * What the aggregator is told at check-in: nothing about the text, only that it may train now.
   * No example count either (protocol 8): the worker compares its own count with the aggregator's
   * `minExamples` and simply does not check in below it.
   */
  #wireEligibility(): WireEligibility | null {
    const { eligibility, calibration } = this.#core.state;
    if (eligibility.state !== 'eligible' || !calibration) return null;
    const snapshot = this.#options.device.current;
    return {
      consent: true,
      idle: true,
      ...(snapshot.charging !== null ? { charging: snapshot.charging } : {}),
      ...(snapshot.metered !== null ? { unmetered: !snapshot.metered } : {}),
      backend: calibration.backend,
    };
  }

  /** Puts the enrollment's progress in the status bar's words, keeping the connection as it is. */
  #tell(activity: string, detail: string): void {
    this.#core.set({ participation: { ...this.#core.state.participation, activity, detail } });
  }

  /**
   * This device's identity: the stored one while its certificate is good, else a new enrollment
   * (a new non-extractable key, a proof of possession, a certificate) under the issuer this device
   * trusts. The key never leaves the browser: IndexedDB and the worker hold the CryptoKey itself.
   */
  async #deviceIdentity(): Promise<IdentityRecord | null> {
    if (this.#identityRefused !== null) return null;
    const store = this.#core.requireStore();
    const stored = await store.getIdentity();
    const configured = this.#options.enrollment.issuer;
    const usable =
      stored !== null &&
      !this.#renewIdentity &&
      Date.now() < stored.expiresAtMs - RENEW_BEFORE_EXPIRY_MS &&
      (configured === null || sameIssuer(configured, stored.issuer));
    if (usable) return stored;
    if (Date.now() - this.#enrollFailedAt < ENROLL_RETRY_MS) return null;
    // A build-configured issuer wins; otherwise the one this device met first stays pinned.
    const pinned = configured ?? stored?.issuer ?? null;
    try {
      const identity = await enrollDevice({
        baseUrl: this.#options.enrollment.baseUrl,
        ...(pinned ? { pinnedIssuer: pinned } : {}),
        // The service may ask for a little work first (a brake on fake devices); solved in short
        // slices between which the page keeps painting and answering input.
        onProofOfWork: ({ difficultyBits, attempts }) =>
          this.#tell(
            'Registering this browser with the Murmur server…',
            attempts === undefined ? `enrollment: a proof of work of ${difficultyBits} bits` : `enrollment: proof of work done in ${attempts} hashes`,
          ),
      });
      const record: IdentityRecord = {
        clientId: identity.clientId,
        certificate: identity.certificate,
        privateKey: identity.privateKey,
        publicKey: identity.publicKey,
        issuer: { name: identity.issuer.name, publicKey: identity.issuer.publicKey },
        issuerSource: configured ? 'configured' : (stored?.issuerSource ?? 'first-use'),
        enrolledAt: Date.now(),
        expiresAtMs: identity.expiresAtMs,
      };
      await store.putIdentity(record);
      this.#renewIdentity = false;
      return record;
    } catch (error) {
      if (error instanceof EnrollmentFailure && error.code === 'ISSUER_CHANGED') {
        this.#identityRefused = 'The Murmur server now vouches for browsers with a different key than the one this browser trusts, so it stays out of training';
        this.#tell(this.#identityRefused, `enrollment refused: ${error.message}`);
        return null;
      }
      this.#enrollFailedAt = Date.now();
      this.#tell('Cannot reach the Murmur server to register this browser; trying again shortly', `could not enroll: ${(error as Error).message}`);
      return null;
    }
  }

  /**
   * Keeps the worker's participation in line with consent and eligibility: connected while the
   * person consents (so reconnection and round resumption work), checking in only while eligible.
   */
  async #sync(): Promise<void> {
    if (this.#syncing) {
      this.#resync = true;
      return;
    }
    if (!this.#core.worker || this.#core.state.phase !== 'ready' || !this.#core.state.calibration) return;
    this.#syncing = true;
    try {
      if (!this.#core.state.settings.consent) {
        if (this.#session) this.#core.worker.request({ type: 'stopParticipating' });
        this.#session = null;
        this.#core.set({ participation: { connection: 'off', activity: null, detail: null, roundId: null } });
        return;
      }
      const eligibility = this.#wireEligibility();
      const examplesChanged = this.#session !== null && this.#session.examples !== this.#core.state.examples;
      const examples = this.#session === null || examplesChanged ? await this.#options.trainingSet() : undefined;
      if (this.#session === null) {
        const identity = await this.#deviceIdentity();
        const worker = this.#core.worker;
        if (identity === null || !worker) return;
        this.#core.set({
          participation: { connection: 'connecting', activity: 'Connecting to the Murmur server…', detail: 'connecting to the aggregator', roundId: null },
        });
        await worker.request({
          type: 'participate',
          origin: this.#options.origin,
          identity: { certificate: identity.certificate, privateKey: identity.privateKey, issuer: identity.issuer },
          eligibility,
          examples: examples ?? null,
          upload: this.#uploadAllowance(),
          routingBucket: routingBucketOf(identity.clientId),
        }).response;
      } else {
        this.#core.worker.request({ type: 'updateParticipation', eligibility, ...(examples !== undefined ? { examples } : {}) });
      }
      this.#session = { examples: this.#core.state.examples };
    } catch (error) {
      this.#core.set({ notice: problem('participation', `Could not start helping train: ${(error as Error).message}`) });
    } finally {
      this.#syncing = false;
      if (this.#resync) {
        this.#resync = false;
        void this.#sync();
      }
    }
  }
}
