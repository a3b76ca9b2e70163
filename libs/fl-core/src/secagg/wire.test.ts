import { describe, expect, it } from 'vitest';
import { bitsetOf, cohortBitset, cohortMembers, membersOf } from './auth';
import { reject } from './errors';
import {
  abortSchema,
  checkIds,
  checkRecords,
  clientToServerSchemas,
  graphSchema,
  MAX_CLIENTS,
  parseInbound,
  roundConfigSchema,
  serverToClientSchemas,
  unmaskSchema,
} from './messages';

/** Unit checks of the wire encodings the stage machines rely on: bitsets, the inbound edge check, id lists. */

describe('bitsets over a neighbour list and over the cohort', () => {
  const universe = [1, 3, 5, 9, 11, 20];

  it('sets bit i (byte i >> 3, value 1 << (i & 7)) for universe[i]: hand-computed bytes', () => {
    // 3, 9, 20 are universe[1], [3], [5]: 0b0010_1010 = 0x2a, one byte for six positions.
    expect(Array.from(bitsetOf([3, 9, 20], universe))).toEqual([0x2a]);
    expect(Array.from(bitsetOf([1, 11], universe))).toEqual([0b0001_0001]);
    expect(Array.from(bitsetOf([], universe))).toEqual([0]);
    // Nine positions take two bytes; the ninth member is bit 0 of byte 1.
    const nine = [0, 2, 4, 6, 8, 10, 12, 14, 16];
    expect(Array.from(bitsetOf([0, 14, 16], nine))).toEqual([0x81, 0x01]);
    expect(bitsetOf([], [])).toHaveLength(0);
    expect(membersOf(Uint8Array.of(0x2a), universe)).toEqual([3, 9, 20]);
    expect(membersOf(Uint8Array.of(0x81, 0x01), nine)).toEqual([0, 14, 16]);
    expect(membersOf(Uint8Array.of(0xff, 0x01), nine)).toEqual(nine);
    expect(membersOf(new Uint8Array(0), [])).toEqual([]);
  });

  it('refuses members outside the universe or out of order, and encodings that are not the unique one', () => {
    expect(() => bitsetOf([4], universe)).toThrow(/4 is not in the universe/);
    expect(() => bitsetOf([21], universe)).toThrow(/21 is not in the universe/);
    expect(() => bitsetOf([9, 3], universe)).toThrow(/not ascending/);
    expect(() => bitsetOf([3, 3], universe)).toThrow(/not ascending/);
    // Wrong length, or a padding bit (positions 6 and 7 of a 6-member universe) set.
    expect(membersOf(new Uint8Array(2), universe)).toBeNull();
    expect(membersOf(new Uint8Array(0), universe)).toBeNull();
    expect(membersOf(Uint8Array.of(0x40), universe)).toBeNull();
    expect(membersOf(Uint8Array.of(0x80), universe)).toBeNull();
    expect(membersOf(Uint8Array.of(0x20), universe)).toEqual([20]);
  });

  it('encodes cohort positions directly, and only those in [0, n)', () => {
    // 0, 7 → byte 0 = 0x81; 8, 12 → byte 1 = 0x11.
    expect(Array.from(cohortBitset([0, 7, 8, 12], 13))).toEqual([0x81, 0x11]);
    expect(Array.from(cohortBitset([], 16))).toEqual([0, 0]);
    expect(cohortMembers(Uint8Array.of(0x81, 0x11), 13)).toEqual([0, 7, 8, 12]);
    expect(cohortMembers(Uint8Array.of(0xff, 0xff), 16)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(() => cohortBitset([13], 13)).toThrow(/13 is outside \[0, 13\)/);
    expect(() => cohortBitset([-1], 13)).toThrow(/-1 is outside/);
    expect(() => cohortBitset([1.5], 13)).toThrow(/1.5 is outside/);
    expect(cohortMembers(Uint8Array.of(0x81), 13)).toBeNull();
    expect(cohortMembers(Uint8Array.of(0x81, 0x11, 0), 13)).toBeNull();
    // Bit 13 is padding for n = 13.
    expect(cohortMembers(Uint8Array.of(0, 0x20), 13)).toBeNull();
    expect(cohortMembers(Uint8Array.of(0, 0x10), 13)).toEqual([12]);
  });
});

describe('parseInbound: the edge check every message passes first', () => {
  const otherType = (type: string) => reject('WRONG_PHASE', `other:${type}`);
  const parse = (raw: unknown) => parseInbound(clientToServerSchemas, 'shareKeys', 'r1', raw, 'where', otherType);
  const good = { type: 'shareKeys', roundId: 'r1', ciphertexts: new Uint8Array(3) };

  const error = (raw: unknown) => {
    const result = parse(raw);
    expect(result.ok).toBe(false);
    return result.ok ? null : result.error;
  };

  it('accepts the expected message and returns its parsed fields', () => {
    const result = parse(good);
    expect(result).toEqual({ ok: true, message: good });
  });

  it('names what arrived when it is not a message object', () => {
    expect(error(null)).toEqual({ code: 'MALFORMED', message: 'where: expected a message object, got null' });
    expect(error([good])).toEqual({ code: 'MALFORMED', message: 'where: expected a message object, got an array' });
    expect(error('shareKeys')).toEqual({ code: 'MALFORMED', message: 'where: expected a message object, got string' });
    expect(error(undefined)).toEqual({ code: 'MALFORMED', message: 'where: expected a message object, got undefined' });
  });

  it('refuses unknown types, inherited names included, and non-string round ids', () => {
    expect(error({ ...good, type: 'hello' })?.message).toBe(
      'where: expected type one of advertiseKeys, shareKeys, maskedInput, consistency, unmask, got "hello"',
    );
    expect(error({ ...good, type: 'toString' })?.code).toBe('MALFORMED');
    expect(error({ ...good, type: 7 })?.message).toMatch(/, got 7$/);
    // Not a string, though it converts to one that names a schema.
    expect(error({ ...good, type: ['shareKeys'] })?.code).toBe('MALFORMED');
    expect(error({ roundId: 'r1' })?.message).toMatch(/, got undefined$/);
    expect(error({ ...good, roundId: 1 })).toEqual({ code: 'MALFORMED', message: 'where: expected a string roundId, got number' });
  });

  it('tells a stale round from a message of another stage, and checks the shape last', () => {
    expect(error({ ...good, roundId: 'r0' })).toEqual({ code: 'STALE_ROUND', message: 'where: expected round "r1", got "r0" (shareKeys)' });
    // A stale message of another type is stale first.
    expect(error({ type: 'unmask', roundId: 'r0' })?.code).toBe('STALE_ROUND');
    expect(error({ type: 'unmask', roundId: 'r1' })).toEqual({ code: 'WRONG_PHASE', message: 'other:unmask' });
    const malformed = error({ ...good, ciphertexts: [1, 2, 3], extra: true });
    expect(malformed?.code).toBe('MALFORMED');
    expect(malformed?.message).toMatch(/^where: shareKeys /);
    expect(malformed?.message).toMatch(/expected binary \(Uint8Array\)/);
    expect(malformed?.message).not.toMatch(/\n/);
    expect(malformed?.message.split('; ').length).toBeGreaterThanOrEqual(3);
  });
});

describe('id lists and packed records', () => {
  it('checkIds: ids below n, strictly ascending', () => {
    expect(checkIds([], 5, 'w')).toBeNull();
    expect(checkIds([0, 1, 4], 5, 'w')).toBeNull();
    expect(checkIds([0, 5], 5, 'w')).toEqual(reject('OUT_OF_RANGE', 'w: client id 5 is outside the cohort [0, 5)'));
    expect(checkIds([2, 2], 5, 'w')).toEqual(reject('MALFORMED', 'w: client id 2 appears twice'));
    expect(checkIds([3, 1], 5, 'w')).toEqual(reject('MALFORMED', 'w: client ids must be ascending; 1 follows 3'));
  });

  it('checkRecords: exactly one record per id', () => {
    expect(checkRecords(new Uint8Array(66), 2, 33, 'w')).toBeNull();
    expect(checkRecords(new Uint8Array(0), 0, 33, 'w')).toBeNull();
    expect(checkRecords(new Uint8Array(65), 2, 33, 'w')).toEqual(reject('WRONG_LENGTH', 'w: has 65 bytes, expected 2 × 33 = 66'));
    expect(checkRecords(new Uint8Array(67), 2, 33, 'w')?.error.code).toBe('WRONG_LENGTH');
  });

  it('id lists on the wire: non-negative integers, at most MAX_CLIENTS of them', () => {
    const unmask = (selfMaskOf: unknown) => ({
      type: 'unmask',
      roundId: 'r1',
      selfMaskOf,
      selfMaskShares: new Uint8Array(0),
      maskingKeyOf: [],
      maskingKeyShares: new Uint8Array(0),
    });
    expect(unmaskSchema.safeParse(unmask([0, 3, 7])).success).toBe(true);
    expect(unmaskSchema.safeParse(unmask([])).success).toBe(true);
    expect(unmaskSchema.safeParse(unmask(new Array<number>(MAX_CLIENTS).fill(0))).success).toBe(true);
    expect(unmaskSchema.safeParse(unmask(new Array<number>(MAX_CLIENTS + 1).fill(0))).success).toBe(false);
    expect(unmaskSchema.safeParse(unmask([0, -1])).success).toBe(false);
    expect(unmaskSchema.safeParse(unmask([0.5])).success).toBe(false);
    expect(unmaskSchema.safeParse(unmask('0,1')).success).toBe(false);
    const refused = unmaskSchema.safeParse(unmask([-1]));
    expect(refused.success ? '' : refused.error.message).toMatch(/at most 100000 client ids \(non-negative integers\)/);
  });

  it('round config and abort shapes keep their bounds', () => {
    const config = { roundId: 'r', clientCount: 2, threshold: 2, vectorLength: 1, modulusBits: 1, graph: { kind: 'full' } };
    expect(roundConfigSchema.safeParse(config).success).toBe(true);
    expect(roundConfigSchema.safeParse({ ...config, roundId: '' }).success).toBe(false);
    expect(roundConfigSchema.safeParse({ ...config, roundId: 'x'.repeat(129) }).success).toBe(false);
    expect(roundConfigSchema.safeParse({ ...config, graph: { kind: 'harary', degree: 2, seed: new Uint8Array(32) } }).success).toBe(true);
    expect(roundConfigSchema.safeParse({ ...config, graph: { kind: 'harary', degree: 2, seed: [0] } }).success).toBe(false);
    expect(abortSchema.safeParse({ type: 'abort', roundId: 'r', reason: { code: 'X', message: 'y' } }).success).toBe(true);
    expect(abortSchema.safeParse({ type: 'abort', roundId: 'r', reason: { code: 'X'.repeat(65), message: 'y' } }).success).toBe(false);
  });
});

describe('every message schema', () => {
  const b = new Uint8Array(2);
  const valid = {
    advertiseKeys: { type: 'advertiseKeys', roundId: 'r', encryptionPublicKey: b, maskingPublicKey: b, certificate: 'c' },
    shareKeys: { type: 'shareKeys', roundId: 'r', ciphertexts: b },
    maskedInput: { type: 'maskedInput', roundId: 'r', maskedInput: b, maskingPeers: b, signature: b },
    consistency: { type: 'consistency', roundId: 'r', signature: b },
    unmask: { type: 'unmask', roundId: 'r', selfMaskOf: [0], selfMaskShares: b, maskingKeyOf: [], maskingKeyShares: b },
    peerKeys: { type: 'peerKeys', roundId: 'r', peers: b, publicKeys: b, certificates: ['c'] },
    encryptedShares: { type: 'encryptedShares', roundId: 'r', from: b, ciphertexts: b },
    consistencyRequest: { type: 'consistencyRequest', roundId: 'r', survivors: b },
    unmaskRequest: { type: 'unmaskRequest', roundId: 'r', survivors: [0, 1], certificates: ['c'] },
    abort: { type: 'abort', roundId: 'r', reason: { code: 'X', message: 'y' } },
  } as const;
  const schemas = { ...clientToServerSchemas, ...serverToClientSchemas };

  it('accepts a minimal message of its own type and refuses it under any other type', () => {
    for (const [type, message] of Object.entries(valid)) {
      const schema = schemas[type as keyof typeof schemas];
      expect(schema.safeParse(message).success, type).toBe(true);
      expect(schema.safeParse({ ...message, type: '' }).success, type).toBe(false);
      expect(schema.safeParse({ ...message, extra: 1 }).success, type).toBe(false);
    }
  });

  it('bounds certificates to 1…1024 characters', () => {
    const advertise = schemas.advertiseKeys;
    expect(advertise.safeParse({ ...valid.advertiseKeys, certificate: 'x'.repeat(1024) }).success).toBe(true);
    expect(advertise.safeParse({ ...valid.advertiseKeys, certificate: 'x'.repeat(1025) }).success).toBe(false);
    expect(advertise.safeParse({ ...valid.advertiseKeys, certificate: '' }).success).toBe(false);
  });

  it('tells the two graph kinds apart by `kind`', () => {
    expect(graphSchema.safeParse({ kind: 'full' }).success).toBe(true);
    expect(graphSchema.safeParse({ kind: 'harary', degree: 2, seed: new Uint8Array(32) }).success).toBe(true);
    expect(graphSchema.safeParse({ kind: 'full', degree: 2 }).success).toBe(false);
    expect(graphSchema.safeParse({ kind: 'ring' }).success).toBe(false);
    expect(graphSchema.safeParse({ degree: 2, seed: new Uint8Array(32) }).success).toBe(false);
  });
});
