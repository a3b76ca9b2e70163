import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeModelPayload, encodeModelPayload, parameterCount, type ModelSpec } from '@murmur/fl-core/model';
import { type EvaluationMetrics } from '@murmur/fl-core/train';
import type { DataConfig } from './run';

/** FILE.json beside a saved model payload: how to rebuild the split it was measured on, and what it scored. */
export interface SavedModelMeta {
  format: 'murmur-model/1';
  /** fl-core's model hash over spec and weights, as in the payload header. */
  hash: string;
  parameters: number;
  /** SHA-256 of the vocabulary's tokens in id order; evaluation refuses a different vocabulary. */
  vocabularyFingerprint: string;
  /** The data flags the run used: `npm run evaluate` rebuilds the same training and held-out clients from them. */
  data: DataConfig;
  /** The run that produced it: 'federated' or 'central', its whole configuration, and its held-out metrics. */
  trainedBy: { mode: 'federated' | 'central'; config: Record<string, unknown>; model: EvaluationMetrics };
}

const DATA_KEYS = [
  'corpus',
  'partition',
  'unit',
  'alpha',
  'testFraction',
  'clients',
  'maxTestExamples',
  'model',
  'hiddenUnits',
  'embeddingDim',
  'dropout',
  'seed',
  'splitSeed',
] as const;

/** The flags of a run that rebuild its data: what a saved model records, and a warm start must match. */
function dataFlags(config: DataConfig): DataConfig {
  return Object.fromEntries(DATA_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]])) as DataConfig;
}

export function saveModel(
  file: string,
  {
    spec,
    weights,
    summary,
  }: {
    spec: ModelSpec;
    weights: Float32Array;
    summary: { mode: 'federated' | 'central'; config: DataConfig & { vocabularyFingerprint: string } & Record<string, unknown>; model: EvaluationMetrics };
  },
): void {
  const payload = encodeModelPayload({ version: 0, spec, weights });
  const { hash } = decodeModelPayload(payload);
  const data = dataFlags(summary.config);
  const meta: SavedModelMeta = {
    format: 'murmur-model/1',
    hash,
    parameters: parameterCount(spec),
    vocabularyFingerprint: summary.config.vocabularyFingerprint,
    data,
    trainedBy: summary,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, payload);
  writeFileSync(`${file}.json`, `${JSON.stringify(meta, null, 2)}\n`);
}

/** Reads a model saved by saveModel; the payload's hash must match its FILE.json. */
export function loadSavedModel(file: string): { spec: ModelSpec; weights: Float32Array; meta: SavedModelMeta } {
  for (const path of [file, `${file}.json`]) {
    if (!existsSync(path)) throw new Error(`no saved model at ${path}: write one with npm run simulate -- --save-model ${file}`);
  }
  const { spec, weights, hash } = decodeModelPayload(new Uint8Array(readFileSync(file)));
  const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as SavedModelMeta;
  if (meta.format !== 'murmur-model/1') throw new Error(`${file}.json: unknown format ${JSON.stringify(meta.format)}`);
  if (meta.hash !== hash) throw new Error(`${file}: weights hash ${hash} does not match ${file}.json (${meta.hash})`);
  return { spec, weights, meta };
}

/** The data flags that fix a split, as one comparable string; model sizes do not change the split. */
export function splitFlags(data: SavedModelMeta['data']): string {
  const { seed, splitSeed, hiddenUnits: _hidden, embeddingDim: _embedding, dropout: _dropout, ...rest } = data;
  const fixed: Record<string, unknown> = { ...rest, splitSeed: splitSeed ?? seed };
  return JSON.stringify(
    Object.keys(fixed)
      .sort()
      .map((key) => [key, fixed[key]]),
  );
}

/**
 * A saved model's weights as the starting point of a new run (`--init-model`). Refused unless it
 * has this run's shape and vocabulary and was trained on this run's split: a model trained with
 * another split may have seen the presidents this run holds out.
 */
export function loadWarmStart(
  file: string,
  { spec, vocabularyFingerprint, data }: { spec: ModelSpec; vocabularyFingerprint: string; data: DataConfig },
): Float32Array {
  const saved = loadSavedModel(file);
  if (saved.meta.vocabularyFingerprint !== vocabularyFingerprint) {
    throw new Error(`--init-model ${file}: trained on vocabulary ${saved.meta.vocabularyFingerprint}, this run's is ${vocabularyFingerprint}`);
  }
  if (JSON.stringify(saved.spec) !== JSON.stringify(spec)) {
    throw new Error(`--init-model ${file}: its model ${JSON.stringify(saved.spec)} is not this run's ${JSON.stringify(spec)}`);
  }
  const split = splitFlags(dataFlags(data));
  if (splitFlags(saved.meta.data) !== split) {
    throw new Error(`--init-model ${file}: trained on another split (${splitFlags(saved.meta.data)}), this run's is ${split}`);
  }
  return saved.weights;
}
