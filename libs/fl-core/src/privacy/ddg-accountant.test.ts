import { describe, expect, it } from 'vitest';
import { ddgParams } from './ddg';
import {
  DDG_RDP_ORDERS,
  ddgConcentratedDp,
  ddgEpsilon,
  ddgEquivalentNoiseMultiplier,
  ddgMechanism,
  ddgMechanismRdp,
  ddgRdp,
  ddgRenyiDivergence,
  ddgTau,
  poissonSubsampledRdpBound,
} from './ddg-accountant';
import { computeRdp, rdpEpsilon } from './rdp';

/**
 * Reference values computed independently with Python 3's standard library (float64), from the
 * formulas of Kairouz, Liu & Steinke 2021 and Zhu & Wang 2019 as written below — the same
 * formulas as google-research/federated distributed_dp/accounting_utils.py (ddgauss_epsilon with
 * rounding=True), which needs TensorFlow, so it was not run itself:
 *
 *   import math
 *   def rounded_l2(norm, d, beta):
 *       b1 = norm + math.sqrt(d)
 *       if beta == 0: return b1
 *       return min(b1, math.sqrt(norm**2 + d/4 + math.sqrt(2*math.log(1/beta))*(norm + math.sqrt(d)/2)))
 *   def tau(n, s): return 10*sum(math.exp(-2*math.pi**2*s*s*k/(k+1)) for k in range(1, n))
 *   def eps_fn(l2, s, n, d):
 *       l1 = l2*min(math.sqrt(d), l2); t = tau(n, s); sd = math.sqrt(n)*s; a2, a1 = l2/sd, l1/sd
 *       return lambda a: min(a/2*a2**2 + t*d, a/2*(a2**2 + 2*a1*t + t*t*d), a/2*(a2 + math.sqrt(d)*t)**2)
 *   def lse(xs): m = max(xs); return m + math.log(sum(math.exp(x-m) for x in xs))
 *   def logcomb(a, l): return math.lgamma(a+1)-math.lgamma(l+1)-math.lgamma(a-l+1)
 *   def subsampled(a, q, e):
 *       xs = [(a-1)*math.log(1-q) + math.log(a*q-q+1)]
 *       for l in range(2, a+1):
 *           xs.append((0 if l == 2 else math.log(3)) + logcomb(a, l) + l*math.log(q) + (a-l)*math.log(1-q) + (l-1)*e(l))
 *       return lse(xs)/(a-1)
 *   def rdp(e, q, steps, orders): return [steps*(e(a) if q == 1 else min(e(a), subsampled(a, q, e))) for a in orders]
 *   def to_eps(orders, r, delta):   # TF Privacy's compute_eps
 *       best = math.inf
 *       for a, x in zip(orders, r):
 *           v = 0 if delta**2 + math.expm1(-x) > 0 else x + math.log1p(-1/a) - math.log(delta*a)/(a-1)
 *           best = min(best, v)
 *       return best
 *   ORDERS = list(range(2, 129)) + [256]
 *   # per case: l2 = rounded_l2(clip*scale, d, beta); e = eps_fn(l2, sigma*scale, n, d)
 *   #           r = rdp(e, q, steps, ORDERS); eps = to_eps(ORDERS, r, delta)
 */
