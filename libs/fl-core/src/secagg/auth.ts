import { sha256 } from '@noble/hashes/sha2.js';
import { CertificateError, verifyCertificate } from '../identity/certificate';
import { sign, verify, SIGNATURE_BYTES } from '../identity/signing';
import { concatBytes, lengthPrefixed, u32be, utf8 } from './bytes';

/**
 * Authentication for an actively deviating server (Bonawitz et al. 2017, §4 "Active adversary"
 * protocol): every message a peer relies on is signed by the sender's device key, which the
 * enrollment service certified. The server relays identities; it cannot mint them, so it can
 * neither substitute a key (attack 2), nor forge a survivor's consistency signature (attack 1), nor
 * forge what a survivor says it masked with (attack 3). Every signed transcript carries the round id
 * and the plan hash, so signatures from a cohort member that was shown another plan or model do
 * not verify (model inconsistency, Pasquini et al. CCS 2022).
 */

/** What a client needs to take part in an authenticated round. */
export interface SecAggAuth {
  /** This device's certificate and its non-extractable signing key. */
  identity: { certificate: string; privateKey: CryptoKey };
  /** The enrollment service, given out of band — never taken from the server's messages. */
  enrollmentIssuer: { name: string; publicKey: Uint8Array };
  /** SHA-256 of the plan this client was configured with (covers the model version and weights hash). */
  planHash: Uint8Array;
  /** @default Date.now */
  nowMs?: () => number;
}

export const PLAN_HASH_BYTES = 32;
export const COMMITMENT_BYTES = 32;
export { SIGNATURE_BYTES };

function transcript(label: string, roundId: string, planHash: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  // v2: claims and survivor sets are signed as bitsets, and the advertisement no longer covers H(b).
  return concatBytes(lengthPrefixed(utf8(`murmur/secagg/v2/${label}`)), lengthPrefixed(utf8(roundId)), lengthPrefixed(planHash), ...parts.map(lengthPrefixed));
}

/**
 * Round 0: the client at cohort position `clientId` advertises these keys. H(b) travels beside it
 * unsigned: only the server checks it (against a reconstructed b), and it receives it from the
 * authenticated sender itself, so peers need not download 32 bytes each to verify it.
 */
export function advertiseTranscript(
  roundId: string,
  planHash: Uint8Array,
  clientId: number,
  encryptionPublicKey: Uint8Array,
  maskingPublicKey: Uint8Array,
): Uint8Array {
  return transcript('advertise', roundId, planHash, u32be(clientId), encryptionPublicKey, maskingPublicKey);
}

/** Round 2: the peers whose pairwise masks are in this client's masked input, as a bitset over its neighbours (claimBitset). */
export function maskingTranscript(roundId: string, planHash: Uint8Array, clientId: number, claim: Uint8Array): Uint8Array {
  return transcript('masked-with', roundId, planHash, u32be(clientId), claim);
}

/**
 * Round 3 (ConsistencyCheck): the survivor set U3 this client was told about, as a bitset over the
 * cohort. A client signs U3 only if every neighbour in it is one it masked with, so this signature
 * also says what its masking claim is among U3 (N(u) ∩ U3): claims are relayed only for survivors
 * that did not answer Round 3 (see impliedClaim).
 */
export function consistencyTranscript(roundId: string, planHash: Uint8Array, clientId: number, survivors: Uint8Array): Uint8Array {
  return transcript('consistency', roundId, planHash, u32be(clientId), survivors);
}

/**
 * A subset of `universe` as a bitset: bit i (byte i >> 3, value 1 << (i & 7)) is set iff
 * universe[i] is a member. ⌈|universe|/8⌉ bytes instead of a JSON list of ids. Both lists
 * ascending: one merge pass, since the server builds one per recipient per stage.
 */
export function bitsetOf(members: readonly number[], universe: readonly number[]): Uint8Array {
  const bits = new Uint8Array(Math.ceil(universe.length / 8));
  let i = 0;
  for (const id of members) {
    while (i < universe.length && (universe[i] as number) < id) i++;
    if (universe[i] !== id) throw new RangeError(`bitsetOf: ${id} is not in the universe, or the members are not ascending`);
    bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
    i++;
  }
  return bits;
}

/**
 * The members a bitset names, ascending; null unless it has exactly ⌈|universe|/8⌉ bytes and no
 * padding bit set. So each set has exactly one encoding, and a signature over the bytes is a
 * signature over the set.
 */
export function membersOf(bits: Uint8Array, universe: readonly number[]): number[] | null {
  if (bits.length !== Math.ceil(universe.length / 8)) return null;
  const members: number[] = [];
  for (let i = 0; i < bits.length * 8; i++) {
    if (((bits[i >> 3] as number) & (1 << (i & 7))) === 0) continue;
    if (i >= universe.length) return null;
    members.push(universe[i] as number);
  }
  return members;
}

