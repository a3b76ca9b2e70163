import { describe, expect, it } from 'vitest';
import { HELP, parseSimulationArgs } from './config';

describe('parseSimulationArgs', () => {
  it('applies documented defaults', () => {
    const parsed = parseSimulationArgs([]);
    expect(parsed).toMatchObject({
      help: false,
      config: { corpus: 'sotu', partition: 'natural', model: 'tiny', optimizer: 'fedadam', rounds: 20, perRound: 10, seed: 1, central: false, noBaselines: false },
    });
  });

  it('parses the flags of the README example', () => {
    const parsed = parseSimulationArgs('--clients 200 --per-round 20 --rounds 50 --partition natural --optimizer fedadam --model reference --seed 7 --central --out x.json'.split(' '));
    expect(parsed).toMatchObject({
      help: false,
      config: { clients: 200, perRound: 20, rounds: 50, partition: 'natural', optimizer: 'fedadam', model: 'reference', seed: 7, central: true, out: 'x.json' },
    });
  });

  it('takes the CIFG model and every-position training', () => {
    expect(parseSimulationArgs(['--model', 'cifg', '--targets', 'every'])).toMatchObject({ help: false, config: { model: 'cifg', targets: 'every' } });
    expect(parseSimulationArgs([])).toMatchObject({ config: { targets: 'last' } });
  });

  it('documents every flag it accepts in --help', () => {
    expect(parseSimulationArgs(['--help'])).toEqual({ help: true });
    for (const flag of ['--corpus', '--partition', '--unit', '--alpha', '--test-fraction', '--clients', '--max-test-examples', '--model', '--backend', '--epochs', '--batch-size', '--lr', '--max-examples', '--targets', '--rounds', '--per-round', '--optimizer', '--server-lr', '--weighting', '--eval-every', '--seed', '--central', '--no-baselines', '--out', '--quiet']) {
      expect(HELP).toContain(flag);
    }
  });

  it('names the bad flag and what it expected', () => {
    expect(() => parseSimulationArgs(['--rounds', '0'])).toThrow(/--rounds: .*>0/);
    expect(() => parseSimulationArgs(['--rounds', 'many'])).toThrow(/--rounds/);
    expect(() => parseSimulationArgs(['--optimizer', 'sgd'])).toThrow(/--optimizer: .*fedavg/);
    expect(() => parseSimulationArgs(['--model', 'huge'])).toThrow(/--model/);
    expect(() => parseSimulationArgs(['--targets', 'all'])).toThrow(/--targets: .*every/);
    expect(() => parseSimulationArgs(['--bogus'])).toThrow(/Unknown option '--bogus'.*\n.*--help/);
    expect(() => parseSimulationArgs(['--clients', '5', '--per-round', '6'])).toThrow(/--per-round \(6\) cannot exceed --clients \(5\)/);
  });
});
