import type { ActivityDeps } from '../deps.ts';
import type { ModelDescription, ModelSummary, PromoteRequest, PromoteResult } from '../../common/model-registry.ts';
import { ModelRegistryError } from '../../common/errors.ts';
import { registryKeys } from '../../common/model-registry.ts';
import { checkModelName, listModelNames, listVersions, readAlias, requireVersion, writeAlias } from './registry.ts';

/**
 * Registry reads and manual promotion, run as activities so the CLI needs no storage
 * credentials and every promotion is a workflow in Temporal's history. Names carry a `registry`
 * prefix: the workflows that call them (workflows/models.ts) take the short names.
 */
export function createRegistryActivities({ store }: ActivityDeps) {
  return {
    async registryListModels(): Promise<ModelSummary[]> {
      return Promise.all(
        (await listModelNames(store)).map(async (name) => ({
          name,
          versions: (await listVersions(store, name)).length,
          latest: (await readAlias(store, name, 'latest'))?.version ?? null,
          production: (await readAlias(store, name, 'production'))?.version ?? null,
        })),
      );
    },

    async registryDescribeModel(request: { name: string; version?: number }): Promise<ModelDescription> {
      checkModelName(request.name);
      const [versions, latest, production] = await Promise.all([
        listVersions(store, request.name),
        readAlias(store, request.name, 'latest'),
        readAlias(store, request.name, 'production'),
      ]);
      if (versions.length === 0) throw new ModelRegistryError(`Model '${request.name}' is not in the registry (no complete version under ${registryKeys.model(request.name)})`);
      return {
        name: request.name,
        aliases: { latest: latest ?? null, production: production ?? null },
        versions: versions.map((r) => ({ version: r.version, createdAt: r.createdAt, metrics: r.metrics, promoted: r.decision.promoted, reason: r.decision.reason, workflowId: r.lineage.workflowId })),
        record: request.version === undefined ? null : await requireVersion(store, request.name, request.version),
      };
    },

    /** Points `production` at an existing, complete version: a person's decision, so no gate. */
    async registryPromoteModel(request: PromoteRequest): Promise<PromoteResult> {
      checkModelName(request.name);
      await requireVersion(store, request.name, request.version);
      const alias = await writeAlias(store, request.name, 'production', request.version, request.reason);
      return { name: request.name, version: request.version, previousVersion: alias.previousVersion, reason: alias.reason };
    },
  };
}
