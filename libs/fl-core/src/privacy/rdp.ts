/**
 * Rényi-DP accounting for the Poisson-subsampled Gaussian mechanism (the "sampled Gaussian
 * mechanism", SGM): each round every eligible client joins independently with probability q and
 * the sum of the participants' clipped updates (L2 sensitivity C under add/remove-one-client
 * adjacency) receives Gaussian noise of standard deviation σ·C.
 *
 * Per order α the RDP of one round is log(A_α)/(α − 1) with
 *   A_α = E_{z∼μ0}[((1 − q) + q·μ1(z)/μ0(z))^α],  μ0 = N(0, σ²), μ1 = N(1, σ²)
 * (Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
 * arXiv:1908.10530, Section 3.3). Rounds compose by adding RDP per order (Mironov 2017,
 * "Rényi Differential Privacy", Proposition 1), so rounds with different q or σ simply sum.
 *
 * The same quantities as TF Privacy's rdp_accountant.py, Opacus's analysis/rdp.py and Google's
 * dp_accounting; rdp.test.ts pins their published vectors.
 */
import { log1mExp, logAddExp, logErfc, logExpm1, logNormalCdf } from './special';
import { assertDelta, assertNonNegativeInteger, assertOrders, assertPositiveInteger, assertSamplingRate } from './validate';

/** How RDP is turned into (ε, δ)-DP. */
export type EpsilonConversion = 'improved' | 'classic';

/**
 * TF Privacy's orders (compute_dp_sgd_privacy_lib.py; also dp_accounting's defaults):
 * 1.25 … 4.5 in steps of 0.25/0.5, every integer 5 … 63, then 128, 256, 512.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  1.25,
  1.5,
  1.75,
  2,
  2.25,
  2.5,
  3,
  3.5,
  4,
  4.5,
  ...Array.from({ length: 59 }, (_, i) => i + 5),
  128,
  256,
  512,
]);

/**
 * Below this order the improved conversion is numerically unstable and no tighter than the KL
 * bound, so (as in dp_accounting's compute_epsilon) it is not used there.
 */
const MIN_ORDER_FOR_IMPROVED_CONVERSION = 1.01;

/**
 * The fractional-order series' alternating tail is summed to within e^−30 ≈ 1e−13 of A_α − 1 (or
 * e^−60 absolute when A_α − 1 is smaller than that), far below what moves ε.
 */
const SERIES_RELATIVE_TOLERANCE_LOG = -30;
const SERIES_ABSOLUTE_TOLERANCE_LOG = -60;
/** Cohen–Villegas–Zagier gains a factor 3 + √8 per term; between 8 and 200 terms are used. */
const CVZ_RATE_LOG = Math.log(3 + Math.sqrt(8));
const CVZ_MIN_TERMS = 8;
const CVZ_MAX_TERMS = 200;

/**
 * Σ_{k≥0} (−1)^k a_k for a moment sequence a_k = ∫_0^1 x^k dμ(x), μ ≥ 0: Algorithm 1 of Cohen,
 * Rodriguez Villegas & Zagier 2000, "Convergence Acceleration of Alternating Series", with error
 * at most 2a_0/(3 + √8)^n using the first n terms. Its weights lie in [−1, 1], so rounding in the
 * a_k is not amplified.
 */
function sumAlternatingMomentSequence(terms: readonly number[]): number {
  const n = terms.length;
  let d = (3 + Math.sqrt(8)) ** n;
  d = (d + 1 / d) / 2;
  let b = -1;
  let c = -d;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    c = b - c;
    sum += c * (terms[k] as number);
    b = ((k + n) * (k - n) * b) / ((k + 0.5) * (k + 1));
  }
  return sum / d;
}

/**
 * A signed sum of terms given as (log-magnitude, sign), kept as a linear Neumaier-compensated sum
 * relative to a reference scale that follows the largest term. A_α − 1 can be 10^4 times smaller
 * than its largest terms (q near 1/2, σ large), so plain log-space addition, whose rounding error
 * grows with the number of terms, would lose digits that compensated summation keeps
 * (Neumaier 1974; Higham, "Accuracy and Stability of Numerical Algorithms", §4.3).
 */
class SignedLogSum {
  #logScale = -Infinity;
  #sum = 0;
  #compensation = 0;

