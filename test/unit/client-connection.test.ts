import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClientConfig } from '../../client/connection.ts';

describe('client connection settings', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-config-'));
    // No local stack in an empty home; no config file in an empty XDG folder.
    env = { MLP_HOME: join(dir, 'no-stack'), XDG_CONFIG_HOME: join(dir, 'xdg') };
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the user config file and lets the environment and flags override it field by field', () => {
    mkdirSync(join(dir, 'xdg', 'mlp'), { recursive: true });
    writeFileSync(
      join(dir, 'xdg', 'mlp', 'config.json'),
      JSON.stringify({ address: 'temporal.internal:7233', namespace: 'ml', uiUrl: 'https://ui.internal/' }),
    );
    assert.deepEqual(loadClientConfig({}, env), {
      address: 'temporal.internal:7233',
      namespace: 'ml',
      taskQueuePrefix: 'ml-pipelines',
      uiUrl: 'https://ui.internal',
    });
    const overridden = loadClientConfig({ namespace: 'flag' }, { ...env, TEMPORAL_ADDRESS: 'env:7233' });
    assert.equal(overridden.address, 'env:7233');
    assert.equal(overridden.namespace, 'flag');
    assert.equal(overridden.uiUrl, 'https://ui.internal');
  });

  it('uses the file named by --config over MLP_CONFIG', () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ address: 'a:1' }));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ address: 'b:2' }));
    assert.equal(loadClientConfig({ config: join(dir, 'a.json') }, { ...env, MLP_CONFIG: join(dir, 'b.json') }).address, 'a:1');
    assert.equal(loadClientConfig({}, { ...env, MLP_CONFIG: join(dir, 'b.json') }).address, 'b:2');
  });

  it('rejects a config file with an unknown key, naming the file and the key', () => {
    const file = join(dir, 'typo.json');
    writeFileSync(file, JSON.stringify({ adress: 'x:1' }));
    assert.throws(() => loadClientConfig({ config: file }, env), {
      name: 'ConfigError',
      message: new RegExp(`^Invalid config file ${file}: .*adress`),
    });
  });

  it('fails clearly when the named config file does not exist', () => {
    assert.throws(() => loadClientConfig({ config: join(dir, 'missing.json') }, env), {
      name: 'ConfigError',
      message: /^Cannot read config file .*missing\.json: ENOENT/,
    });
  });

  it('falls back to the defaults when there is no flag, variable, file or running stack', () => {
    assert.equal(loadClientConfig({}, env).address, '127.0.0.1:7233');
  });
});
