import type { Plugin } from 'vite';

/**
 * The participant PWA and the operator dashboard are two pages of one build (index.html and
 * dashboard.html). What keeps them apart is checked on the built chunk graph, after tree-shaking
 * and chunking: the participant's page never loads the dashboard, the dashboard never loads the
 * participant runtime (IndexedDB, the training worker, model download, calibration), and the
 * service worker precaches nothing that only the dashboard uses.
 */

/** The parts of a built chunk read here: Rolldown's OutputChunk with Vite's metadata. */
export interface BuiltChunk {
  type: 'chunk';
  fileName: string;
  name: string;
  isEntry: boolean;
  imports: readonly string[];
  dynamicImports: readonly string[];
  moduleIds: readonly string[];
  viteMetadata?: { importedCss: ReadonlySet<string>; importedAssets: ReadonlySet<string> } | undefined;
}
export type BuiltBundle = Record<string, BuiltChunk | { type: 'asset'; fileName: string }>;

/** Modules an entry may never reach, statically or through import(). */
export interface EntryRule {
  /** The entry's key in build.rollupOptions.input. */
  entry: string;
  forbidden: readonly { module: RegExp; why: string }[];
}

/** What an entry loads, now or later: chunks, their CSS and assets, and the modules in those chunks. */
export interface EntryReach {
  files: Set<string>;
  modules: Set<string>;
}

function entryChunk(bundle: BuiltBundle, entry: string): BuiltChunk {
  const chunks = Object.values(bundle).filter((file): file is BuiltChunk => file.type === 'chunk' && file.isEntry);
  const found = chunks.find((chunk) => chunk.name === entry);
  if (!found) throw new Error(`entry-boundaries: expected an entry chunk named '${entry}', got ${chunks.map((c) => `'${c.name}'`).join(', ') || 'none'}`);
  return found;
}

/** Every file and module `entry` can load, following static and dynamic imports. */
export function entryReach(bundle: BuiltBundle, entry: string): EntryReach {
  const reach: EntryReach = { files: new Set(), modules: new Set() };
  const pending = [entryChunk(bundle, entry).fileName];
  for (let fileName = pending.pop(); fileName !== undefined; fileName = pending.pop()) {
    if (reach.files.has(fileName)) continue;
    reach.files.add(fileName);
    const chunk = bundle[fileName];
    if (chunk?.type !== 'chunk') continue;
    for (const id of chunk.moduleIds) reach.modules.add(id);
    for (const file of [...(chunk.viteMetadata?.importedCss ?? []), ...(chunk.viteMetadata?.importedAssets ?? [])]) reach.files.add(file);
    pending.push(...chunk.imports, ...chunk.dynamicImports);
  }
  return reach;
}

/** One line per forbidden module an entry reaches; empty when every rule holds. */
export function boundaryProblems(bundle: BuiltBundle, rules: readonly EntryRule[]): string[] {
  return rules.flatMap(({ entry, forbidden }) => {
    const { modules } = entryReach(bundle, entry);
    return forbidden.flatMap(({ module, why }) =>
      [...modules].filter((id) => module.test(id)).map((id) => `entry '${entry}' reaches ${id.replace(/\0/g, '')}: ${why}`),
    );
  });
}

/** Files `entry` loads that no entry in `others` does. */
export function filesOnlyFrom(bundle: BuiltBundle, entry: string, others: readonly string[]): Set<string> {
  const shared = new Set(others.flatMap((other) => [...entryReach(bundle, other).files]));
  return new Set([...entryReach(bundle, entry).files].filter((file) => !shared.has(file)));
}

export interface EntryBoundaries extends Plugin {
  /** Files only the `isolated` entry loads, known once the bundle is generated (for the service worker's precache). */
  isolatedFiles(): ReadonlySet<string>;
}

/**
 * Fails the build when an entry reaches a module its rule forbids, and records the files only
 * `isolated.entry` loads (`isolatedFiles`), so the service worker can leave them out.
 */
export function entryBoundaries(options: { rules: readonly EntryRule[]; isolated: { entry: string; from: readonly string[] } }): EntryBoundaries {
  let isolated: Set<string> | null = null;
  return {
    name: 'murmur-entry-boundaries',
    apply: 'build',
    generateBundle(_options, bundle) {
      // Known before the check can fail: Rolldown still runs closeBundle (the service worker's
      // generation) after this hook throws, and an error there would hide this one.
      isolated = filesOnlyFrom(bundle, options.isolated.entry, options.isolated.from);
      const problems = boundaryProblems(bundle, options.rules);
      if (problems.length > 0) this.error(`entry boundaries broken:\n${problems.join('\n')}`);
    },
    isolatedFiles() {
      if (isolated === null) throw new Error(`entry-boundaries: the files only '${options.isolated.entry}' loads are known after generateBundle`);
      return isolated;
    },
  };
}
