export { countNgrams, type NgramCounts, type NgramCountOptions } from './counts';
export { kneserNey, type KneserNeyModel, type KneserNeyDiscounts, type NextTokenModel } from './kneser-ney';
export { evaluateNextTokenModelSums } from './evaluate';
