import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which network a remote address belongs to, for limits that a Sybil must not multiply by using
 * many addresses: enrollment rates (enrollment/http.ts) and cohort caps (coordinator.ts).
 *
 * - IPv4: the /24 (`ipv4PrefixBits`, default 24): one provider block of 256 addresses, about what a
 *   cheap attacker can rent or a NAT hides.
 * - IPv6: the /56 (`ipv6PrefixBits`, default 56): one household's or small site's delegation, as
 *   RIPE-690 recommends ISPs assign (a /48 to a larger site). A /64 or a single address is worthless
 *   as a limit: one host holds 2^64 of them. An attacker holding a /48 still counts as 256 networks.
 * - IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4 peers) is IPv4.
 * - Anything else (a Unix socket, an unknown address) is its own network, named as it is.
 *
 * Keys are canonical text (`v4:203.0.113.0/24`, `v6:2001:db8:0:ff00::/56`), so two spellings of
 * one address land in one bucket.
 */
export interface NetworkPrefixes {
  /** @default 24 */
  ipv4PrefixBits: number;
  /** @default 56 */
  ipv6PrefixBits: number;
}

export const DEFAULT_NETWORK_PREFIXES: NetworkPrefixes = Object.freeze({ ipv4PrefixBits: 24, ipv6PrefixBits: 56 });

function ipv4Network(address: string, bits: number): string {
  const octets = address.split('.').map(Number);
  const value = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const masked = (value & mask) >>> 0;
  return `v4:${[masked >>> 24, (masked >>> 16) & 0xff, (masked >>> 8) & 0xff, masked & 0xff].join('.')}/${bits}`;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, an embedded IPv4 tail expanded). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0]!.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, null];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  if (tail === null) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

export function networkOf(address: string | undefined, prefixes: NetworkPrefixes = DEFAULT_NETWORK_PREFIXES): string {
  if (address === undefined || address === '') return 'unknown';
  if (isIPv4(address)) return ipv4Network(address, prefixes.ipv4PrefixBits);
  if (!isIPv6(address.split('%')[0] ?? '')) return `other:${address}`;
  const groups = ipv6Groups(address);
  // ::ffff:a.b.c.d: an IPv4 peer on a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6]!, groups[7]!];
    return ipv4Network(`${hi >>> 8}.${hi & 0xff}.${lo >>> 8}.${lo & 0xff}`, prefixes.ipv4PrefixBits);
  }
  const bits = prefixes.ipv6PrefixBits;
  const masked = groups.map((group, i) => {
    const keep = Math.max(0, Math.min(16, bits - 16 * i));
    return keep === 0 ? 0 : group & ((0xffff << (16 - keep)) & 0xffff);
  });
  // Canonical enough to compare: every group in lowercase hex, no compression.
  return `v6:${masked.map((g) => g.toString(16)).join(':')}/${bits}`;
}

/** Loopback peers: 127.0.0.0/8, ::1 and their IPv4-mapped form. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (isIPv4(address)) return address.startsWith('127.');
  if (!isIPv6(address.split('%')[0] ?? '')) return false;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return true;
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff && groups[6]! >>> 8 === 127;
}
