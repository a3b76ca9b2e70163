export * from './random/index';
