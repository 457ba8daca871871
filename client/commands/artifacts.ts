import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { ArtifactPathError } from '../../common/errors.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { reportHelperWorkflowFailure } from '../runs/failure.ts';
import { printResult } from '../output.ts';
import { artifactPath, declaredArtifacts, requireFound, requireStep, resolveRequest, stepArtifacts, type DeclaredArtifact } from '../results/run-artifacts.ts';
import { loadRun } from '../results/run-results.ts';
import { downloadObject, locateStoredObjects, PRESIGN_SECONDS, sha256Hex } from '../results/stored-objects.ts';
import { formatBytes } from './gc.ts';

interface ArtifactsFlags extends ConnectionFlags {
  runId?: string;
  json?: boolean;
}

/** One listed artifact: what the step declared, and what is stored there now. */
export interface ListedArtifact extends DeclaredArtifact {
  stored: boolean;
  /** Objects under a folder (1 for a file). */
  objects: number;
}

export function formatArtifacts(run: string, bucket: string, artifacts: readonly ListedArtifact[]): string {
  if (artifacts.length === 0) return `run ${run} has no artifacts yet`;
  const pathWidth = Math.max(...artifacts.map((artifact) => artifact.path.length + (artifact.folder ? 1 : 0)));
  const lines = artifacts.map((artifact) => {
    const size = artifact.stored ? formatBytes(artifact.bytes ?? 0) : 'missing';
    const hash = artifact.sha256 === undefined ? '—'.padEnd(12) : artifact.sha256.slice(0, 12);
    const files = artifact.folder ? `  (${artifact.objects} files)` : '';
    return `${`${artifact.path}${artifact.folder ? '/' : ''}`.padEnd(pathWidth)}  ${size.padStart(9)}  ${hash}  ${artifact.output.padEnd(16)}  s3://${bucket}/${artifact.key}${files}`;
  });
  return [`${'path'.padEnd(pathWidth)}  ${'size'.padStart(9)}  ${'sha256'.padEnd(12)}  ${'output'.padEnd(16)}  key`, ...lines].join('\n');
}

/** `mlp artifacts <run> [step]` and `mlp artifacts get <run> <step>/<path>... [-o DIR]`. */
export function register(program: Command): void {
  // The listing is the default subcommand rather than the parent's own action, so the connection
  // flags after `get …` reach `get` instead of being taken by the parent.
  const artifacts = program.command('artifacts').description("A run's artifacts: list them (the default) or get them");
  withConnectionOptions(artifacts.command('list <workflowId> [step]', { isDefault: true }))
    .description("List what a run's steps wrote: path, size, sha256 (where recorded), output and object key")
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--json', 'print JSON')
    .action(async (workflowId: string, stepId: string | undefined, flags: ArtifactsFlags) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const { view } = await loadRun(client, workflowId, flags.runId);
        let declared = declaredArtifacts(view.steps);
        if (stepId !== undefined) declared = stepArtifacts(declared, requireStep(view.steps, stepId, workflowId), workflowId);
        const located = await locateStoredObjects(client, config, { targets: [...new Set(declared.map((artifact) => artifact.key))] });
        const byTarget = new Map(located.targets.map((target) => [target.target, target]));
        const listed: ListedArtifact[] = declared.map((artifact) => {
          const objects = byTarget.get(artifact.key)?.objects ?? [];
          const sha256 = artifact.sha256 ?? (artifact.folder ? undefined : objects[0]?.sha256);
          return {
            ...artifact,
            stored: objects.length > 0,
            objects: objects.length,
            bytes: objects.reduce((sum, object) => sum + object.size, 0),
            ...(sha256 === undefined ? {} : { sha256 }),
          };
        });
        printResult(flags, { workflowId, runId: view.runId, bucket: located.bucket, artifacts: listed }, () => formatArtifacts(workflowId, located.bucket, listed));
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });

  withConnectionOptions(artifacts.command('get <workflowId> <paths...>'))
    .description('Download artifacts of a run by <step>/<path> (a file or a folder; <step> alone: all it wrote) into DIR/<step>/<path>, checked against their recorded sha256')
    .option('-o, --output <dir>', 'folder to write into', '.')
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--json', 'print JSON')
    .action(async (workflowId: string, paths: string[], flags: ArtifactsFlags & { output: string }) => {
      const { client, config, close } = await connectClient(flags);
      try {
        const { view } = await loadRun(client, workflowId, flags.runId);
        const declared = declaredArtifacts(view.steps);
        const requests = paths.map((path) => resolveRequest(path, view.steps, declared, workflowId));
        const located = await locateStoredObjects(client, config, { targets: [...new Set(requests.flatMap((request) => request.targets))], presignSeconds: PRESIGN_SECONDS });
        const root = resolve(flags.output);
        const written: { path: string; file: string; key: string; bytes: number; sha256: string }[] = [];
        for (const request of requests) {
          for (const object of requireFound(request, located.targets, workflowId)) {
            // Written under its `<step>/<path>` name, as `mlp artifacts` lists it.
            const path = artifactPath(request.step, object.key);
            const file = resolve(root, path);
            // Keys come from the store; one that would climb out of the folder is refused, not followed.
            if (relative(root, file).startsWith(`..${sep}`) || relative(root, file) === '..') throw new ArtifactPathError(`Refusing to write ${object.key} outside ${root}`);
            const bytes = await downloadObject(object);
            await mkdir(dirname(file), { recursive: true });
            await writeFile(file, bytes);
            written.push({ path, file, key: object.key, bytes: bytes.length, sha256: sha256Hex(bytes) });
          }
        }
        printResult(flags, { workflowId, runId: view.runId, files: written }, () =>
          written.map((file) => `${formatBytes(file.bytes).padStart(9)}  ${relative(process.cwd(), file.file) || file.file}`).join('\n'),
        );
      } catch (error) {
        reportHelperWorkflowFailure(error);
      } finally {
        await close();
      }
    });
}
