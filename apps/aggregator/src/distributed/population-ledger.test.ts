import { describe, expect, it } from 'vitest';
import { PrivacyLedger } from '@murmur/fl-core/privacy';
import { populationLedger } from './population-ledger';
import type { LedgerEntry, PopulationSpend } from './record-store';

const at = new Date('2026-12-05T00:00:00Z');
const entry = (taskId: string, round: number, samplingRate: number, noiseMultiplier: number, steps = 1): LedgerEntry => ({
  population: 'people',
  taskId,
  round,
  samplingRate,
  noiseMultiplier,
  steps,
  recordedAt: at,
});

/** One task's own ledger, as the replica keeps it. */
function taskLedger(entries: LedgerEntry[]): PrivacyLedger {
  const ledger = new PrivacyLedger();
  for (const { round, samplingRate, noiseMultiplier, steps } of entries) ledger.record({ round, samplingRate, noiseMultiplier, steps });
  return ledger;
}

describe('populationLedger', () => {
  const a = [entry('a', 1, 0.01, 1.1), entry('a', 2, 0.01, 1.1), entry('a', 3, 0.02, 0.9, 4)];
  const b = [entry('b', 1, 0.05, 1.3), entry('b', 2, 0.05, 1.3)];

  it("adds every task's RDP per order: the tasks' round numbers overlap, their people are the same", () => {
    const spend: PopulationSpend = { population: 'people', committed: [a[0], b[0], a[1], b[1], a[2]] as LedgerEntry[], reserved: [] };
    const population = populationLedger(spend);
    const [ra, rb] = [taskLedger(a).rdp, taskLedger(b).rdp];
    population.rdp.forEach((value, i) => expect(value).toBeCloseTo((ra[i] as number) + (rb[i] as number), 12));
    // Renumbered one after another, steps kept: 1 + 1 + 1 + 1 + 4 rounds.
    expect(population.entries.map((e) => [e.round, e.steps])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 4],
    ]);
    expect(population.epsilon(1e-6).epsilon).toBeGreaterThan(Math.max(taskLedger(a).epsilon(1e-6).epsilon, taskLedger(b).epsilon(1e-6).epsilon));
  });

  it('counts the other tasks’ open charges like entries, in any order', () => {
    const charge = { taskId: 'b', round: 3, samplingRate: 0.05, noiseMultiplier: 1.3, steps: 1 };
    const withCharge = populationLedger({ population: 'people', committed: [...a, ...b], reserved: [charge] });
    const reversed = populationLedger({ population: 'people', committed: [...b, ...a].reverse(), reserved: [charge] });
    const asEntries = populationLedger({ population: 'people', committed: [...a, ...b, entry('b', 3, 0.05, 1.3)], reserved: [] });
    expect(withCharge.epsilon(1e-6).epsilon).toBeCloseTo(asEntries.epsilon(1e-6).epsilon, 12);
    expect(reversed.epsilon(1e-6).epsilon).toBeCloseTo(asEntries.epsilon(1e-6).epsilon, 12);
  });

  it('gives the closed form for full participation: q = 1, σ = 1 for k rounds is RDP k·α/2 (Mironov 2017, Prop. 7)', () => {
    const population = populationLedger({ population: 'people', committed: [entry('a', 1, 1, 1, 2), entry('b', 1, 1, 1)], reserved: [] });
    population.orders.forEach((alpha, i) => expect(population.rdp[i]).toBeCloseTo((3 * alpha) / 2, 9));
  });

  it("keeps a discrete round's mechanism: its RDP is the discrete Gaussian's, not a Gaussian's of the same σ", () => {
    const discrete = { l2Sensitivity: 40, noiseStdDev: 30, clients: 3, dimension: 64 };
    const spend: PopulationSpend = { population: 'people', committed: [{ ...entry('a', 1, 0.05, 1.3), discrete }], reserved: [] };
    const direct = new PrivacyLedger();
    direct.record({ round: 7, samplingRate: 0.05, noiseMultiplier: 1.3, discrete });
    const asGaussian = new PrivacyLedger();
    asGaussian.record({ round: 7, samplingRate: 0.05, noiseMultiplier: 1.3 });
    const population = populationLedger(spend);
    expect(population.entries[0]?.discrete).toEqual(discrete);
    expect(population.epsilon(1e-6).epsilon).toBeCloseTo(direct.epsilon(1e-6).epsilon, 12);
    expect(population.epsilon(1e-6).epsilon).not.toBeCloseTo(asGaussian.epsilon(1e-6).epsilon, 3);
  });

  it('is empty for a population nobody has spent yet', () => {
    expect(populationLedger({ population: 'people', committed: [], reserved: [] }).spent(1e-6)).toBeNull();
  });
});
