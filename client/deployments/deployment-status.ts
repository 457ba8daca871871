import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { ConfigError } from '../../common/errors.ts';
import { currentBuildId, GRPC_STATUS, grpcStatusCode, rampingVersion } from '../../common/worker-deployment.ts';

/**
 * What `mlp deploy status` reports about a worker deployment: its versions (builds), which one
 * new runs go to (current, and ramping with its share), how many open runs each still has, and
 * whether a version the server no longer routes to is drained (no open pinned run needs it:
 * its workers may be stopped). Read from DescribeWorkerDeployment, DescribeWorkerDeploymentVersion
 * (the drainage the server refreshes periodically) and a visibility count per version.
 */

export type VersionRole = 'current' | 'ramping' | 'draining' | 'drained' | 'inactive';

export interface VersionStatus {
  buildId: string;
  role: VersionRole;
  /** Open runs (any workflow) whose execution is on this version, from visibility. */
  openRuns: number;
  /** When the server last checked drainage; absent while it is current or ramping. */
  drainageCheckedAt?: string;
  createdAt?: string;
}

export interface DeploymentStatus {
  deployment: string;
  namespace: string;
  current: string | null;
  ramping: { buildId: string; percent: number } | null;
  versions: VersionStatus[];
}

/** temporal.api.enums.v1.WorkerDeploymentVersionStatus → our words. */
const STATUS: Record<number, VersionRole> = { 1: 'inactive', 2: 'current', 3: 'ramping', 4: 'draining', 5: 'drained' };

function isoTime(timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!timestamp || timestamp.seconds === undefined || timestamp.seconds === null) return undefined;
  const seconds = Number(timestamp.seconds);
  return new Date(seconds * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6)).toISOString();
}

/** Quotes a value for a visibility query. */
function queryString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The deployment as the server describes it; a ConfigError naming it when no worker ever joined it. */
export async function describeOrExplain(
  client: Client,
  deploymentName: string,
): Promise<{ info: temporal.api.deployment.v1.IWorkerDeploymentInfo; conflictToken: Uint8Array | undefined }> {
  const namespace = client.options.namespace;
  try {
    const response = await client.connection.workflowService.describeWorkerDeployment({ namespace, deploymentName });
    if (response.workerDeploymentInfo) return { info: response.workerDeploymentInfo, conflictToken: response.conflictToken ?? undefined };
  } catch (error) {
    if (grpcStatusCode(error) !== GRPC_STATUS.NOT_FOUND) throw error;
  }
  throw new ConfigError(`No worker deployment "${deploymentName}" in namespace ${namespace}: no versioned worker has polled it yet (start one: \`mlp worker\`)`);
}

/** The deployment's status; a ConfigError naming it when no worker ever joined it. */
export async function deploymentStatus(client: Client, deploymentName: string): Promise<DeploymentStatus> {
  const namespace = client.options.namespace;
  const { info } = await describeOrExplain(client, deploymentName);
  const summaries = info.versionSummaries ?? [];
  const versions = await Promise.all(
    summaries.map(async (summary): Promise<VersionStatus> => {
      const buildId = summary.deploymentVersion?.buildId ?? '';
      const role: VersionRole = STATUS[summary.status ?? 0] ?? 'inactive';
      // Visibility records a run's version as `<deployment>:<build>` (the summary's own `version`
      // field still spells it with the older `.`).
      const openRuns = await client.workflow.count(`TemporalWorkerDeploymentVersion = ${queryString(`${deploymentName}:${buildId}`)} AND ExecutionStatus = 'Running'`);
      const drainageCheckedAt = role === 'draining' || role === 'drained' ? isoTime(summary.drainageInfo?.lastCheckedTime) : undefined;
      const createdAt = isoTime(summary.createTime);
      return { buildId, role, openRuns: openRuns.count, ...(drainageCheckedAt ? { drainageCheckedAt } : {}), ...(createdAt ? { createdAt } : {}) };
    }),
  );
  versions.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
  return {
    deployment: deploymentName,
    namespace,
    current: currentBuildId(info) ?? null,
    ramping: rampingVersion(info) ?? null,
    versions,
  };
}

/** The human form of `mlp deploy status`. */
export function formatDeploymentStatus(status: DeploymentStatus): string {
  const lines = [`deployment ${status.deployment} (namespace ${status.namespace})`];
  lines.push(`  current: ${status.current ?? 'none (unversioned workers)'}`);
  lines.push(`  ramping: ${status.ramping ? `${status.ramping.buildId} at ${status.ramping.percent}%` : 'none'}`);
  if (status.versions.length === 0) lines.push('  no versions');
  for (const version of status.versions) {
    const runs = `${version.openRuns} open run${version.openRuns === 1 ? '' : 's'}`;
    const note = version.role === 'drained' ? ' (no pinned run needs it: its workers can stop)' : version.role === 'draining' ? ' (pinned runs still need its workers)' : '';
    lines.push(`  ${version.buildId}  ${version.role}  ${runs}${note}`);
  }
  return lines.join('\n');
}
