import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { ObjectStore } from '../../activities/object-store.ts';
import { ensureCodeFolder } from '../../activities/run/code-folder.ts';
import { packageCodeFolder } from '../../client/pipelines/code-package.ts';
import { recordedStart } from '../../client/runs/run-history.ts';
import { codeArchiveKey } from '../../common/object-keys.ts';
import { startTestServers, type TestServers, workerStorageEnv } from '../helpers/servers.ts';

const exec = promisify(execFile);

const startedSchema = z.object({
  workflowId: z.string(),
  specHash: z.string(),
  code: z.object({ uploaded: z.array(z.string()), present: z.array(z.string()) }),
});

const PIPELINE = `apiVersion: mlp/v1
name: code-upload
steps:
  - id: fit
    uses: run
    with:
      code: ./fit
      command: [node, fit.js]
      outputs:
        model: file
  - id: score
    uses: run
    needs: [fit]
    with:
      code: ./fit
      command: [node, fit.js, --score]
      inputs:
        model: \${{ steps.fit.outputs.model }}
`;

/**
 * `mlp run` of a pipeline with run steps, against the real Temporal dev server and S3 server: the
 * code folder is uploaded once as code/<sha256>.tar.gz before the run starts, a second submission
 * finds it stored and names the same spec, and the worker side unpacks exactly the submitted files.
 */
describe('mlp run uploads run steps’ code once', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let project: string;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'run-code' });
    project = join(servers.dir, 'project');
    await mkdir(join(project, 'fit', 'lib'), { recursive: true });
    await writeFile(join(project, 'fit', 'fit.js'), 'console.log("fit");\n');
    await writeFile(join(project, 'fit', 'lib', 'util.js'), 'export const x = 1;\n');
    await writeFile(join(project, 'pipeline.yaml'), PIPELINE);
  });

  after(async () => {
    await servers?.stop();
  });

  /** The CLI as a user runs it, with the worker's S3 settings in its environment. */
  async function mlpRun(): Promise<{ started: z.infer<typeof startedSchema>; stderr: string }> {
    const { storage } = servers;
    const { stdout, stderr } = await exec(
      process.execPath,
      ['--import', 'tsx', 'client/bin.ts', 'run', join(project, 'pipeline.yaml'), '--json', '--address', servers.temporalAddress, '--namespace', servers.namespace, '--task-queue-prefix', 'run-code'],
      {
        env: {
          ...process.env,
          ...workerStorageEnv(storage),
        },
      },
    );
    assert.ok(!stderr.includes(storage.secretAccessKey), 'the secret is never printed');
    return { started: startedSchema.parse(JSON.parse(stdout)), stderr };
  }

  it('stores the archive before the run starts, once; a second run names the same spec and uploads nothing', async () => {
    const { sha256, archive } = await packageCodeFolder(join(project, 'fit'));
    const store = new ObjectStore(servers.storage);

    const first = await mlpRun();
    assert.deepEqual(first.started.code, { uploaded: [sha256], present: [] }, 'one upload for the folder both steps use');
    const stored = await store.get(codeArchiveKey(sha256));
    assert.ok(stored.equals(archive), 'the stored object is the packaged archive, byte for byte');
    const storedAt = (await store.stat(codeArchiveKey(sha256)))?.etag;

    const second = await mlpRun();
    assert.deepEqual(second.started.code, { uploaded: [], present: [sha256] });
    assert.equal(second.started.specHash, first.started.specHash);
    assert.equal(second.started.workflowId, first.started.workflowId);
    assert.equal((await store.stat(codeArchiveKey(sha256)))?.etag, storedAt);
    assert.deepEqual(await store.list('code/'), [codeArchiveKey(sha256)]);

    // The run records the archive by its sha256, and the worker side gets back exactly the files submitted.
    const connection = await Connection.connect({ address: servers.temporalAddress });
    try {
      const workflow = new Client({ connection, namespace: servers.namespace }).workflow.getHandle(first.started.workflowId);
      const { spec } = recordedStart(await workflow.fetchHistory(), first.started.workflowId);
      assert.deepEqual(spec.steps.map((step) => step.with['code']), [`sha256:${sha256}`, `sha256:${sha256}`]);
      await workflow.terminate('test over: no worker runs it');
    } finally {
      await connection.close();
    }
    const unpacked = await ensureCodeFolder(store, join(servers.dir, 'worker-run'), sha256);
    assert.equal(await readFile(join(unpacked, 'fit.js'), 'utf8'), 'console.log("fit");\n');
    assert.equal(await readFile(join(unpacked, 'lib', 'util.js'), 'utf8'), 'export const x = 1;\n');
  });
});
