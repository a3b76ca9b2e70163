import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Writes a file so that after a crash (SIGKILL, power loss) it holds either the old or the new
 * content, never a mix: write a temporary file in the same directory, fsync it, rename it over
 * the target (atomic on POSIX), then fsync the directory so the rename itself is durable.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const suffix = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString('hex');
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${suffix}.tmp`);
  writeDurably(temp, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, 'w', mode);
  renameSync(temp, path);
  fsyncDirectory(dirname(path));
}

/** Writes (flag 'w') or appends ('a') every byte and fsyncs the file before returning. */
export function writeDurably(path: string, bytes: Uint8Array, flag: 'w' | 'a', mode = 0o644): void {
  const fd = openSync(path, flag, mode);
  try {
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fsyncDirectory(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
