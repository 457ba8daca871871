import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../common/search-attributes.ts';
import type { StepOutputs } from '../common/step-activities.ts';

/**
 * Search attributes a finished step contributes, so runs can be found by what they produced:
 * `DatasetHash` from a `datasetHash` output (the download step's dataset identity) and
 * `ModelVersion` as `<name>/<version>` from the publish step (or a `modelVersion` output).
 */
export function searchAttributesFromOutputs(
  uses: string,
  inputs: Readonly<Record<string, unknown>>,
  outputs: StepOutputs,
): SearchAttributeUpdatePair[] {
  const pairs: SearchAttributeUpdatePair[] = [];
  if (typeof outputs.datasetHash === 'string') {
    pairs.push({ key: PIPELINE_SEARCH_ATTRIBUTES.DatasetHash, value: outputs.datasetHash });
  }
  if (typeof outputs.modelVersion === 'string') {
    pairs.push({ key: PIPELINE_SEARCH_ATTRIBUTES.ModelVersion, value: outputs.modelVersion });
  } else if (uses === 'publish' && typeof inputs.name === 'string' && typeof outputs.version === 'number') {
    pairs.push({ key: PIPELINE_SEARCH_ATTRIBUTES.ModelVersion, value: `${inputs.name}/${outputs.version}` });
  }
  return pairs;
}
