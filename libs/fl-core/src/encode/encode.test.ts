import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { encodeInto } from './fixed-point';
import { addModInto, createMetricsLayout, decodeSum, decodeSumWithMetrics, encodeVector, encodeWithMetrics, encodingParams, quantizationBound } from './index';

/** Deterministic bytes for reproducible tests only (never for real rounding). */
function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

function sumEncodings(encodings: Uint32Array[], modulusBits: number): Uint32Array {
  const sum = new Uint32Array(encodings[0]?.length ?? 0);
  for (const e of encodings) addModInto(sum, e, modulusBits);
  return sum;
}

describe('encodingParams', () => {
  it('picks the largest scale whose m-client sum cannot wrap', () => {
    const p = encodingParams({ clipRange: 0.5, maxClients: 100 });
    // L = ⌊(2^31 − 1)/100⌋ = 21474836; scale = L/r.
    expect(p.maxMagnitude).toBe(21_474_836);
    expect(p.scale).toBe(21_474_836 / 0.5);
    expect(p.maxClients * p.maxMagnitude).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(p.maxClients * 2 * p.maxMagnitude).toBeLessThan(2 ** 32);
    const small = encodingParams({ clipRange: 1, maxClients: 100, modulusBits: 16 });
    expect(small.maxMagnitude).toBe(327); // ⌊32767/100⌋
  });

  it('rejects parameters that could wrap or are invalid, naming them', () => {
    expect(() => encodingParams({ clipRange: 1, maxClients: 1000, modulusBits: 8 })).toThrow(/1000 clients cannot share/);
    expect(() => encodingParams({ clipRange: 1, maxClients: 10, modulusBits: 16, scale: 4000 })).toThrow(/could wrap/);
    expect(() => encodingParams({ clipRange: -1, maxClients: 10 })).toThrow(/clipRange/);
    expect(() => encodingParams({ clipRange: 1, maxClients: 10, modulusBits: 33 })).toThrow(/modulusBits/);
  });

  it('states the limit it enforces in each refusal', () => {
    // Z_(2^8): half the modulus less one is 127 levels; 1000 clients cannot each get ±1.
    expect(() => encodingParams({ clipRange: 1, maxClients: 1000, modulusBits: 8 })).toThrow(
      'encodingParams: 1000 clients cannot share Z_(2^8) (each needs at least ±1; need maxClients ≤ 127)',
    );
    // 10 clients × ⌊1·4000⌋ = 40 000 > 2^15 − 1.
    expect(() => encodingParams({ clipRange: 1, maxClients: 10, modulusBits: 16, scale: 4000 })).toThrow(
      'encodingParams: 10 clients × ⌊1·4000⌋ = 40000 could wrap Z_(2^16); expected ≤ 32767',
    );
  });

  it('refuses an explicit scale that leaves no integer level inside the clip range', () => {
    // ⌊0.25·2⌋ = 0: every value would encode to 0.
    expect(() => encodingParams({ clipRange: 0.25, maxClients: 1, scale: 2 })).toThrow(
      'encodingParams: clipRange·scale = 0.5 leaves no integer levels; expected ≥ 1',
    );
    expect(encodingParams({ clipRange: 0.25, maxClients: 1, scale: 4 }).maxMagnitude).toBe(1);
  });

  it('accepts m·L exactly at 2^(k−1) − 1, where the m-client sum still decodes without wrapping', () => {
    // Z_(2^8), 127 clients × L = 1: sums lie in [−127, 127], all 255 of them distinct mod 256.
    const params = encodingParams({ clipRange: 1, maxClients: 127, modulusBits: 8, scale: 1 });
    expect(params.maxMagnitude).toBe(1);
    for (const sign of [1, -1]) {
      const one = encodeVector(new Float32Array([sign]), params, testBytes(sign + 2));
      const sum = sumEncodings(
        Array.from({ length: 127 }, () => one),
        8,
      );
      expect(Array.from(decodeSum(sum, params, 127))).toEqual([sign * 127]);
    }
    expect(() => encodingParams({ clipRange: 1, maxClients: 128, modulusBits: 8, scale: 1 })).toThrow(/could wrap/);
  });
});

