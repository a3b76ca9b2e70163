/**
 * Privacy accounting for the distributed discrete Gaussian (ddg.ts), following Kairouz, Liu &
 * Steinke 2021 (arXiv:2102.06387) and its reference implementation (google-research/federated,
 * distributed_dp/accounting_utils.py).
 *
 * One round. The released value is Σᵢ zᵢ + Σⱼ Yⱼ (mod 2^k, which is post-processing) with zᵢ the
 * clients' rounded vectors (‖zᵢ‖₂ ≤ Δ₂, ‖zᵢ‖₁ ≤ Δ₁) and Yⱼ ~ N_Z(0, σ²)^d the noise of n clients, all
 * in integer units. The sum of n discrete Gaussians is not a discrete Gaussian, but it is close:
 * with τ = 10·Σ_{k=1}^{n−1} e^(−2π²σ²·k/(k+1)), for every shift Δ ∈ Z^d and α > 1 (paper,
 * Theorem 1 and Proposition 14, Eq. 17)
 *   D_α(Δ + ΣY ‖ ΣY) ≤ min{ α‖Δ‖₂²/(2nσ²) + τd,
 *                           (α/2)·(‖Δ‖₂²/(nσ²) + 2‖Δ‖₁τ/(√n·σ) + τ²d),
 *                           (α/2)·(‖Δ‖₂/(√n·σ) + τ√d)² }.
 * The last is ½ε²-concentrated DP with ε = Δ₂/(√n·σ) + τ√d (Theorem 1). As σ grows τ vanishes
 * (σ = 1: τ ≈ 10(n−1)·e^(−π²) ≈ 5e−4·(n−1); σ = 3: 10^−37·n) and the bound becomes the
 * continuous Gaussian's α·Δ₂²/(2nσ²).
 *
 * Neighbouring relation and what n means. The bound compares sums that differ by one client's
 * rounded vector while the noise is the same: n counts the noise shares that are in the released
 * sum whoever the protected client is, i.e. honest clients whose shares the protocol guarantees
 * (Murmur's k_min survivors, less any colluding or fake clients, who add no noise that counts).
 * This is the relation the paper and its reference accountant analyse.
 *
 * Rounds and sampling. With Poisson sampling at rate q, each round's RDP at integer order α is
 * bounded with the general upper bound for Poisson-subsampled mechanisms of Zhu & Wang 2019
 * ("Poisson Subsampled Rényi Differential Privacy", ICML, Theorem 6), as the reference
 * implementation does, and capped by the unsampled value:
 *   ε_q(α) ≤ 1/(α−1)·log{ (1−q)^(α−1)(αq − q + 1) + C(α,2)q²(1−q)^(α−2)e^(ε(2))
 *                          + 3·Σ_{l=3}^{α} C(α,l)q^l(1−q)^(α−l)e^((l−1)ε(l)) }.
 * Only integer orders are used (the bound is stated for them). Rounds compose by adding RDP per
 * order, and (ε, δ) comes from rdp.ts's conversion (the same one as TF Privacy's get_privacy_spent).
 */
import type { DdgParams } from './ddg';
import { epsilonUnchecked, type EpsilonConversion, type PrivacySpent } from './rdp';
import { assertDelta, assertNonNegativeInteger, assertPositiveFinite, assertPositiveInteger, assertSamplingRate } from './validate';

/** The reference implementation's orders: every integer 2…128, and 256. */
export const DDG_RDP_ORDERS: readonly number[] = Object.freeze([...Array.from({ length: 127 }, (_, i) => i + 2), 256]);

/** τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)) for n clients each adding N_Z(0, σ²), σ in integer units. */
export function ddgTau(clients: number, noiseStdDev: number): number {
  assertPositiveInteger('ddgTau', 'clients', clients);
  assertPositiveFinite('ddgTau', 'noiseStdDev', noiseStdDev);
  const c = 2 * Math.PI * Math.PI * noiseStdDev * noiseStdDev;
  let sum = 0;
  for (let k = 1; k < clients; k++) sum += Math.exp((-c * k) / (k + 1));
  return 10 * sum;
}

/** One round of the distributed discrete Gaussian, all in integer units. */
export interface DdgMechanism {
  /** Δ₂: bound on the L2 norm of one client's rounded vector. */
  l2Sensitivity: number;
  /** Δ₁: bound on its L1 norm. @default Δ₂·min(√d, Δ₂) (integer coordinates: |z| ≤ z²) */
  l1Sensitivity?: number;
  /** σ: each client's discrete Gaussian standard deviation. */
  noiseStdDev: number;
  /** n: noise shares in the released sum. */
  clients: number;
  /** d: coordinates noised (after padding). */
  dimension: number;
}