const large = { clipNorm: 1, scale: 1000, localNoiseStdDev: 0.5, dimension: 2 ** 16, beta: Math.exp(-0.5) };
const unitNoise = { clipNorm: 1, scale: 10, localNoiseStdDev: 0.1, dimension: 2 ** 10, beta: Math.exp(-0.5) };
// The shape of the paper's EMNIST runs: 100 of 3,400 clients per round, 1,500 rounds, δ = 1/3400,
// d = 2^20, c = 0.03, 2^12 levels per clip norm.
const emnist = { clipNorm: 0.03, scale: 2 ** 12 / 0.03, localNoiseStdDev: 0.003, dimension: 2 ** 20, beta: Math.exp(-0.5) };
interface ReferenceCase {
  name: string;
  params: typeof large;
  /** n, q, rounds, δ */
  run: [number, number, number, number];
  /** Δ₂ and τ */
  l2: number;
  tau: number;
  /** RDP at orders 2, 3, 10, 64, 256, then ε */
  rdp: number[];
  epsilon: number;
}
const cases: ReferenceCase[] = [
  {
    name: 'no sampling, large σ (τ = 0)',
    params: large,
    run: [100, 1, 1, 1e-5],
    l2: 1008.7179982532283,
    tau: 0,
    rdp: [0.04070048, 0.061050719999999996, 0.20350239999999997, 1.30241536, 5.20966144],
    epsilon: 0.8019850271929083,
  },
  {
    name: 'Poisson q = 0.01, 1,000 rounds',
    params: large,
    run: [100, 0.01, 1000, 1e-5],
    l2: 1008.7179982532283,
    tau: 0,
    rdp: [0.004154001045229876, 0.007363453208677052, 0.049482442226806866, 1.0732043596502432, 593.8770649460106],
    epsilon: 0.5407489489451807,
  },
  {
    name: 'EMNIST-shaped, d = 2^20',
    params: emnist,
    run: [100, 100 / 3400, 1500, 1 / 3400],
    l2: 4128.434085703682,
    tau: 0,
    rdp: [2.2843932807461362, 4.501714765759934, 1931.135033745988, 43415.83927739842, 189748.91271609958],
    epsilon: 7.612708868619841,
  },
  {
    name: 'σ = 1 integer unit, where τ matters',
    params: unitNoise,
    run: [1000, 0.1, 50, 1e-6],
    l2: 19.544820285692065,
    tau: 0.0005731282577500227,
    rdp: [0.2424817208002079, 0.5433709683869686, 5.266207936820519, 517.8080502077154, 2358.778839048212],
    epsilon: 4.247659999545181,
  },
  {
    name: 'β = 0, no sampling, 3 rounds',
    params: { ...unitNoise, beta: 0 },
    run: [1000, 1, 3, 1e-6],
    l2: 42,
    tau: 0.0005731282577500227,
    rdp: [5.439160263181984, 8.158740394772977, 27.195801315909925, 171.10465000780806, 679.136650007808],
    epsilon: 14.111724421312895,
  },
];
const checkedOrders = [2, 3, 10, 64, 256];

function relativeError(actual: number, expected: number): number {
  return expected === 0 ? Math.abs(actual) : Math.abs(actual / expected - 1);
}

describe('closed forms where τ vanishes (σ = 5 integer units: τ ≈ 10·999·e^(−π²·25) < 1e−100)', () => {
  // Then every term of the bound is the continuous Gaussian's αΔ₂²/(2nσ²) = α·400/50,000 = 0.008α.
  const mechanism = { l2Sensitivity: 20, noiseStdDev: 5, clients: 1000, dimension: 1024 };
  const gaussian = (alpha: number) => 0.008 * alpha;

  it('has τ below 1e−100 and the Gaussian divergence at every order', () => {
    expect(ddgTau(1000, 5)).toBeLessThan(1e-100);
    expect(ddgTau(1000, 5)).toBeGreaterThan(0);
    for (const alpha of [1.5, 2, 7, 256]) expect(ddgRenyiDivergence(mechanism, alpha)).toBeCloseTo(gaussian(alpha), 14);
    expect(ddgConcentratedDp(mechanism)).toBeCloseTo(0.008, 15);
    // z = √n·σ/Δ₂
    expect(ddgEquivalentNoiseMultiplier(mechanism)).toBeCloseTo((Math.sqrt(1000) * 5) / 20, 12);
  });

  it('ddgMechanismRdp: +∞ at orders ≤ 1, the bound at ⌈α⌉ (at least 2) elsewhere, unsampled at q = 1', () => {
    const rdp = ddgMechanismRdp(mechanism, 1, [1, 1.01, 1.5, 2, 2.5, 7]);
    expect(rdp[0]).toBe(Infinity);
    [2, 2, 2, 3, 7].forEach((alpha, i) => expect(rdp[i + 1]).toBeCloseTo(gaussian(alpha), 14));
  });

  it('ddgMechanismRdp with sampling: at order 2, Zhu–Wang is log(1 + q²(e^ε(2) − 1)), below the unsampled ε(2)', () => {
    for (const q of [0.01, 0.3]) {
      const expected = Math.log1p(q * q * Math.expm1(gaussian(2)));
      const [at15, at2] = ddgMechanismRdp(mechanism, q, [1.5, 2]) as [number, number];
      expect(at15).toBeCloseTo(expected, 14);
      expect(at2).toBeCloseTo(expected, 14);
      expect(poissonSubsampledRdpBound(2, q, gaussian)).toBeCloseTo(expected, 14);
    }
  });

  it('ddgMechanismRdp takes the unsampled bound where Zhu–Wang exceeds it', () => {
    // q = 0.99: Zhu–Wang's factor 3 on the l ≥ 3 terms puts it above ε(α) at α = 8.
    const unsampled = gaussian(8);
    expect(poissonSubsampledRdpBound(8, 0.99, gaussian)).toBeGreaterThan(unsampled);
    expect(ddgMechanismRdp(mechanism, 0.99, [8])[0]).toBeCloseTo(unsampled, 14);
  });

  it('ddgEpsilon with the classic conversion: min over orders of T·ε(α) + log(1/δ)/(α − 1)', () => {
    const params = ddgParams({ clipNorm: 1, scale: 10, localNoiseStdDev: 0.5, dimension: 1024, beta: 0 });
    // Δ₂ = 10 + √1024 = 42 (β = 0), n = 100 shares of σ = 5: ε(α) = α·42²/(2·100·25) = 0.3528α.
    const steps = 3;
    const orders = [2, 3, 4, 5, 6, 8, 10, 16];
    const expected = Math.min(...orders.map((alpha) => steps * 0.3528 * alpha + Math.log(1e5) / (alpha - 1)));
    const spent = ddgEpsilon({ params, clients: 100, samplingRate: 1, steps, delta: 1e-5, orders, conversion: 'classic' });
    expect(spent.epsilon).toBeCloseTo(expected, 12);
    expect(ddgEpsilon({ params, clients: 100, samplingRate: 1, steps, delta: 1e-5, orders }).epsilon).toBeLessThan(expected);
  });
});

