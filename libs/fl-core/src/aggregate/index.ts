export { weightedMean, type WeightedUpdate } from './mean';
export {
  serverOptimizerSchema,
  parseServerOptimizer,
  createServerOptimizer,
  applyServerUpdate,
  type ServerOptimizerConfig,
  type ServerOptimizerInput,
  type ServerOptimizerName,
  type ServerOptimizerState,
} from './server-optimizers';
