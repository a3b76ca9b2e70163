import type { ExampleSet } from '../text/index';
import { countInVocabularyTargets, suggestionIds, type DetailedEvaluationSums, type ExampleHits } from '../train/evaluate';
import type { NextTokenModel } from './kneser-ney';

/**
 * The neural model's evaluation (train/evaluate.ts `evaluateSums`) for any model that gives full
 * distributions: cross-entropy −ln p(target) over every target, hits by `suggestionIds` on the
 * same held-out rows, so a baseline and the model are scored by one rule.
 */
export function evaluateNextTokenModelSums(model: NextTokenModel, examples: ExampleSet, hits?: ExampleHits): DetailedEvaluationSums {
  const { contexts, targets, count, contextLength } = examples;
  if (targets.length !== count || contexts.length !== count * contextLength) {
    throw new RangeError(`evaluateNextTokenModelSums: inconsistent example set: count ${count}, ${targets.length} targets, ${contexts.length} context ids`);
  }
  const p = new Float64Array(model.vocabularySize);
  const sums: DetailedEvaluationSums = {
    lossSum: 0,
    lossSquaredSum: 0,
    top1Hits: 0,
    top3Hits: 0,
    count,
    inVocabularyCount: countInVocabularyTargets(targets),
  };
  for (let row = 0; row < count; row++) {
    const target = targets[row] as number;
    if (!Number.isInteger(target) || target < 0 || target >= model.vocabularySize) {
      throw new RangeError(`evaluateNextTokenModelSums: target ${row} is ${target}, expected an id in [0, ${model.vocabularySize})`);
    }
    model.distribution(contexts.subarray(row * contextLength, (row + 1) * contextLength), p);
    const loss = -Math.log(p[target] as number);
    sums.lossSum += loss;
    sums.lossSquaredSum += loss * loss;
    const suggested = suggestionIds(p, 3);
    const top1 = suggested[0] === target ? 1 : 0;
    const top3 = suggested.includes(target) ? 1 : 0;
    sums.top1Hits += top1;
    sums.top3Hits += top3;
    if (hits) {
      hits.top1[row] = top1;
      hits.top3[row] = top3;
    }
  }
  return sums;
}
