export {
  modelSpecSchema,
  parseModelSpec,
  parameterCount,
  TINY_SPEC,
  REFERENCE_SPEC,
  CIFG_SPEC,
  MODEL_PRESETS,
  type ModelSpec,
  type ModelPresetName,
} from './spec';
export { buildModel, sequenceLogits, sequenceFeatures, type BuildOptions, type SequenceLogitsOptions } from './build';
export { CifgCell, LastTimeStep, TiedSoftmax } from './layers';
export { getFlatWeights, setFlatWeights, assertWeightsFitSpec, modelHash, WeightShapeError } from './weights';
export {
  encodeModelPayload,
  decodeModelPayload,
  verifyModelPayload,
  ModelPayloadError,
  MAX_MODEL_BYTES,
  type ModelPayload,
  type ExpectedModel,
} from './payload';
