import assert from 'node:assert/strict';
import { selectEngine } from '../../activities/engine/engine.ts';
import { modelInput } from '../../activities/evaluation/predict.ts';
import { pixelSource, type InputScaling } from '../../activities/training/pixel-source.ts';

// Evaluation must feed a model exactly the pixels training fed it: MobileNet trains on
// x/127.5 - 1, VGG19 (the notebook) on x/255. A mismatch silently ruins every metric.

const size = 6;
const gray = Uint8Array.from({ length: size * size }, (_, i) => (i * 37) % 256);

describe('evaluation input scaling', () => {
  before(async () => {
    await selectEngine('cpu', { strict: true });
  });

  for (const scaling of ['symmetric', 'unit'] as const satisfies readonly InputScaling[]) {
    it(`feeds a stored image to the model with the same ${scaling} values the training batches had`, async () => {
      const scored = modelInput(gray, 3, scaling);

      const source = pixelSource(
        { count: 1, height: size, width: size, channels: 1, pixels: gray, labels: Int32Array.from([0]) },
        { batchSize: 1, classes: 2, scaling, shuffle: false },
      );
      let trained: ArrayLike<number> = [];
      for await (const batch of source.batches(0, 1)) {
        trained = await batch.x.data();
        batch.x.dispose();
        batch.y.dispose();
      }

      assert.equal(scored.length, trained.length);
      for (let i = 0; i < scored.length; i++) assert.ok(Math.abs((scored[i] ?? NaN) - (trained[i] ?? NaN)) < 1e-6, `pixel ${i}: ${scored[i]} vs ${trained[i]}`);
      const [low, high] = scaling === 'symmetric' ? [-1, 1] : [0, 1];
      assert.ok(Math.min(...scored) >= low && Math.max(...scored) <= high);
      assert.ok(Math.min(...scored) < (low + high) / 2, 'values span the range, not a constant image');
    });
  }
});
