import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { serverOptimizerSchema } from '@murmur/fl-core/aggregate';
import { MODEL_PRESETS, modelSpecSchema } from '@murmur/fl-core/model';
import { deadlinesSchema as wireDeadlinesSchema, operatorNameSchema } from '@murmur/fl-core/protocol';
import { TRAINING_BASES } from '@murmur/fl-core/round';
import { trainingPlanSchema, type TrainingPlan } from '@murmur/fl-core/train';

/**
 * One configuration, from four layers (later wins): defaults < JSON file (--config / MURMUR_CONFIG)
 * < environment variables < command-line flags. The merged object is validated once by zod; every
 * other module trusts it. The flag table below is also the source of `--help` and of the table in
 * docs/aggregator.md, so the documentation cannot drift from the parser.
 */
// The wire's bounds (fl-core's deadlinesSchema: what clients accept), with this aggregator's defaults.
const deadlinesSchema = wireDeadlinesSchema.extend({
  /** Download, evaluation, training and key generation: the slowest phase. */
  advertiseKeysMs: wireDeadlinesSchema.shape.advertiseKeysMs.default(60_000),
  shareKeysMs: wireDeadlinesSchema.shape.shareKeysMs.default(15_000),
  /**
   * Masking expands one PRG stream of d words per neighbour: for the 1.27M-parameter CIFG model
   * and 20 demo clients masking in one process, about 15 s on 2 busy cores, so a 15 s ceiling
   * cut whole cohorts off. Adaptive deadlines bring it down once answers were seen.
   */
  maskedInputMs: wireDeadlinesSchema.shape.maskedInputMs.default(60_000),
  unmaskingMs: wireDeadlinesSchema.shape.unmaskingMs.default(15_000),
});

/** An admin bearer token: long enough that guessing is hopeless, short enough to type. */
const adminTokenSchema = z.string().min(16).max(256);

/** One named operator: the audit log records `name` for every action taken with `token`. */
export const adminOperatorSchema = z.object({ name: operatorNameSchema, token: adminTokenSchema }).strict();
export type AdminOperator = z.output<typeof adminOperatorSchema>;

/**
 * `name:token` pairs, separated by commas (a flag or environment variable) or by lines (a file,
 * where blank lines and lines starting with # are skipped). A token may contain ':' (the name
 * ends at the first), not ',' or a line break.
 */
export function parseOperatorTokens(text: string, source: string): { ok: true; value: AdminOperator[] } | { ok: false; message: string } {
  const out: AdminOperator[] = [];
  const entries = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'));
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    // The entry itself holds a token: say where it is, never what it is.
    if (colon <= 0) return { ok: false, message: `${source}: entry ${index + 1}: expected name:token` };
    const parsed = adminOperatorSchema.safeParse({ name: entry.slice(0, colon), token: entry.slice(colon + 1) });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { ok: false, message: `${source}: entry ${index + 1} (${issue?.path.join('.') ?? '?'}): ${issue?.message ?? 'invalid'}` };
    }
    out.push(parsed.data);
  }
  return { ok: true, value: out };
}

/** Operators as a JSON config writes them (--admin-tokens and its env var: name:token,… parsed by parseOperatorTokens). */
const adminOperatorsSchema = z.array(adminOperatorSchema).min(1).max(1_000);

