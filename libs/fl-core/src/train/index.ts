export { trainingPlanSchema, parseTrainingPlan, type TrainingPlan, type TrainingPlanInput } from './plan';
export { trainLocal, type LocalTrainingOptions, type LocalTrainingResult } from './local';
export {
  evaluate,
  evaluateSums,
  summarizeEvaluation,
  addEvaluationSums,
  UNSUGGESTABLE_TOKEN_IDS,
  type EvaluationSums,
  type EvaluationMetrics,
} from './evaluate';
