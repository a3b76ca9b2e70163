import { createHash } from 'node:crypto';
import { ROUTING_BUCKETS } from '@murmur/fl-core/protocol';

export { ROUTING_BUCKETS, routingBucketOf } from '@murmur/fl-core/protocol';

/** Buckets are 32-bit: routingBucketOf takes them from 32 bits of a hash. */
const MAX_BUCKETS = 2 ** 32;

/**
 * Routing for the distributed mode (docs/scale-out.md, "Routing"): a client connects with the
 * bucket of its enrollment id (`?bucket=N` on the Socket.IO URL) and a consistent hash over the
 * aggregator processes sends every bucket to one process, so a client that reconnects comes back
 * to the process that holds its group, and a process joining or leaving moves only the buckets it
 * takes or gives up (Bonawitz et al. 2019 §4.4: losing an Aggregator loses only its devices).
 */

/** The score of `process` for `bucket`: SHA-256 of the bucket as u32 big-endian, then the process id in UTF-8. */
function score(process: string, bucket: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(bucket);
  return createHash('sha256').update(prefix).update(process, 'utf8').digest();
}

/**
 * A consistent hash of buckets onto processes by rendezvous (highest random weight) hashing
 * (Thaler and Ravishankar 1998): the owner of a bucket is the process with the highest
 * score(process, bucket), compared as unsigned bytes. Removing a process moves exactly the buckets
 * it owned (every other process's scores are unchanged), and adding one moves to it only the
 * buckets where it now scores highest — about 1/n of them — and none between the others. The
 * answer depends only on the set of processes, not on the order they were added.
 */
export class ProcessRing {
  readonly #processes = new Set<string>();

  constructor(processes: Iterable<string> = []) {
    for (const process of processes) this.add(process);
  }

  /** Adds a process (a stable name, e.g. a StatefulSet pod's); false when it was already there. */
  add(process: string): boolean {
    if (typeof process !== 'string' || process.length === 0 || process.length > 256)
      throw new RangeError('routing: a process id is a non-empty string of at most 256 characters');
    if (this.#processes.has(process)) return false;
    this.#processes.add(process);
    return true;
  }

  /** Removes a process; false when it was not there. */
  remove(process: string): boolean {
    return this.#processes.delete(process);
  }

  has(process: string): boolean {
    return this.#processes.has(process);
  }

  /** The processes, sorted. */
  get processes(): string[] {
    return [...this.#processes].sort();
  }

  get size(): number {
    return this.#processes.size;
  }

  /** The process that holds `bucket`; throws when the ring is empty. */
  owner(bucket: number): string {
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= MAX_BUCKETS) throw new RangeError(`routing: a bucket is an integer in 0..2^32-1, got ${bucket}`);
    let best: { process: string; score: Buffer } | null = null;
    for (const process of this.#processes) {
      const candidate = score(process, bucket);
      // Equal 32-byte scores do not happen; the name breaks the tie anyway, so the order of adds never matters.
      const order = best === null ? 1 : Buffer.compare(candidate, best.score) || (process < best.process ? 1 : -1);
      if (order > 0) best = { process, score: candidate };
    }
    if (best === null) throw new Error('routing: no processes in the ring');
    return best.process;
  }

  /** The owner of each bucket 0..buckets-1 (at most 2^20 of them): for a map generated from the ring, and for tests. */
  assignment(buckets: number = ROUTING_BUCKETS): string[] {
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 2 ** 20) throw new RangeError(`routing: an assignment covers 1..2^20 buckets, got ${buckets}`);
    return Array.from({ length: buckets }, (_, bucket) => this.owner(bucket));
  }
}
