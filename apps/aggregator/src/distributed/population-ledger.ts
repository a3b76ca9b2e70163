import { PrivacyLedger, type DiscreteLedgerMechanism, type PrivacyLedgerEntry } from '@murmur/fl-core/privacy';
import type { PopulationSpend } from './record-store';

/** What a ledger entry accounts, as the record stores it; its round is the row's. */
export interface StoredLedgerFields {
  samplingRate: number;
  noiseMultiplier: number;
  steps: number;
  discrete?: DiscreteLedgerMechanism;
}

/**
 * A ledger entry's accounting fields, both ways between fl-core's ledger and the record: the one
 * place that carries a discrete round's mechanism across, without which its ε would be replayed as
 * a Gaussian's.
 */
export function storedLedgerFields({
  samplingRate,
  noiseMultiplier,
  steps = 1,
  discrete,
}: Pick<PrivacyLedgerEntry, 'samplingRate' | 'noiseMultiplier'> & {
  steps?: number | undefined;
  discrete?: DiscreteLedgerMechanism | undefined;
}): StoredLedgerFields {
  return { samplingRate, noiseMultiplier, steps, ...(discrete ? { discrete } : {}) };
}

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
  for (const entry of [...spend.committed, ...spend.reserved]) {
    const fields = storedLedgerFields(entry);
    ledger.record({ round, ...fields });
    round += fields.steps;
  }
  return ledger;
}
