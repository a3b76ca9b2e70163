/**
 * The aggregator's record of privacy spent: one entry per committed round (q, σ of that round),
 * RDP summed per order as entries arrive, ε(δ) on demand. It round-trips through JSON so it can be
 * persisted with the round log and re-checked on load (the RDP is recomputed, never trusted from
 * disk).
 *
 * A round of the distributed discrete Gaussian carries its mechanism (`discrete`: Δ₂, each honest
 * client's σ in integer units, the honest shares n, the padded dimension) and is accounted by
 * ddg-accountant.ts (Kairouz, Liu & Steinke 2021 with Zhu & Wang 2019's subsampling bound), so
 * rounding sits inside the guarantee; its noiseMultiplier is then the Gaussian equivalent
 * ddgEquivalentNoiseMultiplier, shown, never used for its RDP.
 */
import { z } from 'zod';
import { ddgMechanismRdp, type DdgMechanism } from './ddg-accountant';
import { assertNoiseMultiplier, DEFAULT_RDP_ORDERS, epsilonUnchecked, rdpUnchecked, type EpsilonConversion, type PrivacySpent } from './rdp';
import { assertDelta, assertNonNegativeInteger, assertOrders, assertPositiveInteger, assertSamplingRate } from './validate';

export interface PrivacyLedgerEntry {
  /** First round the entry covers; rounds never overlap or go back. */
  round: number;
  /** Poisson sampling rate q of the round (expected cohort / eligible population). */
  samplingRate: number;
  /** Effective σ of the committed sum (see roundNoiseMultiplier). */
  noiseMultiplier: number;
  /** Consecutive rounds with these parameters. @default 1 */
  steps?: number;
  /** The round's distributed discrete Gaussian, in integer units; absent for continuous noise. */
  discrete?: DiscreteLedgerMechanism;
}

/** What the ledger keeps of a discrete round: ddg-accountant's DdgMechanism without the optional Δ₁. */
export type DiscreteLedgerMechanism = Required<Pick<DdgMechanism, 'l2Sensitivity' | 'noiseStdDev' | 'clients' | 'dimension'>>;

/** A discrete round's mechanism as stored (the ledger's JSON, the distributed record's ledger rows). */
export const discreteLedgerMechanismSchema = z
  .object({
    l2Sensitivity: z.number().positive().finite(),
    noiseStdDev: z.number().positive().finite(),
    clients: z.number().int().positive(),
    dimension: z.number().int().positive(),
  })
  .strict();

/** One round's RDP at `orders` for an entry: the sampled Gaussian's, or the discrete mechanism's. */
export function ledgerEntryRdp(entry: Pick<PrivacyLedgerEntry, 'samplingRate' | 'noiseMultiplier' | 'discrete'>, orders: readonly number[]): number[] {
  if (entry.discrete !== undefined) return ddgMechanismRdp(entry.discrete, entry.samplingRate, orders);
  return rdpUnchecked(entry.samplingRate, entry.noiseMultiplier, 1, orders);
}

export interface PrivacyLedgerOptions {
  /** @default DEFAULT_RDP_ORDERS */
  orders?: readonly number[];
  /** @default 'improved' */
  conversion?: EpsilonConversion;
}

const ledgerJsonSchema = z
  .object({
    version: z.literal(1),
    orders: z.array(z.number()),
    conversion: z.enum(['improved', 'classic']),
    entries: z.array(
      z
        .object({
          round: z.number(),
          samplingRate: z.number(),
          noiseMultiplier: z.number(),
          steps: z.number(),
          discrete: discreteLedgerMechanismSchema.optional(),
        })
        .strict(),
    ),
  })
  .strict();

export type PrivacyLedgerJson = z.infer<typeof ledgerJsonSchema>;

type StoredEntry = Readonly<Required<Omit<PrivacyLedgerEntry, 'discrete'>> & Pick<PrivacyLedgerEntry, 'discrete'>>;

/**
 * Per-round RDP vectors kept for reuse: effective σ takes few distinct values in practice (it moves
 * with the number of survivors), so most rounds cost a vector addition instead of ~0.4 ms of series.
 */
const MAX_CACHED_MECHANISMS = 256;

export class PrivacyLedger {
  readonly orders: readonly number[];
  readonly conversion: EpsilonConversion;
  readonly #entries: StoredEntry[] = [];
  readonly #rdp: number[];
  readonly #perRoundRdp = new Map<string, readonly number[]>();

  constructor(options: PrivacyLedgerOptions = {}) {
    const { orders = DEFAULT_RDP_ORDERS, conversion = 'improved' } = options;
    assertOrders('PrivacyLedger', orders);
    if (conversion !== 'improved' && conversion !== 'classic') {
      throw new RangeError(`PrivacyLedger: conversion must be 'improved' or 'classic', got ${String(conversion)}`);
    }
    this.orders = Object.freeze([...orders]);
    this.conversion = conversion;
    this.#rdp = this.orders.map(() => 0);
  }

