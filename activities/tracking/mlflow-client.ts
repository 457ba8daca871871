import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A small typed client for the parts of MLflow's REST API 2.0 this project logs through
 * (https://mlflow.org/docs/latest/rest-api.html): experiments, runs, metrics, artifacts through
 * the tracking server's proxy (`mlflow-artifacts`) and the model registry. No maintained Node
 * client covers tracking, so this is plain `fetch` with a short timeout and a few quick retries:
 * a tracking server that is down must cost a pipeline seconds, not minutes.
 */

/** Where the server is and how to authenticate (worker/config.ts reads them from the environment once). */
export interface MlflowSettings {
  /** MLFLOW_TRACKING_URI, e.g. http://mlflow:5000. */
  uri: string;
  /** MLFLOW_TRACKING_TOKEN: sent as a bearer token. */
  token?: string;
  /** MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD: HTTP basic auth. */
  username?: string;
  password?: string;
  /** Time one request may take. @default 5000 */
  requestTimeoutMs?: number;
  /** Attempts of one request (network errors, 429 and 5xx are retried). @default 3 */
  attempts?: number;
}

/** The URI as errors and logs may show it: never user:password. */
export function displayUri(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(an unparsable MLFLOW_TRACKING_URI)';
  }
}

/** A request MLflow refused or that never got an answer; the message names the server, never a credential. */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';
  constructor(
    message: string,
    /** MLflow's error_code (RESOURCE_DOES_NOT_EXIST, …), or UNREACHABLE when no answer came. */
    readonly code: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface MlflowTag {
  key: string;
  value: string;
}

export interface MlflowMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface MlflowRunInfo {
  run_id: string;
  experiment_id: string;
  status: string;
  artifact_uri: string;
  start_time?: number | string;
}

export interface MlflowRun {
  info: MlflowRunInfo;
  data: { metrics?: MlflowMetric[]; params?: MlflowTag[]; tags?: MlflowTag[] };
}

export interface MlflowModelVersion {
  name: string;
  version: string;
  source: string;
  run_id?: string;
  tags?: MlflowTag[];
  aliases?: string[];
}

const RETRY_BASE_MS = 250;

export class MlflowClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  readonly displayUri: string;

  constructor(private readonly settings: MlflowSettings) {
    this.base = settings.uri.replace(/\/+$/, '');
    this.displayUri = displayUri(settings.uri);
    this.headers = {};
    if (settings.token !== undefined) this.headers.authorization = `Bearer ${settings.token}`;
    else if (settings.username !== undefined) {
      this.headers.authorization = `Basic ${Buffer.from(`${settings.username}:${settings.password ?? ''}`).toString('base64')}`;
    }
  }

  /** One request with retries; answers the parsed JSON body (or the raw bytes for `raw`). */
  private async request(method: string, path: string, body?: { json?: unknown; bytes?: Uint8Array }): Promise<Response> {
    const attempts = this.settings.attempts ?? 3;
    let last: MlflowError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (attempt > 1) await sleep(RETRY_BASE_MS * 2 ** (attempt - 2));
      let response: Response;
      try {
        response = await fetch(`${this.base}${path}`, {
          method,
          headers: {
            ...this.headers,
            ...(body?.json !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(body?.bytes !== undefined ? { 'content-type': 'application/octet-stream' } : {}),
          },
          ...(body?.json !== undefined ? { body: JSON.stringify(body.json) } : {}),
          ...(body?.bytes !== undefined ? { body: body.bytes } : {}),
          signal: AbortSignal.timeout(this.settings.requestTimeoutMs ?? 5000),
          redirect: 'error',
        });
      } catch (error) {
        const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
        last = new MlflowError(`MLflow tracking server ${this.displayUri} did not answer ${method} ${path.split('?')[0]}: ${reason}`, 'UNREACHABLE');
        continue;
      }
      if (response.ok) return response;
      const text = await response.text().catch(() => '');
      let code = `HTTP_${response.status}`;
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error_code?: unknown; message?: unknown };
        if (typeof parsed.error_code === 'string') code = parsed.error_code;
        if (typeof parsed.message === 'string') message = parsed.message.slice(0, 300);
      } catch {
        // Not JSON (a proxy's error page): the start of the text is the message.
      }
      last = new MlflowError(`MLflow tracking server ${this.displayUri} refused ${method} ${path.split('?')[0]} (${response.status} ${code}): ${message}`, code, response.status);
      if (response.status !== 429 && response.status < 500) throw last;
    }
    throw last ?? new MlflowError(`MLflow tracking server ${this.displayUri}: no attempt made`, 'UNREACHABLE');
  }

  private async call<T>(method: 'GET' | 'POST', endpoint: string, payload: Record<string, unknown> = {}): Promise<T> {
    const path = `/api/2.0/mlflow/${endpoint}`;
    if (method === 'GET') {
      const query = new URLSearchParams(Object.entries(payload).map(([key, value]): [string, string] => [key, String(value)]));
      return (await (await this.request('GET', `${path}?${query}`)).json()) as T;
    }
    return (await (await this.request('POST', path, { json: payload })).json()) as T;
  }

  /** The experiment's id, creating it when missing (a concurrent create is taken as found). */
  async ensureExperiment(name: string): Promise<string> {
    const found = await this.experimentByName(name);
    if (found !== undefined) return found;
    try {
      return (await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id;
    } catch (error) {
      const again = error instanceof MlflowError && error.code === 'RESOURCE_ALREADY_EXISTS' ? await this.experimentByName(name) : undefined;
      if (again === undefined) throw error;
      return again;
    }
  }

  private async experimentByName(name: string): Promise<string | undefined> {
    try {
      return (await this.call<{ experiment: { experiment_id: string } }>('GET', 'experiments/get-by-name', { experiment_name: name })).experiment.experiment_id;
    } catch (error) {
      if (error instanceof MlflowError && error.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw error;
    }
  }

  async createRun(request: { experimentId: string; runName: string; startTime: number; tags: MlflowTag[] }): Promise<MlflowRunInfo> {
    const { run } = await this.call<{ run: MlflowRun }>('POST', 'runs/create', {
      experiment_id: request.experimentId,
      run_name: request.runName,
      start_time: request.startTime,
      tags: request.tags,
    });
    return run.info;
  }

  async getRun(runId: string): Promise<MlflowRun> {
    return (await this.call<{ run: MlflowRun }>('GET', 'runs/get', { run_id: runId })).run;
  }

  /** Runs of an experiment matching an MLflow filter, e.g. `tags.\`mlp.workflowId\` = 'x'`. */
  async searchRuns(experimentId: string, filter: string, maxResults = 100): Promise<MlflowRun[]> {
    const answer = await this.call<{ runs?: MlflowRun[] }>('POST', 'runs/search', { experiment_ids: [experimentId], filter, max_results: maxResults });
    return answer.runs ?? [];
  }

  async updateRun(runId: string, status: string, endTime?: number): Promise<void> {
    await this.call('POST', 'runs/update', { run_id: runId, status, ...(endTime === undefined ? {} : { end_time: endTime }) });
  }

  /** Metrics, params and tags in one request (MLflow's limits: 1000 metrics, 100 params, 100 tags). */
  async logBatch(runId: string, batch: { metrics?: MlflowMetric[]; params?: MlflowTag[]; tags?: MlflowTag[] }): Promise<void> {
    const params = batch.params ?? [];
    for (let start = 0; start < Math.max(params.length, 1); start += 100) {
      await this.call('POST', 'runs/log-batch', {
        run_id: runId,
        metrics: start === 0 ? (batch.metrics ?? []) : [],
        params: params.slice(start, start + 100),
        tags: start === 0 ? (batch.tags ?? []) : [],
      });
    }
  }

  async logParameter(runId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'runs/log-parameter', { run_id: runId, key, value });
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  async metricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    const answer = await this.call<{ metrics?: MlflowMetric[] }>('GET', 'metrics/get-history', { run_id: runId, metric_key: key, max_results: 25000 });
    return answer.metrics ?? [];
  }

  /**
   * Uploads one file through the artifact proxy. `artifactUri` is the run's `artifact_uri`
   * (`mlflow-artifacts:/<experiment>/<run>/artifacts`); `path` is relative to it.
   */
  async uploadArtifact(artifactUri: string, path: string, bytes: Uint8Array): Promise<void> {
    await this.request('PUT', `/api/2.0/mlflow-artifacts/artifacts/${proxyPath(artifactUri, path)}`, { bytes });
  }

  async downloadArtifact(artifactUri: string, path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request('GET', `/api/2.0/mlflow-artifacts/artifacts/${proxyPath(artifactUri, path)}`)).arrayBuffer());
  }

  async ensureRegisteredModel(name: string): Promise<void> {
    try {
      await this.call('POST', 'registered-models/create', { name });
    } catch (error) {
      if (!(error instanceof MlflowError && error.code === 'RESOURCE_ALREADY_EXISTS')) throw error;
    }
  }

  async searchModelVersions(filter: string): Promise<MlflowModelVersion[]> {
    return (await this.call<{ model_versions?: MlflowModelVersion[] }>('GET', 'model-versions/search', { filter, max_results: 200 })).model_versions ?? [];
  }

  async createModelVersion(request: { name: string; source: string; runId: string; tags: MlflowTag[]; description?: string }): Promise<MlflowModelVersion> {
    const answer = await this.call<{ model_version: MlflowModelVersion }>('POST', 'model-versions/create', {
      name: request.name,
      source: request.source,
      run_id: request.runId,
      tags: request.tags,
      ...(request.description === undefined ? {} : { description: request.description }),
    });
    return answer.model_version;
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', 'registered-models/alias', { name, alias, version });
  }

  async versionByAlias(name: string, alias: string): Promise<MlflowModelVersion | undefined> {
    try {
      return (await this.call<{ model_version: MlflowModelVersion }>('GET', 'registered-models/alias', { name, alias })).model_version;
    } catch (error) {
      if (error instanceof MlflowError && (error.code === 'RESOURCE_DOES_NOT_EXIST' || error.code === 'INVALID_PARAMETER_VALUE')) return undefined;
      throw error;
    }
  }
}

/** `mlflow-artifacts:/1/abc/artifacts` + `report/report.md` → `1/abc/artifacts/report/report.md`, each segment encoded. */
function proxyPath(artifactUri: string, path: string): string {
  const match = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
  if (match === null) throw new MlflowError(`artifact location ${artifactUri} is not served by the tracking server's proxy (start mlflow server with --serve-artifacts)`, 'NOT_PROXIED');
  const root = (match[1] ?? '').replace(/\/+$/, '');
  return `${root}/${path}`.split('/').filter((part) => part !== '').map(encodeURIComponent).join('/');
}
