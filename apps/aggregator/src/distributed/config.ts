import { z } from 'zod';

/**
 * Settings of the distributed mode (docs/scale-out.md, "Configuration"), validated once. Each
 * field documents its default; `distributedConfigFromEnv` reads the MURMUR_* variables that
 * apps/aggregator/scripts/stores.sh prints.
 */
export const distributedConfigSchema = z
  .object({
    /** PostgreSQL connection string (the record). @default 'postgres://postgres@127.0.0.1:55432/murmur' */
    pgUrl: z.string().min(1).default('postgres://postgres@127.0.0.1:55432/murmur'),
    /** Redis connection string (ephemeral coordination). @default 'redis://127.0.0.1:56379' */
    redisUrl: z.string().min(1).default('redis://127.0.0.1:56379'),
    /** PostgreSQL schema that holds the tables. @default 'murmur' */
    pgSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,40}$/)
      .default('murmur'),
    /** Connections per process in the PostgreSQL pool. @default 4 */
    pgPoolSize: z.number().int().min(1).max(100).default(4),
    /** How long a lease lasts without renewal; a dead coordinator is replaced after at most this. @default 10000 */
    leaseTtlMs: z.number().int().min(200).max(600_000).default(10_000),
    /** How often the holder renews; well under the TTL so one slow renewal does not lose the lease. @default leaseTtlMs / 3 */
    leaseRenewMs: z.number().int().min(50).optional(),
    /** Lifetime of a process's pool count in Redis; a process that stops reporting drops out after this. @default 15000 */
    poolCountTtlMs: z.number().int().min(100).default(15_000),
    /** Approximate cap on entries kept in a task's control stream (XADD MAXLEN ~). @default 1000 */
    controlStreamMaxLen: z.number().int().min(10).default(1000),
    /** Lifetime of a round's group sums in Redis (the round's deadline bounds it well below). @default 600000 */
    groupSumTtlMs: z.number().int().min(1000).default(600_000),
    /** A Redis command that takes longer fails with COORDINATION_UNAVAILABLE. @default 2000 */
    redisCommandTimeoutMs: z.number().int().min(50).default(2000),
  })
  .strict();
export type DistributedConfig = z.output<typeof distributedConfigSchema>;
export type DistributedConfigInput = z.input<typeof distributedConfigSchema>;

/** The renewal period: configured, or a third of the TTL. */
export function leaseRenewMs(config: Pick<DistributedConfig, 'leaseTtlMs' | 'leaseRenewMs'>): number {
  return config.leaseRenewMs ?? Math.max(50, Math.floor(config.leaseTtlMs / 3));
}

const ENV: Record<string, keyof DistributedConfig> = {
  MURMUR_PG_URL: 'pgUrl',
  MURMUR_REDIS_URL: 'redisUrl',
  MURMUR_PG_SCHEMA: 'pgSchema',
  MURMUR_PG_POOL_SIZE: 'pgPoolSize',
  MURMUR_LEASE_TTL_MS: 'leaseTtlMs',
  MURMUR_LEASE_RENEW_MS: 'leaseRenewMs',
  MURMUR_POOL_COUNT_TTL_MS: 'poolCountTtlMs',
  MURMUR_CONTROL_STREAM_MAXLEN: 'controlStreamMaxLen',
  MURMUR_GROUP_SUM_TTL_MS: 'groupSumTtlMs',
  MURMUR_REDIS_COMMAND_TIMEOUT_MS: 'redisCommandTimeoutMs',
};

/** Reads the MURMUR_* variables (numbers where the field is a number); throws naming the variable on a bad value. */
export function distributedConfigFromEnv(env: Record<string, string | undefined>, overrides: DistributedConfigInput = {}): DistributedConfig {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    raw[key] = key.endsWith('Url') || key === 'pgSchema' ? value : Number(value);
  }
  const parsed = distributedConfigSchema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) {
    const names = Object.fromEntries(Object.entries(ENV).map(([name, key]) => [key, name]));
    const issues = parsed.error.issues.map((issue) => `${names[String(issue.path[0])] ?? String(issue.path[0])}: ${issue.message}`);
    throw new RangeError(`distributed config: ${issues.join('; ')}`);
  }
  return parsed.data;
}
