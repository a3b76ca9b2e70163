// Lint for the whole workspace: typescript-eslint's recommended rules plus the type-aware checks
// that catch what review kept finding by hand (unawaited promises, switches that miss a case), and
// package boundaries: an app never reaches into another package's src/, and packages import each
// other only along the edges their Nx `type:` tags allow (tools/module-boundaries.mjs).
import tseslint from 'typescript-eslint';
import { moduleBoundaries } from './tools/module-boundaries.mjs';

/**
 * Imports no package may write. fl-core is imported through its subpath entries only
 * (`@murmur/fl-core/protocol`, `/secagg`, …; the list is libs/fl-core/package.json "exports", the rule
 * docs/architecture.md): it has no root entry, and a file inside a folder is that folder's internals.
 */
const restrictedImports = [
  { regex: '^(\\.\\./)+(apps|libs|e2e|bench)/', message: 'Import another package through its name (@murmur/…), never its sources.' },
  { regex: '^@murmur/[^/]+/src(/|$)', message: 'Import a package through its exports, never its src/.' },
  {
    regex: '^@murmur/fl-core$',
    message: 'fl-core has no root entry: import from the subpath of the folder that owns the name, e.g. @murmur/fl-core/protocol.',
  },
  { regex: '^@murmur/fl-core/(?!src/)[^/]+/', message: 'Import an fl-core folder through its entry (@murmur/fl-core/<folder>), never a file inside it.' },
];
/** Test drivers and seeded fixtures (runSecAggRound, keystreamRandomBytes, testPlan) never reach production code. */
const testingEntry = {
  regex: '^@murmur/fl-core/testing$',
  message: '@murmur/fl-core/testing holds test drivers and seeded fixtures: import it from tests, bench/ and e2e/ only.',
};

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '.nx/**',
      '**/coverage/**',
      'e2e/reports/**',
      'runs/**',
      '**/.stryker-tmp*/**',
      'libs/fl-core/reports/**',
      'apps/aggregator/reports/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        project: ['apps/*/tsconfig*.json', 'libs/*/tsconfig*.json', 'bench/tsconfig.json', 'e2e/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { murmur: { rules: { 'module-boundaries': moduleBoundaries } } },
    rules: {
      'murmur/module-boundaries': ['error', { root: import.meta.dirname }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-restricted-imports': ['error', { patterns: restrictedImports }],
    },
  },
  {
    // Production code of the apps and of fl-core: everything but tests and their helpers.
    files: ['apps/**/*.{ts,tsx}', 'libs/**/*.ts'],
    ignores: ['**/*.test.{ts,tsx}', '**/test-helpers.ts', '**/test-fixtures.ts', '**/testing/**', '**/testing.ts', '**/vitest*.config.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...restrictedImports, testingEntry] }] },
  },
  {
    // Inside fl-core, siblings import each other directly (../model/spec), never through the package's own entries.
    files: ['libs/fl-core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...restrictedImports,
            { regex: '^@murmur/fl-core(/|$)', message: 'Inside fl-core, import the sibling module directly (../<folder>/<file>).' },
          ],
        },
      ],
    },
  },
);
