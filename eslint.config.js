// ESLint flat config. Syntax-level rules everywhere; a few type-aware rules (promise handling) on the
// TypeScript sources and tests, which all belong to the one program tsconfig.tests.json describes.
// scripts/*.mjs and other JavaScript files stay without type information.
// Layering (which folder may import which) is enforced by dependency-cruiser: .dependency-cruiser.cjs.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores([
    '**/dist/',
    'packages/sdk/src/generated/',
    '**/node_modules/',
    'data/',
    'coverage/',
    '.cache/',
    'bench-results/',
    '**/*.d.ts',
  ]),
  {
    files: ['{apps,packages,tools,e2e,bench,scripts}/**/*.{ts,tsx}', '**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // Focused tests would silently hide the rest of the suite.
      'no-restricted-properties': [
        'error',
        ...['describe', 'it', 'test'].map((object) => ({
          object,
          property: 'only',
          message: 'Focused tests hide the rest of the suite; remove .only before committing.',
        })),
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Type-aware: one TypeScript program (tsconfig.tests.json includes every source and test file),
    // and the web console's own (browser globals and JSX: apps/console/tsconfig.json).
    files: ['{apps,packages,tools,e2e,bench}/**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.tests.json', './apps/console/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A promise nobody awaits loses its rejection (an unhandled rejection ends the process) and its ordering.
      // `void` alone does not count as handling: fire-and-forget still needs a rejection handler
      // (`.catch(...)` or `.then(onFulfilled, onRejected)`).
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      // A promise where a plain value is expected: an async callback to forEach or an event emitter,
      // or a promise tested as a condition (always truthy).
      '@typescript-eslint/no-misused-promises': 'error',
      // Awaiting a value that is not a promise usually means a missing call or a wrong type.
      '@typescript-eslint/await-thenable': 'error',
      // Not require-await: 156 findings, nearly all fakes and adapters implementing async ports without awaiting.
    },
  },
  {
    files: ['{apps,packages,tools,e2e,bench,scripts}/**/*.{ts,tsx}', '**/*.{js,mjs,cjs}'],
    ignores: ['apps/console/src/**'],
    languageOptions: { globals: globals.node },
  },
  {
    // The web console runs in browsers: their globals, not Node's.
    files: ['apps/console/src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
