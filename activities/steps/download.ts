import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { downloadStep } from '../../common/step-kinds/download.ts';
import { downloadDataset } from '../data/download-dataset.ts';
import { defineStep } from './define-step.ts';

/** The `download` step: fetches, verifies, extracts and imports a dataset (activities/data/). */
export const createDownloadActivity = defineStep(downloadStep, ({ store, scratchDir }) => async ({ input, context, log, heartbeat, signal }) => {
  // Same folder for every attempt of this step, so a retry finds the partial download.
  const scope = createHash('sha256').update(`${context.workflowId}\u0000${context.stepId}`).digest('hex').slice(0, 24);
  return {
    ...(await downloadDataset({
      input,
      workDir: join(scratchDir, 'download', scope),
      store,
      log,
      reportKey: `${context.runPrefix}import-report.json`,
      onProgress: heartbeat,
      signal,
    })),
  };
});
