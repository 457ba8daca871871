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

/**
 * Floors inside activities/, bottom first (folders, or root files named one by one). A file may
 * import its own floor and those below it, never one above: no folder imports a folder that
 * imports it back. Storage is the ground; a step kind's file in steps/ composes the floors below;
 * the root files on top (the activity list, the step cache) compose everything. A new folder
 * takes its place here. Checked on resolved paths (import-x/no-restricted-paths), not on
 * specifiers, because `../training/x.ts` and `../../training/x.ts` name the same floor from
 * different depths.
 */
const ACTIVITY_FLOORS = [
  ['object-store.ts', 'content-hash.ts'],
  ['data'],
  ['weights'],
  ['engine'],
  ['model-io'],
  ['features'],
  ['training'],
  ['evaluation'],
  ['notify'],
  ['tracking'],
  ['deps.ts'],
  ['registry'],
  ['housekeeping', 'results'],
  ['run'],
  ['steps'],
  ['index.ts', 'step-cache.ts', 'step-reuse.ts', 'storage-check.ts', 'code-fingerprint.ts'],
].map((floor) => floor.map((name) => `activities/${name}`));

/**
 * Inside activities/features/: pooling.ts (the words every feature engine shares) at the bottom,
 * then onnx/ (the ONNX graph and its session), then the selection, pool, stage and cache.
 */
const FEATURE_FLOORS = [['pooling.ts'], ['onnx']].map((floor) => floor.map((name) => `activities/features/${name}`));

/** One zone per floor: nothing in it may import from a floor above it. */
const floorZones = () => [
  ...ACTIVITY_FLOORS.slice(0, -1).map((floor, index) => ({
    target: floor,
    from: ACTIVITY_FLOORS.slice(index + 1).flat(),
    message: `activities/ floors (eslint.config.js ACTIVITY_FLOORS): ${floor.join(', ')} may not import a floor above it.`,
  })),
  ...FEATURE_FLOORS.map((floor, index) => ({
    target: floor,
    from: ['activities/features'],
    except: FEATURE_FLOORS.slice(0, index + 1).flat().map((path) => `./${path.slice('activities/features/'.length)}`),
    message: `activities/features/ floors (eslint.config.js FEATURE_FLOORS): ${floor.join(', ')} may not import the rest of features/.`,
  })),
];

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
    files: ['activities/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: floorZones() }] },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [forbid(['**/activities/**', '**/worker/**', '@temporalio/worker', '@temporalio/activity'],
          'The client talks to Temporal only; it never runs activities or workers in-process.')],
      }],
    },
  },
);