  add(logMagnitude: number, negative: boolean): void {
    if (logMagnitude === -Infinity) return;
    if (logMagnitude > this.#logScale) {
      const rescale = Math.exp(this.#logScale - logMagnitude);
      this.#sum *= rescale;
      this.#compensation *= rescale;
      this.#logScale = logMagnitude;
    }
    const value = (negative ? -1 : 1) * Math.exp(logMagnitude - this.#logScale);
    const total = this.#sum + value;
    this.#compensation += Math.abs(this.#sum) >= Math.abs(value) ? this.#sum - total + value : value - total + this.#sum;
    this.#sum = total;
  }

  /** log of the sum; −∞ when rounding has left it ≤ 0. */
  log(): number {
    const sum = this.#sum + this.#compensation;
    return sum > 0 ? this.#logScale + Math.log(sum) : -Infinity;
  }
}

/**
 * log(A_α) for integer α ≥ 2 and 0 < q < 1. Expanding the binomial,
 *   A_α = Σ_k C(α,k) q^k (1−q)^(α−k) e^((k²−k)/(2σ²)) = E_{K∼Bin(α,q)}[e^((K²−K)/(2σ²))],
 * and because the k = 0, 1 exponents vanish,
 *   A_α − 1 = Σ_{k≥2} C(α,k) q^k (1−q)^(α−k) expm1((k²−k)/(2σ²)),
 * a sum of positive terms. Summing A_α − 1 directly (instead of A_α as TF Privacy does) keeps full
 * relative precision when q is tiny or σ large and A_α − 1 is far below machine epsilon.
 */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  const terms = new Float64Array(alpha - 1);
  // log C(α, k), updated from log C(α, 1) = log α.
  let logBinomial = Math.log(alpha);
  let max = -Infinity;
  for (let k = 2; k <= alpha; k++) {
    logBinomial += Math.log((alpha - k + 1) / k);
    const term = logBinomial + k * logQ + (alpha - k) * log1mQ + logExpm1((k * k - k) / twoSigma2);
    terms[k - 2] = term;
    if (term > max) max = term;
  }
  let scaled = 0;
  for (const term of terms) scaled += Math.exp(term - max);
  const logAMinus1 = max + Math.log(scaled);
  // log(1 + e^x), stable on both sides.
  return logAMinus1 > 0 ? logAMinus1 + Math.log1p(Math.exp(-logAMinus1)) : Math.log1p(Math.exp(logAMinus1));
}

/**
 * log(A_α) for fractional α > 1 and 0 < q < 1: the exact two-sided series of Mironov, Talwar &
 * Zhang 2019, Section 3.3. Split the integral at z0 = σ²·ln((1−q)/q) + 1/2, where
 * q·μ1 = (1−q)·μ0; on each side expand the binomial in the ratio that is below 1:
 *   A_α = Σ_{i≥0} C(α,i) [ q^i (1−q)^(α−i) e^((i²−i)/(2σ²)) · erfc((i − z0)/(√2σ))/2
 *                        + q^(α−i) (1−q)^i e^((j²−j)/(2σ²)) · erfc((z0 − j)/(√2σ))/2 ],  j = α − i.
 * C(α,i) changes sign with every i > α; terms are summed with their signs, as TF Privacy and Opacus
 * do (newer dp_accounting adds |C(α,i)|, which overstates A_α).
 *
 * Two refinements over those implementations, both exact rearrangements:
 * - A_α − 1 is accumulated rather than A_α. The i = 0 and i = 1 lower-half terms are regrouped as
 *   (1−q)^(α−1)(1 + (α−1)q) − (1−q)^α Q0 − αq(1−q)^(α−1) Q1 with Q_k = erfc((z0 − k)/(√2σ))/2, and
 *   the first part minus 1 is expm1 of a log-sum. For tiny q, A_α − 1 ≈ C(α,2)q²(e^(1/σ²) − 1) is
 *   far below the rounding error of A_α ≈ 1, so this keeps relative precision where summing A_α
 *   loses it (TF Privacy's own test allows 1e−4 there).
 * - The alternating tail is summed by convergence acceleration instead of term by term (which
 *   needs ~10^5 terms when q is near 1/2 or σ is large, and never finishes for σ ≳ 10^5). Each
 *   term equals |C(α,i)|·(1−q)^α·e^(−z0²/(2σ²))·erfcx(x_i)/2 with x_i increasing affinely in i. For
 *   i > α, |C(α,i)| is a constant times the Beta integral ∫_0^1 t^(i−α−1)(1−t)^α dt, and
 *   erfcx(x) = 2/√π ∫_0^∞ e^(−t²−2xt) dt, so both are moment sequences in i, and so are their
 *   product and the sum of the two halves. From i = ⌈α⌉ the tail is therefore an alternating series
 *   of moment-sequence magnitudes, the case Cohen–Villegas–Zagier acceleration is proven for.
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  const z0 = sigma * sigma * (log1mQ - logQ) + 0.5;
  const firstAlternating = Math.ceil(alpha);
  const sum = new SignedLogSum(); // A_α − 1

  // Lower-half i = 0, 1, regrouped; (1−q)^(α−1)(1 + (α−1)q) ≤ 1, so its difference from 1 is ≤ 0.
  const logLead = (alpha - 1) * log1mQ + Math.log1p((alpha - 1) * q);
  if (logLead < 0) sum.add(log1mExp(logLead), true);
  sum.add(alpha * log1mQ + logErfc(z0 / sqrt2Sigma) - Math.LN2, true);
  sum.add(Math.log(alpha) + logQ + (alpha - 1) * log1mQ + logErfc((z0 - 1) / sqrt2Sigma) - Math.LN2, true);

  // log |term i| (both halves; the lower half's i = 0, 1 are regrouped above), i = 0, 1, 2, … in turn.
  let logAbsBinomial = 0; // log |C(α, i)|
  let i = 0;
  const nextLogTerm = (): number => {
    const j = alpha - i;
    const lower = i < 2 ? -Infinity : logAbsBinomial + i * logQ + j * log1mQ + (i * i - i) / twoSigma2 + logErfc((i - z0) / sqrt2Sigma) - Math.LN2;
    const upper = logAbsBinomial + j * logQ + i * log1mQ + (j * j - j) / twoSigma2 + logErfc((z0 - j) / sqrt2Sigma) - Math.LN2;
    logAbsBinomial += Math.log(Math.abs(alpha - i)) - Math.log(i + 1);
    i++;
    return logAddExp(lower, upper);
  };

  // C(α, i) > 0 for i ≤ ⌈α⌉.
  while (i < firstAlternating) sum.add(nextLogTerm(), false);

  // The tail from ⌈α⌉ on starts positive and alternates: a_m − a_{m+1} + a_{m+2} − …
  // Its sum lies between a_m/2 and a_m, so a first term below the tolerance ends the series.
  const logFirst = nextLogTerm();
  const logTolerance = Math.max(sum.log() + SERIES_RELATIVE_TOLERANCE_LOG, SERIES_ABSOLUTE_TOLERANCE_LOG);
  if (logFirst > logTolerance) {
    const needed = Math.ceil((Math.LN2 + logFirst - logTolerance) / CVZ_RATE_LOG);
    const scaled = [1];
    while (scaled.length < Math.min(CVZ_MAX_TERMS, Math.max(CVZ_MIN_TERMS, needed))) {
      scaled.push(Math.exp(nextLogTerm() - logFirst));
    }
    sum.add(logFirst + Math.log(sumAlternatingMomentSequence(scaled)), false);
  }

  const logAMinus1 = sum.log();
  return logAMinus1 > 0 ? logAMinus1 + Math.log1p(Math.exp(-logAMinus1)) : Math.log1p(Math.exp(logAMinus1));
}

/** RDP of one round of the sampled Gaussian mechanism at order α. */
function rdpOneRound(q: number, sigma: number, alpha: number): number {
  // Without sampling the mechanism is the plain Gaussian: D_α(N(1,σ²) ‖ N(0,σ²)) = α/(2σ²).
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha) ? logAInteger(q, sigma, alpha) : logAFractional(q, sigma, alpha);
  // A NaN must never reach rdpToEpsilon, where it would read as "no privacy loss at this order".
  if (Number.isNaN(logA)) {
    throw new Error(`RDP evaluation failed for samplingRate ${q}, noiseMultiplier ${sigma}, order ${alpha}`);
  }
  return logA / (alpha - 1);
}

