import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { z } from 'zod';
import { startCliWorker, type CliWorker } from '../helpers/cli-worker.ts';
import { TEST_RUN_ENVS_DIR } from '../helpers/run-envs.ts';
import { startTestServers, type TestServers, workerStorageEnv } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

const exec = promisify(execFile);

const TABULAR = 'pipelines/examples/tabular-sklearn/pipeline.yaml';
const PNEUMONIA_TORCH = 'pipelines/examples/pneumonia-torch/pipeline.yaml';
const RUN_LOGS = 'test/fixtures/pipelines/run-logs/pipeline.yaml';

const runResultSchema = z.object({
  workflowId: z.string(),
  status: z.enum(['completed', 'failed']).optional(),
  outputs: z.record(z.string(), z.unknown()).optional(),
  failure: z.object({ step: z.string().optional(), type: z.string(), message: z.string() }).optional(),
});
const showSchema = z.object({
  status: z.string(),
  steps: z.array(z.object({ id: z.string(), state: z.string(), trials: z.array(z.object({ index: z.number(), state: z.string() })).optional() })),
});
const reproduceSchema = z.object({ reproduced: z.boolean(), steps: z.array(z.object({ step: z.string(), result: z.string(), differing: z.array(z.string()).optional() })) });
const fitOutputsSchema = z.object({
  predictions: z.string(),
  valPredictions: z.string(),
  model: z.string(),
  metrics: z.object({ valAuc: z.number() }),
  selectedTrial: z.object({ index: z.number(), matrix: z.object({ C: z.number() }) }),
});
const evaluateOutputsSchema = z.object({ metrics: z.object({ auc: z.number(), accuracy: z.number() }), thresholdMethod: z.string(), thresholdDecision: z.object({ moved: z.boolean() }) });
const publishOutputsSchema = z.object({ version: z.number(), promoted: z.boolean() });

/**
 * The shipped examples on the real stack with a real worker process: the tabular one end to end
 * (its Python environment is built once into .tools/run-envs and reused by every later CI run),
 * served from the cache the second time, and reproduced identically; the GPU one validated only.
 */
