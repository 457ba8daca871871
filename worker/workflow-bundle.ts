import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** Entry point of every workflow the workers register. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The same workflows with their versioning behaviors declared: what a versioned worker registers. */
export const VERSIONED_WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/versioned.ts', import.meta.url));

const ACTIVITIES_DIR = fileURLToPath(new URL('../activities/', import.meta.url));

interface ResolveData {
  createData: { resource?: string };
  contextInfo: { issuer?: string };
}

/**
 * Webpack plugin that fails the bundle when workflow code imports an activity module by value.
 * Temporal's bundler already rejects Node built-ins; this closes the other hole: activity code
 * pulled into the sandbox (and run there) instead of being scheduled as an activity.
 * `import type` is erased before bundling, so type-only imports pass.
 */
class ForbidActivityImportsPlugin {
  apply(compiler: { hooks: { normalModuleFactory: { tap(name: string, fn: (factory: { hooks: { afterResolve: { tap(name: string, fn: (data: ResolveData) => void): void } } }) => void): void } } }): void {
    compiler.hooks.normalModuleFactory.tap('ForbidActivityImports', (factory) => {
      factory.hooks.afterResolve.tap('ForbidActivityImports', (data) => {
        const resource = data.createData.resource ?? '';
        if (resource.startsWith(ACTIVITIES_DIR)) {
          const issuer = data.contextInfo.issuer ? path.relative(process.cwd(), data.contextInfo.issuer) : 'workflow code';
          throw new Error(
            `${issuer} imports the activity module ${path.relative(process.cwd(), resource)} by value; ` +
              'workflows may only `import type` from activities/ and call them through proxyActivities',
          );
        }
      });
    });
  }
}

/**
 * Bundles workflow code for the sandbox, refusing Node built-ins (Temporal's check) and
 * by-value activity imports (ours). Used by the worker at start and by the bundle test.
 */
export async function bundleWorkflows(workflowsPath: string = WORKFLOWS_PATH): Promise<WorkflowBundleWithSourceMap> {
  // Webpack's own messages go to the logger; keep them so the thrown error says what is wrong.
  const problems: string[] = [];
  const logger = new DefaultLogger('WARN', ({ level, message }) => {
    if (level === 'ERROR' || level === 'WARN') problems.push(message);
  });
  try {
    return await bundleWorkflowCode({
      workflowsPath,
      logger,
      webpackConfigHook: (config) => ({ ...config, plugins: [...(config.plugins ?? []), new ForbidActivityImportsPlugin()] }),
    });
  } catch (error) {
    const details = problems.join('\n');
    throw new Error(`Cannot bundle workflows from ${path.relative(process.cwd(), workflowsPath)}:\n${details || (error as Error).message}`, { cause: error });
  }
}