const roundSchema = z
  .object({
    /** Reports wanted per round. */
    target: z.number().int().min(2).max(100_000).default(20),
    /**
     * Clients are Poisson-sampled at rate q = ⌈target × overSelection⌉ / eligible, so the expected
     * cohort leaves the target after dropouts.
     */
    overSelection: z.number().min(1).max(3).default(1.3),
    /**
     * Fewest reports a round may commit with (also k_min of distributed noise: each client adds
     * 1/√k_min of the noise). Half the target: a round survives losing half its cohort, and the sum of
     * the usual ~26 reports carries σ·√(26/10) ≈ 1.6σ rather than the 2.9σ of k_min = 3. Never below
     * the devices' floor (DEFAULT_PLAN_POLICY.minCohort, 3).
     */
    minReports: z.number().int().min(2).default(10),
    /** Once minReports are waiting, how long check-in stays open for more. */
    checkinMs: z.number().int().min(0).max(3_600_000).default(5_000),
    /** Pause between rounds. */
    pauseMs: z.number().int().min(0).max(86_400_000).default(2_000),
    deadlines: deadlinesSchema.prefault({}),
    /**
     * A stage closes early once every client it waits on has disconnected and stayed away this
     * long (a phone switching networks comes back within it).
     */
    reconnectGraceMs: z.number().int().min(0).max(600_000).default(2_000),
    /** Cohorts at least this large use SecAgg+ (a Harary graph) instead of the full graph. */
    secAggPlusFrom: z.number().int().min(4).default(64),
    /** δ assumed when choosing SecAgg+ degree and threshold. */
    dropoutRate: z.number().min(0).max(0.5).default(0.1),
    modulusBits: z.number().int().min(16).max(32).default(32),
    /**
     * Eligibility: fewest local examples a device needs. Sent in `welcome`; the device checks it
     * itself and checks in only at or above it, so its count never leaves it (protocol 8).
     */
    minExamples: z.number().int().min(2).default(10),
    /**
     * Most clients one network (limits.ipv4PrefixBits / ipv6PrefixBits: a /24, a /56) may place in
     * one round's cohort; those drawn beyond it are not selected this round (coordinator.ts,
     * capPerNetwork). Bounds what one network's fake clients add to a cohort (docs/privacy.md,
     * "Fake clients"). 0: no cap.
     */
    maxPerNetwork: z.number().int().min(0).max(100_000).default(5),
    /**
     * Loopback peers (the demo's virtual clients, the tests, a browser on this machine) are not
     * counted by network: each is a network of its own. A reverse proxy on this host makes every
     * client a loopback peer, and the cap then does nothing: set false there (docs/aggregator.md).
     */
    exemptLoopback: z.boolean().default(true),
    /** Share of each client's examples held out for federated evaluation. */
    evaluationFraction: z.number().min(0).max(0.5).default(0.2),
    /**
     * Phase deadlines learnt from answers (see participation.ts): multiplier × p90 of the last
     * `window` answer latencies + slackMs, once minSamples were seen; `deadlines` stay the ceiling.
     */
    adaptiveDeadlines: z
      .object({
        enabled: z.boolean().default(true),
        multiplier: z.number().min(1).max(100).default(2),
        slackMs: z.number().int().min(0).max(600_000).default(2_000),
        minSamples: z.number().int().min(1).max(10_000).default(5),
        window: z.number().int().min(1).max(100_000).default(256),
      })
      .strict()
      .prefault({}),
    /**
     * Close SecAgg's unmasking stage in a worker thread (unmask-thread.ts): the mask reconstruction
     * of a large model takes seconds that would otherwise stall every socket of the process.
     */
    unmaskInWorker: z.boolean().default(true),
    /**
     * Pace steering (Bonawitz et al. 2019 §2.3; protocol 9): once poolFactor × ⌈target ×
     * overSelection⌉ clients wait (per process: its share of it in the distributed mode), a new
     * check-in is answered `later`, with a CSPRNG-uniform time in [fromMs, toMs] to come back, and
     * the device may close its connection until then. Deferring is random and before the draw, so
     * it never raises a client's chance of selection above q: the ledger stays an upper bound.
     * poolFactor 0: off.
     */
    paceSteering: z
      .object({
        poolFactor: z.number().min(0).max(1_000).default(4),
        fromMs: z.number().int().min(1_000).max(86_400_000).default(30_000),
        toMs: z.number().int().min(1_000).max(86_400_000).default(120_000),
      })
      .strict()
      .refine((pace) => pace.fromMs <= pace.toMs, { message: 'round.paceSteering: fromMs must be ≤ toMs' })
      .prefault({}),
  })
  .strict();

/**
 * How selected clients train (the round plan's `training`). The defaults suit the CIFG model: a
 * loss at every position of non-overlapping windows ('every'), 64 windows (≈ 640 predicted tokens)
 * per client per round at lr 1. Field by field, like every other section: a file or flag that sets
 * one field keeps the others' defaults here (not the training plan's own, which are for callers of
 * trainLocal).
 */
export const DEFAULT_TRAINING = Object.freeze({
  epochs: 1,
  batchSize: 16,
  optimizer: 'sgd',
  learningRate: 1,
  maxExamples: 64,
  timeBudgetMs: 30_000,
  targets: 'every',
} as const satisfies TrainingPlan);

const trainingSchema = trainingPlanSchema.extend({
  epochs: trainingPlanSchema.shape.epochs.unwrap().default(DEFAULT_TRAINING.epochs),
  batchSize: trainingPlanSchema.shape.batchSize.unwrap().default(DEFAULT_TRAINING.batchSize),
  optimizer: trainingPlanSchema.shape.optimizer.unwrap().default(DEFAULT_TRAINING.optimizer),
  learningRate: trainingPlanSchema.shape.learningRate.unwrap().default(DEFAULT_TRAINING.learningRate),
  maxExamples: trainingPlanSchema.shape.maxExamples.unwrap().default(DEFAULT_TRAINING.maxExamples),
  timeBudgetMs: trainingPlanSchema.shape.timeBudgetMs.unwrap().default(DEFAULT_TRAINING.timeBudgetMs),
  targets: trainingPlanSchema.shape.targets.unwrap().default(DEFAULT_TRAINING.targets),
});

/** Who sits out a while (see participation.ts). */
const participationSchema = z
  .object({
    /** A selected client that goes silent is not selected for this long; each repeat doubles it. */
    silenceBenchMs: z.number().int().min(0).max(86_400_000).default(60_000),
    maxBenchMs: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400_000)
      .default(3_600_000),
    /** Rejected sums in a row (no committed round between) after which a client sits out. */
    rejectedRoundsToBench: z.number().int().min(1).max(1_000).default(3),
    /** After a rejected sum, rounds sample at most this share of the candidates until one commits (never below minReports expected). */
    rejectedSamplingCap: z.number().gt(0).max(1).default(0.5),
  })
  .strict();

