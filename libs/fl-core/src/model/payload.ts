import { assertWeightsFitSpec, modelHash } from './weights';
import { parseModelSpec, type ModelSpec } from './spec';

/**
 * The binary a model version travels as (HTTP download, IndexedDB cache):
 *   magic "MRM1" | u32 LE header length | UTF-8 JSON header | zero padding to 4 bytes | f32 LE weights
 * The header carries the spec, version and hash; binary stays binary, so 1M weights are 4 MB, not a
 * 20 MB JSON array.
 */
export interface ModelPayload {
  version: number;
  spec: ModelSpec;
  weights: Float32Array;
}

const MAGIC = [0x4d, 0x52, 0x4d, 0x31]; // "MRM1"
/** Far above any header we write; a bound so a corrupt length cannot make us allocate gigabytes. */
const MAX_HEADER_BYTES = 64 * 1024;

export class ModelPayloadError extends Error {
  readonly code = 'BAD_MODEL_PAYLOAD';
}

export function encodeModelPayload({ version, spec, weights }: ModelPayload): Uint8Array {
  assertWeightsFitSpec(spec, weights);
  const header = new TextEncoder().encode(JSON.stringify({ version, spec, hash: modelHash(spec, weights) }));
  const weightsOffset = Math.ceil((8 + header.length) / 4) * 4;
  const bytes = new Uint8Array(weightsOffset + weights.byteLength);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint32(4, header.length, true);
  bytes.set(header, 8);
  bytes.set(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), weightsOffset);
  return bytes;
}

/** Parses and verifies a payload: magic, header schema, weight count against the spec, and hash. */
export function decodeModelPayload(bytes: Uint8Array): ModelPayload & { hash: string } {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ModelPayloadError('model payload: missing "MRM1" magic');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw new ModelPayloadError(`model payload: header length ${headerLength} does not fit ${bytes.length} bytes`);
  }
  let header: { version?: unknown; spec?: unknown; hash?: unknown };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new ModelPayloadError('model payload: header is not JSON');
  }
  if (!Number.isInteger(header.version) || (header.version as number) < 0) {
    throw new ModelPayloadError(`model payload: version must be a non-negative integer, got ${JSON.stringify(header.version)}`);
  }
  const spec = parseModelSpec(header.spec);
  const weightsOffset = Math.ceil((8 + headerLength) / 4) * 4;
  const weightBytes = bytes.length - weightsOffset;
  if (weightBytes < 0 || weightBytes % 4 !== 0) {
    throw new ModelPayloadError(`model payload: ${weightBytes} weight bytes is not a whole number of float32s`);
  }
  // Copy: the source may be unaligned or a view into a larger buffer.
  const weights = new Float32Array(bytes.slice(weightsOffset).buffer);
  assertWeightsFitSpec(spec, weights);
  const hash = modelHash(spec, weights);
  if (hash !== header.hash) {
    throw new ModelPayloadError(`model payload: hash mismatch (header ${String(header.hash).slice(0, 12)}…, weights ${hash.slice(0, 12)}…)`);
  }
  return { version: header.version as number, spec, weights, hash };
}

/** Far above the CIFG's 5 MB payload; bounds what a misbehaving server can make a client hold. */
export const MAX_MODEL_BYTES = 64 * 2 ** 20;

/** The model a client was promised, e.g. by a round plan. */
export interface ExpectedModel {
  version: number;
  /** modelHash of spec and weights, so a matching hash also fixes the spec. */
  hash: string;
}

/**
 * The one check every client runs on a model it downloaded to train: a size bound, then the
 * payload's own consistency (decodeModelPayload), then the version and hash it was promised —
 * a server that serves another version under the plan's URL, or a stale cache, is refused.
 */
export function verifyModelPayload(bytes: Uint8Array, expected: ExpectedModel, maxBytes = MAX_MODEL_BYTES): ModelPayload & { hash: string } {
  if (bytes.byteLength > maxBytes) throw new ModelPayloadError(`model payload: ${bytes.byteLength} bytes is above the ${maxBytes}-byte limit`);
  const payload = decodeModelPayload(bytes);
  if (payload.version !== expected.version || payload.hash !== expected.hash) {
    throw new ModelPayloadError(
      `model payload: got version ${payload.version}, hash ${payload.hash.slice(0, 12)}…, expected version ${expected.version}, hash ${expected.hash.slice(0, 12)}…`,
    );
  }
  return payload;
}
