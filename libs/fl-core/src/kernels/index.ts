export { registerFastSegmentSum, segmentSumValues, FAST_SEGMENT_SUM_BACKENDS } from './unsorted-segment-sum';
export { registerFastWasmMatMul } from './batch-mat-mul';
export { fastWasmExpActive, registerFastWasmExp } from './exp';
export { addWordsMod, createWordVector, modularKernelsAvailable, type ModularWords, type ModularSign } from './modular';
