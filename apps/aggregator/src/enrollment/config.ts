import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/**
 * The enrollment service's settings: defaults < environment < flags. As in the aggregator's
 * config.ts, one flag table drives the parser, `--help` and the table in docs/aggregator.md.
 */
const DAY_MS = 86_400_000;

export const enrollmentConfigSchema = z
  .object({
    port: z.number().int().min(0).max(65_535).default(8090),
    host: z.string().min(1).default('127.0.0.1'),
    /** Issuer key (0600), its public half, the revocation list. */
    dataDir: z.string().min(1).default('./data/enrollment'),
    /** Names the issuer key in every certificate; fixed when the key is created. */
    issuerName: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/)
      .default('murmur-enrollment'),
    /** How long a certificate is valid; a device enrolls again after it. */
    certificateValidityDays: z.number().positive().max(3650).default(90),
    /** How long a challenge may be answered. */
    challengeTtlMs: z.number().int().min(1_000).max(600_000).default(60_000),
    /** Challenges outstanding at once, at most. */
    maxPendingChallenges: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Enrollments (and challenges, counted apart) per IP address per minute. */
    // The bench's idle-connection run hosts the service and enrolls 10^4 devices from one address.
    enrollPerMinute: z.number().int().positive().max(1_000_000_000).default(10),
    /** … per network (an IPv4 /24, an IPv6 /56; network.ts): many addresses of one provider block count once. */
    enrollPerMinutePerNetwork: z.number().int().positive().max(1_000_000_000).default(30),
    /** … from all addresses together: what the service certifies per minute, whoever asks. */
    enrollPerMinuteGlobal: z.number().int().positive().max(1_000_000_000).default(600),
    /**
     * Proof of work asked of each enrollment, in leading zero bits of SHA-256 (fl-core
     * identity/pow.ts): 18 is about 262,000 hashes, 0.3–1 s on a desktop browser, a few seconds on a
     * phone, microseconds for native or GPU hashing. 0: none.
     */
    proofOfWorkBits: z.number().int().min(0).max(32).default(18),
    /** What one network is: the IPv4 prefix length… */
    ipv4PrefixBits: z.number().int().min(8).max(32).default(24),
    /** … and the IPv6 one (56: a household's delegation, RIPE-690; 48 counts a whole site once). */
    ipv6PrefixBits: z.number().int().min(16).max(128).default(56),
    /** Bearer token for POST /api/enrollment/revoke (≥ 16 chars); generated into <dataDir>/admin-token when unset. */
    adminToken: z.string().min(16).max(256).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export type EnrollmentConfig = z.output<typeof enrollmentConfigSchema>;
export type EnrollmentConfigInput = z.input<typeof enrollmentConfigSchema>;

export const certificateValidityMs = (config: EnrollmentConfig) => Math.round(config.certificateValidityDays * DAY_MS);

interface Flag {
  flag: string;
  env: string;
  key: keyof EnrollmentConfig;
  type: 'string' | 'int' | 'number';
  help: string;
}

export const ENROLLMENT_FLAGS: readonly Flag[] = [
  { flag: 'port', env: 'MURMUR_ENROLLMENT_PORT', key: 'port', type: 'int', help: 'HTTP port (0: any free port)' },
  { flag: 'host', env: 'MURMUR_ENROLLMENT_HOST', key: 'host', type: 'string', help: 'interface to bind' },
  { flag: 'data-dir', env: 'MURMUR_ENROLLMENT_DATA_DIR', key: 'dataDir', type: 'string', help: 'issuer key (0600), issuer.json, revocation list' },
  {
    flag: 'issuer-name',
    env: 'MURMUR_ENROLLMENT_ISSUER_NAME',
    key: 'issuerName',
    type: 'string',
    help: 'issuer name in certificates (fixed when the key is created)',
  },
  { flag: 'validity-days', env: 'MURMUR_ENROLLMENT_VALIDITY_DAYS', key: 'certificateValidityDays', type: 'number', help: 'certificate validity' },
  { flag: 'challenge-ttl-ms', env: 'MURMUR_ENROLLMENT_CHALLENGE_TTL_MS', key: 'challengeTtlMs', type: 'int', help: 'how long a challenge may be answered' },
  { flag: 'max-pending-challenges', env: 'MURMUR_ENROLLMENT_MAX_PENDING', key: 'maxPendingChallenges', type: 'int', help: 'challenges outstanding at once' },
  { flag: 'enroll-per-minute', env: 'MURMUR_ENROLLMENT_PER_MINUTE', key: 'enrollPerMinute', type: 'int', help: 'enrollments per IP address per minute' },
  {
    flag: 'enroll-per-minute-per-network',
    env: 'MURMUR_ENROLLMENT_PER_MINUTE_PER_NETWORK',
    key: 'enrollPerMinutePerNetwork',
    type: 'int',
    help: 'enrollments per network (IPv4 /24, IPv6 /56) per minute',
  },
  {
    flag: 'enroll-per-minute-global',
    env: 'MURMUR_ENROLLMENT_PER_MINUTE_GLOBAL',
    key: 'enrollPerMinuteGlobal',
    type: 'int',
    help: 'enrollments per minute, all addresses',
  },
  {
    flag: 'pow-bits',
    env: 'MURMUR_ENROLLMENT_POW_BITS',
    key: 'proofOfWorkBits',
    type: 'int',
    help: 'proof of work per enrollment (SHA-256 leading zero bits); 0: none',
  },
  { flag: 'ipv4-prefix', env: 'MURMUR_ENROLLMENT_IPV4_PREFIX', key: 'ipv4PrefixBits', type: 'int', help: 'IPv4 prefix length of one network' },
  { flag: 'ipv6-prefix', env: 'MURMUR_ENROLLMENT_IPV6_PREFIX', key: 'ipv6PrefixBits', type: 'int', help: 'IPv6 prefix length of one network' },
  {
    flag: 'admin-token',
    env: 'MURMUR_ENROLLMENT_ADMIN_TOKEN',
    key: 'adminToken',
    type: 'string',
    help: 'bearer token for POST /api/enrollment/revoke (≥ 16 chars); generated into <data-dir>/admin-token when unset',
  },
  { flag: 'log-level', env: 'MURMUR_ENROLLMENT_LOG_LEVEL', key: 'logLevel', type: 'string', help: 'pino level' },
];

const DEFAULTS = enrollmentConfigSchema.parse({});

export function enrollmentHelpText(): string {
  return [
    'Usage: npm run enrollment -- [flags]     (or: npx tsx apps/aggregator/src/enrollment/main.ts [flags])',
    '',
    'Murmur enrollment service: certifies device signing keys (ECDSA P-256) with its own issuer key.',
    'Aggregators are configured with its public key (<data-dir>/issuer.json) and never hold the private one.',
    'Layers, later wins: defaults < env < flags.',
    '',
    ...ENROLLMENT_FLAGS.map((f) => {
      const left = `  --${f.flag} ${f.type === 'string' ? 'S' : 'N'}`.padEnd(30);
      const def = DEFAULTS[f.key];
      return `${left}${f.help} (env ${f.env})${def === undefined ? '' : ` [default ${JSON.stringify(def)}]`}`;
    }),
    `${'  -h, --help'.padEnd(30)}this text`,
    '',
  ].join('\n');
}

export type EnrollmentConfigResult = { ok: true; config: EnrollmentConfig; help: boolean } | { ok: false; message: string };

export function loadEnrollmentConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): EnrollmentConfigResult {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h' }, ...Object.fromEntries(ENROLLMENT_FLAGS.map((f) => [f.flag, { type: 'string' as const }])) },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    return { ok: false, message: `${error instanceof Error ? error.message : String(error)} (see --help)` };
  }
  if (values.help) return { ok: true, config: DEFAULTS, help: true };
  const input: Record<string, unknown> = {};
  for (const flag of ENROLLMENT_FLAGS) {
    const fromArgs = values[flag.flag];
    const raw = fromArgs !== undefined ? String(fromArgs) : env[flag.env];
    if (raw === undefined) continue;
    const source = fromArgs !== undefined ? `--${flag.flag}` : `env ${flag.env}`;
    if (flag.type === 'string') input[flag.key] = raw;
    else {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value) || (flag.type === 'int' && !Number.isInteger(value)))
        return { ok: false, message: `${source}: expected ${flag.type === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}` };
      input[flag.key] = value;
    }
  }
  const parsed = enrollmentConfigSchema.safeParse(input);
  if (!parsed.success) return { ok: false, message: `invalid enrollment configuration: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}` };
  // Relative to where the command was typed (npm sets INIT_CWD), as the aggregator's paths are.
  const from = env.INIT_CWD ?? cwd;
  const dataDir = isAbsolute(parsed.data.dataDir) ? parsed.data.dataDir : resolve(from, parsed.data.dataDir);
  return { ok: true, config: { ...parsed.data, dataDir }, help: false };
}
