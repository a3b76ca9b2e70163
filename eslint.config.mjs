// Lint for the whole workspace: typescript-eslint's recommended rules plus the type-aware checks
// that catch what review kept finding by hand (unawaited promises, switches that miss a case), and
// package boundaries: an app never reaches into another package's src/, and packages import each
// other only along the edges their Nx `type:` tags allow (tools/module-boundaries.mjs).
import tseslint from 'typescript-eslint';
import { moduleBoundaries } from './tools/module-boundaries.mjs';

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
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./)+(apps|libs|e2e|bench)/', message: 'Import another package through its name (@murmur/…), never its sources.' },
            { regex: '^@murmur/[^/]+/src(/|$)', message: 'Import a package through its exports, never its src/.' },
          ],
        },
      ],
    },
  },
);
