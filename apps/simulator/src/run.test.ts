import { describe, expect, it } from 'vitest';
import { parseSimulationArgs } from './config';
import { runSimulation } from './run';

describe('runSimulation', () => {
  it('runs federated rounds on real State of the Union clients and a central baseline, reporting the documented JSON', async () => {
    const parsed = parseSimulationArgs('--clients 12 --per-round 4 --rounds 3 --max-examples 64 --max-test-examples 500 --central --seed 3'.split(' '));
    if (parsed.help) throw new Error('unexpected --help');
    const report = await runSimulation(parsed.config);
    expect(report.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    for (const round of report.rounds) {
      expect(Object.keys(round)).toEqual(expect.arrayContaining(['round', 'trainLoss', 'testLoss', 'top1', 'top3', 'examples', 'seconds']));
      expect(round.examples).toBe(4 * 64);
      expect(round.top1).toBeGreaterThanOrEqual(0);
      expect(round.top3).toBeGreaterThanOrEqual(round.top1 ?? 0);
    }
    expect(report.rounds[2]?.testLoss).toBeLessThan(report.rounds[0]?.testLoss ?? 0);
    expect(report.config).toMatchObject({ trainClients: 12, testExamples: 500, parameters: 156_512 });
    expect(report.central?.examplesProcessed).toBe(3 * 4 * 64);
    expect(report.central?.top1Ratio).toBeCloseTo((report.rounds[2]?.top1 ?? 0) / (report.central?.top1 ?? 1), 10);
  });

  it('refuses more clients than the partition has', async () => {
    const parsed = parseSimulationArgs(['--clients', '100000', '--rounds', '1']);
    if (parsed.help) throw new Error('unexpected --help');
    await expect(runSimulation(parsed.config)).rejects.toThrow(/--clients 100000 exceeds the \d+ training clients/);
  });
});
