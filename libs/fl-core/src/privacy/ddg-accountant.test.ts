import { describe, expect, it } from 'vitest';
import { ddgParams } from './ddg';
import { DDG_RDP_ORDERS, ddgConcentratedDp, ddgEpsilon, ddgMechanism, ddgRdp, ddgRenyiDivergence, ddgTau, poissonSubsampledRdpBound } from './ddg-accountant';
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