export interface ComputeRdpOptions {
  /** Poisson sampling rate q ∈ (0, 1]. */
  samplingRate: number;
  /** σ: noise standard deviation divided by the L2 sensitivity (clipNorm); > 0. */
  noiseMultiplier: number;
  /** Rounds run with these parameters; an integer ≥ 0. */
  steps: number;
  /** @default DEFAULT_RDP_ORDERS */
  orders?: readonly number[];
}

/**
 * σ outside [1e−100, 1e100] would over- or underflow 2σ² and z0; no meaningful configuration comes
 * near either end (σ = 1e−100 is no privacy, σ = 1e100 no signal).
 */
const MIN_NOISE_MULTIPLIER = 1e-100;
const MAX_NOISE_MULTIPLIER = 1e100;

export function assertNoiseMultiplier(where: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !(value >= MIN_NOISE_MULTIPLIER && value <= MAX_NOISE_MULTIPLIER)) {
    throw new RangeError(`${where}: noiseMultiplier must be a number in [1e-100, 1e100], got ${String(value)}`);
  }
}

function assertMechanism(where: string, options: ComputeRdpOptions): void {
  assertSamplingRate(where, options.samplingRate);
  assertNoiseMultiplier(where, options.noiseMultiplier);
  assertNonNegativeInteger(where, 'steps', options.steps);
  if (options.orders !== undefined) assertOrders(where, options.orders);
}