describe('where τ matters (σ = 1 integer unit, n = 1000: τ ≈ 5.7e−4)', () => {
  const mechanism = { l2Sensitivity: 20, noiseStdDev: 1, clients: 1000, dimension: 1024 };
  const tau = ddgTau(1000, 1);
  const l2Scale = 20 / Math.sqrt(1000);
  const shifted = l2Scale + Math.sqrt(1024) * tau;

  it('ρ = ½(Δ₂/(√n·σ) + τ√d)² and z = 1/(Δ₂/(√n·σ) + τ√d)', () => {
    expect(tau).toBeGreaterThan(5e-4);
    expect(ddgConcentratedDp(mechanism)).toBeCloseTo((shifted * shifted) / 2, 15);
    expect(ddgConcentratedDp(mechanism)).toBeGreaterThan((l2Scale * l2Scale) / 2 + 0.005);
    expect(ddgEquivalentNoiseMultiplier(mechanism)).toBeCloseTo(1 / shifted, 14);
    expect(ddgEquivalentNoiseMultiplier(mechanism)).toBeLessThan(1 / l2Scale - 0.01);
  });

  it('with a loose Δ₁ (any upper bound is valid) the concentrated term (α/2)(Δ₂/(√n·σ) + τ√d)² is the minimum', () => {
    // Δ₁ ≤ √d·Δ₂ always (Cauchy–Schwarz), and then the L1 term is at most the concentrated one; a
    // looser Δ₁ leaves the first and the concentrated term: here (α/2)·0.4 + τd ≈ 0.99 vs ≈ 0.42 at α = 2.
    const loose = { ...mechanism, l1Sensitivity: 1e9 };
    for (const alpha of [2, 3]) {
      const concentrated = (alpha / 2) * shifted * shifted;
      expect(concentrated).toBeLessThan((alpha / 2) * l2Scale * l2Scale + tau * 1024);
      expect(ddgRenyiDivergence(loose, alpha)).toBeCloseTo(concentrated, 14);
    }
  });
});

