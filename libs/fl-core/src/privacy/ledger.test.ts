import { describe, expect, it } from 'vitest';
import { ddgMechanismRdp } from './ddg-accountant';
import { PrivacyLedger, type PrivacyLedgerEntry } from './ledger';
import { computeRdp, DEFAULT_RDP_ORDERS, rdpEpsilon, rdpToEpsilon } from './rdp';

describe('PrivacyLedger with discrete rounds', () => {
  const orders = [1.5, 2, 8, 32];
  const mechanism = { l2Sensitivity: 20, noiseStdDev: 3, clients: 50, dimension: 1024 };
  const other = { ...mechanism, noiseStdDev: 4 };

  it('accounts a discrete entry with the discrete accountant, not the Gaussian one, and keeps its mechanism', () => {
    const ledger = new PrivacyLedger({ orders });
    ledger.record({ round: 0, samplingRate: 0.1, noiseMultiplier: 1.5, discrete: mechanism });
    expect(ledger.entries).toEqual([{ round: 0, samplingRate: 0.1, noiseMultiplier: 1.5, steps: 1, discrete: mechanism }]);
    expect(Object.isFrozen(ledger.entries[0]?.discrete)).toBe(true);
    const expected = ddgMechanismRdp(mechanism, 0.1, orders);
    expect(ledger.rdp).toEqual(expected);
    expect(ledger.rdp).not.toEqual(computeRdp({ samplingRate: 0.1, noiseMultiplier: 1.5, steps: 1, orders }));
  });

  it('keeps discrete mechanisms with different parameters apart (steps multiply, rounds add)', () => {
    const ledger = new PrivacyLedger({ orders });
    ledger.record({ round: 0, samplingRate: 0.1, noiseMultiplier: 1.5, discrete: mechanism, steps: 2 });
    ledger.record({ round: 2, samplingRate: 0.1, noiseMultiplier: 1.5, discrete: other });
    ledger.record({ round: 3, samplingRate: 0.1, noiseMultiplier: 1.5, discrete: mechanism });
    const a = ddgMechanismRdp(mechanism, 0.1, orders);
    const b = ddgMechanismRdp(other, 0.1, orders);
    ledger.rdp.forEach((value, i) => expect(value).toBeCloseTo(3 * (a[i] as number) + (b[i] as number), 12));
  });

  it('round-trips discrete entries through JSON and recomputes the same RDP', () => {
    const ledger = new PrivacyLedger({ orders });
    ledger.record({ round: 0, samplingRate: 0.1, noiseMultiplier: 1.5, discrete: mechanism });
    ledger.record({ round: 1, samplingRate: 0.2, noiseMultiplier: 2 });
    const json = ledger.toJSON();
    expect(json.entries).toEqual([
      { round: 0, samplingRate: 0.1, noiseMultiplier: 1.5, steps: 1, discrete: mechanism },
      { round: 1, samplingRate: 0.2, noiseMultiplier: 2, steps: 1 },
    ]);
    // A copy: changing the JSON does not change the ledger.
    (json.entries[0]?.discrete as { clients: number }).clients = 1;
    expect(ledger.entries[0]?.discrete?.clients).toBe(50);
    const restored = PrivacyLedger.fromJSON(JSON.parse(JSON.stringify(ledger)));
    expect(restored.entries).toEqual(ledger.entries);
    expect(restored.rdp).toEqual(ledger.rdp);
  });

  it('refuses a discrete mechanism that does not validate, naming where', () => {
    expect(() => new PrivacyLedger().record({ round: 0, samplingRate: 0.1, noiseMultiplier: 1, discrete: { ...mechanism, clients: 0 } })).toThrow(
      /^PrivacyLedger\.record: discrete: .*clients/s,
    );
    expect(() =>
      PrivacyLedger.fromJSON({
        version: 1,
        orders: [2],
        conversion: 'improved',
        entries: [{ round: 0, samplingRate: 0.1, noiseMultiplier: 1, steps: 1, discrete: { ...mechanism, extra: 1 } }],
      }),
    ).toThrow('PrivacyLedger.fromJSON: invalid ledger');
  });

  it('refuses a conversion it does not know and an entry that is not an object', () => {
    expect(() => new PrivacyLedger({ conversion: 'tight' as 'classic' })).toThrow("PrivacyLedger: conversion must be 'improved' or 'classic', got tight");
    expect(() => new PrivacyLedger().record(null as unknown as PrivacyLedgerEntry)).toThrow(
      new TypeError('PrivacyLedger.record: entry must be an object, got null'),
    );
    expect(() => new PrivacyLedger().record(7 as unknown as PrivacyLedgerEntry)).toThrow(
      new TypeError('PrivacyLedger.record: entry must be an object, got number'),
    );
  });
});

