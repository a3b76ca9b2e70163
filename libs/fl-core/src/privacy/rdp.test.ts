import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeRdp, DEFAULT_RDP_ORDERS, gaussianMechanismEpsilon, rdpEpsilon, rdpToEpsilon } from './rdp';

function relativeError(actual: number, expected: number): number {
  return Math.abs(actual / expected - 1);
}

function rdpAt(samplingRate: number, noiseMultiplier: number, steps: number, order: number): number {
  return computeRdp({ samplingRate, noiseMultiplier, steps, orders: [order] })[0] as number;
}

/** Opacus's RDPAccountant.DEFAULT_ALPHAS: 1.1, 1.2, …, 10.9, then 12 … 63. */
const OPACUS_ALPHAS = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, i) => i + 12)];

describe('default orders', () => {
  it("are TF Privacy's list", () => {
    expect(DEFAULT_RDP_ORDERS).toHaveLength(72);
    expect(DEFAULT_RDP_ORDERS.slice(0, 11)).toEqual([1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, 5]);
    expect(DEFAULT_RDP_ORDERS.slice(-4)).toEqual([63, 128, 256, 512]);
    expect(Object.isFrozen(DEFAULT_RDP_ORDERS)).toBe(true);
  });
});

describe('computeRdp against published vectors', () => {
  // tensorflow/privacy tensorflow_privacy/privacy/analysis/rdp_accountant_test.py
  it('test_compute_rdp_scalar: q = 0.1, σ = 2, 10 steps, α = 5 → 0.07737', () => {
    const rdp = rdpAt(0.1, 2, 10, 5);
    expect(Math.abs(rdp - 0.07737)).toBeLessThan(5e-6); // published to 5 places
    expect(relativeError(rdp, 0.077369684897958652)).toBeLessThan(1e-12); // mpmath, exact binomial sum
  });

  it('test_compute_rdp_sequence: q = 0.01, σ = 2.5, 50 steps, α ∈ {1.5, 2.5, 5, 50, 100}', () => {
    const orders = [1.5, 2.5, 5, 50, 100];
    const rdp = computeRdp({ samplingRate: 0.01, noiseMultiplier: 2.5, steps: 50, orders });
    // Published with delta = 1e-5.
    const published = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307];
    rdp.forEach((value, i) => expect(Math.abs(value - (published[i] as number))).toBeLessThan(1e-5));
    // mpmath at 50 digits: numerical integration of A_α for 1.5 and 2.5, exact sums for integers.
    const exact = [0.00065007089718803974, 0.0010854180569181243, 0.0021807565623078808, 0.023846037538706169, 167.41630754841826];
    rdp.forEach((value, i) => expect(relativeError(value, exact[i] as number)).toBeLessThan(1e-12));
  });

  it("dp_accounting's 9-digit values agree at integer orders and bound the signed series from above", () => {
    // google/differential-privacy python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant_test.py,
    // test_compute_rdp_poisson_sampled_gaussian. Newer dp_accounting sums |C(α, i)| for fractional α,
    // an upper bound; the exact signed series (TF Privacy, Opacus, here) is below it.
    const rdp = computeRdp({ samplingRate: 0.01, noiseMultiplier: 2.5, steps: 50, orders: [1.5, 2.5, 5, 50, 100] });
    const published = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2];
    for (const i of [2, 3, 4]) expect(relativeError(rdp[i] as number, published[i] as number)).toBeLessThan(1e-8);
    for (const i of [0, 1]) expect(rdp[i] as number).toBeLessThan(published[i] as number);
  });

  it('test_compute_rdp_no_sampling: q = 1, σ = 10, α = 20 → 0.1', () => {
    expect(rdpAt(1, 10, 1, 20)).toBe(0.1);
  });

  // The (q, σ, α) grid of test_compute_log_a_equals_mp in both TF Privacy and dp_accounting, which
  // compare log A_α with an mpmath integral at rtol 1e-4. Expected RDP = log(A_α)/(α − 1) from
  // mpmath at 50 digits (quad of the defining integral for fractional α, exact binomial sums for
  // integer α); held here to 1e-9.
  it.each([
    [1e-7, 0.1, 1.01, 4.003412322526395e-6],
    [1e-6, 0.1, 256, 12786.130310969258],
    [1e-5, 0.1, 256.1, 12793.441943506159],
    [1e-6, 1, 27, 3.3728889634032684e-11],
    [1e-4, 1, 1.5, 1.2885373907673299e-8],
    [1e-3, 1, 2, 1.7182803522145154e-6],
    [0.01, 10, 20, 1.0068263112022612e-5],
    [0.1, 100, 20.5, 1.0252214593881178e-5],
    [0.99, 0.1, 256, 12799.989910251063],
    [0.999, 100, 256.1, 0.012779725746660574],
  ])('log A grid: q = %d, σ = %d, α = %d', (q, sigma, alpha, expected) => {
    expect(relativeError(rdpAt(q, sigma, 1, alpha), expected)).toBeLessThan(1e-9);
  });
});

