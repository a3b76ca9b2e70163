import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A run's state in one file, so a rename makes each save atomic (a crash mid-write leaves the
 * previous checkpoint): magic "MCK1" | u32 LE header length | UTF-8 JSON header | zero padding to
 * 4 bytes | the header's arrays as f32 LE, back to back. JSON for the small part (round records,
 * curves), binary for millions of weights.
 */
const MAGIC = 'MCK1';
const FILE = 'checkpoint.bin';

interface Header<M> {
  kind: string;
  /** The configuration the run was started with; resuming under another one is refused. */
  key: string;
  meta: M;
  arrays: { name: string; length: number }[];
}

export class CheckpointMismatchError extends Error {}

/**
 * A JSON key with its object's fields in sorted order, so the order flags were parsed in does not
 * matter, and without the fields a resumed run may change.
 */
function canonical(key: string, mayChange: readonly string[]): string {
  const value: unknown = JSON.parse(key);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return key;
  const fields = Object.entries(value).filter(([name]) => !mayChange.includes(name));
  return JSON.stringify(Object.fromEntries(fields.sort(([a], [b]) => a.localeCompare(b))));
}

export function saveCheckpoint<M>(dir: string, kind: string, key: string, meta: M, arrays: Record<string, Float32Array>): void {
  mkdirSync(dir, { recursive: true });
  const entries = Object.entries(arrays);
  const header: Header<M> = { kind, key, meta, arrays: entries.map(([name, values]) => ({ name, length: values.length })) };
  const json = Buffer.from(JSON.stringify(header));
  const offset = Math.ceil((8 + json.length) / 4) * 4;
  const total = entries.reduce((sum, [, values]) => sum + values.byteLength, offset);
  const bytes = Buffer.alloc(total);
  bytes.write(MAGIC, 0, 'latin1');
  bytes.writeUInt32LE(json.length, 4);
  json.copy(bytes, 8);
  let at = offset;
  for (const [, values] of entries) {
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(bytes, at);
    at += values.byteLength;
  }
  const path = join(dir, FILE);
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

/**
 * The saved state, or null when `dir` holds none; throws when it belongs to another run. Fields of
 * the key named in `mayChange` (e.g. a learning rate lowered by hand on a plateau) may differ.
 */
export function loadCheckpoint<M>(
  dir: string,
  kind: string,
  key: string,
  mayChange: readonly string[] = [],
): { meta: M; arrays: Record<string, Float32Array> } | null {
  const path = join(dir, FILE);
  if (!existsSync(path)) return null;
  const bytes = readFileSync(path);
  if (bytes.length < 8 || bytes.toString('latin1', 0, 4) !== MAGIC) throw new Error(`${path} is not a checkpoint (no "${MAGIC}" magic)`);
  const length = bytes.readUInt32LE(4);
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + length)) as Header<M>;
  if (header.kind !== kind || canonical(header.key, mayChange) !== canonical(key, mayChange)) {
    throw new CheckpointMismatchError(
      `${path} was saved by a different run (${header.kind}), configured as\n  ${header.key}\nthis run is (${kind})\n  ${key}\n` +
        'Use another --checkpoint directory, or the flags it was started with.',
    );
  }
  let at = Math.ceil((8 + length) / 4) * 4;
  const arrays: Record<string, Float32Array> = {};
  for (const { name, length: count } of header.arrays) {
    if (at + count * 4 > bytes.length) throw new Error(`${path} is truncated: array ${name} runs past the end`);
    arrays[name] = new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + count * 4));
    at += count * 4;
  }
  return { meta: header.meta, arrays };
}
