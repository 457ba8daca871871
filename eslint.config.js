// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

/**
 * Module boundaries (../shared/STYLE.md): common ← everyone; workflows → @temporalio/workflow,
 * common, activities (type-only); activities → common + libraries; worker → activities, common;
 * client → @temporalio/client, common. The workflow bundle test backs this up at build time.
 */
const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'stream', 'worker_threads'];

/** @param {string[]} patterns @param {string} message */
const forbid = (patterns, message) => ({ group: patterns, message });

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', '.device/', 'pipelines/*.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver()] },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          forbid(nodeBuiltins, 'common/ is bundled into the workflow sandbox: no Node built-ins.'),
          forbid(['../activities/*', '../workflows/*', '../worker/*', '../client/*', '@temporalio/*', 'minio', 'sharp', '@tensorflow/*'],
            'common/ depends on nothing but small pure libraries (zod).'),
        ],
      }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          forbid(nodeBuiltins, 'Workflows run in a deterministic sandbox: no Node built-ins.'),
          { group: ['../activities/*'], allowTypeImports: true, message: 'Workflows import activities with `import type` only.' },
          forbid(['../worker/*', '../client/*', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'minio', 'sharp', '@tensorflow/*'],
            'Workflows may import only @temporalio/workflow, common/ and activity types.'),
        ],
      }],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [forbid(['../workflows/*', '../../workflows/*', '../worker/*', '../../worker/*', '../client/*', '../../client/*', '@temporalio/client', '@temporalio/worker'],
          'Activities depend on common/ and libraries; the worker wires them up.')],
      }],
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [forbid(['../activities/*', '../../activities/*', '../worker/*', '../../worker/*', '@temporalio/worker', '@temporalio/activity'],
          'The client talks to Temporal only; it never runs activities or workers in-process.')],
      }],
    },
  },
);
