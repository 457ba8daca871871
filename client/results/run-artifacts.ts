import { posix } from 'node:path';
import { ArtifactPathError } from '../../common/errors.ts';
import type { StepOutputs } from '../../common/step-activities.ts';
import { findStepKind } from '../../common/step-kinds/index.ts';
import { runStep } from '../../common/step-kinds/run.ts';
import type { LocatedTarget } from '../../common/stored-objects.ts';

/**
 * What a run's steps declared they wrote: each kind's `artifactOutputs` (common/step-kinds/*),
 * read from the step's outputs, and how `mlp artifacts get <run> <step>/<path>` names them.
 */

export interface DeclaredArtifact {
  step: string;
  uses: string;
  /** Output path, e.g. `report`, `plots.roc`, `artifacts.predictions`. */
  output: string;
  key: string;
  /** A folder (a run step's directory output): every object under `key`. */
  folder: boolean;
  /** What the step itself recorded (a run step's `artifacts` record). */
  sha256?: string;
  bytes?: number;
  /** `<step>/<path>`: what `mlp artifacts get` takes. */
  path: string;
}

export interface StepWithOutputs {
  id: string;
  uses: string;
  outputs?: StepOutputs;
}

/** The artifact fields of a kind; `run` is read by its own definition until it is registered. */
function artifactFields(uses: string): readonly string[] {
  const kind = findStepKind(uses) ?? (uses === runStep.uses ? runStep : undefined);
  return kind?.artifactOutputs ?? [];
}

/** `runs/<workflowId>/<stepId>/`: the folder a step writes in (another run's, for a cache hit). */
export function stepFolderOf(stepId: string, key: string): string | undefined {
  const [root, workflowId, step] = key.split('/');
  return root === 'runs' && workflowId && step === stepId ? `runs/${workflowId}/${stepId}/` : undefined;
}

/** The `<step>/<path>` name of a key: relative to the step's folder, else the key itself (datasets/…). */
export function artifactPath(stepId: string, key: string): string {
  const folder = stepFolderOf(stepId, key);
  return `${stepId}/${folder === undefined ? key : key.slice(folder.length)}`.replace(/\/$/, '');
}

interface Found {
  output: string;
  key: string;
  folder: boolean;
  sha256?: string;
  bytes?: number;
}

/**
 * Keys in an output value: a key, a list or a record of keys (evaluate's `plots`), or records
 * that describe an artifact with its `key` (a run step's `{ type, key, sha256, bytes }`).
 */
function collect(value: unknown, output: string, into: Found[]): void {
  if (typeof value === 'string') {
    into.push({ output, key: value, folder: value.endsWith('/') });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => collect(item, `${output}[${index}]`, into));
  } else if (typeof value === 'object' && value !== null) {
    const record: Record<string, unknown> = Object.fromEntries(Object.entries(value));
    if (typeof record['key'] === 'string') {
      const key = record['key'];
      into.push({
        output,
        key,
        folder: record['type'] === 'directory' || key.endsWith('/'),
        ...(typeof record['sha256'] === 'string' ? { sha256: record['sha256'] } : {}),
        ...(typeof record['bytes'] === 'number' ? { bytes: record['bytes'] } : {}),
      });
      return;
    }
    for (const [name, item] of Object.entries(record)) collect(item, `${output}.${name}`, into);
  }
}

/** Every artifact the steps declared, in step order. Steps that have not finished declare none. */
export function declaredArtifacts(steps: readonly StepWithOutputs[]): DeclaredArtifact[] {
  return steps.flatMap((step) => {
    if (step.outputs === undefined) return [];
    const found: Found[] = [];
    for (const field of artifactFields(step.uses)) collect(step.outputs[field], field, found);
    return found.map((artifact) => ({ step: step.id, uses: step.uses, ...artifact, path: artifactPath(step.id, artifact.key) }));
  });
}

/** A step of the run by id; an unknown id is an error listing the run's steps. */
export function requireStep<T extends { id: string }>(steps: readonly T[], stepId: string, run: string): T {
  const step = steps.find((candidate) => candidate.id === stepId);
  if (step === undefined) throw new ArtifactPathError(`Run ${run} has no step "${stepId}" (its steps: ${steps.map((candidate) => candidate.id).join(', ')})`);
  return step;
}

/** The step's artifacts; a step that declared none is an error saying why. */
export function stepArtifacts(artifacts: readonly DeclaredArtifact[], step: StepWithOutputs & { state?: string }, run: string): DeclaredArtifact[] {
  const own = artifacts.filter((artifact) => artifact.step === step.id);
  if (own.length > 0) return own;
  const why = step.outputs === undefined ? `it has no outputs${step.state === undefined ? '' : ` (state: ${step.state})`}` : `a ${step.uses} step declares no artifacts`;
  throw new ArtifactPathError(`Step "${step.id}" of run ${run} wrote nothing: ${why}`);
}

/** One `<step>/<path>` request resolved to the object-store targets to fetch. */
export interface ResolvedRequest {
  request: string;
  step: string;
  /** Object keys or folders (ending in /), as the `locateObjects` workflow takes them. */
  targets: string[];
}

/**
 * `<step>[/<path>]` → where it is stored. The path is relative to the step's folder (or names a
 * key the step declared outside it, such as a dataset manifest); `..`, absolute paths and
 * backslashes are refused, so no request leaves what the run wrote.
 */
export function resolveRequest(request: string, steps: readonly (StepWithOutputs & { state?: string })[], artifacts: readonly DeclaredArtifact[], run: string): ResolvedRequest {
  const [stepId = '', ...rest] = request.split('/');
  if (stepId === '' || request.startsWith('/') || request.includes('\\') || rest.some((segment) => segment === '..' || segment === '.') || stepId === '..' || stepId === '.') {
    throw new ArtifactPathError(`${request} is outside the run: give <step>/<path> relative to the step's folder, without '..' (\`mlp artifacts ${run}\` lists the paths)`);
  }
  const path = posix.normalize(rest.join('/')).replace(/^\.$/, '').replace(/\/+$/, '');
  const step = requireStep(steps, stepId, run);
  const own = stepArtifacts(artifacts, step, run);
  const folders = [...new Set(own.map((artifact) => stepFolderOf(stepId, artifact.key)).filter((folder) => folder !== undefined))];
  const outside = own.filter((artifact) => stepFolderOf(stepId, artifact.key) === undefined);
  if (path === '') return { request, step: stepId, targets: [...folders, ...outside.map((artifact) => artifact.key)] };
  const declaredOutside = outside.find((artifact) => artifact.key === path || path.startsWith(`${artifact.key.replace(/\/$/, '')}/`));
  if (declaredOutside !== undefined) return { request, step: stepId, targets: [path] };
  if (folders.length === 0) {
    throw new ArtifactPathError(`${request} is outside the run: step "${stepId}" wrote only ${outside.map((artifact) => artifact.path).join(', ')}`);
  }
  return { request, step: stepId, targets: folders.map((folder) => `${folder}${path}`) };
}

/** The targets' objects, or an error naming the request when nothing is stored there. */
export function requireFound(resolved: ResolvedRequest, located: readonly LocatedTarget[], run: string): LocatedTarget['objects'] {
  const objects = located.filter((target) => resolved.targets.includes(target.target)).flatMap((target) => target.objects);
  if (objects.length === 0) {
    throw new ArtifactPathError(`Nothing is stored at ${resolved.request} (${resolved.targets.join(', ')}); \`mlp artifacts ${run} ${resolved.step}\` lists what the step wrote`);
  }
  return objects;
}