describe('computeRdp at the edges (mpmath references, 50 digits, as above)', () => {
  it.each([
    // tiny q: A_α − 1 ≈ 1e−12 sits far below the rounding error of A_α itself
    [1e-6, 1, 1.25, 1.0739239661392169e-12],
    [1e-6, 1, 1.5, 1.288709630023207e-12],
    [1e-6, 0.5, 2.5, 6.7031094008290192e-11],
    [1e-6, 1, 2, 1.7182818284575688e-12],
    [1e-6, 1, 63, 17.461658626584689],
    // large σ
    [0.1, 100, 2, 1.0000495016170389e-6],
    [0.1, 100, 512, 0.0002571948974326247],
    [0.01, 100, 1.25, 6.2503078379292741e-9],
    [0.5, 100, 1.25, 1.5625292966918993e-5],
    // q near 1/2 and α near 1: slowly decaying alternating tails
    [0.5, 1, 1.01, 0.14029743611126404],
    [0.5, 1, 1.25, 0.18403840772767036],
    [0.5, 3, 1.5, 0.021413356320631909],
    [0.5, 10, 1.01, 0.0012641070924112839],
    [0.9, 0.5, 2.5, 4.8248636437504776],
    [0.02, 0.8, 3.5, 0.0034431292825573097],
    [0.02, 0.8, 64, 46.025881391311084],
  ])('q = %d, σ = %d, α = %d', (q, sigma, alpha, expected) => {
    expect(relativeError(rdpAt(q, sigma, 1, alpha), expected)).toBeLessThan(1e-9);
  });

  it('stays accurate for σ up to 10^6 with q = 1/2: fractional orders sit between their integer neighbours', () => {
    // Integer orders are sums of positive terms (accurate to ~1e−15 relative); RDP grows with α.
    // The fractional series cancels down to A_α − 1 ≈ 1e−13 here, so allow 1e−15 absolute per round.
    for (const sigma of [1e3, 1e4, 1e5, 1e6]) {
      for (const alpha of [1.25, 1.5, 2.5, 4.5, 20.5]) {
        const [below, fractional, above] = computeRdp({
          samplingRate: 0.5,
          noiseMultiplier: sigma,
          steps: 1,
          orders: [Math.max(1.01, Math.floor(alpha)), alpha, Math.ceil(alpha)],
        }) as [number, number, number];
        expect(fractional).toBeGreaterThanOrEqual(below - 1e-15);
        expect(fractional).toBeLessThanOrEqual(above + 1e-15);
      }
    }
  });

  it('stays consistent for tiny σ, where the terms are e^(±10^16)', () => {
    for (const sigma of [1e-3, 1e-8, 1e-50, 1e-100]) {
      for (const alpha of [1.5, 3.5, 20.5]) {
        const [below, fractional, above] = computeRdp({
          samplingRate: 0.3,
          noiseMultiplier: sigma,
          steps: 1,
          orders: [Math.max(1.01, Math.floor(alpha)), alpha, Math.ceil(alpha)],
        }) as [number, number, number];
        expect(fractional).toBeGreaterThanOrEqual(below * (1 - 1e-12));
        expect(fractional).toBeLessThanOrEqual(above * (1 + 1e-12));
      }
    }
  });

  it('is α/(2σ²) at every order without sampling', () => {
    const rdp = computeRdp({ samplingRate: 1, noiseMultiplier: 1.7, steps: 3 });
    DEFAULT_RDP_ORDERS.forEach((alpha, i) => expect(rdp[i]).toBeCloseTo((3 * alpha) / (2 * 1.7 ** 2), 12));
  });

  it('is linear in steps, including 10^4 and 10^6 steps', () => {
    const one = computeRdp({ samplingRate: 0.01, noiseMultiplier: 1.1, steps: 1 });
    for (const steps of [10_000, 1_000_000]) {
      const many = computeRdp({ samplingRate: 0.01, noiseMultiplier: 1.1, steps });
      many.forEach((value, i) => expect(relativeError(value, steps * (one[i] as number))).toBeLessThan(1e-15));
    }
    expect(computeRdp({ samplingRate: 0.01, noiseMultiplier: 1.1, steps: 0 }).every((r) => r === 0)).toBe(true);
  });

  it('grows with q and α and shrinks with σ', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-5, max: 0.5, noNaN: true }), fc.double({ min: 0.5, max: 20, noNaN: true }), (q, sigma) => {
        const rdp = computeRdp({ samplingRate: q, noiseMultiplier: sigma, steps: 1 });
        rdp.forEach((value, i) => {
          expect(value).toBeGreaterThanOrEqual(0);
          if (i > 0) expect(value).toBeGreaterThanOrEqual((rdp[i - 1] as number) * (1 - 1e-9));
        });
        const moreSampling = computeRdp({ samplingRate: Math.min(1, q * 1.5), noiseMultiplier: sigma, steps: 1 });
        const moreNoise = computeRdp({ samplingRate: q, noiseMultiplier: sigma * 1.5, steps: 1 });
        rdp.forEach((value, i) => {
          expect(moreSampling[i] as number).toBeGreaterThanOrEqual(value);
          expect(moreNoise[i] as number).toBeLessThanOrEqual(value);
        });
      }),
      { numRuns: 25 },
    );
  });
});

