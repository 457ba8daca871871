import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../common/index.ts';
import { DEFAULT_STACK_HOME, parseStackConfig } from '../../client/stack/config.ts';
import { loadOrCreateCredentials, maskSecret, readCredentials } from '../../client/stack/credentials.ts';
import { isOurProcess, readState, writeState } from '../../client/stack/state.ts';
import { stackDown } from '../../client/stack/stack.ts';
import { isAlive } from '../../client/servers/launch.ts';

describe('stack settings', () => {
  it('uses the documented defaults when neither flags nor environment set anything', () => {
    assert.deepEqual(parseStackConfig({}, {}), {
      home: DEFAULT_STACK_HOME,
      host: '127.0.0.1',
      temporalPort: 7233,
      uiPort: 8233,
      s3Port: 9000,
      s3Server: 'versitygw',
      temporalBin: undefined,
      s3ServerBin: undefined,
      bucket: 'ml-pipelines',
    });
  });

  it('takes ports from the environment and lets flags override them', () => {
    const env = { MLP_TEMPORAL_PORT: '17233', MLP_TEMPORAL_UI_PORT: '18233', MLP_S3_PORT: '19000', MLP_HOME: '/tmp/x' };
    const fromEnv = parseStackConfig({}, env);
    assert.deepEqual([fromEnv.temporalPort, fromEnv.uiPort, fromEnv.s3Port, fromEnv.home], [17233, 18233, 19000, '/tmp/x']);
    const fromFlags = parseStackConfig({ s3Port: '29000', home: '/tmp/y' }, env);
    assert.deepEqual([fromFlags.temporalPort, fromFlags.s3Port, fromFlags.home], [17233, 29000, '/tmp/y']);
  });

  it('rejects a port that is not a number in range, naming the variable', () => {
    assert.throws(() => parseStackConfig({ temporalPort: 'abc' }, {}), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /MLP_TEMPORAL_PORT/);
      return true;
    });
    assert.throws(() => parseStackConfig({}, { MLP_S3_PORT: '70000' }), /MLP_S3_PORT/);
  });

  it('rejects two servers on the same port', () => {
    assert.throws(() => parseStackConfig({ s3Port: '7233' }, {}), /ports must differ/);
  });

  it('rejects an unknown S3 server kind', () => {
    assert.throws(() => parseStackConfig({ s3Server: 'ceph' }, {}), /MLP_S3_SERVER/);
  });
});

describe('stack credentials', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-cred-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates random credentials once, in a file only the owner can read', () => {
    const file = join(dir, 'stack', 'credentials.json');
    const first = loadOrCreateCredentials(file);
    assert.equal(first.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(first.credentials.secretAccessKey.length >= 32);
    const second = loadOrCreateCredentials(file);
    assert.equal(second.created, false);
    assert.deepEqual(second.credentials, first.credentials);
    const other = loadOrCreateCredentials(join(dir, 'other.json'));
    assert.notEqual(other.credentials.secretAccessKey, first.credentials.secretAccessKey);
  });

  it('tightens a credentials file that others could read back to 0600', () => {
    const file = join(dir, 'credentials.json');
    loadOrCreateCredentials(file);
    chmodSync(file, 0o644);
    loadOrCreateCredentials(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('reports a malformed credentials file as a ConfigError naming the file', () => {
    const file = join(dir, 'credentials.json');
    writeFileSync(file, '{"accessKeyId": "ab"}');
    assert.throws(() => readCredentials(file), (error: Error) => error instanceof ConfigError && error.message.includes(file));
  });

  it('masks a secret to its first four characters and its length', () => {
    const secret = 'gkJ-0123456789abcdefghijklmnopqrstuvwxyz';
    const masked = maskSecret(secret);
    assert.equal(masked, 'gkJ-…(40 chars)');
    assert.equal(masked.includes(secret.slice(4, 12)), false);
    assert.equal(maskSecret('short'), '…(5 chars)');
  });
});

describe('stack pid file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('recognizes its own live process by pid and exact command line, and nothing else', async () => {
    const child = spawn('sleep', ['30']);
    try {
      const pid = child.pid ?? 0;
      const recorded = { pid, argv: ['sleep', '30'], startedAt: 'now', binaryVersion: 'x' };
      assert.equal(isOurProcess(recorded), true);
      assert.equal(isOurProcess({ ...recorded, argv: ['sleep', '31'] }), false, 'a reused pid with another command line is not ours');
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    assert.equal(isOurProcess({ pid: child.pid ?? 0, argv: ['sleep', '30'], startedAt: 'now', binaryVersion: 'x' }), false);
  });

  it('round-trips the state and removes the file when no server is recorded', () => {
    const file = join(dir, 'state.json');
    const state = {
      host: '127.0.0.1',
      s3: { pid: 42, argv: ['versitygw'], startedAt: 't', binaryVersion: 'v1.8.0', port: 9000, kind: 'versitygw' as const, bucket: 'b' },
    };
    writeState(file, state);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readState(file), state);
    writeState(file, { host: '127.0.0.1' });
    assert.equal(readState(file), undefined);
    writeFileSync(file, 'not json');
    assert.equal(readState(file), undefined);
  });

  it('stack down leaves alone a recorded pid that now runs another command', async () => {
    const stranger = spawn('sleep', ['30']);
    try {
      const pid = stranger.pid ?? 0;
      const home = join(dir, 'home');
      const config = parseStackConfig({ home }, {});
      mkdirSync(home);
      writeState(join(home, 'state.json'), {
        host: '127.0.0.1',
        temporal: { pid, argv: ['/x/temporal', 'server', 'start-dev'], startedAt: 't', binaryVersion: 'v', port: 1, uiPort: 2 },
      });
      assert.deepEqual(await stackDown(config), { temporal: 'not running', s3: 'not running' });
      assert.equal(isAlive(pid), true);
      assert.equal(existsSync(join(home, 'state.json')), false);
    } finally {
      stranger.kill('SIGKILL');
    }
  });
});
