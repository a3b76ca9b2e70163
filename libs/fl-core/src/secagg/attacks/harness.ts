import { sha256 } from '@noble/hashes/sha2.js';
import { issueCertificate } from '../../identity/certificate';
import { generateSigningKeyPair } from '../../identity/signing';
import { bitsetOf, cohortBitset, membersOf, SIGNATURE_BYTES } from '../auth';
import { certificateRef, type PeerCertificateCache } from '../certificates';
import { bytesEqual, concatBytes, utf8 } from '../bytes';
import { createSecAggClient, PEER_KEYS_BYTES, SHARE_CIPHERTEXT_BYTES, secAggClientStep, type SecAggClientState } from '../client';
import { topologyOf } from '../config';
import { defaultSuite, deriveKey, KEY_BYTES, type CryptoSuite } from '../crypto';
import type { SecAggError } from '../errors';
import type {
  AdvertiseKeysMessage,
  ClientToServerMessage,
  MaskedInputMessage,
  PeerKeysMessage,
  RoundConfig,
  ShareKeysMessage,
  UnmaskMessage,
} from '../messages';
import { applyMasks, type MaskTerm } from '../prg';
import { combineShares, SHARE_BYTES } from '../shamir';
import { unpackWords } from '../bytes';

/**
 * A deviating server for tests: it runs honest client machines but relays whatever it likes —
 * substituted keys, withheld shares, a different survivor story per client — and then tries, with
 * everything the clients revealed, to compute individual inputs or small group sums. The attacks
 * of issue 15 are configurations of this one harness; the tests assert that the server learns
 * nothing it may not. Randomness comes only from WebCrypto.
 */

export interface CertifiedCohort {
  enrollmentIssuer: { name: string; publicKey: Uint8Array };
  issuerPrivateKey: CryptoKey;
  identities: { certificate: string; privateKey: CryptoKey; publicKey: Uint8Array }[];
}

/** An enrollment issuer and n certified devices, as the enrollment service would make them. */
export async function certifiedCohort(clientCount: number, name = 'murmur-enrollment-test'): Promise<CertifiedCohort> {
  const issuer = await generateSigningKeyPair();
  const now = Date.now();
  const identities = await Promise.all(
    Array.from({ length: clientCount }, async (_, index) => {
      const device = await generateSigningKeyPair();
      const certificate = await issueCertificate(issuer.privateKey, {
        clientId: `device-${index}-${crypto.randomUUID()}`,
        publicKey: device.publicKey,
        issuer: name,
        issuedAtMs: now - 60_000,
        expiresAtMs: now + 3_600_000,
      });
      return { certificate, privateKey: device.privateKey, publicKey: device.publicKey };
    }),
  );
  return { enrollmentIssuer: { name, publicKey: issuer.publicKey }, issuerPrivateKey: issuer.privateKey, identities };
}

export function planHashOf(text: string): Uint8Array {
  return sha256(utf8(text));
}

export function randomInputs(clientCount: number, vectorLength: number, modulusBits: number): Uint32Array[] {
  const mask = modulusBits === 32 ? 0xffffffff : 2 ** modulusBits - 1;
  return Array.from({ length: clientCount }, () => crypto.getRandomValues(new Uint32Array(vectorLength)).map((w) => w & mask));
}

export interface MaliciousRoundOptions {
  cohort: CertifiedCohort;
  inputs: Uint32Array[];
  threshold: number;
  graph?: RoundConfig['graph'];
  modulusBits?: number;
  /** The plan hash each client was configured with (model inconsistency). @default one hash for all */
  planHash?: (client: number) => Uint8Array;
  /** Clients that never advertise keys. */
  absent?: readonly number[];
  /** Clients that send shares and then go silent (no masked input). */
  dropAfterShareKeys?: readonly number[];
  /** Rewrites the peerKeys a client receives (key substitution). */
  rewritePeerKeys?: (to: number, message: PeerKeysMessage) => PeerKeysMessage | Promise<PeerKeysMessage>;
  /** Whether `from`'s share ciphertext is delivered to `to` (withholding). @default always */
  deliverShare?: (from: number, to: number) => boolean;
  /** The survivor set the server tells each client in ConsistencyCheck and Unmasking. @default the true U3 */
  story?: (to: number, survivors: number[]) => number[];
  /** Per client, its certificate cache (kept across rounds by the caller). @default none */
  certificateCaches?: readonly PeerCertificateCache[];
}

