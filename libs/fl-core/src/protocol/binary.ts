/**
 * Binary stays binary: Socket.IO carries Uint8Array/Buffer as binary attachments, and a browser
 * receives them as ArrayBuffer while Node receives Buffer. Every inbound payload is normalized to
 * Uint8Array views before its schema runs, so one schema serves both ends.
 */
const MAX_DEPTH = 8;

export function normalizeBinary(value: unknown, depth = 0): unknown {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (depth >= MAX_DEPTH || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => normalizeBinary(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = normalizeBinary(item, depth + 1);
  return out;
}

/**
 * The size of a payload as it crosses the wire: binary at its byte length plus the JSON of the
 * rest, walked iteratively with a node budget so a hostile, deeply nested payload costs bounded work.
 * Returns Infinity when the walk exceeds `maxNodes`.
 */
export function payloadBytes(value: unknown, maxNodes = 1_000_000): number {
  let bytes = 0;
  let nodes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    if (++nodes > maxNodes) return Infinity;
    const item = stack.pop();
    if (item instanceof Uint8Array || item instanceof ArrayBuffer) bytes += item.byteLength;
    else if (ArrayBuffer.isView(item)) bytes += item.byteLength;
    else if (Array.isArray(item)) {
      bytes += 2 + item.length;
      for (const child of item) stack.push(child);
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        bytes += key.length + 4;
        stack.push(child);
      }
    } else if (typeof item === 'string') bytes += item.length + 2;
    else bytes += 8;
  }
  return bytes;
}

/**
 * Keys that JSON.parse keeps as own properties but that plain assignment treats as the object's
 * prototype (`__proto__`) or that prototype-pollution gadgets look for downstream. No message of
 * this protocol has a field by these names, so an inbound payload carrying one is refused, where
 * copying it (normalizeBinary, zod) would drop it silently or, worse, re-parent the copy.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The first forbidden key inside a payload as `{ at, key }` (`at`: the path of the object holding
 * it), or null. Walks own keys only, iteratively; binary leaves are skipped. The caller bounds the
 * payload's size first (payloadBytes), which bounds this walk too.
 */
export function findForbiddenKey(value: unknown): { at: string; key: string } | null {
  const stack: { item: unknown; path: string }[] = [{ item: value, path: '' }];
  while (stack.length > 0) {
    const { item, path } = stack.pop() as { item: unknown; path: string };
    if (typeof item !== 'object' || item === null || item instanceof Uint8Array || ArrayBuffer.isView(item) || item instanceof ArrayBuffer) continue;
    if (Array.isArray(item)) {
      item.forEach((child, index) => stack.push({ item: child, path: `${path}[${index}]` }));
      continue;
    }
    for (const key of Object.keys(item)) {
      if (FORBIDDEN_KEYS.has(key)) return { at: path || '(root)', key };
      stack.push({ item: (item as Record<string, unknown>)[key], path: path ? `${path}.${key}` : key });
    }
  }
  return null;
}

/**
 * The path of the first NaN or ±Infinity inside a payload, or null. JSON turns both into null on
 * the wire, but in-process callers (and binary decoders) can still produce them, so the edge
 * checks explicitly and answers NON_FINITE rather than a generic shape error.
 */
export function findNonFinite(value: unknown, maxNodes = 100_000): string | null {
  const stack: { item: unknown; path: string }[] = [{ item: value, path: '' }];
  let nodes = 0;
  while (stack.length > 0 && nodes++ < maxNodes) {
    const { item, path } = stack.pop() as { item: unknown; path: string };
    if (typeof item === 'number' && !Number.isFinite(item)) return path || '(root)';
    if (item instanceof Uint8Array || ArrayBuffer.isView(item) || item instanceof ArrayBuffer) continue;
    if (Array.isArray(item)) item.forEach((child, index) => stack.push({ item: child, path: `${path}[${index}]` }));
    else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) stack.push({ item: child, path: path ? `${path}.${key}` : key });
    }
  }
  return null;
}
