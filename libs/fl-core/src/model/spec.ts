import { z } from 'zod';

/**
 * What a model is, as plain data: it travels with every model version, so both ends can build the
 * identical architecture and check that weights fit it before loading them.
 */
export const modelSpecSchema = z
  .object({
    /** Recurrent cell between the embedding and the softmax layer. */
    architecture: z.enum(['lstm', 'gru']),
    /** Tokens in the output softmax, specials included; the first N of the shipped vocabulary. */
    vocabularySize: z.number().int().min(8).max(100_000),
    /** Tokens of context the model sees before predicting the next one. */
    contextLength: z.number().int().min(1).max(64),
    embeddingDim: z.number().int().min(1).max(1024),
    hiddenUnits: z.number().int().min(1).max(2048),
  })
  .strict();

export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** For tests, the demo and browser QA runs: trains at thousands of examples/s on one CPU core. */
export const TINY_SPEC: ModelSpec = Object.freeze({
  architecture: 'gru',
  vocabularySize: 2000,
  contextLength: 8,
  embeddingDim: 24,
  hiddenUnits: 48,
});

/** The benchmark model: Embedding(5000→64) → LSTM(128) → Dense(5000), about 1.06M parameters. */
export const REFERENCE_SPEC: ModelSpec = Object.freeze({
  architecture: 'lstm',
  vocabularySize: 5000,
  contextLength: 10,
  embeddingDim: 64,
  hiddenUnits: 128,
});

export const MODEL_PRESETS = Object.freeze({ tiny: TINY_SPEC, reference: REFERENCE_SPEC });
export type ModelPresetName = keyof typeof MODEL_PRESETS;

export function parseModelSpec(input: unknown): ModelSpec {
  const result = modelSpecSchema.safeParse(input);
  if (!result.success) {
    throw new TypeError(`invalid model spec: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/**
 * Parameter count implied by the spec, without building anything (tfjs layer conventions: LSTM has
 * 4 gates, GRU 3, each with one bias vector — tfjs's GRU has no reset-after variant).
 */
export function parameterCount(spec: ModelSpec): number {
  const { vocabularySize: v, embeddingDim: e, hiddenUnits: h } = spec;
  const embedding = v * e;
  const recurrent = spec.architecture === 'lstm' ? 4 * (e * h + h * h + h) : 3 * (e * h + h * h + h);
  const softmax = h * v + v;
  return embedding + recurrent + softmax;
}