interface CheckedMechanism {
  l2Scale: number;
  l1Scale: number;
  tau: number;
  dimension: number;
}

function checkMechanism(where: string, mechanism: DdgMechanism): CheckedMechanism {
  const { l2Sensitivity, noiseStdDev, clients, dimension } = mechanism;
  assertPositiveFinite(where, 'l2Sensitivity', l2Sensitivity);
  assertPositiveFinite(where, 'noiseStdDev', noiseStdDev);
  assertPositiveInteger(where, 'clients', clients);
  assertPositiveInteger(where, 'dimension', dimension);
  const l1Sensitivity = mechanism.l1Sensitivity ?? l2Sensitivity * Math.min(Math.sqrt(dimension), l2Sensitivity);
  assertPositiveFinite(where, 'l1Sensitivity', l1Sensitivity);
  const totalStdDev = Math.sqrt(clients) * noiseStdDev;
  return {
    l2Scale: l2Sensitivity / totalStdDev,
    l1Scale: l1Sensitivity / totalStdDev,
    tau: ddgTau(clients, noiseStdDev),
    dimension,
  };
}

/** Proposition 14's bound at order α > 1 for the checked mechanism. */
function divergenceBound(m: CheckedMechanism, alpha: number): number {
  const { l2Scale, l1Scale, tau, dimension } = m;
  const first = (alpha / 2) * l2Scale * l2Scale + tau * dimension;
  const second = (alpha / 2) * (l2Scale * l2Scale + 2 * l1Scale * tau + tau * tau * dimension);
  const shifted = l2Scale + Math.sqrt(dimension) * tau;
  const third = (alpha / 2) * shifted * shifted;
  return Math.min(first, second, third);
}

/** D_α bound of one unsampled round (see the file comment); α > 1. */
export function ddgRenyiDivergence(mechanism: DdgMechanism, order: number): number {
  const where = 'ddgRenyiDivergence';
  if (typeof order !== 'number' || !Number.isFinite(order) || order <= 1) {
    throw new RangeError(`${where}: order must be a finite number > 1, got ${String(order)}`);
  }
  return divergenceBound(checkMechanism(where, mechanism), order);
}

/**
 * ρ of the ρ-zCDP one unsampled round satisfies (Theorem 1): ρ = ½(Δ₂/(√n·σ) + τ√d)². T rounds
 * compose to Tρ.
 */
