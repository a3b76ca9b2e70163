import { tsImport } from 'tsx/esm/api';

// fl-core imports JSON without import attributes, which Playwright's ESM loader refuses; tsx (the
// loader `npm start` runs it with) loads it as it is. See tests/fixtures.ts.
const load = <T>(path: string) => tsImport(path, import.meta.url) as Promise<T>;

/** fl-core's protocol schemas, device identities and seeded random, for the harness and the specs. */
export const core = {
  ...(await load<typeof import('@murmur/fl-core/protocol')>('@murmur/fl-core/protocol')),
  ...(await load<typeof import('@murmur/fl-core/identity')>('@murmur/fl-core/identity')),
  ...(await load<typeof import('@murmur/fl-core/random')>('@murmur/fl-core/random')),
};
/** The web client's IndexedDB shapes: what a page's contribution log holds. */
export const webClientSchema = await load<typeof import('@murmur/web-client/testing')>('@murmur/web-client/testing');
