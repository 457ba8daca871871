import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { PipelineSpecError } from '../../common/errors.ts';
import type { StepContext, StepOutputs } from '../../common/step-activities.ts';
import { downloadStep } from '../../common/step-kinds/download.ts';
import { subsetStep } from '../../common/step-kinds/subset.ts';
import type { ActivityDeps } from '../deps.ts';
import { downloadDataset } from './download-dataset.ts';
import type { DataLogger } from './logger.ts';
import { createSubset } from './subset.ts';

/** Heartbeat at most this often: each one is a server round trip. */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * The data step activities (`download`, `subset`). Inputs are validated with the step kinds'
 * schemas; the work itself lives in plain functions (`downloadDataset`, `createSubset`) that the
 * benchmark and tests call without Temporal.
 */
export function createDataActivities({ store, scratchDir }: ActivityDeps) {
  return {
    async downloadDataset(input: Record<string, unknown>, context: StepContext): Promise<StepOutputs> {
      const parsed = downloadStep.input.safeParse(input);
      if (!parsed.success) {
        throw new PipelineSpecError(`Invalid inputs of download step "${context.stepId}": ${parsed.error.message}`);
      }
      const activity = Context.current();
      const heartbeat = throttledHeartbeat(activity);
      // Same folder for every attempt of this step, so a retry finds the partial download.
      const scope = createHash('sha256').update(`${context.workflowId}\u0000${context.stepId}`).digest('hex').slice(0, 24);
      return { ...(await downloadDataset({
        input: parsed.data,
        workDir: join(scratchDir, 'download', scope),
        store,
        log: activityLogger(activity),
        reportKey: `${context.runPrefix}import-report.json`,
        onProgress: heartbeat,
        signal: activity.cancellationSignal,
      })) };
    },

    async subsetDataset(input: Record<string, unknown>, context: StepContext): Promise<StepOutputs> {
      const parsed = subsetStep.input.safeParse(input);
      if (!parsed.success) {
        throw new PipelineSpecError(`Invalid inputs of subset step "${context.stepId}": ${parsed.error.message}`);
      }
      const spec = parsed.data;
      const activity = Context.current();
      const heartbeat = throttledHeartbeat(activity);
      const result = await createSubset({
        spec: {
          datasetManifest: spec.datasetManifest,
          seed: spec.seed,
          train: { from: 'train', fraction: spec.fractions.train, maxPerClass: spec.maxPerClass },
          val: { from: 'train', fraction: spec.fractions.val, maxPerClass: spec.maxPerClass },
          test: { from: spec.testFrom, fraction: spec.fractions.test, maxPerClass: spec.maxPerClass },
          image: { width: spec.imageSize, height: spec.imageSize, channels: spec.channels, fit: spec.fit },
        },
        store,
        log: activityLogger(activity),
        onProgress: (progress) => heartbeat({ phase: 'preprocess', ...progress }),
      });
      return {
        trainManifest: result.splits.train.key,
        valManifest: result.splits.val.key,
        testManifest: result.splits.test.key,
        manifestHash: result.subsetHash,
        subsetRecord: result.subsetKey,
        counts: {
          train: result.splits.train.classCounts,
          val: result.splits.val.classCounts,
          test: result.splits.test.classCounts,
        },
        preprocessed: result.preprocessed,
      };
    },
  };
}

function activityLogger(activity: Context): DataLogger {
  return {
    info: (message, attrs) => activity.log.info(message, attrs),
    warn: (message, attrs) => activity.log.warn(message, attrs),
  };
}

/** Heartbeats progress details, at most once a second (always the latest value). */
function throttledHeartbeat(activity: Context): (details: object) => void {
  let last = 0;
  return (details) => {
    const now = Date.now();
    if (now - last < HEARTBEAT_EVERY_MS) return;
    last = now;
    activity.heartbeat(details);
  };
}