export function ddgConcentratedDp(mechanism: DdgMechanism): number {
  const m = checkMechanism('ddgConcentratedDp', mechanism);
  const shifted = m.l2Scale + Math.sqrt(m.dimension) * m.tau;
  return (shifted * shifted) / 2;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const max = Math.max(a, b);
  return max + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/**
 * Zhu & Wang 2019, Theorem 6: an upper bound on the RDP at integer order α ≥ 2 of a mechanism
 * run on a Poisson sample at rate q ∈ (0, 1), given its RDP ε(l) for l = 2…α. Summed in log space.
 */
export function poissonSubsampledRdpBound(order: number, samplingRate: number, rdpAt: (order: number) => number): number {
  const where = 'poissonSubsampledRdpBound';
  if (!Number.isInteger(order) || order < 2) throw new RangeError(`${where}: order must be an integer >= 2, got ${String(order)}`);
  if (!(samplingRate > 0 && samplingRate < 1)) throw new RangeError(`${where}: samplingRate must be in (0, 1), got ${String(samplingRate)}`);
  const alpha = order;
  const logQ = Math.log(samplingRate);
  const log1mQ = Math.log1p(-samplingRate);
  let logSum = (alpha - 1) * log1mQ + Math.log1p((alpha - 1) * samplingRate);
  let logBinomial = Math.log(alpha); // log C(α, 1)
  for (let l = 2; l <= alpha; l++) {
    logBinomial += Math.log((alpha - l + 1) / l);
    const coefficient = l === 2 ? 0 : Math.log(3);
    logSum = logAddExp(logSum, coefficient + logBinomial + l * logQ + (alpha - l) * log1mQ + (l - 1) * rdpAt(l));
  }
  return logSum / (alpha - 1);
}

function assertIntegerOrders(where: string, orders: unknown): asserts orders is readonly number[] {
  if (!Array.isArray(orders) || orders.length === 0) {
    throw new RangeError(`${where}: orders must be a non-empty array of integers >= 2, got ${Array.isArray(orders) ? 'an empty array' : typeof orders}`);
  }
  orders.forEach((order: unknown, index) => {
    if (typeof order !== 'number' || !Number.isInteger(order) || order < 2 || order > 4096) {
      throw new RangeError(`${where}: orders[${index}] must be an integer in [2, 4096], got ${String(order)}`);
    }
  });
}

export interface DdgRdpOptions {
  /** The encoding: Δ₂, σ·scale and the padded dimension come from it. */
  params: DdgParams;
  /** n: noise shares guaranteed in every released sum (see the file comment). */
  clients: number;
  /** Poisson sampling rate q ∈ (0, 1]. */
  samplingRate: number;
  /** Rounds with these parameters; an integer ≥ 0. */
  steps: number;
  /** Integer orders ≥ 2. @default DDG_RDP_ORDERS */
  orders?: readonly number[];
}

/** The mechanism a DdgParams encodes, for n noise shares. */
export function ddgMechanism(params: DdgParams, clients: number): DdgMechanism {
  return { l2Sensitivity: params.roundedNormBound, noiseStdDev: params.localNoiseStdDev * params.scale, clients, dimension: params.paddedDimension };
}

/** RDP of `steps` rounds of the (Poisson-subsampled) distributed discrete Gaussian, per order. */
export function ddgRdp(options: DdgRdpOptions): number[] {
  const where = 'ddgRdp';
  const { params, clients, samplingRate, steps, orders = DDG_RDP_ORDERS } = options;
  assertSamplingRate(where, samplingRate);
  assertNonNegativeInteger(where, 'steps', steps);
  assertIntegerOrders(where, orders);
  const mechanism = checkMechanism(where, ddgMechanism(params, clients));
  if (steps === 0) return orders.map(() => 0);
  const unsampled = (alpha: number) => divergenceBound(mechanism, alpha);
  return orders.map((alpha) => {
    const once = samplingRate === 1 ? unsampled(alpha) : Math.min(unsampled(alpha), poissonSubsampledRdpBound(alpha, samplingRate, unsampled));
    return steps * once;
  });
}

/**
 * RDP of one round of the mechanism at any orders > 1, for a ledger whose orders include
 * fractional ones (DEFAULT_RDP_ORDERS): at a fractional α the bound at ⌈α⌉ is used, valid because
 * Rényi divergence is non-decreasing in its order (van Erven & Harremoës 2014, "Rényi Divergence
 * and Kullback–Leibler Divergence", Theorem 3), and Zhu & Wang's bound is stated for integers.
 * An order ≤ 1 gets +∞ (the conversion then never picks it).
 */
export function ddgMechanismRdp(mechanism: DdgMechanism, samplingRate: number, orders: readonly number[]): number[] {
  const where = 'ddgMechanismRdp';
  assertSamplingRate(where, samplingRate);
  const checked = checkMechanism(where, mechanism);
  const unsampled = (alpha: number) => divergenceBound(checked, alpha);
  return orders.map((order, index) => {
    if (typeof order !== 'number' || !Number.isFinite(order) || order > 4096) {
      throw new RangeError(`${where}: orders[${index}] must be a finite number ≤ 4096, got ${String(order)}`);
    }
    if (order <= 1) return Infinity;
    const alpha = Math.max(2, Math.ceil(order));
    return samplingRate === 1 ? unsampled(alpha) : Math.min(unsampled(alpha), poissonSubsampledRdpBound(alpha, samplingRate, unsampled));
  });
}

/**
 * The Gaussian noise multiplier whose unsampled RDP α/(2z²) is exactly the third (concentrated-DP)
 * term of the bound, relative to the L2 sensitivity: z = 1/(Δ₂/(√n·σ) + τ√d). Without sampling this
 * maps a round onto the Gaussian accountant with a proven upper bound (the bound is a minimum of
 * three terms, the third among them); with sampling it does not (the sampled Gaussian's analysis is
 * specific to continuous noise), so the ledger accounts sampled rounds with ddgMechanismRdp.
 */
export function ddgEquivalentNoiseMultiplier(mechanism: DdgMechanism): number {
  const m = checkMechanism('ddgEquivalentNoiseMultiplier', mechanism);
  return 1 / (m.l2Scale + Math.sqrt(m.dimension) * m.tau);
}

export interface DdgEpsilonOptions extends DdgRdpOptions {
  delta: number;
  /** @default 'improved' */
  conversion?: EpsilonConversion;
}

/** (ε, δ) after `steps` rounds of the distributed discrete Gaussian. */
export function ddgEpsilon(options: DdgEpsilonOptions): PrivacySpent {
  const where = 'ddgEpsilon';
  assertDelta(where, options.delta);
  const { orders = DDG_RDP_ORDERS, conversion = 'improved' } = options;
  if (conversion !== 'improved' && conversion !== 'classic') {
    throw new RangeError(`${where}: conversion must be 'improved' or 'classic', got ${String(conversion)}`);
  }
  return epsilonUnchecked(orders, ddgRdp(options), options.delta, conversion);
}
