import { z } from 'zod';

/**
 * Demo / QA seeding: `?seed=<partition>` loads one client partition of the public State of the
 * Union corpus (built into /seed/ at build time, never precached) as this browser's local text,
 * marked as demo data. A partition is named by its id ("1790-george-washington") or its index in
 * /seed/index.json.
 */
const PARTITION_ID = /^[a-z0-9-]{1,100}$/;

export const seedIndexSchema = z
  .object({
    corpus: z.string().max(200),
    partitions: z.array(z.object({ id: z.string().regex(PARTITION_ID), sentences: z.number().int().nonnegative() }).strict()).max(10_000),
  })
  .strict();

export const seedPartitionSchema = z
  .object({
    id: z.string().regex(PARTITION_ID),
    corpus: z.string().max(200),
    texts: z.array(z.string().max(100_000)).max(100_000),
  })
  .strict();
export type SeedPartition = z.infer<typeof seedPartitionSchema>;

export class SeedError extends Error {
  readonly code = 'BAD_SEED';
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new SeedError(`GET ${url} answered ${response.status}`);
  return response.json();
}

export async function loadSeedPartition(origin: string, partition: string): Promise<SeedPartition> {
  let id = partition;
  if (/^\d+$/.test(partition)) {
    const index = seedIndexSchema.parse(await getJson(`${origin}/seed/index.json`));
    const entry = index.partitions[Number(partition)];
    if (!entry) throw new SeedError(`?seed=${partition}: there are ${index.partitions.length} partitions (0–${index.partitions.length - 1})`);
    id = entry.id;
  }
  if (!PARTITION_ID.test(id)) throw new SeedError(`?seed=${partition}: expected a partition id like 1790-george-washington or an index`);
  const parsed = seedPartitionSchema.safeParse(await getJson(`${origin}/seed/${id}.json`));
  if (!parsed.success) throw new SeedError(`seed partition ${id}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** The text record id of a seeded partition, so seeding twice does not duplicate it. */
export const seedTextId = (partitionId: string) => `demo:${partitionId}`;
