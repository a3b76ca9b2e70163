/**
 * A token bucket: `burst` events at once, refilled at `perSecond`. Kept per client id for
 * socket events and per IP for enrollment (KeyedRateLimiter), so one noisy client cannot starve
 * the event loop for everyone else.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = burst;
    this.#last = now();
  }

  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.perSecond);
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Token buckets by key with a bounded number of keys (oldest forgotten first). A forgotten key
 * starts again with a full bucket, so the bound must stay far above the keys active at once.
 */
export class KeyedRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  take(key: string): boolean {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value as string);
      bucket = new TokenBucket(this.perSecond, this.burst, this.now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take();
  }
}

/**
 * Keys shut out for a fixed time (a token cut off for flooding), with a bounded number of keys.
 * Every key gets the same duration, so insertion order is expiry order: the oldest entry is the
 * first to expire, and it is the one dropped when the bound is reached.
 */
export class CoolDown {
  readonly #until = new Map<string, number>();

  constructor(
    private readonly durationMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(key: string): void {
    const t = this.now();
    this.#until.delete(key);
    for (const [oldest, until] of this.#until) {
      if (until > t && this.#until.size < this.maxKeys) break;
      this.#until.delete(oldest);
    }
    this.#until.set(key, t + this.durationMs);
  }

  /** Milliseconds until `key` may come back; 0 when it is not shut out. */
  remainingMs(key: string): number {
    const until = this.#until.get(key);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left > 0) return left;
    this.#until.delete(key);
    return 0;
  }
}

/**
 * Open connections per key (a remote address), at most `max` each. A slot is taken when a
 * connection is admitted and given back by the function `acquire` returns (idempotent), so the
 * map only holds keys with connections open.
 */
export class ConnectionCounter {
  readonly #open = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** A slot for `key` and the function that gives it back, or null when `key` is at `max`. */
  acquire(key: string): (() => void) | null {
    const open = this.#open.get(key) ?? 0;
    if (open >= this.max) return null;
    this.#open.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }

  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }
}

/** Which limit refused a request: its own address, its network (network.ts), or everyone's together. */
export type RateTier = 'address' | 'network' | 'global';

export interface TieredRates {
  /** Requests per minute from one address (the burst is the same number). */
  perAddress: number;
  /** … from one network (an IPv4 /24, an IPv6 /56). */
  perNetwork: number;
  /** … from everyone together. */
  global: number;
}

/**
 * Three token buckets in a row: per address, per network, and one for everyone. A Sybil with many
 * addresses in one network (an IPv6 host holds 2^64) meets the network's bucket; one with many
 * networks meets the global one, which also bounds what the service does per minute whoever asks.
 * The finer buckets are taken first and a refusal stops there, so a refused request still counts
 * against its own address and network but never spends the global budget honest devices share.
 */
export class TieredRateLimiter {
  readonly #address: KeyedRateLimiter;
  readonly #network: KeyedRateLimiter;
  readonly #global: TokenBucket;

  constructor(
    readonly rates: TieredRates,
    private readonly networkOf: (address: string) => string,
    now: () => number = () => performance.now(),
  ) {
    for (const [name, value] of Object.entries(rates)) {
      if (!(Number.isFinite(value) && value > 0))
        throw new RangeError(`TieredRateLimiter: ${name} must be a positive number of requests per minute, got ${value}`);
    }
    this.#address = new KeyedRateLimiter(rates.perAddress / 60, rates.perAddress, 100_000, now);
    this.#network = new KeyedRateLimiter(rates.perNetwork / 60, rates.perNetwork, 100_000, now);
    this.#global = new TokenBucket(rates.global / 60, rates.global, now);
  }

  /** null when admitted, else the limit that refused. */
  take(address: string): RateTier | null {
    if (!this.#address.take(address)) return 'address';
    if (!this.#network.take(this.networkOf(address))) return 'network';
    if (!this.#global.take()) return 'global';
    return null;
  }
}
