export {
  runFederatedSimulation,
  type VirtualClient,
  type FederatedSimulationOptions,
  type FederatedSimulationResult,
  type RoundRecord,
} from './federated';
export { runCentralTraining, type CentralTrainingOptions, type CentralTrainingResult } from './central';
export { PrivateAggregation, type SimulationPrivacy, type PrivateRoundReport } from './private-round';
export { runNgramBaselines, type NgramBaselineOptions, type NgramBaselineResult, type NgramBaselinesResult } from './ngram-baselines';
