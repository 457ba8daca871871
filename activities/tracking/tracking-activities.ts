import { Context } from '@temporalio/activity';
import { temporalRunUrl } from '../../common/notifications.ts';
import {
  TRACKING_TAGS,
  type StepTracking,
  type TrackingOutcome,
  type TrackingStarted,
  type TrackRunEndRequest,
  type TrackRunStartRequest,
  type TrackStepEndRequest,
} from '../../common/tracking.ts';
import type { ObjectStore } from '../object-store.ts';
import { MlflowClient, type MlflowSettings, type MlflowTag } from './mlflow-client.ts';
import { requiredTrackingFailure, trackingProblem } from './tracking-errors.ts';
import { EpochWriter } from './epoch-metrics.ts';
import { findTrialRuns, trialRun } from './trial-runs.ts';

/** What the tracking activities need from the worker (a subset of ActivityDeps). */
export interface TrackingDeps {
  store: ObjectStore;
  /** MLFLOW_TRACKING_URI and its credentials; absent when the worker has no tracking server. */
  mlflow?: MlflowSettings;
  temporalUiUrl?: string;
  codeVersion?: string;
}

/** The alias MLflow's registry gets when this project's promotion gate promotes a version. */
export const PRODUCTION_ALIAS = 'production';

/** MLflow's limit on a param value. */
const PARAM_VALUE_LIMIT = 6000;

function paramValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > PARAM_VALUE_LIMIT ? `${text.slice(0, PARAM_VALUE_LIMIT - 1)}…` : text;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A run's finished trial records (`outputs.trials` of a sweep step). */
function trialRecords(outputs: Record<string, unknown>): { index: number; matrix: Record<string, string | number | boolean>; status: string; metric?: number }[] {
  const trials = outputs.trials;
  if (!Array.isArray(trials)) return [];
  return trials.filter(isRecord).flatMap((trial) =>
    typeof trial.index === 'number' && isRecord(trial.matrix) && typeof trial.status === 'string'
      ? [{ index: trial.index, matrix: trial.matrix as Record<string, string | number | boolean>, status: trial.status, ...(typeof trial.metric === 'number' ? { metric: trial.metric } : {}) }]
      : [],
  );
}

/**
 * The activities behind `tracking.mlflow` (workflows/track-run.ts calls them): one at the run's
 * start, one at the end of each step with something to log, one at the end. Each retries a
 * failed request briefly (mlflow-client.ts) and then answers a warning instead of failing, so
 * tracking is never the reason a run fails, unless the pipeline says `required: true`. Every
 * write is idempotent (found by tag before created, metrics by history), so a retried attempt
 * adds nothing twice.
 */
