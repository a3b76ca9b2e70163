import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, networkOf } from './network';
import { TieredRateLimiter } from './rate-limit';
import { capPerNetwork } from './sampling';

describe('networks of addresses', () => {
  it('groups IPv4 by /24, also when a dual-stack socket reports it IPv4-mapped', () => {
    expect(networkOf('203.0.113.7')).toBe('v4:203.0.113.0/24');
    expect(networkOf('203.0.113.250')).toBe('v4:203.0.113.0/24');
    expect(networkOf('203.0.114.7')).toBe('v4:203.0.114.0/24');
    expect(networkOf('::ffff:203.0.113.9')).toBe('v4:203.0.113.0/24');
    expect(networkOf('::ffff:cb00:7109')).toBe('v4:203.0.113.0/24');
    expect(networkOf('203.0.113.7', { ipv4PrefixBits: 16, ipv6PrefixBits: 56 })).toBe('v4:203.0.0.0/16');
    expect(networkOf('203.0.113.7', { ipv4PrefixBits: 32, ipv6PrefixBits: 56 })).toBe('v4:203.0.113.7/32');
  });

  it('groups IPv6 by /56 whatever the spelling: 2^72 addresses of one delegation are one network', () => {
    const net = 'v6:2001:db8:0:ff00:0:0:0:0/56';
    expect(networkOf('2001:db8:0:ff00::1')).toBe(net);
    expect(networkOf('2001:db8:0:ffab:1234:5678:9abc:def0')).toBe(net);
    expect(networkOf('2001:0DB8:0000:FF12::%eth0')).toBe(net);
    expect(networkOf('2001:db8:0:fe00::1')).not.toBe(net);
    expect(networkOf('2001:db8:0:ff00::1', { ipv4PrefixBits: 24, ipv6PrefixBits: 48 })).toBe('v6:2001:db8:0:0:0:0:0:0/48');
    expect(networkOf('2001:db8:0:1:2:3:4:5', { ipv4PrefixBits: 24, ipv6PrefixBits: 64 })).toBe('v6:2001:db8:0:1:0:0:0:0/64');
    expect(networkOf('2001:db8::1:2:3:4', { ipv4PrefixBits: 24, ipv6PrefixBits: 64 })).toBe('v6:2001:db8:0:0:0:0:0:0/64');
    expect(networkOf('::1')).toBe('v6:0:0:0:0:0:0:0:0/56');
  });

  it('keeps anything else apart, named as it is', () => {
    expect(networkOf(undefined)).toBe('unknown');
    expect(networkOf('/tmp/murmur.sock')).toBe('other:/tmp/murmur.sock');
  });

  it('knows loopback peers', () => {
    for (const loopback of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(isLoopbackAddress(loopback), loopback).toBe(true);
    for (const other of ['10.0.0.1', '::2', '::ffff:10.0.0.1', '2001:db8::1', undefined]) expect(isLoopbackAddress(other), String(other)).toBe(false);
  });
});

describe('enrollment rate limits by address, network and overall', () => {
  it('refuses a second address of a full network, and any address once the global budget is spent', () => {
    let t = 0;
    const limiter = new TieredRateLimiter(
      { perAddress: 2, perNetwork: 3, global: 5 },
      (a) => networkOf(a),
      () => t,
    );
    expect(['1.2.3.1', '1.2.3.1', '1.2.3.1'].map((a) => limiter.take(a))).toEqual([null, null, 'address']);
    // Another address of the same /24 has its own address bucket but shares the network's 3.
    expect(['1.2.3.2', '1.2.3.2'].map((a) => limiter.take(a))).toEqual([null, 'network']);
    // Other networks: two more fit in the global 5, then nobody.
    expect(['9.9.9.1', '8.8.8.1', '7.7.7.1'].map((a) => limiter.take(a))).toEqual([null, null, 'global']);
    // A refused request never spent the global budget: a minute later everything is back.
    t = 60_000;
    expect(limiter.take('7.7.7.1')).toBeNull();
    expect(() => new TieredRateLimiter({ perAddress: 0, perNetwork: 1, global: 1 }, (a) => a)).toThrow(/perAddress must be a positive number/);
  });
});

describe('the per-network cohort cap', () => {
  const items = Array.from({ length: 40 }, (_, i) => ({ id: i, network: i < 30 ? 'sybil' : i < 35 ? `home-${i % 2}` : null }));

  it('keeps at most maxPerNetwork of each network, everyone counted on their own, in the order drawn', () => {
    const { kept, capped } = capPerNetwork(items, (item) => item.network, 3);
    expect(kept.filter((i) => i.network === 'sybil')).toHaveLength(3);
    // home-0 holds 30, 32, 34 (at the cap), home-1 31 and 33.
    expect(kept.filter((i) => i.network === 'home-0')).toHaveLength(3);
    expect(kept.filter((i) => i.network === 'home-1')).toHaveLength(2);
    expect(kept.filter((i) => i.network === null)).toHaveLength(5);
    expect(capped).toHaveLength(27);
    expect(capped.every((i) => i.network === 'sybil')).toBe(true);
    expect([...kept, ...capped].map((i) => i.id).sort((a, b) => a - b)).toEqual(items.map((i) => i.id));
    expect(kept.map((i) => i.id)).toEqual([...kept.map((i) => i.id)].sort((a, b) => a - b));
    expect(capPerNetwork(items, (item) => item.network, 0)).toEqual({ kept: items, capped: [] });
    expect(() => capPerNetwork(items, () => null, -1)).toThrow(/maxPerNetwork must be an integer ≥ 0, got -1/);
  });

  it('chooses whom to keep uniformly (χ² over 6,000 draws of 3 of 10)', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i);
    const counts = new Array<number>(10).fill(0);
    const draws = 6_000;
    for (let d = 0; d < draws; d++) for (const i of capPerNetwork(ten, () => 'one', 3).kept) counts[i]! += 1;
    const expected = (draws * 3) / 10;
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: P(χ² > 27.88) = 0.001.
    expect(chi2).toBeLessThan(27.88);
  });
});
