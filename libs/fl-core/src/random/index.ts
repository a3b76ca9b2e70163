export { createSeededRandom, type SeededRandom } from './seeded';
export { secureRandomBytes, type RandomBytes } from './secure';