describe('the run step examples, and mlp logs of a run step, with a real worker process', function () {
  // The first build of the scikit-learn environment downloads about 60 MB.
  this.timeout(600_000);
  let servers: TestServers;
  let cli: CliWorker;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'run-examples' });
    cli = startCliWorker(servers, { prefix: 'run-examples', env: { MLP_RUN_DIR: join(servers.dir, 'run'), MLP_RUN_ENVS_DIR: TEST_RUN_ENVS_DIR } });
  });

  after(async () => {
    await cli?.stop();
    await servers?.stop();
  });

  /** `mlp <args>` with the connection flags, as a node command line. */
  const cliArgs = (args: string[]): string[] => [
    '--import',
    'tsx',
    'client/bin.ts',
    ...args,
    ...['--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', 'run-examples'],
  ];
  /** The worker's storage settings: `mlp run` uploads the run steps' code before it submits. */
  const cliEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    ...workerStorageEnv(servers.storage),
  });

  async function mlp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await exec(process.execPath, cliArgs(args), { env: cliEnv(), maxBuffer: 32 * 1024 * 1024 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      return z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
    }
  }

  async function json<T>(schema: z.ZodType<T>, ...args: string[]): Promise<T> {
    const result = await mlp(...args, '--json');
    assert.equal(result.code, 0, `mlp ${args.join(' ')} exited ${result.code}: ${result.stderr}\n${result.stdout}`);
    return schema.parse(JSON.parse(result.stdout));
  }

  it('tabular-sklearn runs end to end, is served from the cache the second time, and reproduces identically', async () => {
    const first = await json(runResultSchema, 'run', TABULAR, '--run-key', 'first', '--wait');
    assert.equal(first.status, 'completed', JSON.stringify(first.failure));
    const fit = fitOutputsSchema.parse(first.outputs?.['fit']);
    assert.match(fit.predictions, /^artifacts\/[0-9a-f]{64}\/predictions$/, 'a file output is content-addressed under its name');
    assert.match(fit.model, /^artifacts\/[0-9a-f]{64}\/$/, 'a folder output is a prefix');
    assert.ok(fit.metrics.valAuc > 0.95, `validation AUC ${fit.metrics.valAuc}`);
    const evaluation = evaluateOutputsSchema.parse(first.outputs?.['evaluate']);
    assert.ok(evaluation.metrics.auc > 0.95, `test AUC ${evaluation.metrics.auc}`);
    assert.equal(evaluation.thresholdMethod, evaluation.thresholdDecision.moved ? 'youden' : 'default', 'auto: 0.5 unless the bootstrap moves it to Youden');
    const published = publishOutputsSchema.parse(first.outputs?.['publish']);
    assert.deepEqual(published, { version: 1, promoted: true });

    const logs = await mlp('logs', first.workflowId, `fit#${fit.selectedTrial.index}`);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`C=${fit.selectedTrial.matrix.C}: validation AUC ${fit.metrics.valAuc.toFixed(4)}`));
    assert.doesNotMatch(logs.stdout, /::mlp progress/, 'progress lines drive the bar, not the log');

    const second = await json(runResultSchema, 'run', TABULAR, '--run-key', 'second', '--wait');
    assert.equal(second.status, 'completed', JSON.stringify(second.failure));
    const shown = await json(showSchema, 'show', second.workflowId);
    const states = Object.fromEntries(shown.steps.map((step) => [step.id, step.state]));
    assert.deepEqual(states, { prepare: 'cached', fit: 'succeeded', evaluate: 'cached', publish: 'succeeded' });
    assert.deepEqual(shown.steps.find((step) => step.id === 'fit')?.trials?.map((trial) => trial.state), ['cached', 'cached', 'cached']);
    assert.deepEqual(second.outputs?.['fit'], first.outputs?.['fit'], 'the cache served the same artifacts');

    const reproduced = await json(reproduceSchema, 'reproduce', first.workflowId);
    assert.deepEqual(
      reproduced.steps.filter((step) => step.result !== 'identical'),
      [],
      'every step, re-run without the cache, gives the same outputs',
    );
    assert.equal(reproduced.reproduced, true);
  });

  it('mlp logs --follow prints a run step’s lines while its command runs, then the rest, and exits when the step ended', async () => {
    const gate = join(servers.dir, `gate-${randomUUID()}`);
    const started = await json(z.object({ workflowId: z.string() }), 'run', RUN_LOGS, '--set', `gate=${gate}`);
    const follower = spawn(process.execPath, cliArgs(['logs', started.workflowId, 'talk', '--follow', '--interval', '500']), {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const printed: string[] = [];
    let stderr = '';
    createInterface({ input: follower.stdout }).on('line', (line) => printed.push(line));
    follower.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));

    await waitUntil('both lines the command printed before its gate', async () => (printed.length >= 2 ? true : undefined), { timeoutMs: 90_000 });
    assert.deepEqual([...printed].sort(), ['line 1: started', 'line 2: on stderr'], 'stdout and stderr, as they came');
    const running = await json(showSchema, 'show', started.workflowId);
    assert.equal(running.steps[0]?.state, 'running', 'the lines came while the command ran');

    writeFileSync(gate, '');
    assert.equal(await exited, 0, stderr);
    assert.equal(printed.length, 3, printed.join('\n'));
    assert.equal(printed[2], 'line 3: the gate opened');
  });

  it('pneumonia-torch, the GPU example, is a valid pipeline whose code and requirements package', async () => {
    // A user's check before submitting: no servers, no GPU, no download.
    const result = await exec(process.execPath, ['--import', 'tsx', 'client/bin.ts', 'validate', PNEUMONIA_TORCH]);
    assert.match(result.stdout, /pneumonia-torch\/pipeline\.yaml: valid \(5 steps/);
  });
});
