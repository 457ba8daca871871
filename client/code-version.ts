import { execFileSync, type ExecFileSyncOptionsWithStringEncoding } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from './servers/binaries.ts';

const PackageJsonSchema = z.object({ version: z.string().min(1) });

/** The version in the checkout's package.json (what a release is called). */
export function packageVersion(): string {
  return PackageJsonSchema.parse(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'))).version;
}

/** The checkout's git commit, `-dirty` when tracked files differ from it; undefined outside a git checkout. */
function gitCommit(): string | undefined {
  // git's own complaint outside a checkout (a copied or unpacked tree) is no news to the user.
  const options: ExecFileSyncOptionsWithStringEncoding = { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] };
  try {
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], options).trim() !== '';
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], options).trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return undefined;
  }
}

/**
 * The code version a worker started from this checkout records in published models' lineage:
 * `MLP_CODE_VERSION` when set (an image built with its commit baked in), else the git commit.
 * The package version alone cannot tell two builds of 0.1.0 apart; the commit can.
 */
export function codeVersion(env: NodeJS.ProcessEnv = process.env): string {
  return env['MLP_CODE_VERSION'] || gitCommit() || 'unknown';
}

/** What `mlp --version` prints: the package version, then the code version. */
export function versionText(env: NodeJS.ProcessEnv = process.env): string {
  return `mlp ${packageVersion()}\ncode ${codeVersion(env)}`;
}