describe('computeRdp where A_α − 1 cancels by orders of magnitude (mpmath references, 60 digits)', () => {
  // Quadrature of E_{z∼N(0,σ²)}[((1 − q) + q·e^((2z − 1)/(2σ²)))^α − 1] with mpmath at 60 digits
  // (the same references as above reproduce to 17 digits). Here the series' terms are 10^3–10^6
  // times A_α − 1, so plain summation loses what the compensated sum keeps, and too few
  // convergence-acceleration terms leave an error above these tolerances. Each tolerance is a few
  // times the error measured for the implementation.
  it.each([
    [0.7, 300, 1.25, 3.4027814641173898853e-6, 1e-11],
    [0.7, 1000, 1.1, 2.6950001778699849319e-7, 2e-10],
    [0.7, 1000, 2.5, 6.125002205000139332e-7, 1e-11],
    [0.7, 10_000, 1.5, 3.6750000055124995311e-9, 3e-9],
  ])('q = %d, σ = %d, α = %d', (q, sigma, alpha, expected, tolerance) => {
    expect(relativeError(rdpAt(q, sigma, 1, alpha), expected)).toBeLessThan(tolerance);
  });
});

describe('rdpEpsilon against published vectors', () => {
  // tensorflow/privacy compute_dp_sgd_privacy_test.py, test_compute_dp_sgd_privacy:
  // (n, batch, σ, epochs, δ) → (ε, order) with q = batch/n, steps = ceil(epochs·n/batch), TF's
  // default orders and dp_accounting's compute_epsilon, i.e. the improved conversion.
  it.each([
    [60_000, 150, 1.3, 15, 1e-5, 0.7242234026109595, 19],
    [100_000, 100, 1.0, 30, 1e-7, 1.4154988495444842, 13],
    [100_000_000, 1024, 0.1, 10, 1e-7, 5907982.3113978775, 1.25],
  ])('compute_dp_sgd_privacy(n=%d, batch=%d, σ=%d, epochs=%d, δ=%d) → ε %d at order %d', (n, batch, sigma, epochs, delta, epsilon, order) => {
    const spent = rdpEpsilon({
      samplingRate: batch / n,
      noiseMultiplier: sigma,
      steps: Math.ceil((epochs * n) / batch),
      delta,
    });
    expect(relativeError(spent.epsilon, epsilon)).toBeLessThan(1e-6);
    expect(spent.order).toBe(order);
  });

  it("0.7242 is the improved conversion's number; the classic one gives 0.9419 at the same order", () => {
    const args = { samplingRate: 150 / 60_000, noiseMultiplier: 1.3, steps: 6000, delta: 1e-5 };
    // Classic value computed with the same RDP in Python/SciPy: eps = min(rdp + log(1/δ)/(α − 1)).
    const classic = rdpEpsilon({ ...args, conversion: 'classic' });
    expect(relativeError(classic.epsilon, 0.9418705671678969)).toBeLessThan(1e-9);
    expect(classic.order).toBe(19);
    expect(rdpEpsilon(args).epsilon).toBeLessThan(classic.epsilon);
  });

  it('Opacus accountants_test.py test_rdp_accountant: σ = 1.5, q = 0.04, 2250 steps, δ = 1e-5 → 7.32911117143', () => {
    const spent = rdpEpsilon({ samplingRate: 0.04, noiseMultiplier: 1.5, steps: 2250, delta: 1e-5, orders: OPACUS_ALPHAS });
    expect(relativeError(spent.epsilon, 7.32911117143)).toBeLessThan(1e-6);
    expect(spent.order).toBe(3.9);
  });

  it('TF Privacy test_check_composition: classic conversion 8.509656 at order 2.5 over two mechanisms', () => {
    const orders = [1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256];
    const first = computeRdp({ samplingRate: 1e-4, noiseMultiplier: 0.4, steps: 40_000, orders });
    const second = computeRdp({ samplingRate: 0.1, noiseMultiplier: 2, steps: 100, orders });
    const rdp = first.map((value, i) => value + (second[i] as number));
    const classic = rdpToEpsilon({ orders, rdp, delta: 1e-5, conversion: 'classic' });
    expect(relativeError(classic.epsilon, 8.509656)).toBeLessThan(1e-6);
    expect(classic.order).toBe(2.5);
    // "These still provide an upper bound" for the improved conversion.
    expect(rdpToEpsilon({ orders, rdp, delta: 1e-5 }).epsilon).toBeLessThanOrEqual(8.509656);
  });

  it('Opacus analysis/rdp.py docstring: [(1e-5, 1.0, 10), (1e-4, 3.0, 4)], orders 2..32, δ = 1e-5 → (0.336, 23)', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const a = computeRdp({ samplingRate: 1e-5, noiseMultiplier: 1, steps: 10, orders });
    const b = computeRdp({ samplingRate: 1e-4, noiseMultiplier: 3, steps: 4, orders });
    const spent = rdpToEpsilon({ orders, rdp: a.map((value, i) => value + (b[i] as number)), delta: 1e-5 });
    expect(Math.abs(spent.epsilon - 0.336)).toBeLessThan(5e-4); // published to 3 digits
    expect(spent.order).toBe(23);
  });

  it('pure DP: RDP 1.1 at orders 2..32, δ = 1e-5 → 1.32783806176 at order 32 (TF Privacy, dp_accounting)', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const spent = rdpToEpsilon({ orders, rdp: orders.map(() => 1.1), delta: 1e-5 });
    expect(spent.epsilon).toBeCloseTo(1.32783806176, 10);
    expect(spent.order).toBe(32);
  });

  it('Gaussian σ = 4.530877117 over orders 1.001..99.999 is (1, 1e-6)-DP (dp_accounting test_compute_epsilon_delta_gaussian)', () => {
    const orders = Array.from({ length: 98_999 }, (_, i) => 0.001 * (i + 1001));
    const spent = rdpEpsilon({ samplingRate: 1, noiseMultiplier: 4.530877117, steps: 1, delta: 1e-6, orders });
    expect(spent.epsilon).toBeCloseTo(1, 7);
  });
});