function assertConversion(where: string, conversion: unknown): asserts conversion is EpsilonConversion {
  if (conversion !== 'improved' && conversion !== 'classic') {
    throw new RangeError(`${where}: conversion must be 'improved' or 'classic', got ${String(conversion)}`);
  }
}

/** computeRdp without argument checks, for callers that have checked them. */
export function rdpUnchecked(q: number, sigma: number, steps: number, orders: readonly number[]): number[] {
  if (steps === 0) return orders.map(() => 0);
  return orders.map((alpha) => steps * rdpOneRound(q, sigma, alpha));
}

/**
 * RDP of `steps` rounds of the Poisson-subsampled Gaussian mechanism at each order, in the order
 * given.
 */
export function computeRdp(options: ComputeRdpOptions): number[] {
  assertMechanism('computeRdp', options);
  const { samplingRate, noiseMultiplier, steps, orders = DEFAULT_RDP_ORDERS } = options;
  return rdpUnchecked(samplingRate, noiseMultiplier, steps, orders);
}

export interface PrivacySpent {
  epsilon: number;
  /** The RDP order that gave the smallest ε (meaningless when ε is +∞). */
  order: number;
}

export interface RdpToEpsilonOptions {
  orders: readonly number[];
  /** Accumulated RDP per order, same length as `orders`. */
  rdp: readonly number[];
  delta: number;
  /** @default 'improved' */
  conversion?: EpsilonConversion;
}

/**
 * The ε of an (ε, δ)-DP guarantee implied by RDP at several orders, minimised over the orders.
 *
 * - 'classic': ε = RDP(α) + log(1/δ)/(α − 1) (Mironov 2017, Proposition 3).
 * - 'improved': ε = RDP(α) + log(1 − 1/α) − log(δ·α)/(α − 1) (Canonne, Kamath & Steinke 2020,
 *   "The Discrete Gaussian for Differential Privacy", Proposition 12; Balle et al. 2020,
 *   "Hypothesis Testing Interpretations and Rényi Differential Privacy", Theorem 21), used for
 *   α > 1.01 as in dp_accounting; plus ε = 0 wherever δ ≥ √(1 − e^(−RDP(α))), because D_α bounds
 *   the KL divergence and then the total variation distance (Bretagnolle–Huber). Never larger
 *   than 'classic'; this is what Opacus's get_privacy_spent and dp_accounting's compute_epsilon do.
 */
export function rdpToEpsilon(options: RdpToEpsilonOptions): PrivacySpent {
  const where = 'rdpToEpsilon';
  const { orders, rdp, delta, conversion = 'improved' } = options;
  assertOrders(where, orders);
  assertDelta(where, delta);
  assertConversion(where, conversion);
  if (!Array.isArray(rdp) || rdp.length !== orders.length) {
    throw new RangeError(
      `${where}: rdp must be an array with one value per order (${orders.length}), got ${Array.isArray(rdp) ? `length ${rdp.length}` : typeof rdp}`,
    );
  }
  rdp.forEach((value: unknown, index) => {
    // Rounding can leave −1e−17 where the true value is 0; anything more negative is a bug.
    if (typeof value !== 'number' || Number.isNaN(value) || value < -1e-12) {
      throw new RangeError(`${where}: rdp[${index}] must be a number >= 0, got ${String(value)}`);
    }
  });
  return epsilonUnchecked(orders, rdp, delta, conversion);
}

