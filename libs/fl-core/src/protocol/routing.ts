import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * The routing bucket a device connects with in the distributed mode (docs/scale-out.md,
 * "Routing"): `?bucket=N` on its Socket.IO URL, which a consistent hash in front of the
 * aggregator processes (nginx `hash $arg_bucket consistent`) turns into a process, so a device
 * that reconnects comes back to the process that holds its group. The device computes it, the
 * aggregator checks it against the certified client id (transport.ts): one function for both.
 */

/** Buckets a client id is spread over: fixed for a deployment (changing it moves most clients). */
export const ROUTING_BUCKETS = 1024;

/**
 * The first 4 bytes of SHA-256(UTF-8 of the id), big-endian, modulo `buckets` (1..2^32; with a
 * power of two the modulo is exact). Synchronous (@noble/hashes), so a page can compute it
 * while it builds its connection.
 */
export function routingBucketOf(clientId: string, buckets: number = ROUTING_BUCKETS): number {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 2 ** 32) throw new RangeError(`routing: buckets must be an integer in 1..2^32, got ${buckets}`);
  const hash = sha256(utf8ToBytes(clientId));
  return new DataView(hash.buffer, hash.byteOffset, 4).getUint32(0) % buckets;
}
