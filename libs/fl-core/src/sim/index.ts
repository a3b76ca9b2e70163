export {
  runFederatedSimulation,
  type VirtualClient,
  type FederatedSimulationOptions,
  type FederatedSimulationResult,
  type FederatedCheckpoint,
  type RoundRecord,
} from './federated';
export {
  runCentralTraining,
  type CentralCheckpoint,
  type CentralEvaluation,
  type CentralOptimizerName,
  type CentralTrainingOptions,
  type CentralTrainingResult,
  type OptimizerSlot,
} from './central';
export { PrivateAggregation, type SimulationPrivacy, type PrivateRoundReport, type SimulatedRelease } from './private-round';
export { runNgramBaselines, type NgramBaselineOptions, type NgramBaselineResult, type NgramBaselinesResult } from './ngram-baselines';
