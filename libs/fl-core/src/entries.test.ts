import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The package's public surface: the subpath entries in package.json "exports" and the names each
 * one lists. The snapshot (__snapshots__/entries.test.ts.snap) makes every added or removed name a
 * reviewed change; `npx vitest run src/entries.test.ts -u` updates it on purpose. The rule the
 * entries follow is in docs/architecture.md.
 */

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(`${packageDir}/package.json`, 'utf8')) as { exports: Record<string, string> };
const entries = Object.entries(manifest.exports).map(([subpath, target]) => ({ subpath, name: subpath.slice(2), file: `${packageDir}/${target}` }));

interface Listed {
  values: string[];
  types: string[];
  /** Statements that are not `export { … } from '…'` (an `export *`, a local declaration): none allowed. */
  other: string[];
}

/** The names an entry file re-exports, read from its syntax: entries list every name explicitly. */
function listed(file: string): Listed {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Listed = { values: [], types: [], other: [] };
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement) && statement.moduleSpecifier && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) (statement.isTypeOnly || element.isTypeOnly ? out.types : out.values).push(element.name.text);
    } else {
      out.other.push(statement.getText(source).slice(0, 80));
    }
  }
  out.values.sort();
  out.types.sort();
  return out;
}

const surface = Object.fromEntries(entries.map(({ name, file }) => [name, listed(file)]));

/** Implementation details of a folder that no entry may hand out. */
const INTERNALS = [
  // secagg/: Shamir over the prime field, key derivation, the mask PRG, word packing, the Harary graph.
  'splitSecret',
  'combineShares',
  'lagrangeAtZero',
  'combineWithWeights',
  'parseShare',
  'SHAMIR_PRIME',
  'deriveKey',
  'expandMask',
  'packWords',
  'unpackWords',
  'hararyNeighbours',
  'binomialTailLog2',
  // privacy/: the DDG's rotation, conditional rounding and Rényi-divergence terms.
  'randomizedHadamard',
  'inverseRandomizedHadamard',
  'conditionalRandomizedRounding',
  'ddgRenyiDivergence',
  'ddgTau',
  'poissonSubsampledRdpBound',
  'discreteGaussianPmf',
];

/** Drivers and seeded fixtures: `/testing` only. */
const TEST_ONLY = ['runSecAggRound', 'messageBytes', 'keystreamRandomBytes', 'testPlan', 'TEST_SPEC'];

describe('package entries', () => {
  it('has no root entry: every import names the folder that owns it', () => {
    expect(manifest.exports['.']).toBeUndefined();
    const base = JSON.parse(readFileSync(`${packageDir}/../../tsconfig.base.json`, 'utf8')) as { compilerOptions: { paths?: Record<string, unknown> } };
    // Resolution goes through "exports" alone (TypeScript's bundler resolution, Vite, vitest, tsx):
    // a tsconfig path would let an import typecheck that fails at run time.
    expect(Object.keys(base.compilerOptions.paths ?? {}).filter((path) => path.startsWith('@murmur/fl-core'))).toEqual([]);
  });

  it("maps each subpath to its folder's index.ts", () => {
    for (const { subpath, file } of entries) {
      expect(file, subpath).toMatch(new RegExp(`/src/${subpath.slice(2)}/index\\.ts$`));
      expect(existsSync(file), file).toBe(true);
    }
  });

  it('lists every name explicitly (no export *, no declarations in an entry)', () => {
    for (const [name, { other }] of Object.entries(surface)) expect(other, name).toEqual([]);
  });

  it('exports each name from one entry only', () => {
    const owners = new Map<string, string[]>();
    for (const [name, { values, types }] of Object.entries(surface))
      for (const exported of [...values, ...types]) owners.set(exported, [...(owners.get(exported) ?? []), name]);
    expect([...owners].filter(([, from]) => from.length > 1)).toEqual([]);
  });

  it('keeps internals inside their folder and test drivers in /testing', () => {
    const everywhere = (names: string[]) =>
      Object.entries(surface).flatMap(([entry, { values, types }]) => [...values, ...types].filter((n) => names.includes(n)).map((n) => `${entry}: ${n}`));
    expect(everywhere(INTERNALS)).toEqual([]);
    expect(everywhere(TEST_ONLY).sort()).toEqual(TEST_ONLY.map((n) => `testing: ${n}`).sort());
  });

  it('resolves through the package name, with the values the entry lists', async () => {
    for (const { subpath, name } of entries) {
      const module = (await import(/* @vite-ignore */ `@murmur/fl-core/${name}`)) as Record<string, unknown>;
      expect(Object.keys(module).sort(), subpath).toEqual(surface[name]?.values);
    }
  });

  it('matches the reviewed surface', () => {
    expect(Object.fromEntries(Object.entries(surface).map(([name, { values, types }]) => [name, { values, types }]))).toMatchSnapshot();
  });
});
