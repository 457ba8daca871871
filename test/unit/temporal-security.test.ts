import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporalSecurityFromEnv } from '../../client/connection.ts';
import { ConfigError, describeTemporalSecurity } from '../../common/index.ts';
import { parseWorkerConfig } from '../../worker/config.ts';

describe('Temporal connection security (TLS, mTLS, API key)', () => {
  let dir: string;
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const text = (bytes: Uint8Array | undefined): string => new TextDecoder().decode(bytes);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlp-tls-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('connects in plain text when nothing is set (a local or in-cluster frontend)', () => {
    assert.deepEqual(temporalSecurityFromEnv({}), {});
    assert.deepEqual(describeTemporalSecurity({}), { tls: false, auth: 'none' });
  });

  it('reads the client certificate, its key, a private CA and the server name for mTLS', () => {
    const security = temporalSecurityFromEnv({
      TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem', 'CERT'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key', 'KEY'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.pem', 'CA'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    assert.equal(text(security.tls?.clientCertPair?.crt), 'CERT');
    assert.equal(text(security.tls?.clientCertPair?.key), 'KEY');
    assert.equal(text(security.tls?.serverRootCACertificate), 'CA');
    assert.equal(security.tls?.serverNameOverride, 'temporal.internal');
    assert.equal(security.apiKey, undefined);
    assert.deepEqual(describeTemporalSecurity(security), { tls: true, auth: 'mtls' });
  });

  it('turns TLS on with the system roots for an API key, read from a file without its trailing newline', () => {
    const security = temporalSecurityFromEnv({ TEMPORAL_API_KEY_FILE: file('api-key', 'key-from-secret\n') });
    assert.equal(security.apiKey, 'key-from-secret');
    assert.deepEqual(security.tls, {});
    assert.deepEqual(describeTemporalSecurity(security), { tls: true, auth: 'api-key' });
    assert.equal(temporalSecurityFromEnv({ TEMPORAL_API_KEY: 'inline-key' }).apiKey, 'inline-key');
  });

  it('turns TLS on alone with TEMPORAL_TLS=true and reads true/false/1/0', () => {
    assert.deepEqual(temporalSecurityFromEnv({ TEMPORAL_TLS: 'true' }), { tls: {} });
    assert.deepEqual(temporalSecurityFromEnv({ TEMPORAL_TLS: '1' }), { tls: {} });
    assert.deepEqual(temporalSecurityFromEnv({ TEMPORAL_TLS: 'false' }), {});
  });

  it('names the variable when TEMPORAL_TLS is not a boolean', () => {
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_TLS: 'yes please' }), {
      name: 'ConfigError',
      message: /TEMPORAL_TLS: expected true or false, got "yes please"/,
    });
  });

  it('refuses a client certificate without its key, naming both variables', () => {
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem', 'CERT') }), {
      name: 'ConfigError',
      message: /TEMPORAL_TLS_CLIENT_CERT_PATH is set but TEMPORAL_TLS_CLIENT_KEY_PATH is not/,
    });
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key', 'KEY') }), /TEMPORAL_TLS_CLIENT_KEY_PATH is set but TEMPORAL_TLS_CLIENT_CERT_PATH is not/);
  });

  it('names the variable and the path of a file it cannot read', () => {
    const missing = join(dir, 'missing.pem');
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot read TEMPORAL_TLS_SERVER_CA_CERT_PATH at .*missing\.pem: ENOENT/);
      return true;
    });
  });

  it('rejects an API key given inline and as a file, or an empty key file, without echoing the key', () => {
    assert.throws(
      () => temporalSecurityFromEnv({ TEMPORAL_API_KEY: 'hunter2-key', TEMPORAL_API_KEY_FILE: file('api-key', 'other') }),
      (error: unknown) => error instanceof ConfigError && /TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE, not both/.test(error.message) && !error.message.includes('hunter2-key'),
    );
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_API_KEY_FILE: file('empty', '\n') }), /TEMPORAL_API_KEY_FILE at .*empty is empty/);
  });

  it('refuses TLS settings or an API key when TEMPORAL_TLS is false', () => {
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }), /TEMPORAL_TLS is false but an API key is set/);
    assert.throws(() => temporalSecurityFromEnv({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_NAME: 'x' }), /TEMPORAL_TLS is false but TEMPORAL_TLS_SERVER_NAME is set/);
  });

  it('gives the worker the same settings, and its errors name the variable', () => {
    const credentials = { S3_ACCESS_KEY_ID: 'access', S3_SECRET_ACCESS_KEY: 'secret' };
    const config = parseWorkerConfig({ ...credentials, TEMPORAL_API_KEY_FILE: file('api-key', 'worker-key\n'), TEMPORAL_TLS_SERVER_NAME: 'ns.tmprl.cloud' });
    assert.equal(config.temporal.security.apiKey, 'worker-key');
    assert.equal(config.temporal.security.tls?.serverNameOverride, 'ns.tmprl.cloud');
    assert.throws(() => parseWorkerConfig({ ...credentials, TEMPORAL_TLS: 'maybe' }), /Invalid worker environment:\n {2}TEMPORAL_TLS: expected true or false, got "maybe"/);
  });
});