describe('poissonSubsampledRdpBound term by term', () => {
  it('is log{(1−q)^(α−1)(αq − q + 1) + C(α,2)q²(1−q)^(α−2)e^ε(2) + 3·Σ_{l≥3} C(α,l)q^l(1−q)^(α−l)e^((l−1)ε(l))}/(α−1)', () => {
    // α = 4, q = 1/4, ε(l) = l/10, written out by hand.
    const q = 0.25;
    const e = (l: number) => l / 10;
    const sum =
      (1 - q) ** 3 * (4 * q - q + 1) +
      6 * q ** 2 * (1 - q) ** 2 * Math.exp(e(2)) +
      3 * 4 * q ** 3 * (1 - q) * Math.exp(2 * e(3)) +
      3 * q ** 4 * Math.exp(3 * e(4));
    expect(poissonSubsampledRdpBound(4, q, e)).toBeCloseTo(Math.log(sum) / 3, 14);
  });

  it('ignores orders whose ε is −∞ (no such term)', () => {
    // Only the first term is left: (1 − q)^(α−1)(1 + (α − 1)q) at α = 3, q = 1/2 is 1/2.
    expect(poissonSubsampledRdpBound(3, 0.5, () => -Infinity)).toBeCloseTo(Math.log(0.5) / 2, 15);
  });

  it('refuses non-integer or small orders and q outside (0, 1)', () => {
    expect(() => poissonSubsampledRdpBound(2.5, 0.1, () => 1)).toThrow('poissonSubsampledRdpBound: order must be an integer >= 2, got 2.5');
    expect(() => poissonSubsampledRdpBound(1, 0.1, () => 1)).toThrow('poissonSubsampledRdpBound: order must be an integer >= 2, got 1');
    expect(() => poissonSubsampledRdpBound(2, 1, () => 1)).toThrow('poissonSubsampledRdpBound: samplingRate must be in (0, 1), got 1');
    expect(() => poissonSubsampledRdpBound(2, 0, () => 1)).toThrow('poissonSubsampledRdpBound: samplingRate must be in (0, 1), got 0');
    expect(poissonSubsampledRdpBound(2, 0.5, () => 1)).toBeGreaterThan(0);
  });
});

