import assert from 'node:assert/strict';
import { formatDeploymentStatus } from '../../client/deployments/deployment-status.ts';

describe('mlp deploy status, as printed for people', () => {
  it('names the current and ramping builds, each build with its role and open runs, and says which may stop', () => {
    const text = formatDeploymentStatus({
      deployment: 'ml-pipelines',
      namespace: 'default',
      current: '9f3c2e1',
      ramping: { buildId: 'aa11bb2', percent: 10 },
      versions: [
        { buildId: '4d5e6f7', role: 'drained', openRuns: 0 },
        { buildId: '5e6f7a8', role: 'draining', openRuns: 1 },
        { buildId: '9f3c2e1', role: 'current', openRuns: 3 },
        { buildId: 'aa11bb2', role: 'ramping', openRuns: 0 },
      ],
    });
    assert.equal(
      text,
      [
        'deployment ml-pipelines (namespace default)',
        '  current: 9f3c2e1',
        '  ramping: aa11bb2 at 10%',
        '  4d5e6f7  drained  0 open runs (no pinned run needs it: its workers can stop)',
        '  5e6f7a8  draining  1 open run (pinned runs still need its workers)',
        '  9f3c2e1  current  3 open runs',
        '  aa11bb2  ramping  0 open runs',
      ].join('\n'),
    );
  });

  it('says when unversioned workers are current and nothing ramps', () => {
    const text = formatDeploymentStatus({ deployment: 'd', namespace: 'n', current: null, ramping: null, versions: [] });
    assert.match(text, /current: none \(unversioned workers\)\n {2}ramping: none\n {2}no versions/);
  });
});
