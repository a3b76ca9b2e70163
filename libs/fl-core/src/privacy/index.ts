/**
 * Differential privacy for federated rounds: L2 clipping, Gaussian noise from the CSPRNG, the four
 * noise placements ('off' | 'local' | 'distributed' | 'central'), adaptive clipping (Andrew et al.
 * 2021) and an RDP accountant for the Poisson-subsampled Gaussian mechanism. See docs/privacy.md.
 */
export { clipL2, l2Norm, type ClipResult } from './clip';
export { addGaussianNoise, gaussianNoise } from './gaussian';
export {
  addCentralNoise,
  parsePrivacyConfig,
  privacyConfigSchema,
  PRIVACY_MODES,
  PrivacyConfigError,
  privatizeClientUpdate,
  roundNoiseMultiplier,
  validatePrivacyConfig,
  type CentralNoiseOptions,
  type ClientPrivacyOptions,
  type PrivacyConfig,
  type PrivacyConfigErrorCode,
  type PrivacyConfigInput,
  type PrivacyConfigIssue,
  type PrivacyConfigResult,
  type PrivacyMode,
  type PrivatizedUpdate,
  type RoundNoiseOptions,
} from './modes';
export {
  ADAPTIVE_CLIPPING_DEFAULTS,
  addCentralIndicatorNoise,
  clipIndicator,
  createAdaptiveClipping,
  modelUpdateNoiseMultiplier,
  privatizeClipIndicator,
  updateClipNorm,
  type AdaptiveClippingOptions,
  type AdaptiveClippingState,
  type ClipIndicatorPrivacyOptions,
  type ClipNormUpdateInput,
  type NoiseSplitOptions,
} from './adaptive-clipping';
export {
  computeRdp,
  DEFAULT_RDP_ORDERS,
  gaussianMechanismEpsilon,
  rdpEpsilon,
  rdpToEpsilon,
  type ComputeRdpOptions,
  type EpsilonConversion,
  type GaussianMechanismEpsilonOptions,
  type PrivacySpent,
  type RdpEpsilonOptions,
  type RdpToEpsilonOptions,
} from './rdp';
export { PrivacyLedger, type PrivacyLedgerEntry, type PrivacyLedgerJson, type PrivacyLedgerOptions } from './ledger';