describe('encodeVector / decodeSum', () => {
  it('decodes a sum within count/scale of the float sum (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom(8, 12, 16, 24, 32),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        (clients, modulusBits, clipRange, seed) => {
          fc.pre(2 ** (modulusBits - 1) - 1 >= clients);
          const params = encodingParams({ clipRange, maxClients: clients, modulusBits });
          const random = createSeededRandom(seed);
          const d = 16;
          const exact = new Float64Array(d);
          const encodings = Array.from({ length: clients }, (_, c) => {
            const values = Float32Array.from({ length: d }, () => (random.nextFloat() * 2 - 1) * clipRange * 1.5);
            values.forEach((x, i) => (exact[i] = (exact[i] as number) + Math.max(-clipRange, Math.min(clipRange, x))));
            return encodeVector(values, params, testBytes(seed + c));
          });
          const decoded = decodeSum(sumEncodings(encodings, modulusBits), params, clients);
          const bound = quantizationBound(params, clients);
          decoded.forEach((value, i) => {
            const float32Slack = Math.abs(exact[i] as number) * 2 ** -24 + 2 ** -149;
            // Clipping at L/scale (≤ r, within a float ulp of r) adds at most count·ulp(r).
            const clipSlack = clients * clipRange * 2 ** -50;
            expect(Math.abs(value - (exact[i] as number))).toBeLessThanOrEqual(bound + float32Slack + clipSlack);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never wraps at m clients at the extremes, including values far past the clip range', () => {
    for (const modulusBits of [4, 8, 16, 32]) {
      const maxClients = modulusBits === 4 ? 7 : 50;
      const params = encodingParams({ clipRange: 3, maxClients, modulusBits });
      for (const extreme of [3, -3, 1e30, -1e30]) {
        const values = new Float32Array(8).fill(extreme);
        const encodings = Array.from({ length: maxClients }, (_, c) => encodeVector(values, params, testBytes(c)));
        const decoded = decodeSum(sumEncodings(encodings, modulusBits), params, maxClients);
        // Every client encodes exactly ±L, so the sum is ±m·L/scale ≈ ±m·r with the right sign.
        const expected = (Math.sign(extreme) * maxClients * params.maxMagnitude) / params.scale;
        for (const value of decoded) expect(value).toBeCloseTo(expected, 3);
      }
      // Mixed extremes: m−1 clients at +r and one at −r.
      const plus = encodeVector(new Float32Array([3]), params, testBytes(1));
      const minus = encodeVector(new Float32Array([-3]), params, testBytes(2));
      const sum = sumEncodings([...Array.from({ length: maxClients - 1 }, () => plus), minus], modulusBits);
      expect(decodeSum(sum, params, maxClients)[0]).toBeCloseTo(((maxClients - 2) * params.maxMagnitude) / params.scale, 3);
    }
  });

  it('stays below 2^k and maps zero to zero', () => {
    const params = encodingParams({ clipRange: 1, maxClients: 10, modulusBits: 12 });
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    for (const word of encodeVector(values, params, testBytes(3))) expect(word).toBeLessThan(2 ** 12);
    expect(Array.from(encodeVector(new Float32Array(4), params, testBytes(4)))).toEqual([0, 0, 0, 0]);
  });

  it('rounds stochastically without bias (mean over many trials)', () => {
    // v = x·scale = 7.3 units: q is 7 w.p. 0.7 and 8 w.p. 0.3; mean 7.3, std 0.458 per trial.
    const params = encodingParams({ clipRange: 1, maxClients: 1, modulusBits: 16, scale: 100 });
    const trials = 40_000;
    const values = new Float32Array(trials).fill(0.073);
    const v = (values[0] as number) * params.scale;
    const encoded = encodeVector(values, params, testBytes(5));
    let sum = 0;
    let outside = 0;
    for (const q of encoded) {
      if (q !== 7 && q !== 8) outside++;
      sum += q;
    }
    expect(outside).toBe(0);
    const mean = sum / trials;
    // 5 standard errors: 5 · 0.458/√40000 ≈ 0.0115.
    expect(Math.abs(mean - v)).toBeLessThan(0.0115);
    // Negative values round with the same law, mirrored.
    const negative = encodeVector(new Float32Array(trials).fill(-0.073), params, testBytes(6));
    let negativeSum = 0;
    for (const q of negative) negativeSum += q >= 2 ** 15 ? q - 2 ** 16 : q;
    expect(Math.abs(negativeSum / trials + v)).toBeLessThan(0.0115);
  });

  it('rounds 0.25 units up about a quarter of the time over many seeded draws (binomial bound)', () => {
    // scale 4: x = 0.5625 is v = 2.25 units exactly. q ∈ {2, 3}, P[q = 3] = 0.25: over n = 20 000
    // draws, ups ~ Bin(n, 1/4) with mean 5000 and sd √(n·¼·¾) = 61.2; 5 sd is ±306.
    const params = encodingParams({ clipRange: 100, maxClients: 1, modulusBits: 16, scale: 4 });
    const n = 20_000;
    let ups = 0;
    let outside = 0;
    // Many independent streams (one seed per batch of draws) rather than one long one.
    for (let batch = 0; batch < 20; batch++) {
      for (const q of encodeVector(new Float32Array(n / 20).fill(0.5625), params, testBytes(1000 + batch))) {
        if (q === 3) ups++;
        else if (q !== 2) outside++;
      }
    }
    expect(outside).toBe(0);
    expect(Math.abs(ups - n / 4)).toBeLessThan(306);
  });

  it('decodes to an unbiased mean for fractional values in quantization units, either sign', () => {
    // scale 8: one unit is 0.125. For v = k + f the decoded value is (k or k + 1)/8, mean v/8;
    // per draw sd ≤ ½·(1/8) = 0.0625, so over n = 20 000 draws 5 standard errors are
    // 5·0.0625/√20000 = 0.00221. Floor rounding would be off by f/8 ≥ 0.0125.
    const params = encodingParams({ clipRange: 100, maxClients: 1, modulusBits: 16, scale: 8 });
    const n = 20_000;
    const cases = [
      { units: 3.1, seed: 11 },
      { units: 3.25, seed: 12 },
      { units: 3.5, seed: 13 },
      { units: 0.75, seed: 14 },
      { units: 10.9, seed: 15 },
      { units: -3.25, seed: 16 },
      { units: -0.5, seed: 17 },
      { units: -7.9, seed: 18 },
    ];
    for (const { units, seed } of cases) {
      const x = Math.fround(units / 8);
      const decoded = new Float64Array(n);
      const encoded = encodeVector(new Float32Array(n).fill(x), params, testBytes(seed));
      encoded.forEach((q, i) => (decoded[i] = decodeSum(Uint32Array.of(q), params, 1)[0] as number));
      const lower = Math.floor(x * 8) / 8;
      for (const value of decoded) expect(value === lower || value === lower + 0.125, `x = ${x}: ${value}`).toBe(true);
      const mean = decoded.reduce((a, b) => a + b, 0) / n;
      expect(Math.abs(mean - x), `x = ${x} (${units} units)`).toBeLessThan(0.00221);
    }
  });

  it('encodes values already on the quantization grid exactly, whatever the randomness', () => {
    const params = encodingParams({ clipRange: 100, maxClients: 1, modulusBits: 16, scale: 8 });
    const units = [0, 1, -1, 2, -2, 7, -7, 100, -100, 799, -800];
    const values = Float32Array.from(units, (u) => u / 8);
    for (let seed = 0; seed < 50; seed++) {
      const encoded = encodeVector(values, params, testBytes(seed));
      expect(Array.from(encoded, (q) => (q >= 2 ** 15 ? q - 2 ** 16 : q))).toEqual(units);
      expect(Array.from(decodeSum(encoded, params, 1))).toEqual(Array.from(values));
    }
  });

  it('is deterministic for injected randomness and rejects non-finite values and too many clients', () => {
    const params = encodingParams({ clipRange: 1, maxClients: 4 });
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i) / 3);
    expect(encodeVector(values, params, testBytes(9))).toEqual(encodeVector(values, params, testBytes(9)));
    expect(() => encodeVector(new Float32Array([0, Number.NaN]), params)).toThrow('encodeVector: value 1 is NaN, expected a finite number');
    expect(() => addModInto(new Uint32Array(2), new Uint32Array(3), 32)).toThrow('addModInto: lengths 2 and 3 differ');
    expect(() => decodeSum(new Uint32Array(2), params, 5)).toThrow(/count is 5/);
  });

  it('rounds up exactly when the uniform word is below the fraction: q = ⌊v⌋ + [u < (v − ⌊v⌋)·2^32]', () => {
    const params = encodingParams({ clipRange: 100, maxClients: 1, modulusBits: 16, scale: 4 });
    // v = 2.25 units (fraction 2^30 in words), 3 units (on the grid), −1.75 units (fraction 2^30).
    const values = [0.5625, 0.75, -0.4375];
    const encode = (word: number): number[] => {
      const out = new Uint32Array(values.length);
      encodeInto(values, params, out, 0, new Uint32Array(values.length).fill(word), 0, 'test');
      return Array.from(out, (q) => (q >= 2 ** 15 ? q - 2 ** 16 : q));
    };
    expect(encode(0)).toEqual([3, 3, -1]); // u = 0 rounds every off-grid value up, never an on-grid one
    expect(encode(2 ** 30 - 1)).toEqual([3, 3, -1]);
    expect(encode(2 ** 30)).toEqual([2, 3, -2]); // u = f: not below it
    expect(encode(2 ** 32 - 1)).toEqual([2, 3, -2]);
  });

  it('decodes the word 2^(k−1) as −2^(k−1), the two’s-complement reading', () => {
    const params = encodingParams({ clipRange: 100, maxClients: 1, modulusBits: 16, scale: 4 });
    expect(Array.from(decodeSum(Uint32Array.of(2 ** 15 - 1, 2 ** 15, 2 ** 16 - 1), params, 1))).toEqual([(2 ** 15 - 1) / 4, -(2 ** 15) / 4, -0.25]);
    expect(() => decodeSum(Uint32Array.of(2 ** 16), params, 1)).toThrow('decodeSum: sum word 0 is 65536, expected < 2^16');
  });

  it('rejects a count that is negative, fractional or above maxClients, in decoding and in the bound', () => {
    const params = encodingParams({ clipRange: 1, maxClients: 4 });
    expect(decodeSum(new Uint32Array(2), params, 0)).toEqual(new Float32Array(2));
    expect(quantizationBound(params, 4)).toBe(4 / params.scale);
    for (const count of [-1, 1.5, 5]) {
      expect(() => decodeSum(new Uint32Array(2), params, count)).toThrow(`decodeSum: count is ${count}, expected an integer in [0, 4]`);
      expect(() => quantizationBound(params, count)).toThrow(`quantizationBound: count is ${count}`);
    }
  });
});

