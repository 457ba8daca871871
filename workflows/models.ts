import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ModelDescription, ModelSummary, PromoteRequest, PromoteResult } from '../activities/registry/index.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.ts';

/**
 * `mlp models list | show | promote` as short workflows: the CLI holds no storage credentials,
 * and every promotion is recorded in Temporal's history (who, when, which version). They run on
 * the workflow task queue (the cpu queue), which the cpu worker polls.
 */
const registry = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

/** Every model in the registry with its version count and aliases. */
export async function listModels(): Promise<ModelSummary[]> {
  return registry.registryListModels();
}

/** A model's aliases and versions; with `version`, that version's full record (metrics, lineage, gate). */
export async function describeModel(request: { name: string; version?: number }): Promise<ModelDescription> {
  return registry.registryDescribeModel(request);
}

/** Points the model's `production` alias at an existing version (a person's decision: no gate). */
export async function promoteModel(request: PromoteRequest): Promise<PromoteResult> {
  return registry.registryPromoteModel(request);
}
