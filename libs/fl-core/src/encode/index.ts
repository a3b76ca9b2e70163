export {
  encodingParams,
  encodingParamsInputSchema,
  encodeVector,
  decodeSum,
  quantizationBound,
  addModInto,
  type EncodingParams,
  type EncodingParamsInput,
} from './fixed-point';
export {
  createMetricsLayout,
  encodeWithMetrics,
  decodeSumWithMetrics,
  metricRangeSchema,
  type MetricRange,
  type MetricsSpec,
  type MetricsLayout,
  type DecodedSumWithMetrics,
} from './metrics';
