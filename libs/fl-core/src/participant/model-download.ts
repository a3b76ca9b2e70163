import { MAX_MODEL_BYTES, verifyModelPayload } from '../model/payload';
import type { RoundPlan } from '../protocol/schemas';

export interface PlanModelDownloadOptions {
  fetchImpl?: typeof fetch;
  /** @default MAX_MODEL_BYTES */
  maxBytes?: number;
}

/**
 * Downloads the model a round plan names (`plan.model`), relative to the aggregator's origin, and verifies it
 * (verifyModelPayload) — the same way in the browser worker and in Node virtual clients. A declared
 * Content-Length above the bound is refused before the body is read.
 */
export async function downloadPlanModel(
  model: RoundPlan['model'],
  baseUrl: string,
  options: PlanModelDownloadOptions = {},
): Promise<{ weights: Float32Array; bytes: number }> {
  const maxBytes = options.maxBytes ?? MAX_MODEL_BYTES;
  const response = await (options.fetchImpl ?? fetch)(new URL(model.url, baseUrl));
  if (!response.ok) throw new Error(`GET ${model.url}: HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`GET ${model.url}: ${declared} bytes is above the ${maxBytes}-byte limit`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const payload = verifyModelPayload(bytes, model, maxBytes);
  return { weights: payload.weights, bytes: bytes.byteLength };
}
