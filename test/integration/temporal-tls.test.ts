import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { NativeConnection } from '@temporalio/worker';
import { connectTemporal, temporalSecurityFromEnv } from '../../client/connection.ts';
import { freePort } from '../../client/servers/launch.ts';
import { parseWorkerConfig } from '../../worker/config.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';

/**
 * The dev server speaks plain gRPC only, so a TLS terminator in front of it (HTTP/2 over TLS,
 * client certificates required) stands in for an mTLS frontend such as Temporal Cloud's. Its
 * certificate names `temporal.test`, not the address it listens on: connections must verify it
 * with TEMPORAL_TLS_SERVER_NAME and the private CA.
 */
describe('Temporal over mTLS (TEMPORAL_TLS_* variables), for the CLI and the worker', function () {
  this.timeout(120_000);
  let servers: TestServers;
  let dir: string;
  let proxy: Server;
  let address: string;
  const file = (name: string) => join(dir, name);

  function openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  }

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'tls' });
    dir = mkdtempSync(join(tmpdir(), 'mlp-tls-'));
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=mlp test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
    for (const [name, subject, extension] of [
      ['server', '/CN=temporal.test', 'subjectAltName=DNS:temporal.test'],
      ['client', '/CN=mlp worker', 'extendedKeyUsage=clientAuth'],
    ] as const) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
      writeFileSync(file(`${name}.ext`), `${extension}\n`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    }
    const [temporalHost, temporalPort] = servers.temporalAddress.split(':');
    proxy = createServer(
      {
        key: readFileSync(file('server.key')),
        cert: readFileSync(file('server.pem')),
        ca: readFileSync(file('ca.pem')),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        const upstream = netConnect(Number(temporalPort), temporalHost ?? '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        const close = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', close);
        upstream.on('error', close);
      },
    );
    proxy.on('tlsClientError', () => {
      // A client without a certificate: refused, which one test expects.
    });
    const port = await freePort();
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    address = `127.0.0.1:${port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await servers?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const mtlsEnv = () => ({
    TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key'),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
  });

  it('connects the CLI with the client certificate, the private CA and the server name', async () => {
    const connection = await connectTemporal(address, temporalSecurityFromEnv(mtlsEnv()));
    try {
      const described = await connection.workflowService.describeNamespace({ namespace: servers.namespace });
      assert.equal(described.namespaceInfo?.name, servers.namespace);
    } finally {
      await connection.close();
    }
  });

  it('connects the worker with the same variables', async () => {
    const config = parseWorkerConfig({ ...mtlsEnv(), TEMPORAL_ADDRESS: address, S3_ACCESS_KEY_ID: 'unused', S3_SECRET_ACCESS_KEY: 'unused' });
    const connection = await NativeConnection.connect({ address: config.temporal.address, ...config.temporal.security });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace: servers.namespace });
      assert.equal(described.namespaceInfo?.name, servers.namespace);
    } finally {
      await connection.close();
    }
  });

  it('is refused without the client certificate, and says which address it could not reach', async () => {
    const { TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME } = mtlsEnv();
    await assert.rejects(() => connectTemporal(address, temporalSecurityFromEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME })), {
      name: 'ConfigError',
      message: new RegExp(`^Cannot connect to Temporal at ${address}`),
    });
  });

  it('refuses a server certificate that does not name the host it verifies', async () => {
    const { TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH } = mtlsEnv();
    await assert.rejects(() => connectTemporal(address, temporalSecurityFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH })), {
      name: 'ConfigError',
      message: new RegExp(`^Cannot connect to Temporal at ${address}`),
    });
  });
});
