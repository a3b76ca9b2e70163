export {
  modelSpecSchema,
  parseModelSpec,
  parameterCount,
  TINY_SPEC,
  REFERENCE_SPEC,
  MODEL_PRESETS,
  type ModelSpec,
  type ModelPresetName,
} from './spec';
export { buildModel, type BuildOptions } from './build';
export { getFlatWeights, setFlatWeights, assertWeightsFitSpec, modelHash, WeightShapeError } from './weights';
export { encodeModelPayload, decodeModelPayload, ModelPayloadError, type ModelPayload } from './payload';
