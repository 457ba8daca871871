import { TRACKING_TAGS, type StepTracking } from '../../common/tracking.ts';
import type { MlflowClient, MlflowRun } from './mlflow-client.ts';

/** MLflow's tag that nests a run under another in the UI. */
export const PARENT_RUN_TAG = 'mlflow.parentRunId';

/** `train#1`: the trial tag's value (and the nested run's name). */
export function trialTag(stepId: string, index: number): string {
  return `${stepId}#${index}`;
}

function quoted(value: string): string {
  return `'${value.replace(/'/g, "\\'")}'`;
}

/** The run of the pipeline run's trials, by tag: found when an earlier attempt made it. */
export async function findTrialRuns(client: MlflowClient, tracking: Pick<StepTracking, 'experimentId' | 'runId'>): Promise<MlflowRun[]> {
  return client.searchRuns(tracking.experimentId, `tags.\`${PARENT_RUN_TAG}\` = ${quoted(tracking.runId)}`, 1000);
}

/**
 * A trial's nested run (tag mlflow.parentRunId, its matrix values as params), found by its trial
 * tag or created: every attempt of the trial, and the sweep's end, reach the same one.
 */
export async function trialRun(
  client: MlflowClient,
  tracking: Pick<StepTracking, 'experimentId' | 'runId'>,
  stepId: string,
  trial: { index: number; matrix: Record<string, string | number | boolean> } | undefined = (tracking as StepTracking).trial,
): Promise<MlflowRun> {
  if (trial === undefined) throw new Error(`step ${stepId} is not a sweep trial`);
  const tag = trialTag(stepId, trial.index);
  const found = await client.searchRuns(
    tracking.experimentId,
    `tags.\`${PARENT_RUN_TAG}\` = ${quoted(tracking.runId)} and tags.\`${TRACKING_TAGS.trial}\` = ${quoted(tag)}`,
    10,
  );
  const existing = found[0];
  if (existing !== undefined) return existing;
  const parent = await client.getRun(tracking.runId);
  const inherited = (parent.data.tags ?? []).filter((entry) => entry.key.startsWith('mlp.') && entry.key !== TRACKING_TAGS.warning);
  const info = await client.createRun({
    experimentId: tracking.experimentId,
    runName: tag,
    startTime: Date.now(),
    tags: [...inherited, { key: PARENT_RUN_TAG, value: tracking.runId }, { key: TRACKING_TAGS.trial, value: tag }],
  });
  await client.logBatch(info.run_id, { params: Object.entries(trial.matrix).map(([key, value]) => ({ key, value: String(value) })) });
  return { info, data: {} };
}
