import { ConfigError } from './errors.ts';

/**
 * Worker Versioning (Worker Deployments) as the workers and `mlp deploy` use it: the names, and
 * thin calls over the server's WorkflowService that both the worker process (NativeConnection)
 * and the CLI (Connection) make. The service is passed in, so nothing here opens a connection.
 */

/** A version as the server names it. */
interface DeploymentVersionRef {
  deploymentName?: string | null;
  buildId?: string | null;
}

/**
 * The part of the server's WorkerDeploymentInfo read here (fields as in @temporalio/proto's
 * temporal.api.deployment.v1.WorkerDeploymentInfo, which common/ does not import).
 */
export interface WorkerDeploymentInfo {
  name?: string | null;
  versionSummaries?: Array<{ deploymentVersion?: DeploymentVersionRef | null }> | null;
  routingConfig?: {
    currentDeploymentVersion?: DeploymentVersionRef | null;
    rampingDeploymentVersion?: DeploymentVersionRef | null;
    rampingVersionPercentage?: number | null;
  } | null;
}

/** The WorkflowService calls made here: what both NativeConnection's and Connection's services offer. */
export interface DeploymentService {
  listWorkerDeployments(request: { namespace: string; pageSize: number }): Promise<unknown>;
  describeWorkerDeployment(request: { namespace: string; deploymentName: string }): Promise<{
    workerDeploymentInfo?: WorkerDeploymentInfo | null;
    conflictToken?: Uint8Array | null;
  }>;
  setWorkerDeploymentCurrentVersion(request: {
    namespace: string;
    deploymentName: string;
    buildId: string;
    identity: string;
    conflictToken?: Uint8Array;
    ignoreMissingTaskQueues?: boolean;
  }): Promise<unknown>;
}

/** The deployment every worker joins unless MLP_DEPLOYMENT_NAME says otherwise. */
export const DEFAULT_DEPLOYMENT_NAME = 'ml-pipelines';

/**
 * What the server accepts in a deployment name and a build ID: it joins them as
 * `<deployment>:<build>` (older servers with `.`), so neither may hold `:`; a deployment name
 * holds no `.` either. At most 255 characters.
 */
export const DEPLOYMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/;
export const BUILD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/**
 * What a worker does about the deployment's Current Version once it polls:
 * - `if-none`: makes its own build current only when the deployment has none yet (a first
 *   install); later builds wait for `mlp deploy promote` / `ramp`.
 * - `always`: makes its own build current (a developer's `mlp worker`: the code just started is
 *   the code new runs should use).
 * - `never`: leaves routing alone (a Worker Controller or an operator owns it).
 */
export const SET_CURRENT_POLICIES = ['if-none', 'always', 'never'] as const;
export type SetCurrentPolicy = (typeof SET_CURRENT_POLICIES)[number];

/** The gRPC status codes this module tells apart (https://grpc.io/docs/guides/status-codes/). */
export const GRPC_STATUS = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9, ABORTED: 10, UNIMPLEMENTED: 12, UNAVAILABLE: 14 } as const;

/** The gRPC status code of a failed call, from either connection kind; undefined for other errors. */
export function grpcStatusCode(error: unknown): number | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

