import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerBinaryError } from '../../common/index.ts';
import { GO_TOOLS } from '../../client/servers/binaries.ts';
import { goVersion, installServers } from '../../client/servers/install.ts';

describe('server install', () => {
  let dir: string;

  function executable(name: string, script: string): string {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${script}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-install-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fails with a message naming Go and the env variables when `go` is not on PATH', async () => {
    await assert.rejects(goVersion({ PATH: dir }), (error: Error) => {
      assert.ok(error instanceof ServerBinaryError);
      assert.match(error.message, /`go` is not on PATH\. Install Go.*MLP_TEMPORAL_BIN and MLP_S3_SERVER_BIN/);
      return true;
    });
  });

  it('skips the build when the stamp says the pinned versions are present, without needing go', async () => {
    const binDir = join(dir, 'bin');
    const stampFile = join(dir, 'versions.json');
    mkdirSync(binDir);
    for (const tool of Object.values(GO_TOOLS)) {
      writeFileSync(join(binDir, tool.name), '#!/bin/sh\nexit 1\n');
      chmodSync(join(binDir, tool.name), 0o755);
    }
    const stamp = Object.fromEntries(Object.values(GO_TOOLS).map((t) => [t.name, { module: t.module, version: t.version, installedAt: 'earlier' }]));
    writeFileSync(stampFile, JSON.stringify(stamp));
    const results = await installServers({ env: { PATH: dir }, binDir, stampFile });
    assert.deepEqual(results.map((r) => [r.tool, r.status, r.version]), [
      ['temporal', 'present', GO_TOOLS.temporal.version],
      ['versitygw', 'present', GO_TOOLS.versitygw.version],
    ]);
    assert.deepEqual(JSON.parse(readFileSync(stampFile, 'utf8')), stamp, 'a skip does not rewrite the stamp');
  });

  it('uses binaries named in the environment after a version check instead of building', async () => {
    const temporal = executable('my-temporal', "echo 'temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)'");
    const minio = executable('my-minio', "echo 'minio version RELEASE.2025-10-15T17-29-55Z (commit-id=x)'");
    const results = await installServers({
      env: { PATH: dir, MLP_TEMPORAL_BIN: temporal, MLP_S3_SERVER: 'minio', MLP_S3_SERVER_BIN: minio },
      binDir: join(dir, 'bin'),
      stampFile: join(dir, 'versions.json'),
    });
    assert.deepEqual(results, [
      { tool: 'temporal', status: 'external', path: temporal, version: '1.5.1 (server 1.29.1)', seconds: 0 },
      { tool: 'minio', status: 'external', path: minio, version: 'RELEASE.2025-10-15T17-29-55Z', seconds: 0 },
    ]);
  });

  it('reports a failing go install with its exit code and output', async () => {
    executable('go', 'if [ "$1" = env ]; then echo go1.26.0; exit 0; fi\necho "go: module lookup disabled" >&2\nexit 1');
    await assert.rejects(
      installServers({ env: { PATH: dir, MLP_S3_SERVER_BIN: executable('vgw', "echo 'Version  : v1.8.0'") }, binDir: join(dir, 'bin'), stampFile: join(dir, 'v.json') }),
      /go install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1 failed with exit code 1:\ngo: module lookup disabled/,
    );
  });
});
