import { parseArgs } from 'node:util';
import { z } from 'zod';

export const HELP = `Usage: npm run simulate -- [flags]

Federated next-word training with virtual clients in one Node process, running exactly the
fl-core code the browser runs. Held-out clients (never trained on) measure the global model.

Data
  --corpus NAME          sotu | spam-assassin | population: the privacy population, each
                         address cut into 5-sentence passages (one client each) plus mail
                         grouped by sender, ~17,000 clients (docs/privacy.md)  (default sotu)
  --partition SCHEME     natural | iid | dirichlet                     (default natural)
  --unit UNIT            group | document: one client per speaker (president), so held-out
                         clients are speakers the model never trained on, or one per document
                         (address / mail)          (default: group for sotu and population,
                                                   document for spam-assassin, whose 3 groups
                                                   are mail kinds)
  --alpha A              Dirichlet concentration, with --partition dirichlet  (default 0.5)
  --test-fraction F      share of clients held out for evaluation      (default 0.1)
  --clients N            training clients in the population            (default: all)
  --max-test-examples N  cap on held-out examples evaluated            (default 5000)

Model and training
  --model NAME           tiny | reference | cifg                       (default tiny)
  --hidden-units N       override the preset's recurrent units        (default: the preset's)
  --embedding-dim N      override the preset's embedding size         (default: the preset's)
  --dropout P            override the preset's training dropout, 0–0.5 (default: the preset's)
  --backend NAME         wasm | cpu                                    (default wasm)
  --epochs E             local epochs per round                        (default 1)
  --batch-size B         local minibatch size                          (default 32)
  --client-optimizer O   sgd | adam: the client's local optimizer (Adam starts fresh each
                         round)                                        (default sgd)
  --client-adam-epsilon E  Adam's ε with --client-optimizer adam        (default 1e-7)
  --lr LR                client learning rate                          (default 0.5)
  --max-examples N       examples a client trains on per round; windows that tile its sentences
                         with --targets every                          (default 256)
  --targets T            last | every: train on each window's last next token, or on the next
                         token after every position (a loss at each step)  (default last)
  --sampled-softmax K    train (clients and central) against K sampled candidate words per step
                         instead of the whole vocabulary; cifg only    (default: full softmax)

Rounds
  --rounds R             federated rounds                              (default 20)
  --per-round K          clients sampled per round                     (default 10)
  --optimizer NAME       fedavg | fedavgm | fedadam | fedyogi          (default fedadam)
  --server-lr LR         server learning rate (default per optimizer: fedavg/fedavgm 1, fedadam/fedyogi 0.01)
  --weighting W          examples | uniform (FedAvg weights)           (default examples)
  --eval-every K         evaluate every K rounds (and after the last)  (default 1)
  --seed S               seeds partitions, sampling and initial weights (default 1)
  --split-seed S         seeds only the split: which clients are held out, the held-out sample
                         and iid / dirichlet partitions, so runs with different --seed share
                         one split                                     (default: --seed)
  --patience K           stop once the held-out loss has not improved for K evaluations in a row
                         (default: run every round / epoch)
  --checkpoint DIR       save the run's state after every evaluation; the same command resumes
                         from it (--rounds / --central-epochs may be raised to go on; --lr,
                         --server-lr, --central-lr and --sampled-softmax may change, e.g. to decay
                         the rates or finish on the full softmax)
  --init-model FILE      start from a model saved with --save-model (a warm start: continue a
                         finished run under new flags); it must have this run's model shape and
                         vocabulary                                    (default: fresh weights)

Differential privacy (DP-FedAvg; see docs/privacy.md)
  --dp MODE              off | local | distributed | central           (default off)
                         with DP, clients join each round with probability per-round/clients
                         (Poisson sampling) and the mean divides by per-round
  --noise-multiplier S   σ: noise std on the round's sum is σ·C          (default 1)
  --clip C|adaptive      L2 clip norm C, or adaptive clipping (Andrew et al. 2021) (default 1)
  --initial-clip C       starting C for --clip adaptive                 (default 0.1)
  --target-quantile G    adaptive clipping's target unclipped share     (default 0.5)
  --target-delta D       δ at which ε is reported                        (default 1e-5)

Central training (the same model on the pooled training clients' examples)
  --central              after the federated run, train centrally on the same number of processed
                         examples, and report the ratio
  --central-only         no federated run: train centrally for --central-epochs epochs, drawing a
                         learning curve (the tuned baseline federated learning is compared with)
  --central-optimizer O  sgd | adam                                    (default sgd)
  --central-lr LR        its learning rate                             (default: --lr)
  --central-epochs E     epochs for --central-only (fractions allowed)  (default 1)
  --central-eval-every F evaluate every F epochs with --central-only   (default 0.25)

Output
  --save-model FILE      write the final model as a model payload (FILE) and FILE.json (the split,
                         held-out metrics, vocabulary fingerprint) for npm run evaluate -- --model FILE
  --no-baselines         skip the interpolated Kneser–Ney 2-, 3- and 4-gram baselines (counted on
                         the training clients' text, scored on the same held-out examples)
  --out FILE             write the report as JSON
  --quiet                no progress bar or table
  -h, --help             this text
`;

const positiveInt = z.coerce.number().int().positive();

