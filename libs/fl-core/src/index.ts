export * from './random/index';
export * from './text/index';
export * from './data/index';
export * from './model/index';
export * from './train/index';
export * from './aggregate/index';
export * from './kernels/index';
export * from './sim/index';
