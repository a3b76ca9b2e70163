/**
 * Argument checks shared by the privacy module. Every message names the function, the argument,
 * what was expected and what was got: "rdpEpsilon: delta must be in (0, 1), got 0".
 */

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value;
}

function fail(where: string, name: string, expected: string, value: unknown): never {
  throw new RangeError(`${where}: ${name} must be ${expected}, got ${describe(value)}`);
}

export function assertPositiveFinite(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(where, name, 'a finite number > 0', value);
  }
}

export function assertNonNegativeFinite(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(where, name, 'a finite number >= 0', value);
  }
}

export function assertPositiveInteger(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    fail(where, name, 'an integer >= 1', value);
  }
}

export function assertNonNegativeInteger(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(where, name, 'an integer >= 0', value);
  }
}

/** Poisson sampling rate q: each client joins a round independently with probability q. */
export function assertSamplingRate(where: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    fail(where, 'samplingRate', 'in (0, 1]', value);
  }
}

export function assertDelta(where: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    fail(where, 'delta', 'in (0, 1)', value);
  }
}

export function assertOpenUnitInterval(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    fail(where, name, 'in (0, 1)', value);
  }
}

/** RDP orders: a non-empty list of finite numbers > 1. */
export function assertOrders(where: string, orders: unknown): asserts orders is readonly number[] {
  if (!Array.isArray(orders) || orders.length === 0) {
    fail(where, 'orders', 'a non-empty array of finite numbers > 1', orders);
  }
  orders.forEach((order: unknown, index) => {
    if (typeof order !== 'number' || !Number.isFinite(order) || order <= 1) {
      fail(where, `orders[${index}]`, 'a finite number > 1', order);
    }
  });
}
