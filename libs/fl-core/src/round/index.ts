export { checkDecodedSum, sumBounds, SUM_TAIL_STDDEVS, type BoundsPlan, type DecodedRoundSum, type SumBounds } from './bounds';