export interface MaliciousRoundResult {
  config: RoundConfig;
  /** Clients that refused a server message (a rejection) or stopped on their own, with why. */
  refusals: Map<number, SecAggError>;
  /** What each client revealed in Unmasking. */
  unmasks: Map<number, UnmaskMessage>;
  /** Share ciphertexts the server received (for the key-substitution test to try opening). */
  shareKeys: Map<number, ShareKeysMessage>;
  /** Per sender in shareKeys, the recipients of its records in order (the peers it was sent). */
  recipients: Map<number, number[]>;
  advertised: Map<number, AdvertiseKeysMessage>;
  masked: Map<number, MaskedInputMessage>;
  /** Tries to compute Σ_{u∈group} x_u from everything revealed; null when the masks cannot be removed. */
  recoverSum(group: readonly number[]): Promise<Uint32Array | null>;
  /** The true Σ_{u∈group} x_u mod 2^k, to compare with. */
  trueSum(group: readonly number[]): Uint32Array;
}

export async function runMaliciousRound(options: MaliciousRoundOptions): Promise<MaliciousRoundResult> {
  const { cohort, inputs, threshold } = options;
  const n = inputs.length;
  const modulusBits = options.modulusBits ?? 16;
  const suite: CryptoSuite = await defaultSuite();
  const config: RoundConfig = {
    roundId: `attack-${crypto.randomUUID()}`,
    clientCount: n,
    threshold,
    vectorLength: inputs[0]?.length ?? 1,
    modulusBits,
    graph: options.graph ?? { kind: 'full' },
    authenticated: true,
  };
  const topology = topologyOf(config);
  const sameHash = planHashOf('plan v1');
  const planHash = options.planHash ?? (() => sameHash);
  const refusals = new Map<number, SecAggError>();
  const states = new Map<number, SecAggClientState>();
  const advertised = new Map<number, AdvertiseKeysMessage>();
  const shareKeys = new Map<number, ShareKeysMessage>();
  /** Whom each client's share records are for: the peers its peerKeys named, in that order. */
  const recipients = new Map<number, number[]>();
  const masked = new Map<number, MaskedInputMessage>();
  const consistency = new Map<number, { survivors: number[]; signature: Uint8Array }>();
  const cacheOf = (id: number) => {
    const cache = options.certificateCaches?.[id];
    return cache ? { certificateCache: cache } : {};
  };
  const unmasks = new Map<number, UnmaskMessage>();

  const step = async (to: number, message: unknown): Promise<ClientToServerMessage | null> => {
    const state = states.get(to);
    if (!state || refusals.has(to)) return null;
    const result = await secAggClientStep(state, message, { suite, ...cacheOf(to) });
    if (!result.ok) {
      refusals.set(to, result.error);
      return null;
    }
    states.set(to, result.state);
    if (result.state.stage === 'aborted') refusals.set(to, result.state.reason);
    return result.outbound;
  };

  for (let id = 0; id < n; id++) {
    if (options.absent?.includes(id)) continue;
    const identity = cohort.identities[id] as CertifiedCohort['identities'][number];
    const made = await createSecAggClient({
      config,
      clientId: id,
      input: inputs[id] as Uint32Array,
      suite,
      auth: { identity, enrollmentIssuer: cohort.enrollmentIssuer, planHash: planHash(id) },
      ...cacheOf(id),
    });
    if (!made.ok) throw new Error(`client ${id}: ${made.error.message}`);
    states.set(id, made.state);
    advertised.set(id, made.outbound);
  }
  // Advertisements carry no certificate: the server has each client's from its connection.
  const certificateOf = (id: number) => (cohort.identities[id] as CertifiedCohort['identities'][number]).certificate;
  // Round 1: the honest peerKeys (every certificate in full), then whatever rewrite the attack makes.
  for (const to of advertised.keys()) {
    const peers = topology.neighbours(to).filter((id) => advertised.has(id));
    const records = peers.map((id) => advertised.get(id) as AdvertiseKeysMessage);
    let message: PeerKeysMessage = {
      type: 'peerKeys',
      roundId: config.roundId,
      peers: bitsetOf(peers, topology.neighbours(to)),
      publicKeys: concatBytes(...records.flatMap((r) => [r.encryptionPublicKey, r.maskingPublicKey])),
      certificateRefs: concatBytes(...peers.map((id) => certificateRef(certificateOf(id)))),
      certificates: peers.map(certificateOf),
      signatures: concatBytes(...records.map((r) => r.signature as Uint8Array)),
    };
    if (options.rewritePeerKeys) message = await options.rewritePeerKeys(to, message);
    const out = await step(to, message);
    if (out?.type === 'shareKeys') {
      shareKeys.set(to, out);
      recipients.set(to, membersOf(message.peers, topology.neighbours(to)) as number[]);
    }
  }
  // Round 2: relay shares, withholding as told.
  const deliver = options.deliverShare ?? (() => true);
  for (const to of shareKeys.keys()) {
    if (options.dropAfterShareKeys?.includes(to)) continue;
    const from: number[] = [];
    const parts: Uint8Array[] = [];
    for (const [sender, message] of [...shareKeys.entries()].sort((a, b) => a[0] - b[0])) {
      const index = (recipients.get(sender) as number[]).indexOf(to);
      if (index < 0 || !deliver(sender, to)) continue;
      from.push(sender);
      parts.push(message.ciphertexts.subarray(index * SHARE_CIPHERTEXT_BYTES, (index + 1) * SHARE_CIPHERTEXT_BYTES));
    }
    const out = await step(to, {
      type: 'encryptedShares',
      roundId: config.roundId,
      from: bitsetOf(from, topology.neighbours(to)),
      ciphertexts: concatBytes(...parts),
    });
    if (out?.type === 'maskedInput') masked.set(to, out);
  }
  const survivors = [...masked.keys()].sort((a, b) => a - b);
  const story = options.story ?? ((_to: number, u3: number[]) => u3);
  // Round 3: each client gets its story to sign.
  for (const to of survivors) {
    const told = story(to, survivors);
    const out = await step(to, { type: 'consistencyRequest', roundId: config.roundId, survivors: cohortBitset(told, n) });
    if (out?.type === 'consistency') consistency.set(to, { survivors: told, signature: out.signature });
  }
  // Round 4: each client's story with every signature the server holds on exactly that story.
  for (const to of consistency.keys()) {
    const told = (consistency.get(to) as { survivors: number[] }).survivors;
    // Each member's signature: its Round 3 one where it signed exactly this story, else its Round 2 claim's (with the claim).
    const signedThis = told.filter((id) => consistency.get(id)?.survivors.join() === told.join());
    const claimBytes = Math.ceil(topology.neighbours(to).length / 8);
    const others = told.filter((id) => id !== to && !topology.isNeighbour(to, id));
    const out = await step(to, {
      type: 'unmaskRequest',
      roundId: config.roundId,
      consistencySigned: bitsetOf(signedThis, told),
      signatures: concatBytes(
        ...told.map((id) =>
          signedThis.includes(id)
            ? (consistency.get(id) as { signature: Uint8Array }).signature
            : (masked.get(id)?.signature ?? new Uint8Array(SIGNATURE_BYTES)),
        ),
      ),
      claims: concatBytes(...told.filter((id) => !signedThis.includes(id)).map((id) => masked.get(id)?.maskingPeers ?? new Uint8Array(claimBytes))),
      certificateRefs: concatBytes(...others.map((id) => certificateRef(certificateOf(id)))),
      certificates: others.map(certificateOf),
    });
    if (out?.type === 'unmask') unmasks.set(to, out);
  }

  /** Every secret of one kind the server can reconstruct from t revealed shares. */
  const reconstructAll = (kind: 'selfMask' | 'maskingKey'): Map<number, Uint8Array> => {
    const gathered = new Map<number, { point: number; share: Uint8Array }[]>();
    for (const [from, message] of unmasks) {
      const ids = kind === 'selfMask' ? message.selfMaskOf : message.maskingKeyOf;
      const shares = kind === 'selfMask' ? message.selfMaskShares : message.maskingKeyShares;
      ids.forEach((of, index) => {
        const list = gathered.get(of) ?? [];
        list.push({ point: from + 1, share: shares.subarray(index * SHARE_BYTES, (index + 1) * SHARE_BYTES) });
        gathered.set(of, list);
      });
    }
    const secrets = new Map<number, Uint8Array>();
    for (const [of, shares] of gathered) {
      if (shares.length < threshold) continue;
      const secret = combineShares(shares.slice(0, threshold));
      if (secret) secrets.set(of, secret);
    }
    return secrets;
  };

  const trueSum = (group: readonly number[]): Uint32Array => {
    const sum = new Uint32Array(config.vectorLength);
    const modulus = 2 ** modulusBits;
    for (const u of group) (inputs[u] as Uint32Array).forEach((w, i) => (sum[i] = ((sum[i] as number) + w) % modulus));
    return sum;
  };

  const claimOf = (id: number): number[] => {
    const claim = masked.get(id)?.maskingPeers;
    return claim ? (membersOf(claim, topology.neighbours(id)) ?? []) : [];
  };
  const recoverSum = async (group: readonly number[]): Promise<Uint32Array | null> => {
    const selfMasks = reconstructAll('selfMask');
    const maskingKeys = reconstructAll('maskingKey');
    const inGroup = new Set(group);
    const sum = new Uint32Array(config.vectorLength);
    const terms: MaskTerm[] = [];
    for (const u of group) {
      const message = masked.get(u);
      const seed = selfMasks.get(u);
      if (!message || !seed) return null;
      const unpacked = unpackWords(message.maskedInput, modulusBits);
      if (!('words' in unpacked)) return null;
      const modulus = 2 ** modulusBits;
      unpacked.words.forEach((w, i) => (sum[i] = ((sum[i] as number) + w) % modulus));
      terms.push({ key: seed, sign: -1 });
      for (const w of claimOf(u)) {
        // Cancels inside the group only if w masked with u too.
        if (inGroup.has(w) && claimOf(w).includes(u)) continue;
        const mine = maskingKeys.get(u);
        const theirs = maskingKeys.get(w);
        const publicKeyOf = (id: number) => (advertised.get(id) as AdvertiseKeysMessage).maskingPublicKey;
        const [secret] = mine ? await suite.agree(mine, [publicKeyOf(w)]) : theirs ? await suite.agree(theirs, [publicKeyOf(u)]) : [null];
        if (!secret) return null;
        terms.push({ key: deriveKey(secret, 'pairwise-mask', config.roundId, u, w), sign: w > u ? -1 : 1 });
      }
    }
    await applyMasks(suite, sum, terms, modulusBits);
    return sum;
  };

  return { config, refusals, unmasks, shareKeys, recipients, advertised, masked, recoverSum, trueSum };
}

/** True when the server's recovered vector equals the true sum: the attack worked. */
export function sameWords(a: Uint32Array | null, b: Uint32Array): boolean {
  return a !== null && a.length === b.length && a.every((w, i) => w === b[i]);
}

export { bytesEqual, KEY_BYTES, PEER_KEYS_BYTES };
