import { MAX_MODEL_BYTES } from './storage/schema';

/**
 * Downloads global model payloads (MRM1 bytes). Verification (magic, spec, size, hash) happens in
 * the training worker, which decodes them anyway, so the UI thread never hashes megabytes.
 */
export class ModelFetchError extends Error {
  constructor(
    readonly code: 'HTTP_ERROR' | 'NETWORK_ERROR' | 'TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}

export type ModelFetchResult = { status: 'not-modified' } | { status: 'ok'; bytes: Uint8Array; etag: string | null };

/**
 * The model the suggestion strip uses: the aggregator's *released* version. Rounds train newer
 * candidates, which reach the strip only once the release gate (or an operator) releases them;
 * training downloads its model from the round plan's own URL, never from here.
 */
export const SUGGESTION_MODEL_PATH = '/api/model/released';

/**
 * GET `${baseUrl}${path}` (the released model by default); with `etag` (the hash of the model we
 * hold, as the aggregator's ETag), an unchanged model costs one 304.
 */
export async function fetchModelPayload(
  baseUrl: string,
  options: { path?: string; etag?: string | null; fetchImpl?: typeof fetch } = {},
): Promise<ModelFetchResult> {
  const path = options.path ?? SUGGESTION_MODEL_PATH;
  const headers: Record<string, string> = options.etag ? { 'if-none-match': `"${options.etag}"` } : {};
  let response: Response;
  try {
    response = await (options.fetchImpl ?? fetch)(`${baseUrl}${path}`, { headers, cache: 'no-cache' });
  } catch (error) {
    throw new ModelFetchError('NETWORK_ERROR', `GET ${path} failed: ${(error as Error).message}`);
  }
  if (response.status === 304) return { status: 'not-modified' };
  if (!response.ok) throw new ModelFetchError('HTTP_ERROR', `GET ${path} answered ${response.status} ${response.statusText}`);
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_MODEL_BYTES) throw new ModelFetchError('TOO_LARGE', `GET ${path}: ${declared} bytes is above the ${MAX_MODEL_BYTES}-byte limit`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.byteLength > MAX_MODEL_BYTES)
    throw new ModelFetchError('TOO_LARGE', `GET ${path}: ${bytes.byteLength} bytes is above the ${MAX_MODEL_BYTES}-byte limit`);
  return { status: 'ok', bytes, etag: response.headers.get('etag')?.replace(/^(W\/)?"|"$/g, '') ?? null };
}
