import { describe, expect, it } from 'vitest';
import { HELP, parseSimulationArgs } from './config';
import { CIFG_SPEC } from '@murmur/fl-core/model';
import { modelSpecFor } from './run';

describe('parseSimulationArgs', () => {
  it('applies documented defaults', () => {
    const parsed = parseSimulationArgs([]);
    expect(parsed).toMatchObject({
      help: false,
      config: {
        corpus: 'sotu',
        partition: 'natural',
        unit: 'group',
        model: 'tiny',
        optimizer: 'fedadam',
        rounds: 20,
        perRound: 10,
        seed: 1,
        central: false,
        noBaselines: false,
      },
    });
  });

  it('parses the flags of the README example', () => {
    const parsed = parseSimulationArgs(
      '--clients 200 --per-round 20 --rounds 50 --partition natural --optimizer fedadam --model reference --seed 7 --central --out x.json'.split(' '),
    );
    expect(parsed).toMatchObject({
      help: false,
      config: { clients: 200, perRound: 20, rounds: 50, partition: 'natural', optimizer: 'fedadam', model: 'reference', seed: 7, central: true, out: 'x.json' },
    });
  });

  it('holds out State of the Union speakers, and spam-assassin mails, by default', () => {
    expect(parseSimulationArgs([])).toMatchObject({ config: { corpus: 'sotu', unit: 'group' } });
    expect(parseSimulationArgs(['--corpus', 'spam-assassin'])).toMatchObject({ config: { unit: 'document' } });
    expect(parseSimulationArgs(['--corpus', 'population'])).toMatchObject({ config: { unit: 'group' } });
    expect(parseSimulationArgs(['--unit', 'document'])).toMatchObject({ config: { unit: 'document' } });
  });

  it('takes the CIFG model and every-position training', () => {
    expect(parseSimulationArgs(['--model', 'cifg', '--targets', 'every'])).toMatchObject({ help: false, config: { model: 'cifg', targets: 'every' } });
    expect(parseSimulationArgs([])).toMatchObject({ config: { targets: 'last' } });
    expect(parseSimulationArgs(['--model', 'cifg', '--sampled-softmax', '512'])).toMatchObject({ config: { sampledSoftmax: 512 } });
    expect(parseSimulationArgs([])).not.toHaveProperty('config.sampledSoftmax');
    expect(() => parseSimulationArgs(['--model', 'cifg', '--sampled-softmax', '0'])).toThrow(/--sampled-softmax/);
    expect(() => parseSimulationArgs(['--sampled-softmax', '64'])).toThrow(/needs the tied softmax of --model cifg, not tiny/);
  });

  it('overrides the preset model sizes, checked against the model spec', () => {
    const parsed = parseSimulationArgs(['--model', 'cifg', '--hidden-units', '384', '--embedding-dim', '128', '--dropout', '0.2']);
    if (parsed.help) throw new Error('unexpected help');
    expect(modelSpecFor(parsed.config)).toEqual({ ...CIFG_SPEC, hiddenUnits: 384, embeddingDim: 128, dropout: 0.2 });
    expect(modelSpecFor({ model: 'cifg' })).toEqual(CIFG_SPEC);
    expect(() => parseSimulationArgs(['--hidden-units', '0'])).toThrow(/--hidden-units/);
    expect(() => parseSimulationArgs(['--dropout', '0.9'])).toThrow(/--dropout/);
  });

  it('takes a tuned central run with a learning curve, checkpoints and patience', () => {
    expect(
      parseSimulationArgs(
        '--central-only --central-optimizer adam --central-lr 0.002 --central-epochs 4 --central-eval-every 0.5 --patience 3 --checkpoint runs/c'.split(' '),
      ),
    ).toMatchObject({
      help: false,
      config: { centralOnly: true, centralOptimizer: 'adam', centralLr: 0.002, centralEpochs: 4, centralEvalEvery: 0.5, patience: 3, checkpoint: 'runs/c' },
    });
    expect(() => parseSimulationArgs(['--central', '--central-only'])).toThrow(/exclude each other/);
    expect(() => parseSimulationArgs(['--checkpoint', 'x', '--dp', 'local'])).toThrow(/cannot resume a private run/);
    expect(() => parseSimulationArgs(['--central-optimizer', 'rmsprop'])).toThrow(/--central-optimizer/);
  });

  it('documents every flag it accepts in --help', () => {
    expect(parseSimulationArgs(['--help'])).toEqual({ help: true });
    for (const flag of [
      '--corpus',
      '--partition',
      '--unit',
      '--alpha',
      '--test-fraction',
      '--clients',
      '--max-test-examples',
      '--model',
      '--backend',
      '--epochs',
      '--batch-size',
      '--client-optimizer',
      '--client-adam-epsilon',
      '--lr',
      '--max-examples',
      '--targets',
      '--sampled-softmax',
      '--rounds',
      '--per-round',
      '--optimizer',
      '--server-lr',
      '--weighting',
      '--eval-every',
      '--seed',
      '--split-seed',
      '--patience',
      '--checkpoint',
      '--central',
      '--central-only',
      '--central-optimizer',
      '--central-lr',
      '--central-epochs',
      '--central-eval-every',
      '--save-model',
      '--no-baselines',
      '--out',
      '--quiet',
    ]) {
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