const privacySchema = z
  .object({
    /** 'central' is not offered: it needs the exact sum, which secure aggregation hides. */
    mode: z.enum(['off', 'local', 'distributed']).default('distributed'),
    clipNorm: z.number().positive().max(1e6).default(1),
    /**
     * σ. With the default cohort (target 20 × 1.3) drawn from the population these defaults assume,
     * N = 10,000 (q = 0.0026), ε at δ = 1e-5 is 0.89 after 1,000 rounds and 1.03 after 3,000
     * (docs/privacy.md, "Defaults"). Never below the devices' floor (DEFAULT_PLAN_POLICY, 0.05).
     */
    noiseMultiplier: z.number().min(0).max(100).default(1),
    /**
     * How 'distributed' clients add their noise: 'continuous' Gaussian floats before encoding, or
     * 'discrete', the distributed discrete Gaussian (Kairouz, Liu & Steinke 2021) added to integers
     * after a random rotation and conditional rounding, so rounding sits inside ε (docs/privacy.md,
     * "The distributed discrete Gaussian"). 'discrete' needs mode 'distributed' and a fixed C.
     * @default 'continuous'
     */
    noise: z.enum(['continuous', 'discrete']).default('continuous'),
    /**
     * c: fake or colluding clients per cohort the noise tolerates. Each honest client's share is
     * calibrated so that the k_min − c honest reports of the smallest committed sum carry σ alone;
     * the ledger counts only k − c reports' noise. Must be < minReports. @default 0
     */
    colluders: z.number().int().min(0).max(100_000).default(0),
    /** Admin plan changes may not lower σ below this. @default noiseMultiplier */
    minNoiseMultiplier: z.number().min(0).max(100).optional(),
    targetDelta: z.number().positive().max(0.1).default(1e-5),
    /**
     * The ε budget of this population at targetDelta: a round that could take the ledger past it
     * (charged with the fewest reports it may commit with) does not open, and training pauses until
     * an operator raises it (POST /api/admin/budget) or the noise. Absent: none.
     */
    epsilonBudget: z.number().positive().max(1e6).optional(),
    /** Eligible population for the sampling rate q; @default the clients checked in at selection. */
    population: z.number().int().positive().optional(),
    /**
     * Adaptive clipping (Andrew et al. 2021): C follows the targetQuantile of update norms, moved
     * by exp(−learningRate · (unclipped fraction − targetQuantile)) each round. Absent: fixed C.
     */
    adaptiveClipping: z
      .object({
        targetQuantile: z.number().gt(0).lt(1).default(0.5),
        learningRate: z.number().positive().max(10).default(0.2),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The release gate (docs/aggregator.md, "Release gates"): a committed round makes a candidate;
 * browsers suggest with the released version, which a candidate replaces only if it passes.
 */
const releaseSchema = z
  .object({
    /**
     * Largest ‖candidate − released‖₂. An honest round moves the model by at most C plus the
     * noise of the mean, ≈ σ·C·√d / n with distributed noise (CIFG, d = 1.27M, σ = 0.05, 20
     * clients: about 3); σ = 1 makes it about 56: with the default σ, cohorts need to be far larger
     * than 20 for a candidate to pass (docs/privacy.md, "Defaults").
     */
    maxUpdateNorm: z.number().positive().max(1e9).default(50),
    /** Nats the candidate's federated eval loss may exceed the released model's. */
    lossTolerance: z.number().min(0).max(100).default(0.05),
    /** How far (a fraction: 0.01 = one percentage point) the candidate's top-1 may fall below the released model's. */
    top1Tolerance: z.number().min(0).max(1).default(0.01),
    /** false: finite weights and a bounded norm release a candidate without waiting for its evaluation. */
    requireEvaluation: z.boolean().default(true),
    /** Where training continues after a refusal: the refused candidate, or the released version. */
    trainFrom: z.enum(TRAINING_BASES).default('candidate'),
  })
  .strict();

/**
 * Operator alerts (alerts.ts, docs/dashboard.md): shown on the dashboard, exported as
 * `murmur_alert_active{alert}`; prometheus/alerts.yml carries the same defaults as literals.
 */
/**
 * The distributed mode (docs/scale-out.md): several aggregator processes serve one task over
 * PostgreSQL (the record) and Redis (coordination), whose addresses come from MURMUR_PG_URL,
 * MURMUR_REDIS_URL and the other MURMUR_* variables of distributed/config.ts.
 */
const distributedSchema = z
  .object({
    /** Run as one of the task's processes: rounds are opened by the lease holder, each process runs SecAgg over its own groups. @default false */
    enabled: z.boolean().default(false),
    /** The task the processes serve together (its lease, record and control stream). @default 'next-word' */
    taskId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .default('next-word'),
    /** The population whose privacy ledger the task's rounds spend. @default 'default' */
    population: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .default('default'),
    /**
     * Most clients in one SecAgg group: a process whose draw is larger runs several groups at once,
     * of near-equal size, each at least the round's minReports (k_min: each group's noise is
     * calibrated to it, so minReports wins over this bound). Groups of 100–1,000 keep SecAgg's
     * per-client cost bounded (Bonawitz et al. 2019, §6). @default 500
     */
    groupSize: z.number().int().min(1).max(100_000).default(500),
    /** This process's name in pool counts and group sums; unique among the task's processes. @default host name and port */
    processId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/)
      .optional(),
  })
  .strict();

const alertsSchema = z
  .object({
    /** Nats the newest federated eval loss may exceed the released model's before accuracy_regression fires. */
    lossIncrease: z.number().min(0).max(100).default(0.1),
    /** How far (a fraction: 0.02 = two points) the newest top-1 may fall below the released model's. */
    top1Drop: z.number().min(0).max(1).default(0.02),
    /**
     * dropout_spike: share of a round's selected clients whose masked input never arrived. Above
     * what over-selection (1.3: about 23%) is there to absorb.
     */
    dropoutShare: z.number().gt(0).max(1).default(0.3),
    /** epsilon_budget: share of privacy.epsilonBudget spent (no alert without a budget). */
    epsilonBudgetShare: z.number().gt(0).max(1).default(0.8),
    /** no_commit: minutes without a committed round while rounds are not paused. */
    noCommitMinutes: z.number().positive().max(10_080).default(15),
  })
  .strict();

const limitsSchema = z
  .object({
    /** Socket.IO/engine.io frame limit; @default the round's largest message + 1 MiB. */
    maxHttpBufferSize: z.number().int().min(1024).optional(),
    /** Per client id (across its reconnects): sustained events per second and burst. */
    eventsPerSecond: z.number().positive().default(20),
    eventBurst: z.number().int().positive().default(40),
    /**
     * A client cut off for flooding (100 events refused by the rate limit on one connection) is
     * refused at the handshake with RATE_LIMITED for this long.
     */
    floodCoolDownMs: z.number().int().min(0).max(86_400_000).default(60_000),
    /**
     * Open dashboard-stream connections per remote address. Behind a reverse proxy every viewer
     * shares the proxy's address: raise it there.
     */
    dashboardConnectionsPerAddress: z.number().int().min(1).max(100_000).default(16),
    /**
     * Enrollments (and, counted apart, challenges) per IP per minute at the enrollment service
     * `npm start` hosts beside the aggregator when no --enrollment-issuer is given. A standalone
     * service (`npm run enrollment`) has its own, stricter default.
     */
    enrollPerMinute: z.number().int().positive().max(1_000_000_000).default(600),
    /** The hosted enrollment service's limit per network (a /24, a /56), challenges counted apart. */
    enrollPerMinutePerNetwork: z.number().int().positive().max(1_000_000_000).default(600),
    /** The hosted enrollment service's limit over all addresses, challenges counted apart. */
    enrollPerMinuteGlobal: z.number().int().positive().max(1_000_000_000).default(6_000),
    /**
     * Proof of work the hosted enrollment service asks of each enrollment, in leading zero bits of
     * SHA-256 (identity/pow.ts): 12 is about 4,000 hashes, milliseconds in a browser; it exercises
     * the path. 0: none.
     */
    enrollProofOfWorkBits: z.number().int().min(0).max(32).default(12),
    /** What one network is, for enrollment limits and the cohort cap: an IPv4 /24 (network.ts). */
    ipv4PrefixBits: z.number().int().min(8).max(32).default(24),
    /** … and an IPv6 /56, one household's delegation (RIPE-690); 48 counts a whole site as one. */
    ipv6PrefixBits: z.number().int().min(16).max(128).default(56),
    /**
     * Most a handshake proof's time may differ from this clock, either way (proofs are single-use
     * within it). Devices with a clock further off are refused with BAD_PROOF.
     */
    handshakeSkewMs: z.number().int().min(1_000).max(3_600_000).default(120_000),
    /** How often the enrollment service's revocation list is fetched (with enrollmentUrl). */
    revocationPollMs: z.number().int().min(100).max(86_400_000).default(60_000),
    /** Model versions kept on disk (older ones answer 404). */
    keepModels: z.number().int().min(2).default(50),
    /** Socket.IO heartbeat: a client that does not answer a ping within this is disconnected. */
    pingTimeoutMs: z.number().int().min(1_000).max(600_000).default(20_000),
  })
  .strict();

export const configSchema = z
  .object({
    port: z.number().int().min(0).max(65_535).default(8080),
    host: z.string().min(1).default('127.0.0.1'),
    dataDir: z.string().min(1).default('./data'),
    /**
     * Bearer token of the default operator, recorded as 'admin' in the audit log. When neither it
     * nor any named operator is configured, one is generated into <dataDir>/admin-token.
     */
    adminToken: adminTokenSchema.optional(),
    /**
     * Named operators, each with a token of their own, recorded by name in the audit log:
     * `[{ name, token }]` in a config file, `name:token,name:token` from --admin-tokens / MURMUR_ADMIN_TOKENS.
     * Beside adminToken when both are set. @default none
     */
    adminTokens: adminOperatorsSchema.optional(),
    /** A file of `name:token` lines (mode 0600), read at start, adding to adminTokens. @default none */
    adminTokensFile: z.string().min(1).optional(),
    /** Bearer token for /metrics; when absent only loopback peers may read it (it tells versions and load). */
    metricsToken: z.string().min(16).max(256).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * A preset name or a full model spec; only used when the data directory is new. The default is
     * the CIFG-LSTM over the 10,004-word vocabulary (1.27M parameters, a 5 MB payload); tests and
     * benches that need speed name 'tiny'.
     */
    model: z.union([z.enum(Object.keys(MODEL_PRESETS) as [keyof typeof MODEL_PRESETS]), modelSpecSchema]).default('cifg'),
    /** Seeds the initial global model (reproducible initial weights). */
    seed: z.number().int().default(1),
    /**
     * The enrollment service's issuer.json ({ name, publicKey }): certificates signed by any other
     * key are refused. Unset: `npm start` hosts an enrollment service in this process with its
     * state in <dataDir>/enrollment, and the aggregator gets only its public key.
     */
    enrollmentIssuerFile: z.string().min(1).optional(),
    /**
     * A separately deployed enrollment service's base URL: its revocation list
     * (GET /api/enrollment/revoked) is fetched at start and every limits.revocationPollMs and
     * honoured beside this aggregator's own. @default none
     */
    enrollmentUrl: z.url().max(2000).optional(),
    /** Built web client served from the same origin. */
    staticDir: z.string().optional(),
    /** Headless virtual clients started with the aggregator (npm start -- --demo N). */
    demo: z.number().int().min(0).max(10_000).default(0),
    round: roundSchema.prefault({}),
    training: trainingSchema.prefault({}),
    optimizer: serverOptimizerSchema.prefault({ name: 'fedavg', learningRate: 1 }),
    privacy: privacySchema.prefault({}),
    participation: participationSchema.prefault({}),
    release: releaseSchema.prefault({}),
    alerts: alertsSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    distributed: distributedSchema.prefault({}),
  })
  .strict();

export type AggregatorConfig = z.output<typeof configSchema>;
export type AggregatorConfigInput = z.input<typeof configSchema>;

interface Flag {
  flag: string;
  env?: string;
  /** Where the value goes; several paths set several settings at once. */
  paths: string[][];
  type: 'string' | 'int' | 'number' | 'boolean';
  help: string;
  /** A string flag whose value has a syntax of its own: turns it into the setting, or says why not. */
  parse?: (raw: string, source: string) => { ok: true; value: unknown } | { ok: false; message: string };
}

/** Every setting reachable from the command line and the environment (the rest: --config FILE). */
export const FLAGS: readonly Flag[] = [
  { flag: 'port', env: 'PORT', paths: [['port']], type: 'int', help: 'HTTP and Socket.IO port (0: any free port)' },
  { flag: 'host', env: 'HOST', paths: [['host']], type: 'string', help: 'interface to bind' },
  { flag: 'data-dir', env: 'MURMUR_DATA_DIR', paths: [['dataDir']], type: 'string', help: 'durable state: checkpoints, round log, privacy ledger' },
  {
    flag: 'admin-token',
    env: 'MURMUR_ADMIN_TOKEN',
    paths: [['adminToken']],
    type: 'string',
    help: "the default operator's bearer token for /api/admin/* (≥ 16 chars), audited as 'admin'; generated into <data-dir>/admin-token when no token is set",
  },
  {
    flag: 'admin-tokens',
    env: 'MURMUR_ADMIN_TOKENS',
    paths: [['adminTokens']],
    type: 'string',
    parse: parseOperatorTokens,
    help: 'named operators, name:token,name:token (tokens ≥ 16 chars): the audit log records who acted (prefer the env or a file: flags show in ps)',
  },
  {
    flag: 'admin-tokens-file',
    env: 'MURMUR_ADMIN_TOKENS_FILE',
    paths: [['adminTokensFile']],
    type: 'string',
    help: 'file of name:token lines (# comments), read at start, adding named operators',
  },
  {
    flag: 'metrics-token',
    env: 'MURMUR_METRICS_TOKEN',
    paths: [['metricsToken']],
    type: 'string',
    help: 'bearer token for /metrics (≥ 16 chars); without it only loopback peers may read /metrics',
  },
  { flag: 'log-level', env: 'LOG_LEVEL', paths: [['logLevel']], type: 'string', help: 'pino level' },
  { flag: 'model', env: 'MURMUR_MODEL', paths: [['model']], type: 'string', help: 'initial model preset (new data directory only): tiny | reference | cifg' },
  { flag: 'seed', env: 'MURMUR_SEED', paths: [['seed']], type: 'int', help: 'seed of the initial global model' },
  {
    flag: 'enrollment-issuer',
    env: 'MURMUR_ENROLLMENT_ISSUER',
    paths: [['enrollmentIssuerFile']],
    type: 'string',
    help: "the enrollment service's issuer.json (public key); unset: host an enrollment service in this process (<data-dir>/enrollment)",
  },
  {
    flag: 'enrollment-url',
    env: 'MURMUR_ENROLLMENT_URL',
    paths: [['enrollmentUrl']],
    type: 'string',
    help: "a separate enrollment service's base URL, whose revocation list is fetched and honoured",
  },
  {
    flag: 'enroll-pow-bits',
    env: 'MURMUR_ENROLL_POW_BITS',
    paths: [['limits', 'enrollProofOfWorkBits']],
    type: 'int',
    help: 'proof of work (SHA-256 leading zero bits) the hosted enrollment service asks of each device; 0: none',
  },
  {
    flag: 'handshake-skew-ms',
    env: 'MURMUR_HANDSHAKE_SKEW_MS',
    paths: [['limits', 'handshakeSkewMs']],
    type: 'int',
    help: "most a client's handshake proof time may differ from this clock",
  },
  { flag: 'static-dir', env: 'MURMUR_STATIC_DIR', paths: [['staticDir']], type: 'string', help: 'built web client to serve' },
  { flag: 'demo', env: 'MURMUR_DEMO', paths: [['demo']], type: 'int', help: 'start N headless virtual clients' },
  { flag: 'target', env: 'MURMUR_TARGET', paths: [['round', 'target']], type: 'int', help: 'reports wanted per round' },
  {
    flag: 'training-targets',
    env: 'MURMUR_TRAINING_TARGETS',
    paths: [['training', 'targets']],
    type: 'string',
    help: "next tokens clients train on: every (each position of a window) | last (a window's last)",
  },
  {
    flag: 'client-optimizer',
    env: 'MURMUR_CLIENT_OPTIMIZER',
    paths: [['training', 'optimizer']],
    type: 'string',
    help: "clients' local optimizer: sgd | adam (fresh each round; pair with a learning rate near 0.004)",
  },
  {
    flag: 'client-adam-epsilon',
    env: 'MURMUR_CLIENT_ADAM_EPSILON',
    paths: [['training', 'adamEpsilon']],
    type: 'number',
    help: "Adam's ε with --client-optimizer adam (tfjs's 1e-7 when unset)",
  },
  {
    flag: 'client-sampled-softmax',
    env: 'MURMUR_CLIENT_SAMPLED_SOFTMAX',
    paths: [['training', 'sampledSoftmax']],
    type: 'number',
    help: 'clients train against this many sampled candidate words instead of the whole vocabulary (cifg)',
  },
  { flag: 'client-lr', env: 'MURMUR_CLIENT_LR', paths: [['training', 'learningRate']], type: 'number', help: "clients' local learning rate" },
  {
    flag: 'max-examples',
    env: 'MURMUR_MAX_EXAMPLES',
    paths: [['training', 'maxExamples']],
    type: 'int',
    help: 'windows (examples) a client trains on per round, at most',
  },
  { flag: 'over-selection', paths: [['round', 'overSelection']], type: 'number', help: 'expected cohort (Poisson sampling) = target × this' },
  { flag: 'min-reports', env: 'MURMUR_MIN_REPORTS', paths: [['round', 'minReports']], type: 'int', help: 'fewest reports a round commits with' },
  {
    flag: 'max-per-network',
    env: 'MURMUR_MAX_PER_NETWORK',
    paths: [['round', 'maxPerNetwork']],
    type: 'int',
    help: 'most clients one network (IPv4 /24, IPv6 /56) places in a cohort; 0: no cap',
  },
  { flag: 'checkin-ms', paths: [['round', 'checkinMs']], type: 'int', help: 'check-in window once minReports wait' },
  { flag: 'pause-ms', env: 'MURMUR_PAUSE_MS', paths: [['round', 'pauseMs']], type: 'int', help: 'pause between rounds' },
  { flag: 'training-deadline-ms', paths: [['round', 'deadlines', 'advertiseKeysMs']], type: 'int', help: 'deadline: download + train + keys' },
  {
    flag: 'phase-deadline-ms',
    paths: [
      ['round', 'deadlines', 'shareKeysMs'],
      ['round', 'deadlines', 'maskedInputMs'],
      ['round', 'deadlines', 'unmaskingMs'],
    ],
    type: 'int',
    help: 'deadline of each later secure-aggregation phase',
  },
  { flag: 'noise-multiplier', env: 'MURMUR_NOISE_MULTIPLIER', paths: [['privacy', 'noiseMultiplier']], type: 'number', help: 'σ: noise std on the sum is σ·C' },
  { flag: 'clip-norm', paths: [['privacy', 'clipNorm']], type: 'number', help: 'C: L2 clip of each update' },
  { flag: 'dp', env: 'MURMUR_DP', paths: [['privacy', 'mode']], type: 'string', help: 'off | local | distributed' },
  {
    flag: 'noise',
    env: 'MURMUR_NOISE',
    paths: [['privacy', 'noise']],
    type: 'string',
    help: "continuous | discrete: 'discrete' adds distributed discrete Gaussian noise to the encoded integers (mode distributed, fixed C)",
  },
  {
    flag: 'colluders',
    env: 'MURMUR_COLLUDERS',
    paths: [['privacy', 'colluders']],
    type: 'int',
    help: 'c: fake or colluding clients per cohort the noise tolerates (< min-reports); honest shares carry σ alone',
  },
  {
    flag: 'population',
    env: 'MURMUR_POPULATION',
    paths: [['privacy', 'population']],
    type: 'int',
    help: 'N: eligible population the sampling rate q = expected cohort / N is drawn over (unset: the clients checked in at selection)',
  },
  {
    flag: 'release-max-update-norm',
    env: 'MURMUR_RELEASE_MAX_UPDATE_NORM',
    paths: [['release', 'maxUpdateNorm']],
    type: 'number',
    help: 'release gate: largest ‖candidate − released‖₂',
  },
  {
    flag: 'release-loss-tolerance',
    env: 'MURMUR_RELEASE_LOSS_TOLERANCE',
    paths: [['release', 'lossTolerance']],
    type: 'number',
    help: "release gate: nats the candidate's federated eval loss may exceed the released model's",
  },
  {
    flag: 'release-top1-tolerance',
    env: 'MURMUR_RELEASE_TOP1_TOLERANCE',
    paths: [['release', 'top1Tolerance']],
    type: 'number',
    help: "release gate: how far the candidate's top-1 may fall below the released model's (0.01 = 1 point)",
  },
  {
    flag: 'release-train-from',
    env: 'MURMUR_RELEASE_TRAIN_FROM',
    paths: [['release', 'trainFrom']],
    type: 'string',
    help: 'where training continues after the gate refuses a candidate: candidate | released',
  },
  {
    flag: 'epsilon-budget',
    env: 'MURMUR_EPSILON_BUDGET',
    paths: [['privacy', 'epsilonBudget']],
    type: 'number',
    help: 'ε budget at the ledger δ: a round that could pass it does not open; training pauses until it is raised (POST /api/admin/budget) (none when unset)',
  },
  {
    flag: 'alert-loss-increase',
    env: 'MURMUR_ALERT_LOSS_INCREASE',
    paths: [['alerts', 'lossIncrease']],
    type: 'number',
    help: "alert: nats the newest federated eval loss may exceed the released model's",
  },
  {
    flag: 'alert-top1-drop',
    env: 'MURMUR_ALERT_TOP1_DROP',
    paths: [['alerts', 'top1Drop']],
    type: 'number',
    help: "alert: how far the newest top-1 may fall below the released model's (0.02 = 2 points)",
  },
  {
    flag: 'alert-dropout-share',
    env: 'MURMUR_ALERT_DROPOUT_SHARE',
    paths: [['alerts', 'dropoutShare']],
    type: 'number',
    help: "alert: share of a round's selected clients whose masked input never arrived",
  },
  {
    flag: 'alert-epsilon-budget-share',
    env: 'MURMUR_ALERT_EPSILON_BUDGET_SHARE',
    paths: [['alerts', 'epsilonBudgetShare']],
    type: 'number',
    help: 'alert: share of --epsilon-budget spent',
  },
  {
    flag: 'alert-no-commit-minutes',
    env: 'MURMUR_ALERT_NO_COMMIT_MINUTES',
    paths: [['alerts', 'noCommitMinutes']],
    type: 'number',
    help: 'alert: minutes without a committed round (not while paused)',
  },
  {
    flag: 'distributed',
    env: 'MURMUR_DISTRIBUTED',
    paths: [['distributed', 'enabled']],
    type: 'boolean',
    help: 'one of several processes over PostgreSQL + Redis (MURMUR_PG_URL, MURMUR_REDIS_URL; docs/scale-out.md)',
  },
  { flag: 'task', env: 'MURMUR_TASK', paths: [['distributed', 'taskId']], type: 'string', help: 'distributed: the task the processes serve together' },
  {
    flag: 'ledger-population',
    env: 'MURMUR_LEDGER_POPULATION',
    paths: [['distributed', 'population']],
    type: 'string',
    help: 'distributed: whose ledger the task spends',
  },
  {
    flag: 'group-size',
    env: 'MURMUR_GROUP_SIZE',
    paths: [['distributed', 'groupSize']],
    type: 'number',
    help: 'distributed: most clients in one SecAgg group (a larger draw runs several groups, each ≥ minReports)',
  },
  {
    flag: 'process-id',
    env: 'MURMUR_PROCESS_ID',
    paths: [['distributed', 'processId']],
    type: 'string',
    help: 'distributed: this process (unique in the task)',
  },
];

const DEFAULTS_FOR_HELP = configSchema.parse({});

function getPath(object: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((value, key) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined), object);
}

function setPath(object: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cursor = object;
  for (const key of path.slice(0, -1)) {
    const next = cursor[key];
    if (typeof next !== 'object' || next === null) cursor[key] = {};
    cursor = cursor[key] as Record<string, unknown>;
  }
  cursor[path[path.length - 1] as string] = value;
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const existing = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof existing === 'object' && existing !== null && !Array.isArray(existing)
        ? mergeDeep(existing as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

export function helpText(): string {
  const rows = FLAGS.map((f) => {
    const left = `  --${f.flag} ${f.type === 'boolean' ? '' : f.type === 'string' ? 'S' : 'N'}`.padEnd(30);
    const def = getPath(DEFAULTS_FOR_HELP, f.paths[0] as string[]);
    const env = f.env ? ` (env ${f.env})` : '';
    return `${left}${f.help}${env}${def === undefined ? '' : ` [default ${JSON.stringify(def)}]`}`;
  });
  return [
    'Usage: npm start -- [flags]     (or: npx tsx apps/aggregator/src/main.ts [flags])',
    '',
    'Murmur aggregator: federated rounds over Socket.IO with secure aggregation and differential privacy.',
    'Layers, later wins: defaults < --config FILE (env MURMUR_CONFIG, JSON with every setting) < env < flags.',
    '',
    `${'  --config FILE'.padEnd(30)}JSON configuration file (see docs/aggregator.md)`,
    ...rows,
    `${'  -h, --help'.padEnd(30)}this text`,
    '',
  ].join('\n');
}

export type ConfigResult = { ok: true; config: AggregatorConfig; help: boolean } | { ok: false; message: string };

function convert(flag: Flag, raw: string, source: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (flag.parse) return flag.parse(raw, source);
  if (flag.type === 'string') return { ok: true, value: raw };
  if (flag.type === 'boolean') return { ok: true, value: raw === 'true' || raw === '1' };
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (flag.type === 'int' && !Number.isInteger(value))) {
    return { ok: false, message: `${source}: expected ${flag.type === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}` };
  }
  return { ok: true, value };
}

/** Builds the configuration from argv and env; errors are values with the offending source named. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult {
  let parsedArgs: ReturnType<typeof parseArgs>;
  try {
    parsedArgs = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(FLAGS.map((f) => [f.flag, { type: f.type === 'boolean' ? ('boolean' as const) : ('string' as const) }])),
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    return { ok: false, message: `${error instanceof Error ? error.message : String(error)} (see --help)` };
  }
  const values = parsedArgs.values as Record<string, string | boolean | undefined>;
  if (values.help) return { ok: true, config: DEFAULTS_FOR_HELP, help: true };
  let merged: Record<string, unknown> = {};
  const file = (values.config as string | undefined) ?? env.MURMUR_CONFIG;
  if (file) {
    try {
      const content: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof content !== 'object' || content === null || Array.isArray(content))
        return { ok: false, message: `config file ${file}: expected a JSON object` };
      merged = content as Record<string, unknown>;
    } catch (error) {
      return { ok: false, message: `config file ${file}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  const overrides: Record<string, unknown> = {};
  for (const flag of FLAGS) {
    const fromEnv = flag.env ? env[flag.env] : undefined;
    const fromArgs = values[flag.flag];
    const raw = fromArgs !== undefined ? String(fromArgs) : fromEnv;
    if (raw === undefined) continue;
    const converted = convert(flag, raw, fromArgs !== undefined ? `--${flag.flag}` : `env ${flag.env}`);
    if (!converted.ok) return converted;
    for (const path of flag.paths) setPath(overrides, path, converted.value);
  }
  merged = mergeDeep(merged, overrides);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) return { ok: false, message: `invalid configuration: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}` };
  const config = parsed.data;
  if (config.round.minReports > config.round.target) {
    return { ok: false, message: `invalid configuration: round.minReports (${config.round.minReports}) exceeds round.target (${config.round.target})` };
  }
  if (config.privacy.minNoiseMultiplier !== undefined && config.privacy.minNoiseMultiplier > config.privacy.noiseMultiplier) {
    return { ok: false, message: 'invalid configuration: privacy.minNoiseMultiplier exceeds privacy.noiseMultiplier' };
  }
  if (config.privacy.mode === 'off' && config.privacy.epsilonBudget !== undefined) {
    return { ok: false, message: "invalid configuration: privacy.epsilonBudget needs privacy noise: mode 'off' spends an unbounded ε the ledger cannot count" };
  }
  if (config.privacy.mode !== 'off' && config.privacy.noiseMultiplier === 0) {
    return { ok: false, message: `invalid configuration: privacy.mode '${config.privacy.mode}' needs noiseMultiplier > 0 (use --dp off for none)` };
  }
  const privacyRule = privacyRuleViolation(config);
  if (privacyRule) return { ok: false, message: `invalid configuration: ${privacyRule}` };
  return { ok: true, config, help: false };
}

/**
 * The colluder and discrete-noise rules, checked wherever a config is made: c < minReports (a sum
 * of minReports reports must hold an honest noise share), and discrete noise only in 'distributed'
 * mode with a fixed C (its plan calibrates integer noise to one C; adaptive clipping's indicator is
 * not offered with it).
 */
function privacyRuleViolation(config: AggregatorConfig): string | null {
  const { privacy, round } = config;
  if (privacy.colluders >= round.minReports) {
    return `privacy.colluders (${privacy.colluders}) must be below round.minReports (${round.minReports}): the fewest reports a round commits with must include an honest one`;
  }
  if (privacy.noise === 'discrete' && privacy.mode !== 'distributed') {
    return `privacy.noise 'discrete' needs privacy.mode 'distributed', got '${privacy.mode}'`;
  }
  if (privacy.noise === 'discrete' && privacy.adaptiveClipping !== undefined) {
    return "privacy.noise 'discrete' needs a fixed clip norm: adaptive clipping is not offered with discrete noise";
  }
  if (config.distributed.enabled) {
    // The record chains each version to the previous one: rounds train from the newest.
    if (config.release.trainFrom !== 'candidate') return "distributed.enabled: release.trainFrom must be 'candidate' (rounds train from the newest version)";
  }
  return null;
}

/** A validated config from a partial object (tests, benches): the same schema and rules. */
export function makeConfig(input: AggregatorConfigInput): AggregatorConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new TypeError(`invalid configuration: ${z.prettifyError(parsed.error)}`);
  const violation = privacyRuleViolation(parsed.data);
  if (violation) throw new TypeError(`invalid configuration: ${violation}`);
  return parsed.data;
}

/**
 * The configuration with its relative paths (data directory, static directory, admin tokens file)
 * made absolute against the folder `npm start` was typed in: npm's INIT_CWD, which the root
 * `start` script keeps (it runs launch.ts there; through nx, npm re-ran the app's own script in
 * apps/aggregator and `./data` became apps/aggregator/data), else the working directory.
 */
export function resolveInvocationPaths(config: AggregatorConfig, env: NodeJS.ProcessEnv, cwd: string): AggregatorConfig {
  const invokedFrom = env.INIT_CWD ?? cwd;
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(invokedFrom, path));
  return {
    ...config,
    dataDir: absolute(config.dataDir),
    ...(config.staticDir === undefined ? {} : { staticDir: absolute(config.staticDir) }),
    ...(config.adminTokensFile === undefined ? {} : { adminTokensFile: absolute(config.adminTokensFile) }),
    ...(config.enrollmentIssuerFile === undefined ? {} : { enrollmentIssuerFile: absolute(config.enrollmentIssuerFile) }),
  };
}
