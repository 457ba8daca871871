import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILD_ID_PATTERN } from '../../common/worker-deployment.ts';
import { PROJECT_ROOT } from '../../activities/code-fingerprint.ts';
import { buildIdFrom, workerCodeFingerprint } from '../../worker/build-id.ts';

describe('worker build ID', () => {
  it('is the commit itself for a clean checkout or image, so deployment versions read as commits', () => {
    assert.equal(
      buildIdFrom('a2341eae0164d709b1ed3b66cf3d0715f292d673', () => assert.fail('a clean commit needs no fingerprint')),
      'a2341eae0164d709b1ed3b66cf3d0715f292d673',
    );
  });

  it('appends a fingerprint of the code to a dirty or unknown version, so two edits of one commit are two builds', () => {
    assert.equal(buildIdFrom('a2341ea-dirty', () => 'f'.repeat(64)), `a2341ea-dirty-${'f'.repeat(12)}`);
    assert.notEqual(buildIdFrom('a2341ea-dirty', () => '1'.repeat(64)), buildIdFrom('a2341ea-dirty', () => '2'.repeat(64)));
    assert.equal(buildIdFrom(undefined, () => 'abc123abc123abc'), 'unknown-abc123abc123');
  });

  it('never holds the ":" the server joins deployment and build with', () => {
    const id = buildIdFrom('release:2026/12 rc', () => '0'.repeat(64));
    assert.match(id, BUILD_ID_PATTERN);
    assert.equal(id, `release-2026-12-rc-${'0'.repeat(12)}`);
  });

  it('fingerprints the workflow code the worker bundles: changing runPipeline changes the build', async function () {
    this.timeout(30_000);
    const copy = await mkdtemp(path.join(tmpdir(), 'mlp-build-id-'));
    try {
      for (const entry of ['worker', 'workflows', 'activities', 'common', 'package-lock.json']) {
        await cp(path.join(PROJECT_ROOT, entry), path.join(copy, entry), { recursive: true });
      }
      const before = await workerCodeFingerprint(copy);
      const file = path.join(copy, 'workflows', 'run-pipeline.ts');
      await writeFile(file, `${await readFile(file, 'utf8')}\n// changed\n`);
      assert.notEqual(await workerCodeFingerprint(copy), before);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});
