import { decodeModelPayload, parameterCount, type ModelSpec } from '@murmur/fl-core';

export interface GlobalModelInfo {
  version: number;
  spec: ModelSpec;
  hash: string;
  parameters: number;
  weights: Float32Array;
}

export class ModelFetchError extends Error {
  constructor(
    readonly code: 'HTTP_ERROR' | 'BAD_MODEL_PAYLOAD',
    message: string,
  ) {
    super(message);
  }
}

/** Downloads the latest global model and verifies it (magic, spec, size, hash) before use. */
export async function fetchGlobalModel(baseUrl: string, fetchImpl: typeof fetch = fetch): Promise<GlobalModelInfo> {
  const response = await fetchImpl(`${baseUrl}/api/model/latest`);
  if (!response.ok) {
    throw new ModelFetchError('HTTP_ERROR', `GET /api/model/latest answered ${response.status} ${response.statusText}`);
  }
  let decoded;
  try {
    decoded = decodeModelPayload(new Uint8Array(await response.arrayBuffer()));
  } catch (error) {
    throw new ModelFetchError('BAD_MODEL_PAYLOAD', (error as Error).message);
  }
  return { ...decoded, parameters: parameterCount(decoded.spec) };
}
