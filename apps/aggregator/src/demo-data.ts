import { loadStateOfTheUnion } from '@murmur/fl-core/node';
import { partitionClients } from '@murmur/fl-core/data';
import { type ModelSpec } from '@murmur/fl-core/model';
import { createVocabulary, textToExamples } from '@murmur/fl-core/text';
import type { VirtualClientData } from './virtual-clients';

/**
 * Virtual clients with natural, non-IID data: each holds (part of) one State of the Union address,
 * the way a device holds one person's writing. Up to 233 clients get one address each, spread over
 * the years; more clients split each address into contiguous runs of sentences (a speech's
 * paragraphs as separate devices), still never mixing two addresses.
 */
export function stateOfTheUnionClients(spec: ModelSpec, count: number): VirtualClientData[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`stateOfTheUnionClients: count must be a positive integer, got ${count}`);
  const addresses = partitionClients(loadStateOfTheUnion(), { scheme: 'natural' });
  const parts = Math.ceil(count / addresses.length);
  const pieces = addresses
    .flatMap((address) => {
      const size = Math.ceil(address.texts.length / parts);
      return Array.from({ length: parts }, (_, p) => ({
        id: parts === 1 ? address.id : `${address.id}#${p + 1}`,
        texts: address.texts.slice(p * size, (p + 1) * size),
      }));
    })
    .filter((piece) => piece.texts.length > 0);
  const step = pieces.length / count;
  const chosen = Array.from({ length: Math.min(count, pieces.length) }, (_, i) => pieces[Math.floor(i * step)] as (typeof pieces)[number]);
  const vocabulary = createVocabulary({ size: spec.vocabularySize });
  return chosen.map((piece) => ({ id: piece.id, examples: textToExamples(piece.texts, vocabulary, spec.contextLength) }));
}
