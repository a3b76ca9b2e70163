import { describe, expect, it } from 'vitest';
import { ROUTING_BUCKETS, routingBucketOf } from './routing';

/** What the browser would run (WebCrypto, not @noble/hashes): the independent method the bucket is checked against. */
async function browserBucket(clientId: string, buckets = ROUTING_BUCKETS): Promise<number> {
  return new DataView(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(clientId))).getUint32(0) % buckets;
}

describe('routingBucketOf', () => {
  it('matches fixed vectors computed with sha256sum', () => {
    // printf '%s' "$id" | sha256sum | cut -c1-8 → first 4 bytes; the bucket is that mod 1024 (or mod 64).
    // AAAAAAAAAAAAAAAAAAAAAA → 8a5bdb4c, q3n7_Xy-0K2LmPzR5tVwBg → d92dc9b0, élève (UTF-8 c3 a9 6c c3 a8 76 65) → a9991c64.
    expect(routingBucketOf('AAAAAAAAAAAAAAAAAAAAAA')).toBe(0x8a5bdb4c % 1024);
    expect(routingBucketOf('AAAAAAAAAAAAAAAAAAAAAA')).toBe(844);
    expect(routingBucketOf('q3n7_Xy-0K2LmPzR5tVwBg')).toBe(432);
    expect(routingBucketOf('élève')).toBe(100);
    expect(routingBucketOf('q3n7_Xy-0K2LmPzR5tVwBg', 64)).toBe(48);
  });

  it('agrees with the WebCrypto line a browser runs', async () => {
    for (let i = 0; i < 200; i++) {
      const id = `client-${i}-${'é'.repeat(i % 3)}`;
      expect(routingBucketOf(id)).toBe(await browserBucket(id));
      expect(routingBucketOf(id, 100)).toBe(await browserBucket(id, 100));
    }
  });

  it('spreads client ids evenly over the buckets', () => {
    // 32 ranges of 32 buckets; 32,000 ids put ~1,000 in each.
    const ranges = new Array<number>(32).fill(0);
    for (let i = 0; i < 32_000; i++) ranges[routingBucketOf(`client-${i}`) >> 5]! += 1;
    for (const count of ranges) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('refuses a bucket count that is not an integer in 1..2^32', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 32 + 1]) expect(() => routingBucketOf('a', bad)).toThrow(RangeError);
    expect(routingBucketOf('anything', 1)).toBe(0);
  });
});