describe('rdpToEpsilon', () => {
  it('improved is never above classic', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-4, max: 1, noNaN: true }),
        fc.double({ min: 0.3, max: 30, noNaN: true }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.constantFrom(1e-3, 1e-5, 1e-9),
        (q, sigma, steps, delta) => {
          const args = { samplingRate: q, noiseMultiplier: sigma, steps, delta };
          expect(rdpEpsilon(args).epsilon).toBeLessThanOrEqual(rdpEpsilon({ ...args, conversion: 'classic' }).epsilon);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('gives ε = 0 when δ exceeds the total-variation bound √(1 − e^−RDP)', () => {
    expect(rdpToEpsilon({ orders: [2, 3], rdp: [1e-12, 2e-12], delta: 1e-5 })).toEqual({ epsilon: 0, order: 2 });
    expect(rdpEpsilon({ samplingRate: 1e-6, noiseMultiplier: 50, steps: 1, delta: 0.01 }).epsilon).toBe(0);
  });

  it('skips orders ≤ 1.01 in the improved conversion and uses them in the classic one', () => {
    expect(rdpToEpsilon({ orders: [1.005], rdp: [0.5], delta: 1e-5 }).epsilon).toBe(Infinity);
    expect(rdpToEpsilon({ orders: [1.005], rdp: [0.5], delta: 1e-5, conversion: 'classic' }).epsilon).toBeCloseTo(0.5 + Math.log(1e5) / 0.005, 8);
  });

  it('reports ε = 0 for zero steps', () => {
    expect(rdpEpsilon({ samplingRate: 0.1, noiseMultiplier: 1, steps: 0, delta: 1e-5 }).epsilon).toBe(0);
  });

  it('gives RDP 0 for zero steps even at an order where one round would be infinite', () => {
    // One round without sampling costs α/(2σ²) = 1e200/(2·1e−200) = +∞ in float64; zero rounds cost nothing.
    expect(computeRdp({ samplingRate: 1, noiseMultiplier: 1e-100, steps: 1, orders: [1e200] })).toEqual([Infinity]);
    expect(computeRdp({ samplingRate: 1, noiseMultiplier: 1e-100, steps: 0, orders: [1e200] })).toEqual([0]);
  });

  it('uses the improved conversion only above order 1.01, as TF Privacy and dp_accounting do', () => {
    expect(rdpToEpsilon({ orders: [1.01], rdp: [0.5], delta: 1e-5 }).epsilon).toBe(Infinity);
    const above = 1.01 + 2 ** -40;
    expect(rdpToEpsilon({ orders: [above], rdp: [0.5], delta: 1e-5 }).epsilon).toBeCloseTo(
      0.5 + Math.log1p(-1 / above) - Math.log(1e-5 * above) / (above - 1),
      6,
    );
  });

  it('treats RDP down to −1e−12 as rounding (0), and refuses anything below', () => {
    expect(rdpToEpsilon({ orders: [2], rdp: [-1e-12], delta: 1e-5 })).toEqual({ epsilon: 0, order: 2 });
    expect(rdpToEpsilon({ orders: [2], rdp: [-1e-13], delta: 1e-5 })).toEqual({ epsilon: 0, order: 2 });
    expect(rdpToEpsilon({ orders: [2], rdp: [0], delta: 1e-5 })).toEqual({ epsilon: 0, order: 2 });
    expect(() => rdpToEpsilon({ orders: [2], rdp: [-1.1e-12], delta: 1e-5 })).toThrow('rdpToEpsilon: rdp[0] must be a number >= 0, got -1.1e-12');
  });
});

describe('without sampling, ε stays above the exact Gaussian-mechanism ε', () => {
  // Analytic Gaussian mechanism (Balle & Wang 2018, Theorem 8), reference ε from mpmath at 50
  // digits: bisection on Φ(1/(2s) − εs) − e^ε Φ(−1/(2s) − εs) = δ with s = σ/√T.
  it.each([
    [4.530877117, 1e-6, 1, 0.92739233799744303],
    [1, 1e-5, 1, 4.3771780956812246],
    [0.5, 1e-5, 1, 9.9972561464343004],
    [2, 1e-6, 1, 2.2540846502197409],
    [10, 1e-5, 1, 0.34066936468432641],
    [0.1, 1e-5, 1, 91.817289624663737],
    [3, 1e-3, 1, 0.83352810180449367],
    [1, 1e-5, 100, 91.817289624663745],
    [20, 1e-6, 1000, 8.3062250499547282],
  ])('σ = %d, δ = %d, %d steps: exact ε = %d', (sigma, delta, steps, exact) => {
    expect(relativeError(gaussianMechanismEpsilon({ noiseMultiplier: sigma, delta, steps }), exact)).toBeLessThan(1e-12);
    const improved = rdpEpsilon({ samplingRate: 1, noiseMultiplier: sigma, steps, delta }).epsilon;
    const classic = rdpEpsilon({ samplingRate: 1, noiseMultiplier: sigma, steps, delta, conversion: 'classic' }).epsilon;
    expect(improved).toBeGreaterThanOrEqual(exact);
    expect(classic).toBeGreaterThanOrEqual(improved);
    // RDP is not tight, but with the improved conversion and these orders it stays within 35%.
    expect(improved).toBeLessThan(exact * 1.35);
  });

  it('holds across a grid of σ, δ and steps', () => {
    for (const sigma of [0.3, 0.8, 1.5, 5, 30, 100]) {
      for (const delta of [1e-2, 1e-5, 1e-10]) {
        for (const steps of [1, 10, 10_000]) {
          const exact = gaussianMechanismEpsilon({ noiseMultiplier: sigma, delta, steps });
          expect(rdpEpsilon({ samplingRate: 1, noiseMultiplier: sigma, steps, delta }).epsilon).toBeGreaterThanOrEqual(exact);
        }
      }
    }
  });

  it('is 0 when δ already covers the whole distance at ε = 0', () => {
    expect(gaussianMechanismEpsilon({ noiseMultiplier: 100, delta: 0.5 })).toBe(0);
  });
});

describe('argument checks', () => {
  const good = { samplingRate: 0.01, noiseMultiplier: 1, steps: 10, delta: 1e-5 };

  it.each([
    [{ noiseMultiplier: 0 }, 'rdpEpsilon: noiseMultiplier must be a number in [1e-100, 1e100], got 0'],
    [{ noiseMultiplier: -1 }, 'noiseMultiplier must be a number in [1e-100, 1e100], got -1'],
    [{ noiseMultiplier: Number.NaN }, 'noiseMultiplier must be a number in [1e-100, 1e100], got NaN'],
    [{ noiseMultiplier: 1e160 }, 'noiseMultiplier must be a number in [1e-100, 1e100], got 1e+160'],
    [{ samplingRate: 0 }, 'rdpEpsilon: samplingRate must be in (0, 1], got 0'],
    [{ samplingRate: 1.5 }, 'samplingRate must be in (0, 1], got 1.5'],
    [{ samplingRate: -0.1 }, 'samplingRate must be in (0, 1], got -0.1'],
    [{ delta: 0 }, 'rdpEpsilon: delta must be in (0, 1), got 0'],
    [{ delta: 1 }, 'delta must be in (0, 1), got 1'],
    [{ delta: Number.NaN }, 'delta must be in (0, 1), got NaN'],
    [{ steps: 2.5 }, 'rdpEpsilon: steps must be an integer >= 0, got 2.5'],
    [{ steps: -1 }, 'steps must be an integer >= 0, got -1'],
    [{ orders: [2, 1] }, 'rdpEpsilon: orders[1] must be a finite number > 1, got 1'],
    [{ orders: [0.5] }, 'orders[0] must be a finite number > 1, got 0.5'],
    [{ orders: [Infinity] }, 'orders[0] must be a finite number > 1, got Infinity'],
    [{ orders: [] }, 'orders must be a non-empty array of finite numbers > 1, got an array of length 0'],
    [{ conversion: 'tight' }, "rdpEpsilon: conversion must be 'improved' or 'classic', got tight"],
  ])('rdpEpsilon rejects %j', (override, message) => {
    expect(() => rdpEpsilon({ ...good, ...override } as Parameters<typeof rdpEpsilon>[0])).toThrow(message);
  });

  it('accepts noiseMultiplier at both ends of [1e-100, 1e100] and nothing beyond', () => {
    expect(rdpAt(1, 1e100, 1, 2)).toBe(2 / (2 * 1e100 * 1e100));
    expect(rdpAt(1, 1e-100, 1, 2)).toBe(2 / (2 * 1e-100 * 1e-100));
    expect(() => rdpAt(1, 1.0000000000000002e100, 1, 2)).toThrow(
      'computeRdp: noiseMultiplier must be a number in [1e-100, 1e100], got 1.0000000000000002e+100',
    );
    expect(() => rdpAt(1, 9.999999999999999e-101, 1, 2)).toThrow('noiseMultiplier must be a number in [1e-100, 1e100]');
  });

  it('computeRdp, rdpToEpsilon and gaussianMechanismEpsilon name themselves', () => {
    expect(() => computeRdp({ samplingRate: 2, noiseMultiplier: 1, steps: 1 })).toThrow('computeRdp: samplingRate');
    expect(() => rdpToEpsilon({ orders: [2, 3], rdp: [0.1], delta: 1e-5 })).toThrow(
      'rdpToEpsilon: rdp must be an array with one value per order (2), got length 1',
    );
    expect(() => rdpToEpsilon({ orders: [2], rdp: [-0.5], delta: 1e-5 })).toThrow('rdpToEpsilon: rdp[0] must be a number >= 0, got -0.5');
    expect(() => gaussianMechanismEpsilon({ noiseMultiplier: 1, delta: 1e-5, steps: 0 })).toThrow(
      'gaussianMechanismEpsilon: steps must be an integer >= 1, got 0',
    );
  });
});