describe('metrics after the model coordinates', () => {
  it('sums example counts and clipped bits exactly and loss sums within their bound', () => {
    const clients = 30;
    const model = encodingParams({ clipRange: 0.1, maxClients: clients });
    const layout = createMetricsLayout(
      {
        exampleCount: { clipRange: 100_000, scale: 1 },
        lossSum: { clipRange: 50_000 },
        clipped: { clipRange: 1, scale: 1 },
      },
      { maxClients: clients },
    );
    expect(layout.names).toEqual(['clipped', 'exampleCount', 'lossSum']);
    const random = createSeededRandom(11);
    let examples = 0;
    let loss = 0;
    let clipped = 0;
    const encodings = Array.from({ length: clients }, (_, c) => {
      const record = { exampleCount: 1 + random.nextInt(500), lossSum: random.nextFloat() * 2000, clipped: random.nextInt(2) };
      examples += record.exampleCount;
      loss += record.lossSum;
      clipped += record.clipped;
      return encodeWithMetrics(new Float32Array(5).fill(0.01), record, model, layout, testBytes(100 + c));
    });
    const decoded = decodeSumWithMetrics(sumEncodings(encodings, 32), model, layout, clients);
    expect(decoded.metrics['exampleCount']).toBe(examples);
    expect(decoded.metrics['clipped']).toBe(clipped);
    expect(Math.abs((decoded.metrics['lossSum'] as number) - loss)).toBeLessThanOrEqual(quantizationBound(layout.params[2]!, clients));
    for (const value of decoded.values) expect(Math.abs(value - 0.3)).toBeLessThanOrEqual(quantizationBound(model, clients) + 1e-7);
  });

  it('rejects missing, unknown and mismatched metrics', () => {
    const model = encodingParams({ clipRange: 1, maxClients: 4 });
    const layout = createMetricsLayout({ exampleCount: { clipRange: 10, scale: 1 } }, { maxClients: 4 });
    expect(() => encodeWithMetrics(new Float32Array(1), {}, model, layout)).toThrow(/"exampleCount" is missing/);
    expect(() => encodeWithMetrics(new Float32Array(1), { exampleCount: 1, other: 2, zeta: 3 }, model, layout)).toThrow(
      'encodeWithMetrics: unknown metrics other, zeta; layout has exampleCount',
    );
    const two = createMetricsLayout({ b: { clipRange: 1 }, a: { clipRange: 1 } }, { maxClients: 4 });
    expect(() => encodeWithMetrics(new Float32Array(1), { a: 0, b: 0, c: 0 }, model, two)).toThrow('unknown metrics c; layout has a, b');
    const other = createMetricsLayout({ exampleCount: { clipRange: 10, scale: 1 } }, { maxClients: 4, modulusBits: 16 });
    expect(() => encodeWithMetrics(new Float32Array(1), { exampleCount: 1 }, model, other)).toThrow(/expected the model's 2\^32/);
    expect(() => createMetricsLayout({ 'bad name': { clipRange: 1 } }, { maxClients: 2 })).toThrow(/metric name/);
  });

  it('encodes metrics as if they were further coordinates of the same vector, each with its own uniform', () => {
    // Metrics with the model's clip range and client bound get the model's scale, so the vector must be
    // exactly encodeVector of the concatenation under the same randomness (float32 metric values, as
    // the concatenation holds them).
    const model = encodingParams({ clipRange: 1, maxClients: 4 });
    const layout = createMetricsLayout({ a: { clipRange: 1 }, b: { clipRange: 1 }, c: { clipRange: 1 } }, { maxClients: 4 });
    const values = Float32Array.from([0.1, -0.7, 0.33]);
    for (let seed = 0; seed < 20; seed++) {
      const withMetrics = encodeWithMetrics(values, { a: Math.fround(0.3), b: Math.fround(-0.2), c: Math.fround(0.9) }, model, layout, testBytes(seed));
      expect(withMetrics).toEqual(encodeVector(Float32Array.from([0.1, -0.7, 0.33, 0.3, -0.2, 0.9]), model, testBytes(seed)));
    }
  });

  it('decodes a vector of metrics alone and names the part it refuses', () => {
    const model = encodingParams({ clipRange: 1, maxClients: 4, modulusBits: 16 });
    const layout = createMetricsLayout({ a: { clipRange: 10, scale: 1 }, b: { clipRange: 10, scale: 1 } }, { maxClients: 4, modulusBits: 16 });
    expect(decodeSumWithMetrics(Uint32Array.of(3, 2 ** 16 - 2), model, layout, 2)).toEqual({ values: new Float32Array(0), metrics: { a: 3, b: -2 } });
    expect(() => decodeSumWithMetrics(Uint32Array.of(3), model, layout, 2)).toThrow('decodeSumWithMetrics: sum has 1 words, fewer than the 2 metrics');
    expect(() => decodeSumWithMetrics(Uint32Array.of(0, 2 ** 16, 0, 0), model, layout, 2)).toThrow(
      'decodeSumWithMetrics: sum word 1 is 65536, expected < 2^16',
    );
    expect(() => decodeSumWithMetrics(Uint32Array.of(0, 0, 2 ** 16), model, layout, 2)).toThrow(
      'decodeSumWithMetrics(b): sum word 2 is 65536, expected < 2^16',
    );
    expect(() => encodeWithMetrics(Float32Array.of(Number.NaN), { a: 1, b: 1 }, model, layout)).toThrow('encodeWithMetrics: value 0 is NaN');
    expect(() => encodeWithMetrics(Float32Array.of(0), { a: 1, b: Number.NaN }, model, layout)).toThrow('encodeWithMetrics(b): value 0 is NaN');
  });

  it('refuses a layout built for another modulus or client bound, in encoding and decoding', () => {
    const model = encodingParams({ clipRange: 1, maxClients: 4 });
    const otherClients = createMetricsLayout({ n: { clipRange: 10, scale: 1 } }, { maxClients: 5 });
    expect(() => encodeWithMetrics(Float32Array.of(0), { n: 1 }, model, otherClients)).toThrow(
      `encodeWithMetrics: metric "n" uses 2^32 for 5 clients, expected the model's 2^32 for 4`,
    );
    expect(() => decodeSumWithMetrics(new Uint32Array(2), model, otherClients, 1)).toThrow(
      `decodeSumWithMetrics: metric "n" uses 2^32 for 5 clients, expected the model's 2^32 for 4`,
    );
    expect(() => createMetricsLayout({ n: { clipRange: -1 } }, { maxClients: 2 })).toThrow(/^createMetricsLayout: metric "n": .*clipRange/s);
  });
});
