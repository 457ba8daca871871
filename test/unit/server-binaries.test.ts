import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerBinaryError } from '../../common/index.ts';
import {
  GO_TOOLS,
  checkS3Binary,
  checkTemporalBinary,
  findOnPath,
  isToolInstalled,
  resolveS3Binary,
  resolveTemporalBinary,
  s3ServerKind,
} from '../../client/servers/binaries.ts';
import { goInstallCommand } from '../../client/servers/install.ts';
import {
  isAtLeast,
  parseGoBuildInfo,
  parseMinioVersion,
  parseTemporalVersion,
  parseVersitygwVersion,
} from '../../client/servers/versions.ts';

describe('server version parsing', () => {
  it('reads CLI and server versions from a release and a go-installed temporal', () => {
    assert.deepEqual(parseTemporalVersion('temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)\n'), { cli: '1.5.1', server: '1.29.1' });
    assert.deepEqual(parseTemporalVersion('temporal version 0.0.0-DEV (Server 1.29.1, UI 2.42.1)'), { cli: '0.0.0-DEV', server: '1.29.1' });
    assert.equal(parseTemporalVersion('temporal 1.5.1'), undefined);
  });

  it('reads the versitygw version and treats source builds ("git") as unknown', () => {
    assert.equal(parseVersitygwVersion('Version  : v1.8.0\nBuild    : abc\n'), 'v1.8.0');
    assert.equal(parseVersitygwVersion('Version  : git\nBuild    : norev\n'), undefined);
  });

  it('reads the MinIO release date and ignores source builds', () => {
    assert.equal(parseMinioVersion('minio version RELEASE.2025-10-15T17-29-55Z (commit-id=9e49d5e7)'), '2025-10-15T17-29-55Z');
    assert.equal(parseMinioVersion('minio version DEVELOPMENT.GOGET (commit-id=DEVELOPMENT.GOGET)'), undefined);
  });

  it('compares semantic versions numerically, with or without a leading v', () => {
    assert.equal(isAtLeast('1.29.1', '1.25.0'), true);
    assert.equal(isAtLeast('v1.10.0', 'v1.9.9'), true);
    assert.equal(isAtLeast('1.9.9', '1.10.0'), false);
    assert.equal(isAtLeast('1.25.0', '1.25.0'), true);
    assert.equal(isAtLeast('git', '1.0.0'), false);
  });

  it('reads module versions from `go version -m` output', () => {
    const modules = parseGoBuildInfo(
      '.tools/bin/temporal: go1.26.8\n\tpath\tgithub.com/temporalio/cli/cmd/temporal\n' +
        '\tmod\tgithub.com/temporalio/cli\tv1.5.1\th1:abc=\n\tdep\tcel.dev/expr\tv0.23.1\th1:def=\n',
    );
    assert.equal(modules.get('github.com/temporalio/cli'), 'v1.5.1');
    assert.equal(modules.get('cel.dev/expr'), 'v0.23.1');
    assert.equal(modules.has('github.com/temporalio/cli/cmd/temporal'), false);
  });
});