  /** Entries in the order recorded, each with steps filled in. */
  get entries(): readonly StoredEntry[] {
    return this.#entries;
  }

  /** Accumulated RDP per order (same order as `orders`). */
  get rdp(): readonly number[] {
    return [...this.#rdp];
  }

  /** Checks an entry against the argument rules and the previous entry, and stores it. */
  #append(entry: PrivacyLedgerEntry, where: string): StoredEntry {
    if (typeof entry !== 'object' || entry === null) {
      throw new TypeError(`${where}: entry must be an object, got ${entry === null ? 'null' : typeof entry}`);
    }
    const { round, samplingRate, noiseMultiplier, steps = 1, discrete } = entry;
    assertNonNegativeInteger(where, 'round', round);
    assertSamplingRate(where, samplingRate);
    assertNoiseMultiplier(where, noiseMultiplier);
    assertPositiveInteger(where, 'steps', steps);
    const last = this.#entries.at(-1);
    if (last !== undefined && round < last.round + last.steps) {
      throw new RangeError(
        `${where}: round must be >= ${last.round + last.steps} (the previous entry covers rounds ${last.round}..${last.round + last.steps - 1}), got ${round}`,
      );
    }
    let mechanism: DiscreteLedgerMechanism | undefined;
    if (discrete !== undefined) {
      const parsed = discreteLedgerMechanismSchema.safeParse(discrete);
      if (!parsed.success) throw new RangeError(`${where}: discrete: ${z.prettifyError(parsed.error)}`);
      mechanism = Object.freeze(parsed.data);
    }
    const stored = Object.freeze({ round, samplingRate, noiseMultiplier, steps, ...(mechanism ? { discrete: mechanism } : {}) });
    this.#entries.push(stored);
    return stored;
  }

  #addRdp(entry: StoredEntry): void {
    const { samplingRate, noiseMultiplier, steps, discrete } = entry;
    const key = discrete
      ? `${samplingRate}:ddg:${discrete.l2Sensitivity}:${discrete.noiseStdDev}:${discrete.clients}:${discrete.dimension}`
      : `${samplingRate}:${noiseMultiplier}`;
    let perRound = this.#perRoundRdp.get(key);
    if (perRound === undefined) {
      perRound = ledgerEntryRdp(entry, this.orders);
      if (this.#perRoundRdp.size >= MAX_CACHED_MECHANISMS) {
        this.#perRoundRdp.delete(this.#perRoundRdp.keys().next().value as string);
      }
      this.#perRoundRdp.set(key, perRound);
    }
    perRound.forEach((value, index) => {
      this.#rdp[index] = (this.#rdp[index] as number) + steps * value;
    });
  }

  /** Records one committed round (or `steps` consecutive rounds with the same parameters). */
  record(entry: PrivacyLedgerEntry): void {
    const stored = this.#append(entry, 'PrivacyLedger.record');
    this.#addRdp(stored);
  }

  /** The smallest ε over the ledger's orders for which everything recorded is (ε, δ)-DP. */
  epsilon(delta: number): PrivacySpent {
    assertDelta('PrivacyLedger.epsilon', delta);
    return epsilonUnchecked(this.orders, this.#rdp, delta, this.conversion);
  }

  /**
   * ε spent at δ as people are shown it: null before anything was released. Valid σ keep ε finite;
   * the check stands guard so that a page or metric never gets Infinity or NaN.
   */
  spent(delta: number): PrivacySpent | null {
    if (this.#entries.length === 0) return null;
    const spent = this.epsilon(delta);
    return Number.isFinite(spent.epsilon) ? spent : null;
  }

  toJSON(): PrivacyLedgerJson {
    return {
      version: 1,
      orders: [...this.orders],
      conversion: this.conversion,
      entries: this.#entries.map((entry) => ({ ...entry, ...(entry.discrete ? { discrete: { ...entry.discrete } } : {}) })),
    };
  }

  /** Rebuilds a ledger from toJSON's output, re-validating every entry and recomputing the RDP. */
  static fromJSON(json: unknown): PrivacyLedger {
    const where = 'PrivacyLedger.fromJSON';
    const parsed = ledgerJsonSchema.safeParse(json);
    if (!parsed.success) {
      throw new TypeError(`${where}: invalid ledger: ${z.prettifyError(parsed.error)}`);
    }
    const ledger = new PrivacyLedger({ orders: parsed.data.orders, conversion: parsed.data.conversion });
    parsed.data.entries.forEach(({ discrete, ...entry }, index) => {
      const stored = ledger.#append({ ...entry, ...(discrete ? { discrete } : {}) }, `${where} entries[${index}]`);
      ledger.#addRdp(stored);
    });
    return ledger;
  }
}