describe('PrivacyLedger', () => {
  it('starts at ε = 0 with the default orders and the improved conversion', () => {
    const ledger = new PrivacyLedger();
    expect(ledger.orders).toEqual(DEFAULT_RDP_ORDERS);
    expect(ledger.conversion).toBe('improved');
    expect(ledger.entries).toEqual([]);
    expect(ledger.epsilon(1e-5).epsilon).toBe(0);
  });

  it("says what to show as ε spent: null before any release, else the ledger's ε", () => {
    const ledger = new PrivacyLedger();
    expect(ledger.spent(1e-5)).toBeNull();
    ledger.record({ round: 1, samplingRate: 0.01, noiseMultiplier: 1.1 });
    expect(ledger.spent(1e-5)).toEqual(ledger.epsilon(1e-5));
    expect(ledger.spent(1e-5)?.epsilon).toBeGreaterThan(0);
  });

  it('matches rdpEpsilon for identical rounds, one entry per round or one entry with steps', () => {
    const perRound = new PrivacyLedger();
    for (let round = 0; round < 100; round++) perRound.record({ round, samplingRate: 0.01, noiseMultiplier: 1.1 });
    const batched = new PrivacyLedger();
    batched.record({ round: 0, samplingRate: 0.01, noiseMultiplier: 1.1, steps: 100 });
    const direct = rdpEpsilon({ samplingRate: 0.01, noiseMultiplier: 1.1, steps: 100, delta: 1e-6 });
    expect(perRound.epsilon(1e-6).epsilon).toBeCloseTo(direct.epsilon, 12); // 100 additions vs 100·x
    expect(perRound.epsilon(1e-6).order).toBe(direct.order);
    expect(batched.epsilon(1e-6)).toEqual(direct);
  });

  it('composes rounds with different q and σ by adding RDP per order', () => {
    const ledger = new PrivacyLedger();
    ledger.record({ round: 0, samplingRate: 1e-4, noiseMultiplier: 0.4, steps: 40_000 });
    ledger.record({ round: 40_000, samplingRate: 0.1, noiseMultiplier: 2, steps: 100 });
    const a = computeRdp({ samplingRate: 1e-4, noiseMultiplier: 0.4, steps: 40_000 });
    const b = computeRdp({ samplingRate: 0.1, noiseMultiplier: 2, steps: 100 });
    const rdp = a.map((value, i) => value + (b[i] as number));
    expect(ledger.rdp).toEqual(rdp);
    expect(ledger.epsilon(1e-5)).toEqual(rdpToEpsilon({ orders: DEFAULT_RDP_ORDERS, rdp, delta: 1e-5 }));
  });

  it('grows with every round and with smaller δ', () => {
    const ledger = new PrivacyLedger();
    let previous = 0;
    for (let round = 0; round < 20; round++) {
      // Effective σ varies with the survivors of each round.
      ledger.record({ round, samplingRate: 0.02, noiseMultiplier: 1 + (round % 3) * 0.1 });
      const { epsilon } = ledger.epsilon(1e-5);
      expect(epsilon).toBeGreaterThan(previous);
      previous = epsilon;
    }
    expect(ledger.epsilon(1e-9).epsilon).toBeGreaterThan(ledger.epsilon(1e-5).epsilon);
  });

  it('handles 10^4 recorded rounds and round-trips them through JSON', () => {
    const ledger = new PrivacyLedger();
    for (let round = 0; round < 10_000; round++) {
      ledger.record({ round, samplingRate: 0.001, noiseMultiplier: round % 2 === 0 ? 1.2 : 1.25 });
    }
    const spent = ledger.epsilon(1e-6);
    expect(Number.isFinite(spent.epsilon)).toBe(true);
    const restored = PrivacyLedger.fromJSON(JSON.parse(JSON.stringify(ledger)));
    expect(restored.entries).toEqual(ledger.entries);
    expect(restored.epsilon(1e-6)).toEqual(spent);
  });

  it('sums correctly when rounds use more distinct σ than it caches', () => {
    const ledger = new PrivacyLedger({ orders: [1.5, 2, 8, 32] });
    const expected = [0, 0, 0, 0];
    for (let round = 0; round < 300; round++) {
      const noiseMultiplier = 1 + round / 1000;
      ledger.record({ round, samplingRate: 0.01, noiseMultiplier });
      computeRdp({ samplingRate: 0.01, noiseMultiplier, steps: 1, orders: [1.5, 2, 8, 32] }).forEach((value, i) => {
        expected[i] = (expected[i] as number) + value;
      });
    }
    ledger.record({ round: 300, samplingRate: 0.01, noiseMultiplier: 1 }); // evicted long ago
    computeRdp({ samplingRate: 0.01, noiseMultiplier: 1, steps: 1, orders: [1.5, 2, 8, 32] }).forEach((value, i) => {
      expected[i] = (expected[i] as number) + value;
    });
    ledger.rdp.forEach((value, i) => expect(value).toBeCloseTo(expected[i] as number, 14));
  });

  it('serializes orders, conversion and entries with steps filled in', () => {
    const ledger = new PrivacyLedger({ orders: [2, 4, 8], conversion: 'classic' });
    ledger.record({ round: 3, samplingRate: 0.5, noiseMultiplier: 2 });
    expect(ledger.toJSON()).toEqual({
      version: 1,
      orders: [2, 4, 8],
      conversion: 'classic',
      entries: [{ round: 3, samplingRate: 0.5, noiseMultiplier: 2, steps: 1 }],
    });
    const restored = PrivacyLedger.fromJSON(ledger.toJSON());
    expect(restored.conversion).toBe('classic');
    expect(restored.epsilon(1e-5)).toEqual(ledger.epsilon(1e-5));
  });

  it('refuses rounds that go back or overlap an earlier entry', () => {
    const ledger = new PrivacyLedger();
    ledger.record({ round: 5, samplingRate: 0.1, noiseMultiplier: 1, steps: 3 });
    expect(() => ledger.record({ round: 7, samplingRate: 0.1, noiseMultiplier: 1 })).toThrow(
      'PrivacyLedger.record: round must be >= 8 (the previous entry covers rounds 5..7), got 7',
    );
    ledger.record({ round: 8, samplingRate: 0.1, noiseMultiplier: 1 });
    expect(ledger.entries).toHaveLength(2);
  });

  it.each([
    [{ round: -1, samplingRate: 0.1, noiseMultiplier: 1 }, 'PrivacyLedger.record: round must be an integer >= 0, got -1'],
    [{ round: 0, samplingRate: 0, noiseMultiplier: 1 }, 'samplingRate must be in (0, 1], got 0'],
    [{ round: 0, samplingRate: 0.1, noiseMultiplier: 0 }, 'noiseMultiplier must be a number in [1e-100, 1e100], got 0'],
    [{ round: 0, samplingRate: 0.1, noiseMultiplier: 1, steps: 0 }, 'steps must be an integer >= 1, got 0'],
    [{ round: 0, samplingRate: 0.1, noiseMultiplier: 1, steps: 1.5 }, 'steps must be an integer >= 1, got 1.5'],
  ])('rejects the entry %j', (entry, message) => {
    expect(() => new PrivacyLedger().record(entry)).toThrow(message);
  });

  it('rejects bad options, δ and JSON', () => {
    expect(() => new PrivacyLedger({ orders: [1] })).toThrow('PrivacyLedger: orders[0] must be a finite number > 1, got 1');
    expect(() => new PrivacyLedger().epsilon(0)).toThrow('PrivacyLedger.epsilon: delta must be in (0, 1), got 0');
    expect(() => PrivacyLedger.fromJSON({ version: 2, orders: [2], conversion: 'improved', entries: [] })).toThrow('PrivacyLedger.fromJSON: invalid ledger');
    expect(() =>
      PrivacyLedger.fromJSON({
        version: 1,
        orders: [2],
        conversion: 'improved',
        entries: [
          { round: 1, samplingRate: 0.1, noiseMultiplier: 1, steps: 1 },
          { round: 1, samplingRate: 0.1, noiseMultiplier: 1, steps: 1 },
        ],
      }),
    ).toThrow('PrivacyLedger.fromJSON entries[1]: round must be >= 2');
  });
});
