import { describe, expect, it } from 'vitest';
import { CIFG_SPEC, parameterCount, TINY_SPEC } from '@murmur/fl-core/model';
import { runSecAggRound } from '@murmur/fl-core/testing';
import { MEGABYTE } from '../storage/schema';
import {
  ASSUMED_SHARE_HOLDERS,
  estimateRoundUploadBytes,
  formatMegabytes,
  remainingBytes,
  roundFits,
  roundUploadBoundBytes,
  usageInWords,
} from './upload-budget';

describe('the upload bound of a round', () => {
  it.each([
    ['full graph, 32-bit words', 6, 32, 'full' as const],
    ['SecAgg+ (4 neighbours), 20-bit words', 9, 20, { neighbours: 4 }],
  ])('holds every byte a real secure-aggregation round sends per client (%s), without being loose', async (_name, clients, modulusBits, graph) => {
    const vectorLength = 5_000;
    const inputs = Array.from({ length: clients }, (_, i) => new Uint32Array(vectorLength).fill(i));
    const result = await runSecAggRound({ inputs, threshold: Math.floor(clients / 2) + 1, modulusBits, graph });
    expect(result.status).toBe('done');
    const bound = roundUploadBoundBytes({
      clientCount: clients,
      vectorLength,
      modulusBits,
      graph: graph === 'full' ? { kind: 'full' } : { kind: 'harary', degree: graph.neighbours, seed: new Uint8Array(32) },
    });
    const mostSent = Math.max(...result.cost.bytesSent);
    expect(mostSent).toBeLessThanOrEqual(bound);
    // Envelopes (4 kB a message) and the check-in allowance only, not another copy of the vector.
    expect(bound - mostSent).toBeLessThan(32_000);
  });

  it('estimates a round before any plan from the model size: 4 bytes a weight, plus messages for the assumed cohort', () => {
    const tiny = estimateRoundUploadBytes(TINY_SPEC);
    expect(tiny).toBeGreaterThanOrEqual(parameterCount(TINY_SPEC) * 4);
    // Keys, shares, signatures and unmasking for the assumed cohort: a few hundred bytes a holder.
    expect(tiny - parameterCount(TINY_SPEC) * 4).toBeLessThan(5 * (ASSUMED_SHARE_HOLDERS * 400 + 4_096));
    // The default CIFG model (1,266,068 weights): a little over 5.06 MB a round.
    const cifg = estimateRoundUploadBytes(CIFG_SPEC) / MEGABYTE;
    expect(cifg).toBeGreaterThan(5.06);
    expect(cifg).toBeLessThan(5.3);
  });
});

describe('budget arithmetic', () => {
  it('subtracts what was used, never below zero; unlimited stays unlimited', () => {
    expect(remainingBytes({ usedBytes: 12 * MEGABYTE, budgetBytes: 50 * MEGABYTE })).toBe(38 * MEGABYTE);
    expect(remainingBytes({ usedBytes: 51 * MEGABYTE, budgetBytes: 50 * MEGABYTE })).toBe(0);
    expect(remainingBytes({ usedBytes: 51 * MEGABYTE, budgetBytes: null })).toBeNull();
  });

  it('lets a round fit exactly, not one byte over', () => {
    expect(roundFits({ usedBytes: 40, budgetBytes: 100, nextRoundBytes: 60 })).toBe(true);
    expect(roundFits({ usedBytes: 41, budgetBytes: 100, nextRoundBytes: 60 })).toBe(false);
    expect(roundFits({ usedBytes: 10 ** 12, budgetBytes: null, nextRoundBytes: 60 })).toBe(true);
  });

  it('says megabytes as people read them: used rounds down, sizes to come round up', () => {
    expect(formatMegabytes(0)).toBe('0');
    expect(formatMegabytes(613_000)).toBe('0.6');
    expect(formatMegabytes(613_000, 'up')).toBe('0.7');
    expect(formatMegabytes(49_970_000)).toBe('49');
    expect(formatMegabytes(200 * MEGABYTE)).toBe('200');
    expect(formatMegabytes(1_234 * MEGABYTE)).toBe('1,234');
    expect(usageInWords({ usedBytes: 1_250_000, budgetBytes: 50 * MEGABYTE })).toBe('1.2 of 50 MB');
    expect(usageInWords({ usedBytes: 1_250_000, budgetBytes: null })).toBe('1.2 MB (no limit)');
  });
});
