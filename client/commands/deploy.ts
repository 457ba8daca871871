import { InvalidArgumentError, type Command } from 'commander';
import { BUILD_ID_PATTERN, DEFAULT_DEPLOYMENT_NAME, DEPLOYMENT_NAME_PATTERN } from '../../common/worker-deployment.ts';
import { connectClient, withConnectionOptions, type ConnectionFlags } from '../connection.ts';
import { deploymentStatus, formatDeploymentStatus } from '../deployments/deployment-status.ts';
import { promoteBuild, rampBuild, type RoutingChange } from '../deployments/deployment-routing.ts';
import { printResult } from '../output.ts';

interface DeployFlags extends ConnectionFlags {
  deployment: string;
  json?: boolean;
}

function deploymentName(value: string): string {
  if (!DEPLOYMENT_NAME_PATTERN.test(value)) throw new InvalidArgumentError('expected letters, digits, - and _');
  return value;
}

function buildId(value: string): string {
  if (!BUILD_ID_PATTERN.test(value)) throw new InvalidArgumentError('expected a build ID: letters, digits, ., - and _ (see `mlp deploy status`)');
  return value;
}

function percent(value: string): number {
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || parsed > 100) throw new InvalidArgumentError('expected a percentage from 0 to 100');
  return parsed;
}

function withDeploymentOptions(command: Command): Command {
  return withConnectionOptions(command)
    .option('--deployment <name>', 'worker deployment (env MLP_DEPLOYMENT_NAME)', deploymentName, process.env['MLP_DEPLOYMENT_NAME'] ?? DEFAULT_DEPLOYMENT_NAME)
    .option('--json', 'print the result as JSON');
}

function describePrevious(previous: RoutingChange['previous']): string {
  const ramp = previous.ramping ? `, ${previous.ramping.buildId} ramping at ${previous.ramping.percent}%` : '';
  return `was: current ${previous.current ?? 'none'}${ramp}`;
}

/**
 * `mlp deploy status | promote | ramp`: Worker Versioning rollouts (docs/production.md,
 * "Upgrading workers"), thin over the server's Worker Deployment API.
 */
export function register(program: Command): void {
  const deploy = program.command('deploy').description('Roll out a new worker build: which builds run what, promote, ramp');

  withDeploymentOptions(deploy.command('status'))
    .description('Versions (builds) of the worker deployment: current, ramping, open runs of each, drained or not')
    .action(async (flags: DeployFlags) => {
      const { client, close } = await connectClient(flags);
      try {
        const status = await deploymentStatus(client, flags.deployment);
        printResult(flags, status, () => formatDeploymentStatus(status));
      } finally {
        await close();
      }
    });

  withDeploymentOptions(deploy.command('promote'))
    .argument('<build>', 'build ID of a version (`mlp deploy status`)', buildId)
    .description('Make a build current: new runs start on it; open runs finish on the build they started on')
    .action(async (build: string, flags: DeployFlags) => {
      const { client, close } = await connectClient(flags);
      try {
        const change = await promoteBuild(client, flags.deployment, build);
        printResult(flags, change, () => `${change.deployment}: ${change.buildId} is current (${describePrevious(change.previous)})`);
      } finally {
        await close();
      }
    });

  withDeploymentOptions(deploy.command('ramp'))
    .argument('<build>', 'build ID of a version (`mlp deploy status`)', buildId)
    .argument('<percent>', 'share of new runs, 0 to 100 (0 stops sending new runs to it)', percent)
    .description('Send a share of new runs (0-100 %) to a build, the rest to the current one')
    .action(async (build: string, share: number, flags: DeployFlags) => {
      const { client, close } = await connectClient(flags);
      try {
        const change = await rampBuild(client, flags.deployment, build, share);
        printResult(flags, change, () => `${change.deployment}: ${change.buildId} ramping at ${change.percent}% (${describePrevious(change.previous)})`);
      } finally {
        await close();
      }
    });
}
