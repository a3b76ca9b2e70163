export {
  trainingPlanSchema,
  trainingTargetsSchema,
  clientOptimizerSchema,
  parseTrainingPlan,
  type ClientOptimizerName,
  type TrainingPlan,
  type TrainingPlanInput,
  type TrainingTargets,
} from './plan';
export { positionTargets, type PositionTargets } from './batches';
export { trainLocal, type LocalTrainingOptions, type LocalTrainingResult } from './local';
export {
  evaluate,
  evaluateSums,
  summarizeEvaluation,
  addEvaluationSums,
  countInVocabularyTargets,
  suggestionIds,
  UNSUGGESTABLE_TOKEN_IDS,
  type EvaluationSums,
  type DetailedEvaluationSums,
  type EvaluationMetrics,
  type ExampleHits,
} from './evaluate';
export { wilsonInterval, meanInterval, pairedRatioInterval, Z_95, type Interval, type PairedHits, type PairedRatio, type SampleSums } from './intervals';
