import { PrivacyLedger } from '@murmur/fl-core/privacy';
import type { PopulationSpend } from './record-store';

/**
 * fl-core's PrivacyLedger over everything a population has spent: every task's recorded entries,
 * then the charges of the rounds other tasks have open. The people are the same in every task, so
 * their ε composes over all these rounds; RDP adds per order whatever the rounds' order or task, so
 * the entries are renumbered one after another (the ledger wants increasing rounds, and tasks'
 * round numbers overlap).
 */
export function populationLedger(spend: PopulationSpend): PrivacyLedger {
  const ledger = new PrivacyLedger();
  let round = 1;
  for (const { samplingRate, noiseMultiplier, steps, discrete } of [...spend.committed, ...spend.reserved]) {
    ledger.record({ round, samplingRate, noiseMultiplier, steps, ...(discrete ? { discrete } : {}) });
    round += steps;
  }
  return ledger;
}
