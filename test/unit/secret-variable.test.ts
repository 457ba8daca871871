import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../common/errors.ts';
import { readSecretVariable } from '../../common/secret-variable.ts';

const readUtf8 = (path: string): string => readFileSync(path, 'utf8');

describe('secrets given inline or as NAME_FILE (worker, CLI and MLflow credentials)', () => {
  it('reads the value from the file named by NAME_FILE, without the trailing newline a mounted secret has', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'secret-'));
    await writeFile(join(dir, 'key'), 's3cr3t\n');
    assert.equal(readSecretVariable({ S3_SECRET_ACCESS_KEY_FILE: join(dir, 'key') }, 'S3_SECRET_ACCESS_KEY', readUtf8), 's3cr3t');
  });

  it('takes the inline value, and says nothing is set when neither form is', () => {
    assert.equal(readSecretVariable({ MLFLOW_TRACKING_TOKEN: 'tok' }, 'MLFLOW_TRACKING_TOKEN', readUtf8), 'tok');
    assert.equal(readSecretVariable({}, 'MLFLOW_TRACKING_TOKEN', readUtf8), undefined);
  });

  it('refuses both forms at once, naming both variables', () => {
    assert.throws(
      () => readSecretVariable({ S3_ACCESS_KEY_ID: 'a', S3_ACCESS_KEY_ID_FILE: '/x' }, 'S3_ACCESS_KEY_ID', readUtf8),
      (error: unknown) => error instanceof ConfigError && /S3_ACCESS_KEY_ID or S3_ACCESS_KEY_ID_FILE, not both/.test(error.message),
    );
  });

  it('names the variable and the path of an unreadable file, never a value', async () => {
    const missing = join(await mkdtemp(join(tmpdir(), 'secret-')), 'absent');
    assert.throws(
      () => readSecretVariable({ MLFLOW_TRACKING_TOKEN_FILE: missing }, 'MLFLOW_TRACKING_TOKEN', readUtf8),
      (error: unknown) => error instanceof ConfigError && error.message === `Cannot read MLFLOW_TRACKING_TOKEN_FILE at ${missing}: ENOENT`,
    );
  });
});
