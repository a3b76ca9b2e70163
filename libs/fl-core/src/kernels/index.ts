export { registerFastSegmentSum, segmentSumValues, FAST_SEGMENT_SUM_BACKENDS } from './unsorted-segment-sum';