function messageOf(error: unknown): string {
  const details = typeof error === 'object' && error !== null ? (error as { details?: unknown }).details : undefined;
  if (typeof details === 'string' && details !== '') return details;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Fails with a ConfigError naming what to enable when the namespace refuses Worker Deployments
 * (the server's `system.enableDeploymentVersions` off, or a server too old for the API). Asked before the workers poll, so the process exits at start with the reason instead of
 * polling into errors.
 */
export async function assertWorkerDeploymentsEnabled(service: DeploymentService, where: { address: string; namespace: string }): Promise<void> {
  try {
    await service.listWorkerDeployments({ namespace: where.namespace, pageSize: 1 });
  } catch (error) {
    const code = grpcStatusCode(error);
    if (code !== GRPC_STATUS.PERMISSION_DENIED && code !== GRPC_STATUS.UNIMPLEMENTED) throw error;
    throw new ConfigError(
      `Worker versioning is on (MLP_WORKER_VERSIONING=on) but Temporal at ${where.address} refuses Worker Deployments ` +
        `on namespace "${where.namespace}": ${messageOf(error).replace(/\.$/, '')}. Enable them on the server with the dynamic config ` +
        '`system.enableDeploymentVersions: true` (on by default in Temporal server 1.29; the dev server takes ' +
        '`--dynamic-config-value system.enableDeploymentVersions=true`), or start the worker with MLP_WORKER_VERSIONING=off.',
      { cause: error },
    );
  }
}

/** The deployment as the server describes it, with the token that guards a change against races; undefined when it does not exist yet. */
export async function describeDeployment(
  service: DeploymentService,
  namespace: string,
  deploymentName: string,
): Promise<{ info: WorkerDeploymentInfo; conflictToken: Uint8Array | null | undefined } | undefined> {
  try {
    const response = await service.describeWorkerDeployment({ namespace, deploymentName });
    return response.workerDeploymentInfo ? { info: response.workerDeploymentInfo, conflictToken: response.conflictToken } : undefined;
  } catch (error) {
    if (grpcStatusCode(error) === GRPC_STATUS.NOT_FOUND) return undefined;
    throw error;
  }
}

/** Build ID of the deployment's Current Version; undefined when unversioned workers are current. */
export function currentBuildId(info: WorkerDeploymentInfo): string | undefined {
  return info.routingConfig?.currentDeploymentVersion?.buildId || undefined;
}

/** Build ID and percentage of the deployment's Ramping Version, if one ramps. */
export function rampingVersion(info: WorkerDeploymentInfo): { buildId: string; percent: number } | undefined {
  const buildId = info.routingConfig?.rampingDeploymentVersion?.buildId;
  return buildId ? { buildId, percent: info.routingConfig?.rampingVersionPercentage ?? 0 } : undefined;
}

export type CurrentVersionOutcome = 'already-current' | 'made-current' | 'other-current' | 'left-alone';

export interface EnsureCurrentOptions {
  namespace: string;
  deploymentName: string;
  buildId: string;
  policy: SetCurrentPolicy;
  /** Who made the change, recorded by the server (the worker's identity). */
  identity: string;
  /** Give up after this long without the version registered. @default 60 s */
  timeoutMs?: number;
  /** Stop looking (the worker is shutting down): resolves with 'left-alone'. */
  signal?: AbortSignal;
}

/** A pause that never keeps a stopping process alive. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer: unknown = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}

/**
 * Worth another look: a lost race (conflict token), a task queue of the current build that this
 * build's other process has not polled yet, or a server restarting.
 */
const RETRYABLE = new Set<number>([
  GRPC_STATUS.FAILED_PRECONDITION,
  GRPC_STATUS.ABORTED,
  GRPC_STATUS.NOT_FOUND,
  GRPC_STATUS.UNAVAILABLE,
  GRPC_STATUS.DEADLINE_EXCEEDED,
]);

/**
 * Applies a worker's set-current policy once its pollers have registered its version: the
 * version appears on the server only after the first poll, so this waits for it. Another worker
 * of the same build (the split layout's second process) may win the race; the conflict token
 * then makes this call fail and the next look finds the build already current.
 */
export async function ensureCurrentVersion(service: DeploymentService, options: EnsureCurrentOptions): Promise<CurrentVersionOutcome> {
  if (options.policy === 'never') return 'left-alone';
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastProblem = 'the deployment does not exist yet';
  for (;;) {
    if (options.signal?.aborted) return 'left-alone';
    let described: Awaited<ReturnType<typeof describeDeployment>> = undefined;
    try {
      described = await describeDeployment(service, options.namespace, options.deploymentName);
    } catch (error) {
      if (!RETRYABLE.has(grpcStatusCode(error) ?? -1)) throw error;
      lastProblem = messageOf(error);
    }
    if (described) {
      const current = currentBuildId(described.info);
      if (current === options.buildId) return 'already-current';
      if (current !== undefined && options.policy === 'if-none') return 'other-current';
      const registered = (described.info.versionSummaries ?? []).some((summary) => summary.deploymentVersion?.buildId === options.buildId);
      if (registered) {
        try {
          await service.setWorkerDeploymentCurrentVersion({
            namespace: options.namespace,
            deploymentName: options.deploymentName,
            buildId: options.buildId,
            identity: options.identity,
            ...(described.conflictToken ? { conflictToken: described.conflictToken } : {}),
            // `always` is a developer's own worker: it takes over even when it polls fewer queues
            // than the build before (`mlp worker --queues cpu` after a cpu,gpu worker).
            ...(options.policy === 'always' ? { ignoreMissingTaskQueues: true } : {}),
          });
          return 'made-current';
        } catch (error) {
          if (!RETRYABLE.has(grpcStatusCode(error) ?? -1)) throw error;
          lastProblem = messageOf(error);
        }
      } else {
        lastProblem = `build ${options.buildId} is not registered yet`;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`Cannot make build ${options.buildId} current in deployment ${options.deploymentName}: ${lastProblem}`);
    }
    await pause(250);
  }
}
