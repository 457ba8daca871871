import type { Client } from '@temporalio/client';
import { currentBuildId, rampingVersion } from '../../common/worker-deployment.ts';
import { describeOrExplain } from './deployment-status.ts';

/**
 * `mlp deploy promote` and `mlp deploy ramp`: SetWorkerDeploymentCurrentVersion and
 * SetWorkerDeploymentRampingVersion, guarded by the conflict token of the describe they follow
 * (two operators at once: the second fails instead of undoing the first). The server refuses a
 * build none of whose workers has polled, or one missing a task queue the current version
 * serves; its message is passed on as it is.
 */

export interface RoutingChange {
  deployment: string;
  buildId: string;
  /** What new runs went to before. */
  previous: { current: string | null; ramping: { buildId: string; percent: number } | null };
}

const IDENTITY = 'mlp deploy';

async function conflictToken(client: Client, deploymentName: string): Promise<{ token: Uint8Array | undefined; previous: RoutingChange['previous'] }> {
  const { info, conflictToken: token } = await describeOrExplain(client, deploymentName);
  return { token, previous: { current: currentBuildId(info) ?? null, ramping: rampingVersion(info) ?? null } };
}

/** Makes `buildId` the deployment's current version: every new run (and every auto-upgrade workflow) goes to it; pinned runs stay where they are. */
export async function promoteBuild(client: Client, deploymentName: string, buildId: string): Promise<RoutingChange> {
  const { token, previous } = await conflictToken(client, deploymentName);
  await client.connection.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: client.options.namespace,
    deploymentName,
    buildId,
    identity: IDENTITY,
    ...(token ? { conflictToken: token } : {}),
  });
  return { deployment: deploymentName, buildId, previous };
}

/** Sends `percent` % of new runs to `buildId`, the rest to the current version. */
export async function rampBuild(client: Client, deploymentName: string, buildId: string, percent: number): Promise<RoutingChange & { percent: number }> {
  const { token, previous } = await conflictToken(client, deploymentName);
  await client.connection.workflowService.setWorkerDeploymentRampingVersion({
    namespace: client.options.namespace,
    deploymentName,
    buildId,
    percentage: percent,
    identity: IDENTITY,
    ...(token ? { conflictToken: token } : {}),
  });
  return { deployment: deploymentName, buildId, percent, previous };
}
