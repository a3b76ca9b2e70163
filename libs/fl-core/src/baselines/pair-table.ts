/**
 * Interns pairs of non-negative int32 values (a, b) as dense ids 0, 1, 2, … in first-seen order.
 * n-gram tables keyed by id tuples: strings or nested Maps would cost an object per n-gram, and a
 * single number key (a · 2^k + b) stops being exact past 2^53; two Int32Arrays of pairs plus an
 * open-addressing index (linear probing, load ≤ 1/2) hold millions of pairs in a few tens of MB.
 */
export class PairTable {
  #firsts: Int32Array;
  #seconds: Int32Array;
  /** id + 1 per slot; 0 marks an empty slot. Length is a power of two. */
  #slots: Int32Array;
  #size = 0;

  constructor(expectedPairs = 1024) {
    if (!Number.isInteger(expectedPairs) || expectedPairs < 1) {
      throw new RangeError(`PairTable: expectedPairs must be a positive integer, got ${expectedPairs}`);
    }
    this.#firsts = new Int32Array(expectedPairs);
    this.#seconds = new Int32Array(expectedPairs);
    let capacity = 16;
    while (capacity < 2 * expectedPairs) capacity *= 2;
    this.#slots = new Int32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** The pairs in id order, trimmed to `size` (views, valid until the next `intern`). */
  get firsts(): Int32Array {
    return this.#firsts.subarray(0, this.#size);
  }

  get seconds(): Int32Array {
    return this.#seconds.subarray(0, this.#size);
  }

  /** The id of (a, b), or −1 if it was never interned. */
  idOf(a: number, b: number): number {
    const mask = this.#slots.length - 1;
    for (let slot = hashPair(a, b) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.#slots[slot] as number;
      if (entry === 0) return -1;
      if (this.#firsts[entry - 1] === a && this.#seconds[entry - 1] === b) return entry - 1;
    }
  }

  /** The id of (a, b), added as the next id if new. Check `size` before and after to tell which. */
  intern(a: number, b: number): number {
    const mask = this.#slots.length - 1;
    let slot = hashPair(a, b) & mask;
    for (; ; slot = (slot + 1) & mask) {
      const entry = this.#slots[slot] as number;
      if (entry === 0) break;
      if (this.#firsts[entry - 1] === a && this.#seconds[entry - 1] === b) return entry - 1;
    }
    const id = this.#size;
    if (id === this.#firsts.length) {
      this.#firsts = grown(this.#firsts);
      this.#seconds = grown(this.#seconds);
    }
    this.#firsts[id] = a;
    this.#seconds[id] = b;
    this.#size = id + 1;
    this.#slots[slot] = id + 1;
    if (2 * this.#size > this.#slots.length) this.#rehash();
    return id;
  }

  #rehash(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.#size; id++) {
      let slot = hashPair(this.#firsts[id] as number, this.#seconds[id] as number) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.#slots = slots;
  }
}

function grown(values: Int32Array): Int32Array {
  const next = new Int32Array(values.length * 2);
  next.set(values);
  return next;
}

/**
 * Mixes both words into 32 bits; the final avalanche is MurmurHash3's fmix32 (Appleby, public
 * domain), so consecutive ids do not land in consecutive slots and clump under linear probing.
 */
function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ b;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
