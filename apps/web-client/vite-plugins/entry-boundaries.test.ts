import { describe, expect, it } from 'vitest';
import { boundaryProblems, entryReach, filesOnlyFrom, type BuiltBundle, type BuiltChunk, type EntryRule } from './entry-boundaries';

/** A bundle shaped as Vite emits index.html + dashboard.html: entries, a shared chunk, a lazy chunk. */
function chunk(
  fileName: string,
  moduleIds: string[],
  links: Partial<Pick<BuiltChunk, 'imports' | 'dynamicImports' | 'isEntry' | 'name'>> = {},
  css: string[] = [],
): BuiltChunk {
  return {
    type: 'chunk',
    fileName,
    name: links.name ?? fileName,
    isEntry: links.isEntry ?? false,
    imports: links.imports ?? [],
    dynamicImports: links.dynamicImports ?? [],
    moduleIds,
    viteMetadata: { importedCss: new Set(css), importedAssets: new Set() },
  };
}
const bundleOf = (...files: BuiltBundle[string][]): BuiltBundle => Object.fromEntries(files.map((file) => [file.fileName, file]));

const SHARED = chunk('assets/react.js', ['/app/node_modules/react/index.js', '/app/src/privacy/PrivacyInPlainWords.tsx'], {}, ['assets/styles.css']);
const MAIN = chunk(
  'assets/main.js',
  ['/app/src/main.tsx', '/app/src/runtime.ts', '/app/src/storage/db.ts'],
  { isEntry: true, name: 'main', imports: [SHARED.fileName] },
  ['assets/main.css'],
);
const DASHBOARD = chunk('assets/dashboard.js', ['/app/src/dashboard/main.tsx', '/app/src/dashboard/DashboardPage.tsx'], {
  isEntry: true,
  name: 'dashboard',
  imports: [SHARED.fileName],
});
const SEPARATE: BuiltBundle = bundleOf(
  SHARED,
  MAIN,
  DASHBOARD,
  { type: 'asset', fileName: 'assets/main.css' },
  { type: 'asset', fileName: 'assets/styles.css' },
);

const RULES: EntryRule[] = [
  { entry: 'main', forbidden: [{ module: /\/src\/dashboard\//, why: 'dashboard is its own page' }] },
  { entry: 'dashboard', forbidden: [{ module: /\/src\/(runtime\.ts$|storage\/)/, why: 'no participant runtime' }] },
];

describe('entry boundaries on the built chunk graph', () => {
  it('holds for two entries that share only neutral chunks', () => {
    expect(boundaryProblems(SEPARATE, RULES)).toEqual([]);
    expect([...entryReach(SEPARATE, 'main').files].sort()).toEqual(['assets/main.css', 'assets/main.js', 'assets/react.js', 'assets/styles.css']);
  });

  it('names the participant entry that lazily loads the dashboard', () => {
    const lazy = chunk('assets/DashboardPage.js', ['/app/src/dashboard/DashboardPage.tsx']);
    const bundle = bundleOf(SHARED, { ...MAIN, dynamicImports: [lazy.fileName] }, DASHBOARD, lazy);
    expect(boundaryProblems(bundle, RULES)).toEqual(["entry 'main' reaches /app/src/dashboard/DashboardPage.tsx: dashboard is its own page"]);
  });

  it('names a participant module that a shared chunk carries into the dashboard', () => {
    const leaky = { ...SHARED, moduleIds: [...SHARED.moduleIds, '/app/src/storage/db.ts'] };
    expect(boundaryProblems(bundleOf(leaky, MAIN, DASHBOARD), RULES)).toEqual(["entry 'dashboard' reaches /app/src/storage/db.ts: no participant runtime"]);
  });

  it('leaves out of the precache exactly what only the dashboard loads, lazy chunks and CSS included', () => {
    const charts = chunk('assets/Charts.js', ['/app/src/dashboard/Charts.tsx'], {}, ['assets/Charts.css']);
    const bundle = bundleOf(SHARED, MAIN, { ...DASHBOARD, dynamicImports: [charts.fileName] }, charts);
    expect([...filesOnlyFrom(bundle, 'dashboard', ['main'])].sort()).toEqual(['assets/Charts.css', 'assets/Charts.js', 'assets/dashboard.js']);
  });

  it('refuses a rule for an entry the build does not have', () => {
    expect(() => boundaryProblems(SEPARATE, [{ entry: 'admin', forbidden: [] }])).toThrow(/expected an entry chunk named 'admin', got 'main', 'dashboard'/);
  });
});
