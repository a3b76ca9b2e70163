import { describe, expect, it } from 'vitest';
import {
  assertDelta,
  assertNonNegativeFinite,
  assertNonNegativeInteger,
  assertOpenUnitInterval,
  assertOrders,
  assertPositiveFinite,
  assertPositiveInteger,
  assertSamplingRate,
} from './validate';

/** The exact RangeError a check throws, or null when it accepts the value. */
function refusal(check: () => void): string | null {
  try {
    check();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(RangeError);
    return (error as RangeError).message;
  }
}

describe("the privacy module's argument checks", () => {
  it('accept exactly their range and name the function, the argument, the range and the value otherwise', () => {
    const cases: [string, (value: unknown) => void, unknown[], [unknown, string][]][] = [
      [
        'a finite number > 0',
        (v) => assertPositiveFinite('f', 'x', v),
        [Number.MIN_VALUE, 1, 1e300],
        [
          [0, '0'],
          [-1, '-1'],
          [Infinity, 'Infinity'],
          [Number.NaN, 'NaN'],
          ['1', '"1"'],
        ],
      ],
      [
        'a finite number >= 0',
        (v) => assertNonNegativeFinite('f', 'x', v),
        [0, 0.5, 1e300],
        [
          [-Number.MIN_VALUE, '-5e-324'],
          [Infinity, 'Infinity'],
          [Number.NaN, 'NaN'],
          [null, 'null'],
        ],
      ],
      [
        'an integer >= 1',
        (v) => assertPositiveInteger('f', 'x', v),
        [1, 2, Number.MAX_SAFE_INTEGER],
        [
          [0, '0'],
          [1.5, '1.5'],
          [Number.MAX_SAFE_INTEGER + 1, '9007199254740992'],
          [[1], 'an array of length 1'],
        ],
      ],
      [
        'an integer >= 0',
        (v) => assertNonNegativeInteger('f', 'x', v),
        [0, 1, Number.MAX_SAFE_INTEGER],
        [
          [-1, '-1'],
          [0.5, '0.5'],
          [undefined, 'undefined'],
          [{}, 'object'],
        ],
      ],
      [
        'in (0, 1)',
        (v) => assertOpenUnitInterval('f', 'x', v),
        [Number.MIN_VALUE, 0.5, 1 - Number.EPSILON / 2],
        [
          [0, '0'],
          [1, '1'],
          [Number.NaN, 'NaN'],
          [true, 'boolean'],
        ],
      ],
    ];
    for (const [range, check, accepted, refused] of cases) {
      for (const value of accepted)
        expect(
          refusal(() => check(value)),
          `${range} accepts ${String(value)}`,
        ).toBeNull();
      for (const [value, shown] of refused) expect(refusal(() => check(value))).toBe(`f: x must be ${range}, got ${shown}`);
    }
  });

  it('name samplingRate and delta themselves: q in (0, 1], δ in (0, 1)', () => {
    for (const q of [Number.MIN_VALUE, 0.25, 1]) expect(refusal(() => assertSamplingRate('rdp', q))).toBeNull();
    expect(refusal(() => assertSamplingRate('rdp', 0))).toBe('rdp: samplingRate must be in (0, 1], got 0');
    expect(refusal(() => assertSamplingRate('rdp', 1 + Number.EPSILON))).toBe('rdp: samplingRate must be in (0, 1], got 1.0000000000000002');
    expect(refusal(() => assertSamplingRate('rdp', Number.NaN))).toBe('rdp: samplingRate must be in (0, 1], got NaN');
    expect(refusal(() => assertSamplingRate('rdp', '0.5'))).toBe('rdp: samplingRate must be in (0, 1], got "0.5"');
    for (const delta of [Number.MIN_VALUE, 1e-5, 1 - Number.EPSILON / 2]) expect(refusal(() => assertDelta('eps', delta))).toBeNull();
    expect(refusal(() => assertDelta('eps', 0))).toBe('eps: delta must be in (0, 1), got 0');
    expect(refusal(() => assertDelta('eps', 1))).toBe('eps: delta must be in (0, 1), got 1');
    expect(refusal(() => assertDelta('eps', null))).toBe('eps: delta must be in (0, 1), got null');
  });

  it('check RDP orders as a non-empty list and name the first bad order by its index', () => {
    expect(refusal(() => assertOrders('ledger', [1.5, 2, 256]))).toBeNull();
    expect(refusal(() => assertOrders('ledger', []))).toBe('ledger: orders must be a non-empty array of finite numbers > 1, got an array of length 0');
    expect(refusal(() => assertOrders('ledger', 2))).toBe('ledger: orders must be a non-empty array of finite numbers > 1, got 2');
    expect(refusal(() => assertOrders('ledger', [2, 1, 0]))).toBe('ledger: orders[1] must be a finite number > 1, got 1');
    expect(refusal(() => assertOrders('ledger', [2, 3, Infinity]))).toBe('ledger: orders[2] must be a finite number > 1, got Infinity');
    expect(refusal(() => assertOrders('ledger', [2, '3']))).toBe('ledger: orders[1] must be a finite number > 1, got "3"');
  });
});
