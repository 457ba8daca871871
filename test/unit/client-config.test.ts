import assert from 'node:assert/strict';
import { parseClientConfig, workflowUiUrl } from '../../client/config.ts';

describe('client config', () => {
  it('uses the local defaults when neither environment nor flags say otherwise', () => {
    assert.deepEqual(parseClientConfig({}, {}), {
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueuePrefix: 'ml-pipelines',
      uiUrl: 'http://localhost:8233',
    });
  });

  it('takes flags over the environment', () => {
    const env = { TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'ml', MLP_TEMPORAL_UI_URL: 'https://temporal.example/' };
    const config = parseClientConfig({ namespace: 'other' }, env);
    assert.equal(config.address, 'temporal:7233');
    assert.equal(config.namespace, 'other');
    assert.equal(config.uiUrl, 'https://temporal.example');
  });

  it('rejects a UI URL that is not a URL, naming the variable', () => {
    assert.throws(() => parseClientConfig({}, { MLP_TEMPORAL_UI_URL: 'localhost 8233' }), {
      name: 'ConfigError',
      message: /^Invalid client configuration: MLP_TEMPORAL_UI_URL: /,
    });
  });

  it('links a run in the Temporal UI with encoded ids', () => {
    const config = parseClientConfig({}, {});
    assert.equal(
      workflowUiUrl(config, 'pneumonia-vgg19-abc', 'run/1'),
      'http://localhost:8233/namespaces/default/workflows/pneumonia-vgg19-abc/run%2F1',
    );
  });
});
