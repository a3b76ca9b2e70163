/**
 * What other packages may use of the aggregator: start one in-process (benchmarks, end-to-end
 * tests; with the enrollment service beside it, or the service alone), its configuration, and the
 * Node clients that drive it (honest virtual clients on demo data, and the hostile ones QA plays).
 * Everything else stays inside the app.
 */
export { startAggregator, modelSpecOf, type RunningAggregator, type StartOptions } from './aggregator';
export { startWithEnrollment, startEnrollmentServer, type HostedAggregator, type RunningEnrollment } from './enrollment/host';
export { enrollmentConfigSchema, type EnrollmentConfig, type EnrollmentConfigInput } from './enrollment/config';
export { makeConfig, loadConfig, DEFAULT_TRAINING, type AggregatorConfig, type AggregatorConfigInput } from './config';
export { stateOfTheUnionClients } from './demo-data';
export {
  connectIdleDevices,
  enroll,
  enrollDevices,
  startVirtualClients,
  type IdleDevices,
  type VirtualClientData,
  type VirtualClientOptions,
  type VirtualClientPool,
} from './virtual-clients';
export { startPoisoningClient, startSilentClient, type HostileClient } from './hostile-clients';