describe('argument checks', () => {
  const mechanism = { l2Sensitivity: 20, noiseStdDev: 1, clients: 1000, dimension: 1024 };
  const params = ddgParams({ clipNorm: 1, scale: 100, localNoiseStdDev: 0.05, dimension: 4096 });

  it('names the function and the field of a bad mechanism', () => {
    expect(() => ddgRenyiDivergence({ ...mechanism, l2Sensitivity: 0 }, 2)).toThrow('ddgRenyiDivergence: l2Sensitivity must be a finite number > 0, got 0');
    expect(() => ddgRenyiDivergence({ ...mechanism, noiseStdDev: Infinity }, 2)).toThrow(
      'ddgRenyiDivergence: noiseStdDev must be a finite number > 0, got Infinity',
    );
    expect(() => ddgRenyiDivergence({ ...mechanism, dimension: 1.5 }, 2)).toThrow('ddgRenyiDivergence: dimension must be an integer >= 1, got 1.5');
    expect(() => ddgRenyiDivergence({ ...mechanism, l1Sensitivity: -1 }, 2)).toThrow('ddgRenyiDivergence: l1Sensitivity must be a finite number > 0, got -1');
    expect(() => ddgRenyiDivergence(mechanism, Number.NaN)).toThrow('ddgRenyiDivergence: order must be a finite number > 1, got NaN');
    expect(() => ddgRenyiDivergence(mechanism, Infinity)).toThrow('ddgRenyiDivergence: order must be a finite number > 1, got Infinity');
    expect(() => ddgRenyiDivergence(mechanism, '2' as unknown as number)).toThrow('ddgRenyiDivergence: order must be a finite number > 1, got 2');
    expect(ddgRenyiDivergence(mechanism, 1 + 2 ** -40)).toBeGreaterThan(0);
    expect(() => ddgConcentratedDp({ ...mechanism, clients: 0 })).toThrow('ddgConcentratedDp: clients must be an integer >= 1, got 0');
    expect(() => ddgEquivalentNoiseMultiplier({ ...mechanism, clients: 0 })).toThrow('ddgEquivalentNoiseMultiplier: clients must be an integer >= 1, got 0');
    expect(() => ddgTau(0, 1)).toThrow('ddgTau: clients must be an integer >= 1, got 0');
    expect(() => ddgTau(3, Number.NaN)).toThrow('ddgTau: noiseStdDev must be a finite number > 0, got NaN');
  });

  it('ddgMechanismRdp checks q, the mechanism and every order', () => {
    expect(() => ddgMechanismRdp(mechanism, 0, [2])).toThrow('ddgMechanismRdp: samplingRate must be in (0, 1], got 0');
    expect(() => ddgMechanismRdp({ ...mechanism, clients: 0 }, 0.5, [2])).toThrow('ddgMechanismRdp: clients must be an integer >= 1, got 0');
    expect(() => ddgMechanismRdp(mechanism, 0.5, [2, 4097])).toThrow('ddgMechanismRdp: orders[1] must be a finite number ≤ 4096, got 4097');
    expect(() => ddgMechanismRdp(mechanism, 0.5, [Number.NaN])).toThrow('ddgMechanismRdp: orders[0] must be a finite number ≤ 4096, got NaN');
    expect(() => ddgMechanismRdp(mechanism, 0.5, ['2' as unknown as number])).toThrow('ddgMechanismRdp: orders[0] must be a finite number ≤ 4096, got 2');
    expect(ddgMechanismRdp(mechanism, 0.5, [4096])[0]).toBeGreaterThan(0);
  });

  it('ddgRdp and ddgEpsilon check q, steps, orders and the conversion', () => {
    const base = { params, clients: 200, samplingRate: 0.02, steps: 1 };
    expect(() => ddgRdp({ ...base, samplingRate: 0 })).toThrow('ddgRdp: samplingRate must be in (0, 1], got 0');
    expect(() => ddgRdp({ ...base, steps: -1 })).toThrow('ddgRdp: steps must be an integer >= 0, got -1');
    expect(() => ddgRdp({ ...base, clients: 0 })).toThrow('ddgRdp: clients must be an integer >= 1, got 0');
    expect(() => ddgRdp({ ...base, orders: [] })).toThrow('ddgRdp: orders must be a non-empty array of integers >= 2, got an empty array');
    expect(() => ddgRdp({ ...base, orders: 'all' as unknown as number[] })).toThrow('ddgRdp: orders must be a non-empty array of integers >= 2, got string');
    expect(() => ddgRdp({ ...base, orders: [2, 1] })).toThrow('ddgRdp: orders[1] must be an integer in [2, 4096], got 1');
    expect(() => ddgRdp({ ...base, orders: [4097] })).toThrow('ddgRdp: orders[0] must be an integer in [2, 4096], got 4097');
    expect(() => ddgRdp({ ...base, orders: ['2' as unknown as number] })).toThrow('ddgRdp: orders[0] must be an integer in [2, 4096], got 2');
    expect(ddgRdp({ ...base, orders: [2, 4096] })).toHaveLength(2);
    expect(() => ddgEpsilon({ ...base, delta: 1e-6, conversion: 'tight' as 'classic' })).toThrow(
      "ddgEpsilon: conversion must be 'improved' or 'classic', got tight",
    );
  });
});

describe('ddgEpsilon against the independent Python reference', () => {
  it.each(cases)('$name', (c) => {
    const params = ddgParams(c.params);
    const [clients, samplingRate, steps, delta] = c.run;
    expect(relativeError(params.roundedNormBound, c.l2)).toBeLessThan(1e-12);
    expect(relativeError(ddgTau(clients, c.params.localNoiseStdDev * c.params.scale), c.tau)).toBeLessThan(1e-9);
    const options = { params, clients, samplingRate, steps };
    const rdp = ddgRdp(options);
    checkedOrders.forEach((order, i) => {
      expect(relativeError(rdp[DDG_RDP_ORDERS.indexOf(order)] as number, c.rdp[i] as number)).toBeLessThan(1e-9);
    });
    expect(relativeError(ddgEpsilon({ ...options, delta }).epsilon, c.epsilon)).toBeLessThan(1e-9);
  });
});

describe('ddgTau', () => {
  it('is 0 for one client, grows with n, and vanishes as σ grows', () => {
    expect(ddgTau(1, 1)).toBe(0);
    // n = 2: 10·e^(−2π²σ²/2) = 10·e^(−π²σ²)
    expect(ddgTau(2, 1)).toBeCloseTo(10 * Math.exp(-(Math.PI ** 2)), 15);
    expect(ddgTau(1000, 1)).toBeGreaterThan(ddgTau(100, 1));
    expect(ddgTau(1000, 3)).toBeLessThan(1e-30);
  });
});

