import assert from 'node:assert/strict';
import { summarizeRun } from '../../client/runs/run-summary.ts';
import { outputHighlights } from '../../client/runs/run-view.ts';

/** What `mlp show` and the demo's summary say about a finished run step: its metrics and its outputs. */

const FILE_KEY = `artifacts/${'a'.repeat(64)}/predictions.csv`;
const FOLDER_KEY = `artifacts/${'b'.repeat(64)}/`;
const fitOutputs = {
  predictions: FILE_KEY,
  model: FOLDER_KEY,
  metrics: { valAuc: 0.912345, epochs: 12, lr: 0.00001 },
  artifacts: {
    predictions: { type: 'file', key: FILE_KEY, sha256: 'a'.repeat(64), bytes: 120 },
    model: { type: 'directory', key: FOLDER_KEY, sha256: 'b'.repeat(64), bytes: 4096 },
  },
};

describe('a run step in mlp show and the run summary', () => {
  it('lists its metrics and each declared output’s key once', () => {
    const highlights = outputHighlights([{ id: 'fit', outputs: fitOutputs }]);
    assert.deepEqual(highlights.metrics, { fit: fitOutputs.metrics });
    assert.deepEqual(highlights.artifacts, [
      { step: 'fit', output: 'predictions', key: FILE_KEY },
      { step: 'fit', output: 'model', key: FOLDER_KEY },
    ]);
  });

  it('summarizes it in one line: metrics as written, outputs with folders marked', () => {
    assert.equal(summarizeRun([{ id: 'fit', uses: 'run' }], { fit: fitOutputs }, 'bucket'), '  fit          valAuc 0.9123 · epochs 12 · lr 0.00001 — outputs predictions, model/');
    assert.equal(summarizeRun([{ id: 'tidy', uses: 'run' }], { tidy: { metrics: {}, artifacts: {} } }, 'bucket'), '  tidy         no metrics — no outputs');
  });
});
