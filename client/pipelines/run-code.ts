import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { RunCodeError } from '../../common/errors.ts';
import type { SpecIssue } from '../../common/pipeline-spec/index.ts';
import type { UnhashedPipeline } from '../../common/pipeline-spec/resolve.ts';
import type { ResolvedStep } from '../../common/resolved-pipeline.ts';
import { PACKAGED_CODE } from '../../common/step-kinds/run.ts';
import { EXCLUDED_CODE_NAMES, packageCodeFolder, type PackagedCode } from './code-package.ts';

/**
 * The code folders of a pipeline's `run` steps, checked and packaged before the run is
 * submitted: each `with.code` (a folder relative to the pipeline file) becomes `sha256:<hex>`,
 * the archive the run will execute. Submitting then uploads the archives (client/pipelines/code-upload.ts),
 * so the spec hash, `mlp reproduce` and `mlp rerun` all name exactly the code that was submitted.
 */

/** The `uses:` of the step kind whose code is packaged. */
export const RUN_STEP_KIND = 'run';

/** One packaged folder and the steps that run it. */
export interface RunCode extends PackagedCode {
  /** The folder as the (first) step wrote it. */
  folder: string;
  steps: string[];
}

export interface PackagedRunSteps {
  /** The pipeline with every run step's `with.code` replaced by `sha256:<hex>`. */
  pipeline: UnhashedPipeline;
  /** One entry per distinct archive, in step order. */
  code: RunCode[];
  /** Problems at the `code` / `python.requirements` fields (the pipeline is then not runnable). */
  issues: SpecIssue[];
}

export interface PackageRunStepsOptions {
  /** Folder of the pipeline file: `code` is relative to it and may not leave it. */
  baseDir: string;
  maxBytes?: number;
}

function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A folder or file a step names, as the user sees it from the current directory. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** The code folder's absolute (real) path, or the problem with it. */
async function codeFolder(code: string, baseDir: string, baseReal: string): Promise<{ folder: string; real: string } | { problem: string }> {
  if (code.includes('${{')) {
    return { problem: `code "${code}": the code folder must be known when the run is submitted (no \${{ matrix.* }} or \${{ steps.* }})` };
  }
  if (isAbsolute(code)) return { problem: `code "${code}": expected a folder relative to the pipeline file, not an absolute path` };
  const folder = resolve(baseDir, code);
  if (!isInside(baseDir, folder)) return { problem: `code "${code}" leaves the pipeline file's folder: the code must be in it or below it` };
  const info = await stat(folder).catch(() => undefined);
  if (info === undefined) return { problem: `code "${code}": no such folder (looked for ${shown(folder)})` };
  if (!info.isDirectory()) return { problem: `code "${code}": ${shown(folder)} is a file, expected a folder` };
  const real = await realpath(folder);
  if (!isInside(baseReal, real)) return { problem: `code "${code}" leads through a symlink out of the pipeline file's folder (to ${real})` };
  return { folder, real };
}

/** Why `requirements` does not name a file the archive of `folder` holds, or undefined. */
async function requirementsProblem(requirements: string, folder: string, real: string): Promise<string | undefined> {
  const what = `python.requirements "${requirements}"`;
  if (requirements.includes('${{')) return `${what}: must be known when the run is submitted (no \${{ … }})`;
  if (isAbsolute(requirements)) return `${what}: expected a path inside the code folder, not an absolute path`;
  const file = resolve(folder, requirements);
  if (!isInside(folder, file)) return `${what} leaves the code folder: the requirements file must be inside it`;
  const excluded = relative(folder, file).split(sep).find((part) => EXCLUDED_CODE_NAMES.has(part));
  if (excluded !== undefined) return `${what} is under ${excluded}, which is left out of the packaged code`;
  const info = await stat(file).catch(() => undefined);
  if (info === undefined) return `${what}: no such file in the code folder (looked for ${shown(file)})`;
  if (!info.isFile()) return `${what}: ${shown(file)} is not a file`;
  if (!isInside(real, await realpath(file))) return `${what} leads through a symlink out of the code folder`;
  return undefined;
}

/**
 * Checks and packages the code of every `run` step of `pipeline` (`pipeline.steps[i]` is the
 * file's `steps[i]`, as resolvePipeline makes it). A folder several steps share is packaged once.
 * A `code` already of the form `sha256:<hex>` is kept: it names an archive stored earlier.
 */
export async function packageRunSteps(pipeline: UnhashedPipeline, options: PackageRunStepsOptions): Promise<PackagedRunSteps> {
  const baseDir = resolve(options.baseDir);
  const baseReal = await realpath(baseDir);
  const issues: SpecIssue[] = [];
  const byFolder = new Map<string, PackagedCode | { problem: string }>();
  const bySha256 = new Map<string, RunCode>();

  const steps: ResolvedStep[] = [];
  for (const [index, step] of pipeline.steps.entries()) {
    const written = step.with['code'];
    if (step.uses !== RUN_STEP_KIND || typeof written !== 'string' || PACKAGED_CODE.test(written)) {
      steps.push(step);
      continue;
    }
    const at = ['steps', index, 'with'];
    const located = await codeFolder(written, baseDir, baseReal);
    if ('problem' in located) {
      issues.push({ path: [...at, 'code'], message: located.problem });
      steps.push(step);
      continue;
    }
    const python = step.with['python'];
    const requirements = isRecord(python) ? python['requirements'] : undefined;
    if (typeof requirements === 'string') {
      const problem = await requirementsProblem(requirements, located.folder, located.real);
      if (problem !== undefined) issues.push({ path: [...at, 'python', 'requirements'], message: problem });
    }
    const packaged = byFolder.get(located.real) ?? (await packageOrProblem(written, located.folder, options.maxBytes));
    byFolder.set(located.real, packaged);
    if ('problem' in packaged) {
      issues.push({ path: [...at, 'code'], message: packaged.problem });
      steps.push(step);
      continue;
    }
    // Two folders with the same files are one archive, uploaded once.
    const entry = bySha256.get(packaged.sha256) ?? { ...packaged, folder: written, steps: [] };
    bySha256.set(packaged.sha256, entry);
    entry.steps.push(step.id);
    steps.push({ ...step, with: { ...step.with, code: `sha256:${packaged.sha256}` } });
  }
  const code = [...bySha256.values()];
  return { pipeline: { ...pipeline, steps }, code, issues };
}

async function packageOrProblem(written: string, folder: string, maxBytes: number | undefined): Promise<PackagedCode | { problem: string }> {
  try {
    return await packageCodeFolder(shown(folder), maxBytes === undefined ? {} : { maxBytes });
  } catch (error) {
    if (error instanceof RunCodeError) return { problem: `code "${written}": ${error.message}` };
    throw error;
  }
}