describe('the per-round bound', () => {
  const mechanism = { l2Sensitivity: 20, noiseStdDev: 1, clients: 1000, dimension: 1024 };

  it('is the continuous Gaussian’s αΔ²/(2nσ²) when τ vanishes, and exceeds it otherwise', () => {
    const large = { ...mechanism, noiseStdDev: 5 };
    expect(ddgRenyiDivergence(large, 7)).toBeCloseTo((7 * 20 * 20) / (2 * 1000 * 25), 14);
    expect(ddgConcentratedDp(large)).toBeCloseTo((20 * 20) / (2 * 1000 * 25), 14);
    const gaussian = (7 * 20 * 20) / (2 * 1000);
    expect(ddgRenyiDivergence(mechanism, 7)).toBeGreaterThan(gaussian);
    // ... by at most τd (the first term of the minimum).
    expect(ddgRenyiDivergence(mechanism, 7)).toBeLessThanOrEqual(gaussian + ddgTau(1000, 1) * 1024);
  });

  it('takes the L1 term where it is smaller, with Δ₁ = Δ₂·min(√d, Δ₂) by default', () => {
    // τd > 0 dominates at small α (second term wins); the first wins at large α.
    const tau = ddgTau(1000, 1);
    const a2 = 20 / Math.sqrt(1000);
    const a1 = (20 * 20) / Math.sqrt(1000);
    expect(ddgRenyiDivergence(mechanism, 2)).toBeCloseTo(a2 * a2 + 2 * a1 * tau + tau * tau * 1024, 14);
    expect(ddgRenyiDivergence(mechanism, 256)).toBeCloseTo(128 * a2 * a2 + tau * 1024, 10);
    // An explicit, smaller Δ₁ can only help.
    expect(ddgRenyiDivergence({ ...mechanism, l1Sensitivity: 20 }, 2)).toBeLessThan(ddgRenyiDivergence(mechanism, 2));
  });

  it('rejects bad arguments', () => {
    expect(() => ddgRenyiDivergence(mechanism, 1)).toThrow(/order must be a finite number > 1, got 1/);
    expect(() => ddgRenyiDivergence({ ...mechanism, clients: 0 }, 2)).toThrow(/clients must be an integer >= 1, got 0/);
    expect(() => ddgTau(10, 0)).toThrow(/noiseStdDev must be a finite number > 0, got 0/);
  });
});

describe('poissonSubsampledRdpBound', () => {
  it('at α = 2 equals the exact sampled Gaussian RDP log(1 + q²(e^(1/σ²) − 1))', () => {
    for (const [q, sigma] of [
      [0.01, 1],
      [0.1, 0.7],
      [0.5, 3],
    ] as const) {
      const bound = poissonSubsampledRdpBound(2, q, (alpha) => alpha / (2 * sigma * sigma));
      expect(bound).toBeCloseTo(computeRdp({ samplingRate: q, noiseMultiplier: sigma, steps: 1, orders: [2] })[0] as number, 12);
    }
  });

  it('upper-bounds the exact sampled Gaussian at every order, as a valid bound must', () => {
    for (const alpha of [3, 8, 32, 128]) {
      const exact = computeRdp({ samplingRate: 0.02, noiseMultiplier: 1.1, steps: 1, orders: [alpha] })[0] as number;
      const bound = poissonSubsampledRdpBound(alpha, 0.02, (l) => l / (2 * 1.1 * 1.1));
      expect(bound).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
    }
  });
});