/** rdpToEpsilon without argument checks, for callers that have checked them. */
export function epsilonUnchecked(orders: readonly number[], rdp: readonly number[], delta: number, conversion: EpsilonConversion): PrivacySpent {
  let best: PrivacySpent = { epsilon: Infinity, order: orders[0] as number };
  orders.forEach((alpha, index) => {
    const r = Math.max(0, rdp[index] as number);
    let epsilon: number;
    if (conversion === 'classic') {
      epsilon = r - Math.log(delta) / (alpha - 1);
    } else if (delta * delta + Math.expm1(-r) > 0) {
      epsilon = 0;
    } else if (alpha > MIN_ORDER_FOR_IMPROVED_CONVERSION) {
      epsilon = r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1);
    } else {
      epsilon = Infinity;
    }
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

export interface RdpEpsilonOptions {
  /** Poisson sampling rate q ∈ (0, 1]. */
  samplingRate: number;
  /** σ = noise standard deviation / clipNorm; > 0. */
  noiseMultiplier: number;
  /** Rounds; an integer ≥ 0. */
  steps: number;
  /** In (0, 1). */
  delta: number;
  /** @default 'improved' */
  conversion?: EpsilonConversion;
  /** @default DEFAULT_RDP_ORDERS */
  orders?: number[];
}

/** (ε, δ) after `steps` rounds of the Poisson-subsampled Gaussian mechanism. */
export function rdpEpsilon(options: RdpEpsilonOptions): PrivacySpent {
  const where = 'rdpEpsilon';
  assertMechanism(where, options);
  assertDelta(where, options.delta);
  const { samplingRate, noiseMultiplier, steps, delta, conversion = 'improved', orders = DEFAULT_RDP_ORDERS } = options;
  assertConversion(where, conversion);
  return epsilonUnchecked(orders, rdpUnchecked(samplingRate, noiseMultiplier, steps, orders), delta, conversion);
}

export interface GaussianMechanismEpsilonOptions {
  /** σ = noise standard deviation / L2 sensitivity; > 0. */
  noiseMultiplier: number;
  /** In (0, 1). */
  delta: number;
  /** Compositions without sampling; an integer ≥ 1. @default 1 */
  steps?: number;
}

/**
 * The exact (tight) ε of `steps` compositions of the Gaussian mechanism without sampling, from
 * the analytic Gaussian mechanism (Balle & Wang 2018, "Improving the Gaussian Mechanism for
 * Differential Privacy", Theorem 8): N(0, σ²) noise on sensitivity 1 is (ε, δ)-DP iff
 *   δ ≥ Φ(1/(2σ) − εσ) − e^ε·Φ(−1/(2σ) − εσ),
 * and T compositions equal one Gaussian with σ/√T. Any RDP-derived ε with q = 1 must be at
 * least this; it is the yardstick for the accountant's tightness at q = 1.
 */
export function gaussianMechanismEpsilon(options: GaussianMechanismEpsilonOptions): number {
  const where = 'gaussianMechanismEpsilon';
  const { noiseMultiplier, delta, steps = 1 } = options;
  assertNoiseMultiplier(where, noiseMultiplier);
  assertDelta(where, delta);
  assertPositiveInteger(where, 'steps', steps);
  const s = noiseMultiplier / Math.sqrt(steps);
  const logDelta = Math.log(delta);
  // log δ(ε), with the difference of the two terms taken in log space.
  const logDeltaAt = (epsilon: number): number => {
    const a = logNormalCdf(1 / (2 * s) - epsilon * s);
    const b = epsilon + logNormalCdf(-1 / (2 * s) - epsilon * s);
    return b >= a ? -Infinity : a + log1mExp(b - a);
  };
  if (logDeltaAt(0) <= logDelta) return 0;
  // δ(ε) decreases in ε: bracket the root, then bisect to the last representable digit.
  let low = 0;
  let high = 1;
  while (logDeltaAt(high) > logDelta) {
    low = high;
    high *= 2;
  }
  for (let i = 0; i < 200; i++) {
    const mid = (low + high) / 2;
    if (mid <= low || mid >= high) break;
    if (logDeltaAt(mid) > logDelta) low = mid;
    else high = mid;
  }
  return high;
}