/** A set of cohort positions 0 … n − 1 as a bitset (bitsetOf over the whole cohort). */
export function cohortBitset(members: readonly number[], clientCount: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil(clientCount / 8));
  for (const id of members) {
    if (!Number.isInteger(id) || id < 0 || id >= clientCount) throw new RangeError(`cohortBitset: ${id} is outside [0, ${clientCount})`);
    bits[id >> 3] = (bits[id >> 3] as number) | (1 << (id & 7));
  }
  return bits;
}

/** The positions a cohort bitset names, ascending; null on a wrong length or a padding bit. */
export function cohortMembers(bits: Uint8Array, clientCount: number): number[] | null {
  if (bits.length !== Math.ceil(clientCount / 8)) return null;
  const members: number[] = [];
  for (let i = 0; i < bits.length * 8; i++) {
    if (((bits[i >> 3] as number) & (1 << (i & 7))) === 0) continue;
    if (i >= clientCount) return null;
    members.push(i);
  }
  return members;
}

/**
 * H(b_u) bound to the round and the client: b is 32 uniformly random bytes, so the hash hides it,
 * and it lets whoever reconstructs b check the result before using it (a corrupt share from a
 * malicious holder changes the reconstruction, which then fails this check).
 */
export function selfMaskCommitment(roundId: string, clientId: number, selfMaskSeed: Uint8Array): Uint8Array {
  return sha256(concatBytes(lengthPrefixed(utf8('murmur/secagg/v1/b-commitment')), lengthPrefixed(utf8(roundId)), u32be(clientId), selfMaskSeed));
}

export async function signTranscript(auth: SecAggAuth, message: Uint8Array): Promise<Uint8Array> {
  return sign(auth.identity.privateKey, message);
}

export type IdentityCheck = { ok: true; clientId: string; publicKey: Uint8Array; issuedAtMs: number; expiresAtMs: number } | { ok: false; reason: string };

/** Verifies a peer's certificate against the out-of-band issuer. */
export async function checkCertificate(certificate: string, issuer: SecAggAuth['enrollmentIssuer'], nowMs: number): Promise<IdentityCheck> {
  try {
    const claims = await verifyCertificate(certificate, issuer, nowMs);
    return { ok: true, clientId: claims.clientId, publicKey: claims.publicKey, issuedAtMs: claims.issuedAtMs, expiresAtMs: claims.expiresAtMs };
  } catch (error) {
    if (error instanceof CertificateError) return { ok: false, reason: `certificate ${error.reason}: ${error.message}` };
    throw error;
  }
}

export { verify as verifySignature };

/**
 * The groups a server could unmask on their own. y_u carries PRG(s_uv) for each v that u masked
 * with; after unmasking the server knows every survivor's b and every dropped client's s, but no
 * s_uv between two survivors. A combination Σ c_u·y_u is free of those unknown masks iff, for every
 * pair of survivors, c_u·[u→v] = c_v·[v→u]: c is constant along mutual edges and zero on a client
 * with a one-way edge to a survivor. So what the server can learn is exactly the span of the
 * components (over mutual edges) that have no one-way edge to a survivor ("free" components).
 * `maskedWith` holds each survivor's signed claim; an edge to a non-survivor is removable and is
 * ignored. Returns the free components, smallest first.
 */
export function freeGroups(survivors: readonly number[], maskedWith: ReadonlyMap<number, readonly number[]>): number[][] {
  const inS = new Set(survivors);
  const out = new Map<number, Set<number>>();
  for (const u of survivors) out.set(u, new Set((maskedWith.get(u) ?? []).filter((v) => inS.has(v) && v !== u)));
  const parent = new Map<number, number>(survivors.map((u) => [u, u]));
  const find = (u: number): number => {
    let root = u;
    while (parent.get(root) !== root) root = parent.get(root) as number;
    parent.set(u, root);
    return root;
  };
  const oneWay = new Set<number>();
  for (const u of survivors) {
    for (const v of out.get(u) as Set<number>) {
      if ((out.get(v) as Set<number>).has(u)) parent.set(find(u), find(v));
      else oneWay.add(u);
    }
  }
  const groups = new Map<number, number[]>();
  for (const u of survivors) {
    const root = find(u);
    const group = groups.get(root) ?? [];
    group.push(u);
    groups.set(root, group);
  }
  const tainted = new Set([...oneWay].map(find));
  return [...groups.entries()]
    .filter(([root]) => !tainted.has(root))
    .map(([, group]) => group)
    .sort((a, b) => a.length - b.length);
}

/**
 * Signatures needed on one survivor set before a client reveals anything. An honest client signs
 * one set per round, so two sets can each gather q signatures only if 2q ≤ n + c (c colluders
 * sign both). q = max(t, ⌊n/2⌋ + 1) makes the set unique when c = 0: in the full graph t > n/2
 * already; in SecAgg+ t ≈ k/2 ≪ n/2, and t alone would let a server show disjoint groups of t
 * clients different sets. See docs/secure-aggregation.md, "Active server".
 */
export function consistencyQuorum(clientCount: number, threshold: number): number {
  return Math.max(threshold, Math.floor(clientCount / 2) + 1);
}