export function createTrackingActivities(deps: TrackingDeps) {
  const client = (): MlflowClient | undefined => (deps.mlflow === undefined ? undefined : new MlflowClient(deps.mlflow));

  /** Runs `work`; a failure becomes a warning (or, required, the run's failure naming the server). */
  async function guarded<T extends object>(required: boolean, work: (mlflow: MlflowClient) => Promise<T>): Promise<T | TrackingOutcome> {
    const mlflow = client();
    const problem = mlflow === undefined ? 'MLFLOW_TRACKING_URI is not set on this worker' : undefined;
    try {
      if (mlflow !== undefined) return await work(mlflow);
    } catch (error) {
      const reason = trackingProblem(error);
      if (required) throw requiredTrackingFailure(reason);
      Context.current().log.warn('MLflow tracking skipped; the run goes on', { error: reason });
      return { warning: reason };
    }
    if (required) throw requiredTrackingFailure(problem ?? 'no tracking server');
    return { warning: problem ?? 'no tracking server' };
  }

  return {
    /** Finds (an earlier attempt's, by Temporal run id) or creates the run's MLflow run, tags it and logs the params. */
    async trackRunStart(request: TrackRunStartRequest): Promise<TrackingStarted> {
      return guarded(request.mlflow.required, async (mlflow) => {
        const experimentId = await mlflow.ensureExperiment(request.mlflow.experiment);
        const mine = await mlflow.searchRuns(experimentId, `tags.\`${TRACKING_TAGS.temporalRunId}\` = '${request.temporalRunId.replace(/'/g, "\\'")}'`, 50);
        const existing = mine.find((run) => !(run.data.tags ?? []).some((tag) => tag.key === TRACKING_TAGS.trial));
        const { namespace } = Context.current().info;
        const tags: MlflowTag[] = [
          { key: TRACKING_TAGS.workflowId, value: request.workflowId },
          { key: TRACKING_TAGS.temporalRunId, value: request.temporalRunId },
          { key: TRACKING_TAGS.pipeline, value: request.pipeline },
          { key: TRACKING_TAGS.specHash, value: request.specHash },
          { key: 'mlflow.source.name', value: request.pipeline },
          { key: 'mlflow.source.type', value: 'JOB' },
          ...(deps.codeVersion === undefined ? [] : [{ key: TRACKING_TAGS.codeVersion, value: deps.codeVersion }, { key: 'mlflow.source.git.commit', value: deps.codeVersion }]),
          ...(deps.temporalUiUrl === undefined ? [] : [{ key: TRACKING_TAGS.temporalUrl, value: temporalRunUrl(deps.temporalUiUrl, namespace, request.workflowId, request.temporalRunId) }]),
        ];
        const runId = existing?.info.run_id ?? (await mlflow.createRun({ experimentId, runName: request.workflowId, startTime: Date.now(), tags })).run_id;
        const params = Object.entries(request.params).map(([key, value]) => ({ key, value: paramValue(value) }));
        await mlflow.logBatch(runId, { params, tags: existing === undefined ? [] : tags });
        const tracking: StepTracking = { experimentId, runId, required: request.mlflow.required };
        return { tracking };
      });
    },

    /** Evaluate: headline metrics and report, plots, predictions; publish: a model version (+ alias); a sweep: its trials' runs closed. */
    async trackStepEnd({ tracking, stepId, uses, outputs }: TrackStepEndRequest): Promise<TrackingOutcome> {
      return guarded(tracking.required, async (mlflow) => {
        const trials = trialRecords(outputs);
        if (uses === 'train') await backfillEpochs(mlflow, tracking, stepId, outputs, trials.length > 0);
        for (const trial of trials) {
          const run = await trialRun(mlflow, tracking, stepId, trial);
          if (trial.metric !== undefined) await mlflow.logBatch(run.info.run_id, { metrics: [{ key: `${stepId}.selectMetric`, value: trial.metric, step: 0, timestamp: 0 }] });
          if (run.info.status === 'RUNNING') await mlflow.updateRun(run.info.run_id, trial.status === 'succeeded' ? 'FINISHED' : 'FAILED', Date.now());
        }
        if (uses === 'evaluate') await logEvaluation(mlflow, tracking, stepId, outputs);
        if (uses === 'publish') await registerVersion(mlflow, tracking, outputs);
        return {};
      });
    },

    /** The run's (and any still-running trial run's) status: FINISHED, FAILED or KILLED. */
    async trackRunEnd({ tracking, status }: TrackRunEndRequest): Promise<TrackingOutcome> {
      return guarded(tracking.required, async (mlflow) => {
        const end = Date.now();
        for (const trial of await findTrialRuns(mlflow, tracking)) {
          if (trial.info.status === 'RUNNING') await mlflow.updateRun(trial.info.run_id, status, end);
        }
        await mlflow.updateRun(tracking.runId, status, end);
        return {};
      });
    },
  };

  /**
   * The epochs of the train step's history.json that MLflow lacks: none when the activity logged
   * them all; every one when the step was a cache hit (its epochs are the earlier run's) or the
   * server was down while it trained. In a sweep, the selected trial's (the only history the
   * step's outputs name).
   */
  async function backfillEpochs(mlflow: MlflowClient, tracking: StepTracking, stepId: string, outputs: Record<string, unknown>, swept: boolean): Promise<void> {
    if (typeof outputs.history !== 'string') return;
    let run = { runId: tracking.runId, startTime: 0 };
    const selected = isRecord(outputs.selectedTrial) ? outputs.selectedTrial : undefined;
    if (swept) {
      if (selected === undefined || typeof selected.index !== 'number' || !isRecord(selected.matrix)) return;
      const trial = await trialRun(mlflow, tracking, stepId, { index: selected.index, matrix: selected.matrix as Record<string, string | number | boolean> });
      run = { runId: trial.info.run_id, startTime: Number(trial.info.start_time ?? 0) };
    } else {
      run.startTime = Number((await mlflow.getRun(tracking.runId)).info.start_time ?? 0);
    }
    const recorded = await deps.store.getJson(outputs.history);
    const epochs = isRecord(recorded) && Array.isArray(recorded.history) ? recorded.history.filter(isRecord) : [];
    const writer = new EpochWriter(mlflow, run.runId, run.startTime, stepId);
    for (const { epoch, seconds: _seconds, examplesPerSecond: _rate, ...metrics } of epochs) {
      if (typeof epoch === 'number') await writer.write(epoch, metrics);
    }
  }

  async function logEvaluation(mlflow: MlflowClient, tracking: StepTracking, stepId: string, outputs: Record<string, unknown>): Promise<void> {
    const headline = isRecord(outputs.metrics) ? outputs.metrics : {};
    const metrics = Object.entries({ ...headline, threshold: outputs.threshold })
      .filter((entry): entry is [string, number] => typeof entry[1] === 'number' && Number.isFinite(entry[1]))
      .map(([name, value]) => ({ key: `${stepId}.${name}`, value, step: 0, timestamp: 0 }));
    const run = await mlflow.getRun(tracking.runId);
    const known = new Set((run.data.metrics ?? []).map((metric) => metric.key));
    // A retried attempt: the latest value of each key is already there.
    await mlflow.logBatch(tracking.runId, { metrics: metrics.filter((metric) => !known.has(metric.key)) });
    const files: [string, unknown][] = [
      [`${stepId}/report.md`, outputs.report],
      [`${stepId}/metrics.json`, outputs.metricsKey],
      [`${stepId}/predictions.json`, outputs.predictions],
      ...Object.entries(isRecord(outputs.plots) ? outputs.plots : {}).map(([name, key]): [string, unknown] => [`${stepId}/plots/${name}.png`, key]),
    ];
    for (const [path, key] of files) {
      if (typeof key !== 'string') continue;
      // PUT replaces: an attempt that uploads again writes the same bytes.
      await mlflow.uploadArtifact(run.info.artifact_uri, path, await deps.store.get(key));
    }
  }

  async function registerVersion(mlflow: MlflowClient, tracking: StepTracking, outputs: Record<string, unknown>): Promise<void> {
    const prefix = typeof outputs.prefix === 'string' ? outputs.prefix : undefined;
    const version = typeof outputs.version === 'number' ? outputs.version : undefined;
    const name = prefix?.split('/')[1];
    if (prefix === undefined || version === undefined || name === undefined) return;
    await mlflow.ensureRegisteredModel(name);
    const mine = await mlflow.searchModelVersions(`name = '${name}' and run_id = '${tracking.runId}'`);
    const registered =
      mine.find((candidate) => (candidate.tags ?? []).some((tag) => tag.key === TRACKING_TAGS.registryVersion && tag.value === String(version))) ??
      (await mlflow.createModelVersion({
        name,
        // The model's artifacts where this project's registry keeps them (models/<name>/<version>/).
        source: `s3://${deps.store.bucket}/${prefix}`,
        runId: tracking.runId,
        tags: [{ key: TRACKING_TAGS.registryVersion, value: String(version) }],
        ...(typeof outputs.reason === 'string' ? { description: outputs.reason } : {}),
      }));
    if (outputs.promoted === true) await mlflow.setAlias(name, PRODUCTION_ALIAS, registered.version);
  }
}

export type TrackingActivities = ReturnType<typeof createTrackingActivities>;
