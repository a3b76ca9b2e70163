/**
 * Differential privacy for federated rounds: L2 clipping, Gaussian noise from the CSPRNG, the four
 * noise placements ('off' | 'local' | 'distributed' | 'central'), adaptive clipping (Andrew et al.
 * 2021) and an RDP accountant for the Poisson-subsampled Gaussian mechanism; the distributed discrete
 * Gaussian (Kairouz, Liu & Steinke 2021) with its exact sampler, encoding and accountant. See
 * docs/privacy.md. This file is `@murmur/fl-core/privacy`; the DDG's rotation, conditional rounding
 * and Rényi-divergence internals stay inside the folder, and the seeded keystream the tests use is
 * `@murmur/fl-core/testing`.
 */
export { clipL2, l2Norm, type ClipResult } from './clip';
export { addGaussianNoise, gaussianNoise } from './gaussian';
export {
  addCentralNoise,
  clientNoiseShare,
  honestReportsOf,
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
export {
  DEVICE_EPSILON_DELTA,
  deviceEpsilon,
  deviceRoundNoiseMultiplier,
  planNoiseMultiplier,
  type DeviceEpsilon,
  type DeviceEpsilonOptions,
  type DeviceParticipation,
} from './device-epsilon';
export {
  discreteLedgerMechanismSchema,
  ledgerEntryRdp,
  PrivacyLedger,
  type DiscreteLedgerMechanism,
  type PrivacyLedgerEntry,
  type PrivacyLedgerJson,
  type PrivacyLedgerOptions,
} from './ledger';
export {
  addDiscreteGaussianNoiseMod,
  discreteGaussianNoise,
  DiscreteGaussianSampler,
  MAX_DISCRETE_GAUSSIAN_VARIANCE,
  MIN_DISCRETE_GAUSSIAN_VARIANCE,
  type DiscreteGaussianSamplerOptions,
} from './discrete-gaussian';
export {
  ddgChooseScale,
  ddgDecodeSum,
  ddgEncodeUpdate,
  ddgMinModulusBits,
  ddgParams,
  ddgParamsInputSchema,
  ddgWrapLogProbabilityBound,
  type DdgEncodedUpdate,
  type DdgParams,
  type DdgParamsInput,
  type DdgScaleOptions,
  type DdgWrapOptions,
} from './ddg';
export {
  ddgEpsilon,
  ddgEquivalentNoiseMultiplier,
  ddgMechanism,
  ddgMechanismRdp,
  ddgRdp,
  type DdgEpsilonOptions,
  type DdgMechanism,
  type DdgRdpOptions,
} from './ddg-accountant';
