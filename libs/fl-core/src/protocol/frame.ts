import { protocolFailure, type ProtocolResult } from './errors';

/**
 * Secure-aggregation messages carry up to two binary fields (per-peer records are packed into one
 * field each, see secagg/messages.ts). Socket.IO sends each binary field as its own attachment, and
 * its parser refuses packets with more than 10 attachments (a denial-of-service bound that we
 * keep). So a message crosses the wire as one JSON shape plus one binary frame: each Uint8Array in
 * the shape is replaced by `{ "$bin": i }` and the frame holds
 *
 *   u32 LE part count | u32 LE length of each part | the parts' bytes, in order
 *
 * Binary stays binary (no base64, no number arrays) and every message costs one attachment.
 */
/**
 * The most Socket.IO binary attachments one event of this protocol carries, in either direction:
 * a packed message's one frame (checkIn and the other control events carry none). The aggregator
 * configures its parser with it, so a connection cannot announce ten attachments and have the
 * server buffer ten frames before any handler sees the event.
 */
export const SOCKET_ATTACHMENTS_PER_EVENT = 1;

export interface PackedMessage {
  shape: unknown;
  frame: Uint8Array;
}

const PLACEHOLDER = '$bin';
const MAX_DEPTH = 8;

export function packBinary(value: unknown): PackedMessage {
  const parts: Uint8Array[] = [];
  const walk = (item: unknown, depth: number): unknown => {
    if (item instanceof Uint8Array) {
      parts.push(item);
      return { [PLACEHOLDER]: parts.length - 1 };
    }
    if (depth >= MAX_DEPTH || typeof item !== 'object' || item === null) return item;
    if (Array.isArray(item)) return item.map((child) => walk(child, depth + 1));
    return Object.fromEntries(Object.entries(item).map(([key, child]) => [key, walk(child, depth + 1)]));
  };
  const shape = walk(value, 0);
  const header = 4 * (1 + parts.length);
  const frame = new Uint8Array(header + parts.reduce((sum, p) => sum + p.byteLength, 0));
  const view = new DataView(frame.buffer);
  view.setUint32(0, parts.length, true);
  let offset = header;
  parts.forEach((part, index) => {
    view.setUint32(4 * (1 + index), part.byteLength, true);
    frame.set(part, offset);
    offset += part.byteLength;
  });
  return { shape, frame };
}

/**
 * The inverse, for untrusted input: the frame must be well formed, hold at most `maxParts` parts,
 * and every part must be referenced exactly once (so a small frame cannot be fanned out into a
 * large message). Parts are views into the frame, not copies.
 */
export function unpackBinary(wire: unknown, maxParts: number, label: string): ProtocolResult<unknown> {
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) return protocolFailure('MALFORMED', `${label}: expected { shape, frame }`);
  const { shape, frame: rawFrame } = wire as { shape?: unknown; frame?: unknown };
  const keys = Object.keys(wire);
  if (keys.length !== 2 || !('shape' in wire) || !('frame' in wire)) return protocolFailure('MALFORMED', `${label}: expected exactly { shape, frame }`);
  const frame = rawFrame instanceof ArrayBuffer ? new Uint8Array(rawFrame) : rawFrame;
  if (!(frame instanceof Uint8Array) || frame.byteLength < 4)
    return protocolFailure('MALFORMED', `${label}: frame must be binary (Uint8Array/ArrayBuffer) of at least 4 bytes`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const count = view.getUint32(0, true);
  if (count > maxParts) return protocolFailure('TOO_LARGE', `${label}: frame has ${count} binary parts, expected at most ${maxParts}`);
  const header = 4 * (1 + count);
  if (header > frame.byteLength) return protocolFailure('MALFORMED', `${label}: frame header of ${count} parts does not fit ${frame.byteLength} bytes`);
  const parts: Uint8Array[] = [];
  let offset = header;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(4 * (1 + i), true);
    if (offset + length > frame.byteLength) return protocolFailure('MALFORMED', `${label}: frame part ${i} (${length} bytes) runs past the end`);
    parts.push(frame.subarray(offset, offset + length));
    offset += length;
  }
  if (offset !== frame.byteLength) return protocolFailure('MALFORMED', `${label}: frame has ${frame.byteLength - offset} trailing bytes`);
  const used = new Uint8Array(count);
  let problem: string | null = null;
  const walk = (item: unknown, depth: number): unknown => {
    if (problem !== null || typeof item !== 'object' || item === null) return item;
    if (depth >= MAX_DEPTH) {
      problem = `nested deeper than ${MAX_DEPTH}`;
      return item;
    }
    if (Array.isArray(item)) return item.map((child) => walk(child, depth + 1));
    const entries = Object.entries(item);
    if (entries.length === 1 && entries[0]?.[0] === PLACEHOLDER) {
      const index = entries[0][1];
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
        problem = `binary reference ${JSON.stringify(index)} is not a part index below ${count}`;
        return item;
      }
      if (used[index]) {
        problem = `binary part ${index} is referenced twice`;
        return item;
      }
      used[index] = 1;
      return parts[index];
    }
    return Object.fromEntries(entries.map(([key, child]) => [key, walk(child, depth + 1)]));
  };
  const value = walk(shape, 0);
  if (problem !== null) return protocolFailure('MALFORMED', `${label}: ${problem}`);
  if (used.some((u) => u === 0)) return protocolFailure('MALFORMED', `${label}: frame has binary parts no field refers to`);
  return { ok: true, value };
}
