import { z } from 'zod';

/**
 * What a model is, as plain data: it travels with every model version, so both ends can build the
 * identical architecture and check that weights fit it before loading them.
 */
export const modelSpecSchema = z
  .object({
    /** Recurrent cell between the embedding and the softmax layer; cifg: LSTM with f = 1 − i (layers.ts). */
    architecture: z.enum(['lstm', 'gru', 'cifg']),
    /** Tokens in the output softmax, specials included; the first N of the shipped vocabulary. */
    vocabularySize: z.number().int().min(8).max(100_000),
    /** Tokens of context the model sees before predicting the next one. */
    contextLength: z.number().int().min(1).max(64),
    embeddingDim: z.number().int().min(1).max(1024),
    hiddenUnits: z.number().int().min(1).max(2048),
    /** Output weights are the input embeddings, through a hidden × embedding projection. @default false */
    tiedEmbeddings: z.boolean().optional(),
    /** Dropout after the embedding and after the recurrent layer, in training only. @default 0 */
    dropout: z.number().min(0).max(0.5).optional(),
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

/**
 * Gboard's on-device shape (Hard et al. 2018: CIFG, tied embeddings through a projection) at this
 * project's scale: the full 10,004-word public vocabulary, about 1.27M parameters.
 */
export const CIFG_SPEC: ModelSpec = Object.freeze({
  architecture: 'cifg',
  vocabularySize: 10_004,
  contextLength: 10,
  embeddingDim: 96,
  hiddenUnits: 256,
  tiedEmbeddings: true,
  dropout: 0.1,
});

export const MODEL_PRESETS = Object.freeze({ tiny: TINY_SPEC, reference: REFERENCE_SPEC, cifg: CIFG_SPEC });
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
 * 4 gates, GRU and CIFG 3, each with one bias vector — tfjs's GRU has no reset-after variant). A
 * tied softmax owns only its projection and bias.
 */
export function parameterCount(spec: ModelSpec): number {
  const { vocabularySize: v, embeddingDim: e, hiddenUnits: h } = spec;
  const embedding = v * e;
  const recurrent = (spec.architecture === 'lstm' ? 4 : 3) * (e * h + h * h + h);
  const softmax = spec.tiedEmbeddings ? h * e + v : h * v + v;
  return embedding + recurrent + softmax;
}
