/**
 * Special functions for the privacy accountant, evaluated in log space where a plain evaluation
 * would underflow or cancel. Double precision throughout; accuracy is checked against SciPy in
 * special.test.ts.
 */

const SQRT_PI = Math.sqrt(Math.PI);
const LN2 = Math.LN2;

/** Below this the erf power series is used, above it the continued fraction for erfcx. */
const SERIES_LIMIT = 1.5;
const MAX_CONTINUED_FRACTION_TERMS = 500;
const MAX_SERIES_TERMS = 200;

/** log(e^a + e^b), exact when either side is −∞. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/**
 * log(1 − e^x) for x ≤ 0. Switches between log(−expm1(x)) and log1p(−e^x) at −ln 2, the split that
 * keeps both branches accurate (Mächler 2012, "Accurately computing log(1 − exp(−|a|))").
 */
export function log1mExp(x: number): number {
  if (x > 0) throw new RangeError(`log1mExp expects x <= 0, got ${x}`);
  return x > -LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}

/** log(e^x − 1) for x > 0, without overflow for large x. */
export function logExpm1(x: number): number {
  if (!(x > 0)) throw new RangeError(`logExpm1 expects x > 0, got ${x}`);
  return x > 36 ? x + Math.log1p(-Math.exp(-x)) : Math.log(Math.expm1(x));
}

/**
 * erf(x) for 0 ≤ x < SERIES_LIMIT from the all-positive series
 * erf(x) = 2/√π · e^(−x²) · Σ_n (2x²)^n · x / (1·3·…·(2n+1))  (Abramowitz & Stegun 7.1.6),
 * which has no cancellation, unlike the alternating Maclaurin series.
 */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 0; n < MAX_SERIES_TERMS; n++) {
    term *= twoX2 / (2 * n + 3);
    sum += term;
    if (term <= sum * 1e-17) break;
  }
  return (2 / SQRT_PI) * Math.exp(-x * x) * sum;
}

/**
 * The scaled complementary error function erfcx(x) = e^(x²)·erfc(x) for x ≥ SERIES_LIMIT, from
 * the Laplace continued fraction erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
 * (A&S 7.1.14), evaluated with the modified Lentz algorithm (Press et al., Numerical Recipes §5.2).
 * 91 terms at x = 1.5, fewer further out.
 */
function erfcxContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k <= MAX_CONTINUED_FRACTION_TERMS; k++) {
    const a = k / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return 1 / (SQRT_PI * f);
}

/** The complementary error function, relative error below 1e-14 (see special.test.ts). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < SERIES_LIMIT) return 1 - erfSeries(x);
  return Math.exp(-x * x) * erfcxContinuedFraction(x);
}

/**
 * log(erfc(x)) for every real x. A plain Math.log(erfc(x)) loses digits in the subnormal range
 * and underflows to −∞ past x ≈ 27.2; here the tail goes through −x² + log(erfcx(x)), which stays
 * accurate for any finite x.
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) {
    // erfc(x) = 2 − erfc(−x) ∈ (1, 2].
    return LN2 + Math.log1p(-erfc(-x) / 2);
  }
  if (x < SERIES_LIMIT) return Math.log(1 - erfSeries(x));
  return -x * x + Math.log(erfcxContinuedFraction(x));
}

/** log Φ(x), the log of the standard normal CDF: Φ(x) = erfc(−x/√2)/2. */
export function logNormalCdf(x: number): number {
  return logErfc(-x / Math.SQRT2) - LN2;
}

/** Φ(x), the standard normal CDF. */
export function normalCdf(x: number): number {
  return erfc(-x / Math.SQRT2) / 2;
}
