import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';

/**
 * Fingerprints of the code that computes each step kind, for the step cache's key: a step whose
 * implementation or any helper it runs changed must miss the cache even when nobody bumped the
 * kind's `version`. The fingerprint of a kind is the sha256 of the module graph of
 * activities/steps/<kind>.ts: every file it imports at run time, followed transitively through
 * relative imports (common/ included), each named by its path relative to the project root and
 * hashed by content, plus the exact version (from package-lock.json) of every npm package among
 * the imports. `import type` is left out: it is erased before the code runs. Computed once when
 * the worker starts.
 */

/** The project root: this file lives in <root>/activities/. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ModuleGraphFingerprint {
  /** sha256 (hex) over `files` and `packages`. */
  fingerprint: string;
  /** Project files in the graph, relative to the root (`/` separators), sorted. */
  files: string[];
  /** npm packages the graph imports, `name@version`, sorted. */
  packages: string[];
}

// Import and export-from statements; statements that only import or re-export types
// (`import type …`, `export type … from`) match `type` and are skipped.
const STATIC_IMPORT = /(?:^|[;\s])(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g;
// Dynamic imports with a literal specifier, and files loaded by URL (worker-thread entries:
// `new Worker(new URL('./feature-worker-entry.mjs', import.meta.url))`). Imports of a computed
// specifier (the native engines' packages) cannot be followed: the engine is its own key part.
// A URL of a folder (`new URL('..', import.meta.url)`: a root, not code) is no load: only
// relative URLs that end in a file name with an extension count.
const LITERAL_LOADS = [/(?:^|[^\w.$])import\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /new\s+URL\(\s*['"](\.\.?\/[^'"]*\.\w+)['"]\s*,\s*import\.meta\.url\s*\)/g];

/** Block comments and whole-line `//` comments, so an example import in a comment is not followed. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** The specifiers a module imports at run time. */
export function runtimeImports(source: string): string[] {
  const code = stripComments(source);
  const specifiers: string[] = [];
  for (const match of code.matchAll(STATIC_IMPORT)) {
    if (match[2] === undefined && match[3] !== undefined) specifiers.push(match[3]);
  }
  for (const pattern of LITERAL_LOADS) {
    for (const match of code.matchAll(pattern)) {
      if (match[1] !== undefined) specifiers.push(match[1]);
    }
  }
  return specifiers;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

const BUILTINS = new Set(builtinModules);

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || BUILTINS.has(packageName(specifier));
}

const lockfileSchema = z.object({ packages: z.record(z.string(), z.object({ version: z.string().optional() })) });

/** name → exact version of every package installed at the top of node_modules, from package-lock.json. */
export async function lockedVersions(root: string): Promise<Map<string, string>> {
  const file = path.join(root, 'package-lock.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot fingerprint step code: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const lock = lockfileSchema.safeParse(parsed);
  if (!lock.success) throw new ConfigError(`Cannot fingerprint step code: ${file} has no "packages" map of versions (lockfileVersion 2 or 3 expected)`);
  const versions = new Map<string, string>();
  for (const [location, entry] of Object.entries(lock.data.packages)) {
    const top = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(location);
    if (top?.[1] !== undefined && entry.version !== undefined) versions.set(top[1], entry.version);
  }
  return versions;
}

/**
 * The fingerprint of the module graph rooted at `entry` (a path under `root`). Throws ConfigError
 * naming the importing file when a relative import does not resolve: a fingerprint that silently
 * left a file out could let changed code keep serving old results.
 */
export async function fingerprintModuleGraph(root: string, entry: string, versions: ReadonlyMap<string, string>): Promise<ModuleGraphFingerprint> {
  const contents = new Map<string, string>();
  const packages = new Set<string>();
  const pending = [path.resolve(root, entry)];
  while (pending.length > 0) {
    const file = pending.pop();
    if (file === undefined) break;
    const relative = path.relative(root, file).split(path.sep).join('/');
    if (contents.has(relative)) continue;
    let source: string;
    try {
      source = await readFile(file, 'utf8');
    } catch {
      throw new ConfigError(`Cannot fingerprint step code: cannot read ${relative}`);
    }
    contents.set(relative, createHash('sha256').update(source).digest('hex'));
    for (const specifier of runtimeImports(source)) {
      if (specifier.startsWith('.')) pending.push(path.resolve(path.dirname(file), specifier));
      else if (!isBuiltin(specifier)) {
        const name = packageName(specifier);
        packages.add(`${name}@${versions.get(name) ?? 'unlocked'}`);
      }
    }
  }
  const files = [...contents.keys()].sort();
  const packageList = [...packages].sort();
  const hash = createHash('sha256');
  for (const file of files) hash.update(`file ${file} ${contents.get(file)}\n`);
  for (const name of packageList) hash.update(`package ${name}\n`);
  return { fingerprint: hash.digest('hex'), files, packages: packageList };
}

/** Fingerprints of the code of each step kind (activities/steps/<kind>.ts), by kind. */
export async function fingerprintStepKinds(kinds: readonly string[], root: string = PROJECT_ROOT): Promise<Record<string, ModuleGraphFingerprint>> {
  const versions = await lockedVersions(root);
  const entries = await Promise.all(kinds.map(async (uses) => [uses, await fingerprintModuleGraph(root, `activities/steps/${uses}.ts`, versions)] as const));
  return Object.fromEntries(entries);
}
