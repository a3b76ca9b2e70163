import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipL2, l2Norm } from './clip';

/** Float32 vectors with finite entries of widely varying magnitude. */
const finiteVector = fc
  .array(fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }), { minLength: 1, maxLength: 300 })
  .map((values) => Float32Array.from(values));
const clipNorm = fc.double({ min: 1e-6, max: 1e6, noNaN: true });

describe('clipL2', () => {
  it('never returns a norm above clipNorm, measured in float64 on the float32 result', () => {
    fc.assert(
      fc.property(finiteVector, clipNorm, (update, c) => {
        const { clipped, norm, wasClipped } = clipL2(update, c);
        expect(l2Norm(clipped)).toBeLessThanOrEqual(c);
        expect(wasClipped).toBe(norm > c);
        expect(norm).toBe(l2Norm(update));
      }),
      { numRuns: 500 },
    );
  });

  it('scales clipped updates to within float32 rounding of clipNorm and keeps the direction', () => {
    fc.assert(
      fc.property(finiteVector, clipNorm, (update, c) => {
        fc.pre(l2Norm(update) > c * 1.001);
        const { clipped } = clipL2(update, c);
        const clippedNorm = l2Norm(clipped);
        expect(clippedNorm).toBeGreaterThan(c * (1 - 1e-6));
        const scale = clippedNorm / l2Norm(update);
        update.forEach((x, i) => {
          expect(Math.abs((clipped[i] as number) - x * scale)).toBeLessThanOrEqual(Math.abs(x * scale) * 2 ** -22 + 1e-40);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('holds the bound where round-to-nearest pushes the float32 norm above clipNorm', () => {
    // Every coordinate equal: fround(x·scale) errs the same way everywhere, so the norm moves by
    // the full rounding error. Over these sizes and norms some cases round up past C.
    let roundedUp = 0;
    for (let n = 1; n <= 400; n++) {
      for (const c of [0.1, 1, 3, 7.77]) {
        const update = new Float32Array(n).fill(2.5);
        const naive = Float32Array.from(update, (x) => x * (c / l2Norm(update)));
        if (l2Norm(naive) > c) roundedUp++;
        expect(l2Norm(clipL2(update, c).clipped)).toBeLessThanOrEqual(c);
      }
    }
    expect(roundedUp).toBeGreaterThan(0);
  });

  it('clips an update only just above the bound (norm 1.005·C, 1.0001·C) down to exactly C, keeping its direction', () => {
    // A tolerance band above C (e.g. passing norms ≤ 1.01·C through) would silently raise the
    // sensitivity the noise is calibrated to; random property inputs almost never land there.
    const direction = Float32Array.of(1, -2, 3, 0.5, -4); // norm √30.25 = 5.5
    for (const c of [1, 0.37, 12]) {
      for (const factor of [1.005, 1.0001]) {
        const update = Float32Array.from(direction, (x) => (x / 5.5) * c * factor);
        const norm = l2Norm(update);
        expect(norm).toBeGreaterThan(c * 1.00005);
        const result = clipL2(update, c);
        expect(result.wasClipped).toBe(true);
        expect(result.norm).toBe(norm);
        const clippedNorm = l2Norm(result.clipped);
        expect(clippedNorm).toBeLessThanOrEqual(c);
        expect(clippedNorm).toBeGreaterThan(c * (1 - 1e-6));
        direction.forEach((x, i) => {
          expect(result.clipped[i] as number).toBeCloseTo((x / 5.5) * c, 5);
        });
      }
    }
  });

  it('keeps a scaled copy whose norm is exactly clipNorm as it is: no needless second shrink', () => {
    // (2, 0) · 1/2 = (1, 0): norm exactly C = 1 in float32, so the first pass must stop there.
    const result = clipL2(new Float32Array([2, 0]), 1);
    expect(result).toMatchObject({ norm: 2, wasClipped: true });
    expect(Array.from(result.clipped)).toEqual([1, 0]);
  });

  it('copies an update within the bound unchanged, into a new array', () => {
    const update = Float32Array.of(3, 4);
    const result = clipL2(update, 5);
    expect(result).toEqual({ clipped: Float32Array.of(3, 4), norm: 5, wasClipped: false });
    expect(result.clipped).not.toBe(update);
  });

  it('clips (3, 4) to (0.6, 0.8) for clipNorm 1', () => {
    const { clipped, norm, wasClipped } = clipL2(Float32Array.of(3, 4), 1);
    expect(norm).toBe(5);
    expect(wasClipped).toBe(true);
    expect(clipped[0]).toBeCloseTo(0.6, 6);
    expect(clipped[1]).toBeCloseTo(0.8, 6);
  });

  it('handles the empty and the zero update', () => {
    expect(clipL2(new Float32Array(0), 1)).toEqual({ clipped: new Float32Array(0), norm: 0, wasClipped: false });
    expect(clipL2(new Float32Array(3), 1).norm).toBe(0);
  });

  it('computes the norm in float64 even for float32 extremes', () => {
    const big = new Float32Array(4).fill(3e38);
    expect(l2Norm(big)).toBe(2 * Math.fround(3e38)); // Σx² = 3.6e77 would overflow float32
    const { clipped } = clipL2(big, 1);
    expect(l2Norm(clipped)).toBeLessThanOrEqual(1);
    expect(l2Norm(clipped)).toBeGreaterThan(0.999999);
  });

  it('does not overflow on float64 inputs whose squares exceed the double range', () => {
    expect(l2Norm(Float64Array.of(3e200, 4e200))).toBeCloseTo(5e200, -190);
  });

  it('rejects NaN and infinite coordinates, naming the index', () => {
    expect(() => clipL2(Float32Array.of(1, Number.NaN, 2), 1)).toThrow('clipL2: update[1] must be finite, got NaN');
    expect(() => clipL2(Float32Array.of(0, 0, 0, Infinity), 1)).toThrow('update[3] must be finite, got Infinity');
    expect(() => clipL2(Float32Array.of(-Infinity), 1)).toThrow('update[0] must be finite, got -Infinity');
    expect(() => l2Norm(Float64Array.of(Number.NaN))).toThrow('l2Norm: update[0] must be finite, got NaN');
  });

  it('rejects a bad clipNorm or a non-Float32Array update', () => {
    expect(() => clipL2(Float32Array.of(1), 0)).toThrow('clipL2: clipNorm must be a finite number > 0, got 0');
    expect(() => clipL2(Float32Array.of(1), -2)).toThrow('clipNorm must be a finite number > 0, got -2');
    expect(() => clipL2(Float32Array.of(1), Number.NaN)).toThrow('got NaN');
    expect(() => clipL2(Float32Array.of(1), Infinity)).toThrow('got Infinity');
    expect(() => clipL2([1, 2] as unknown as Float32Array, 1)).toThrow('clipL2: update must be a Float32Array');
  });
});