export const simulationConfigSchema = z
  .object({
    corpus: z.enum(['sotu', 'spam-assassin', 'population']).default('sotu'),
    partition: z.enum(['natural', 'iid', 'dirichlet']).default('natural'),
    unit: z.enum(['document', 'group']).optional(),
    alpha: z.coerce.number().positive().max(1000).default(0.5),
    testFraction: z.coerce.number().gt(0).lt(1).default(0.1),
    clients: positiveInt.optional(),
    maxTestExamples: positiveInt.default(5000),
    model: z.enum(['tiny', 'reference', 'cifg']).default('tiny'),
    hiddenUnits: positiveInt.max(2048).optional(),
    embeddingDim: positiveInt.max(1024).optional(),
    dropout: z.coerce.number().min(0).max(0.5).optional(),
    backend: z.enum(['wasm', 'cpu']).default('wasm'),
    epochs: positiveInt.max(50).default(1),
    batchSize: positiveInt.max(1024).default(32),
    clientOptimizer: z.enum(['sgd', 'adam']).default('sgd'),
    clientAdamEpsilon: z.coerce.number().positive().max(1).optional(),
    lr: z.coerce.number().positive().max(100).default(0.5),
    maxExamples: positiveInt.default(256),
    targets: z.enum(['last', 'every']).default('last'),
    sampledSoftmax: positiveInt.max(65_536).optional(),
    rounds: positiveInt.max(100_000).default(20),
    perRound: positiveInt.default(10),
    optimizer: z.enum(['fedavg', 'fedavgm', 'fedadam', 'fedyogi']).default('fedadam'),
    serverLr: z.coerce.number().positive().max(100).optional(),
    weighting: z.enum(['examples', 'uniform']).default('examples'),
    evalEvery: positiveInt.default(1),
    seed: z.coerce.number().int().default(1),
    splitSeed: z.coerce.number().int().optional(),
    dp: z.enum(['off', 'local', 'distributed', 'central']).default('off'),
    noiseMultiplier: z.coerce.number().positive().max(1000).default(1),
    clip: z.union([z.literal('adaptive'), z.coerce.number().positive().max(1e6)]).default(1),
    initialClip: z.coerce.number().positive().max(1e6).default(0.1),
    targetQuantile: z.coerce.number().gt(0).lt(1).default(0.5),
    targetDelta: z.coerce.number().gt(0).lt(1).default(1e-5),
    patience: positiveInt.optional(),
    checkpoint: z.string().min(1).optional(),
    central: z.boolean().default(false),
    centralOnly: z.boolean().default(false),
    centralOptimizer: z.enum(['sgd', 'adam']).default('sgd'),
    centralLr: z.coerce.number().positive().max(100).optional(),
    centralEpochs: z.coerce.number().positive().max(1000).default(1),
    centralEvalEvery: z.coerce.number().positive().max(1000).default(0.25),
    saveModel: z.string().min(1).optional(),
    initModel: z.string().min(1).optional(),
    noBaselines: z.boolean().default(false),
    out: z.string().min(1).optional(),
    quiet: z.boolean().default(false),
  })
  .strict();

export type SimulationConfig = Omit<z.output<typeof simulationConfigSchema>, 'unit'> & { unit: 'document' | 'group' };

const STRING_FLAGS = [
  'corpus',
  'partition',
  'unit',
  'alpha',
  'test-fraction',
  'clients',
  'max-test-examples',
  'model',
  'hidden-units',
  'embedding-dim',
  'dropout',
  'backend',
  'epochs',
  'batch-size',
  'client-optimizer',
  'client-adam-epsilon',
  'lr',
  'max-examples',
  'targets',
  'sampled-softmax',
  'rounds',
  'per-round',
  'optimizer',
  'server-lr',
  'weighting',
  'eval-every',
  'seed',
  'split-seed',
  'out',
  'dp',
  'noise-multiplier',
  'clip',
  'initial-clip',
  'target-quantile',
  'target-delta',
  'patience',
  'checkpoint',
  'central-optimizer',
  'central-lr',
  'central-epochs',
  'central-eval-every',
  'save-model',
  'init-model',
] as const;

export type ParsedArgs = { help: true } | { help: false; config: SimulationConfig };

/** Parses CLI flags; throws an Error whose message is fit to print, naming the bad flag. */
export function parseSimulationArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
        central: { type: 'boolean' },
        'central-only': { type: 'boolean' },
        'no-baselines': { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}\nRun with --help for the list of flags.`);
  }
  if (parsed.values.help) return { help: true };
  const camel = Object.fromEntries(Object.entries(parsed.values).map(([key, value]) => [key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), value]));
  const result = simulationConfigSchema.safeParse(camel);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const flag = String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      return `--${flag}: ${issue.message}`;
    });
    throw new Error(`${problems.join('\n')}\nRun with --help for the list of flags.`);
  }
  const config: SimulationConfig = { ...result.data, unit: result.data.unit ?? (result.data.corpus === 'spam-assassin' ? 'document' : 'group') };
  if (config.central && config.centralOnly) throw new Error('--central and --central-only exclude each other\nRun with --help for the list of flags.');
  if (config.sampledSoftmax !== undefined && config.model !== 'cifg')
    throw new Error(`--sampled-softmax needs the tied softmax of --model cifg, not ${config.model}\nRun with --help for the list of flags.`);
  if (config.checkpoint && config.dp !== 'off')
    throw new Error('--checkpoint cannot resume a private run (its privacy accountant would restart)\nRun with --help for the list of flags.');
  if (config.checkpoint && config.central)
    throw new Error('--checkpoint resumes the federated run or --central-only, not --central\nRun with --help for the list of flags.');
  if (!config.centralOnly && config.perRound > (config.clients ?? Number.POSITIVE_INFINITY)) {
    throw new Error(`--per-round (${config.perRound}) cannot exceed --clients (${config.clients})`);
  }
  return { help: false, config };
}