describe('ddgEpsilon against the sampled Gaussian accountant', () => {
  // With the same total noise σ√n and clip c, the DDG's ε can only be larger: its sensitivity is
  // Δ₂/scale ≥ c, τ ≥ 0, and Zhu–Wang's general bound is above the exact SGM RDP. It approaches it
  // when rounding is fine (scale large), σ·scale large (τ → 0) and q = 1.
  const base = { clipNorm: 1, localNoiseStdDev: 0.1, dimension: 2 ** 16 };
  const clients = 100; // total noise 1.0 = noise multiplier 1

  it.each([
    [1, 10, 1e-5],
    [0.01, 1000, 1e-5],
    [0.05, 300, 1e-6],
  ])('q = %s, %s rounds, δ = %s', (samplingRate, steps, delta) => {
    // The same integer orders for both, so that only the mechanisms differ.
    const sgm = rdpEpsilon({ samplingRate, noiseMultiplier: 1, steps, delta, orders: [...DDG_RDP_ORDERS] }).epsilon;
    const coarse = ddgEpsilon({ params: ddgParams({ ...base, scale: 300 }), clients, samplingRate, steps, delta }).epsilon;
    const fine = ddgEpsilon({ params: ddgParams({ ...base, scale: 30_000 }), clients, samplingRate, steps, delta }).epsilon;
    expect(fine).toBeGreaterThanOrEqual(sgm);
    expect(coarse).toBeGreaterThan(fine);
    // At q = 1 only (Δ₂/(c·scale))² ≈ 1.0003 separates them; with sampling, Zhu–Wang's general
    // bound costs 15–25% here.
    expect(fine).toBeLessThan(samplingRate === 1 ? 1.001 * sgm : 1.3 * sgm);
  });

  it('at q = 1 its RDP is the Gaussian’s times (Δ₂/(c·scale))² when τ = 0', () => {
    const params = ddgParams({ ...base, scale: 1000 });
    const ratio = (params.roundedNormBound / 1000) ** 2;
    const ddg = ddgRdp({ params, clients, samplingRate: 1, steps: 4, orders: [2, 17] });
    const gauss = computeRdp({ samplingRate: 1, noiseMultiplier: 1, steps: 4, orders: [2, 17] });
    ddg.forEach((r, i) => expect(r).toBeCloseTo((gauss[i] as number) * ratio, 12));
  });
});

describe('ddgEpsilon monotonicity', () => {
  const base = { params: { clipNorm: 1, scale: 100, localNoiseStdDev: 0.05, dimension: 4096 }, clients: 200, samplingRate: 0.02, steps: 500, delta: 1e-6 };
  const epsilon = (change: { params?: Partial<typeof base.params>; clients?: number; samplingRate?: number; steps?: number; delta?: number }) =>
    ddgEpsilon({ ...base, ...change, params: ddgParams({ ...base.params, ...change.params }) }).epsilon;

  it('falls with more noise, more noise shares and finer scale; rises with rounds, sampling and dimension', () => {
    const reference = epsilon({});
    expect(reference).toBeGreaterThan(0);
    expect(epsilon({ params: { localNoiseStdDev: 0.06 } })).toBeLessThan(reference);
    expect(epsilon({ clients: 300 })).toBeLessThan(reference);
    expect(epsilon({ params: { scale: 200 } })).toBeLessThan(reference);
    expect(epsilon({ steps: 600 })).toBeGreaterThan(reference);
    expect(epsilon({ samplingRate: 0.03 })).toBeGreaterThan(reference);
    expect(epsilon({ params: { dimension: 8192 } })).toBeGreaterThan(reference);
    expect(epsilon({ delta: 1e-9 })).toBeGreaterThan(reference);
  });

  it('adds RDP linearly over rounds and gives ε = 0 for no rounds', () => {
    const params = ddgParams(base.params);
    const one = ddgRdp({ params, clients: 200, samplingRate: 0.02, steps: 1 });
    const many = ddgRdp({ params, clients: 200, samplingRate: 0.02, steps: 37 });
    many.forEach((r, i) => expect(r).toBeCloseTo(37 * (one[i] as number), 10));
    expect(ddgEpsilon({ params, clients: 200, samplingRate: 0.02, steps: 0, delta: 1e-6 }).epsilon).toBe(0);
  });

  it('describes the mechanism a DdgParams encodes, and validates orders and δ', () => {
    const params = ddgParams(base.params);
    expect(ddgMechanism(params, 200)).toEqual({ l2Sensitivity: params.roundedNormBound, noiseStdDev: 5, clients: 200, dimension: 4096 });
    expect(() => ddgRdp({ params, clients: 200, samplingRate: 0.02, steps: 1, orders: [1.5] })).toThrow(
      /orders\[0\] must be an integer in \[2, 4096\], got 1.5/,
    );
    expect(() => ddgEpsilon({ params, clients: 200, samplingRate: 0.02, steps: 1, delta: 0 })).toThrow(/delta must be in \(0, 1\), got 0/);
  });
});
