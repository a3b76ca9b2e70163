import { existsSync, readFileSync, truncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Logger } from 'pino';
import { auditEntrySchema, type AuditEntry } from '@murmur/fl-core/protocol';
import { fsyncDirectory, writeDurably } from './fs-atomic';

/** An entry before the log numbers and dates it (Omit over each action's shape, not their union). */
type WithoutStamp<T> = T extends unknown ? Omit<T, 'seq' | 'at'> : never;
export type AuditInput = WithoutStamp<AuditEntry>;

/**
 * The append-only audit log, `<dataDir>/audit.jsonl`: one JSON line per operator action (plan
 * change, release, rollback) and per release the gate decided, each saying who, when, what, and
 * the state before and after. Lines are only ever appended, each fsynced before the action it
 * records takes effect (an operator action is logged first, then applied: a crash in between
 * leaves an entry whose `after` never happened, never a change without an entry).
 *
 * On open, a torn last line (a crash mid-append) is cut off so the next append starts on a line of
 * its own; a complete line that fails the schema is kept in the file, skipped and logged.
 */
export class AuditLog {
  readonly #path: string;
  readonly #entries: AuditEntry[];
  readonly #logger: Logger;

  private constructor(path: string, entries: AuditEntry[], logger: Logger) {
    this.#path = path;
    this.#entries = entries;
    this.#logger = logger;
  }

  static open(dir: string, logger: Logger): AuditLog {
    const path = join(dir, 'audit.jsonl');
    const entries: AuditEntry[] = [];
    if (!existsSync(path)) return new AuditLog(path, entries, logger);
    const text = readFileSync(path, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      logger.warn({ file: 'audit.jsonl', bytes: text.length - end }, 'audit log ends in a torn line (a crash mid-append): cut off');
      truncateSync(path, Buffer.byteLength(text.slice(0, end), 'utf8'));
    }
    text
      .slice(0, end)
      .split('\n')
      .forEach((line, index) => {
        if (line === '') return;
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch {
          raw = undefined;
        }
        const parsed = auditEntrySchema.safeParse(raw);
        if (parsed.success) entries.push(parsed.data);
        else logger.warn({ file: 'audit.jsonl', line: index + 1 }, 'audit log line failed validation: skipped (left in the file)');
      });
    return new AuditLog(path, entries, logger);
  }

  get total(): number {
    return this.#entries.length;
  }

  /** The newest `limit` entries, newest first. */
  recent(limit: number): AuditEntry[] {
    return this.#entries.slice(Math.max(0, this.#entries.length - limit)).reverse();
  }

  /** Numbers, dates, validates and durably appends one entry; throws (writing nothing) if it is invalid. */
  append(input: AuditInput, at = new Date()): AuditEntry {
    const seq = (this.#entries.at(-1)?.seq ?? 0) + 1;
    const parsed = auditEntrySchema.safeParse({ ...input, seq, at: at.toISOString() });
    if (!parsed.success) throw new RangeError(`audit entry is invalid and was not written: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
    const created = !existsSync(this.#path);
    const bytes = Buffer.from(`${JSON.stringify(parsed.data)}\n`, 'utf8');
    writeDurably(this.#path, bytes, 'a');
    // A new file's directory entry must be durable too.
    if (created) fsyncDirectory(dirname(this.#path));
    this.#entries.push(parsed.data);
    this.#logger.info({ audit: { seq, action: parsed.data.action, actor: parsed.data.actor } }, 'audit log entry appended');
    return parsed.data;
  }
}