describe('server binary lookup', () => {
  let dir: string;

  /** A stand-in executable that prints `versionText` for `--version`. */
  function fakeBinary(name: string, versionText: string): string {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\necho '${versionText}'\n`);
    chmodSync(path, 0o755);
    return path;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-binaries-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('builds the go install command with -trimpath, CGO off and GOBIN set to the tools folder', () => {
    const command = goInstallCommand(GO_TOOLS.temporal, '/x/.tools/bin');
    assert.deepEqual(command.args, ['install', '-trimpath', 'github.com/temporalio/cli/cmd/temporal@v1.5.1']);
    assert.deepEqual(command.env, { CGO_ENABLED: '0', GOBIN: '/x/.tools/bin' });
  });

  it('prefers the environment variable over the tools folder and PATH', async () => {
    fakeBinary('temporal', 'temporal version 9.9.9 (Server 1.29.1, UI 2.42.1)');
    const fromEnv = fakeBinary('my-temporal', 'temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)');
    const found = await resolveTemporalBinary({ env: { MLP_TEMPORAL_BIN: fromEnv, PATH: '' }, binDir: dir });
    assert.deepEqual(found, { path: fromEnv, source: 'env', version: '1.5.1 (server 1.29.1)' });
  });

  it('takes an explicit path over the environment variable', async () => {
    const explicit = fakeBinary('flag-temporal', 'temporal version 1.6.0 (Server 1.30.0, UI 2.42.1)');
    const found = await resolveTemporalBinary({ explicit, env: { MLP_TEMPORAL_BIN: '/nonexistent' }, binDir: dir });
    assert.equal(found.source, 'flag');
    assert.equal(found.version, '1.6.0 (server 1.30.0)');
  });

  it('rejects a temporal binary whose embedded server is too old', async () => {
    const old = fakeBinary('temporal', 'temporal version 0.10.0 (Server 1.20.0, UI 2.10.0)');
    await assert.rejects(checkTemporalBinary(old), (error: Error) => {
      assert.ok(error instanceof ServerBinaryError);
      assert.match(error.message, /embeds server 1\.20\.0; this project needs server 1\.25\.0 or newer/);
      return true;
    });
  });

  it('rejects an old MinIO release and accepts a recent one', async () => {
    const old = fakeBinary('minio', 'minio version RELEASE.2022-06-01T00-00-00Z (commit-id=x)');
    await assert.rejects(checkS3Binary('minio', old), /RELEASE\.2022-06-01T00-00-00Z; this project needs RELEASE\.2024/);
    const recent = fakeBinary('minio2', 'minio version RELEASE.2025-10-15T17-29-55Z (commit-id=x)');
    assert.equal(await checkS3Binary('minio', recent), 'RELEASE.2025-10-15T17-29-55Z');
  });

  it('finds a binary on PATH when the env and tools folder have none', async () => {
    const pathDir = mkdtempSync(join(tmpdir(), 'mlp-path-'));
    try {
      const onPath = join(pathDir, 'versitygw');
      writeFileSync(onPath, "#!/bin/sh\necho 'Version  : v1.8.0'\n");
      chmodSync(onPath, 0o755);
      assert.equal(findOnPath('versitygw', `/nonexistent:${pathDir}`), onPath);
      const found = await resolveS3Binary('versitygw', { env: { PATH: pathDir }, binDir: dir });
      assert.deepEqual(found, { path: onPath, source: 'path', version: 'v1.8.0' });
    } finally {
      rmSync(pathDir, { recursive: true, force: true });
    }
  });

  it('names the setup command and the env variable when no binary exists', async () => {
    await assert.rejects(resolveS3Binary('minio', { env: { PATH: '' }, binDir: dir }), (error: Error) => {
      assert.ok(error instanceof ServerBinaryError);
      assert.match(error.message, /Cannot find the minio binary: run `npm run setup`.*MLP_S3_SERVER_BIN/);
      return true;
    });
  });

  it('accepts only versitygw or minio as the S3 server kind', () => {
    assert.equal(s3ServerKind(undefined, {}), 'versitygw');
    assert.equal(s3ServerKind(undefined, { MLP_S3_SERVER: 'minio' }), 'minio');
    assert.throws(() => s3ServerKind('seaweed', {}), /Unknown S3 server "seaweed" \(from --s3-server\)/);
  });

  it('counts a tool as installed only when the stamp records the pinned version', async () => {
    fakeBinary('versitygw', 'Version  : git');
    const stamp = join(dir, 'versions.json');
    writeFileSync(stamp, JSON.stringify({ versitygw: { module: GO_TOOLS.versitygw.module, version: 'v1.7.0', installedAt: 'x' } }));
    assert.equal(await isToolInstalled(GO_TOOLS.versitygw, dir, stamp), false);
    writeFileSync(stamp, JSON.stringify({ versitygw: { module: GO_TOOLS.versitygw.module, version: 'v1.8.0', installedAt: 'x' } }));
    assert.equal(await isToolInstalled(GO_TOOLS.versitygw, dir, stamp), true);
    assert.equal(await isToolInstalled(GO_TOOLS.temporal, dir, stamp), false);
  });
});
