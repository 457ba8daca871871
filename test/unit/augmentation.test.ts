import assert from 'node:assert/strict';
import { applyAffine, augmentImage, augments, drawAffine, type AugmentationParams, type ImageShape } from '../../activities/training/augmentation.ts';
import { createRandom } from '../../common/prng.ts';

const NONE: AugmentationParams = { rotation: 0, widthShift: 0, heightShift: 0, shear: 0, zoom: 0, horizontalFlip: false, fillMode: 'nearest' };
/** The seed notebook's ImageDataGenerator settings. */
const NOTEBOOK: AugmentationParams = { rotation: 40, widthShift: 0.2, heightShift: 0.2, shear: 0.2, zoom: 0.2, horizontalFlip: true, fillMode: 'nearest' };

/** A 3-channel image whose every byte differs from its neighbours: a gradient with noise. */
function testImage(shape: ImageShape): Uint8Array {
  const random = createRandom('image');
  return Uint8Array.from({ length: shape.height * shape.width * shape.channels }, (_, i) => (i * 7 + Math.floor(random() * 40)) % 256);
}

describe('augmentation', () => {
  const shape: ImageShape = { height: 24, width: 32, channels: 3 };
  const image = testImage(shape);

  it('leaves every pixel unchanged when all settings are off', () => {
    assert.equal(augments(NONE), false);
    assert.deepEqual(augmentImage(image, shape, NONE, { seed: 1, view: 0, imageIndex: 0 }), image);
  });

  it('mirrors each row when only the horizontal flip is drawn', () => {
    const flipped = applyAffine(image, shape, { matrix: [1, 0, 0, 0, 1, 0], flip: true }, 'nearest');
    for (let row = 0; row < shape.height; row++) {
      for (let col = 0; col < shape.width; col++) {
        for (let ch = 0; ch < shape.channels; ch++) {
          assert.equal(flipped[(row * shape.width + col) * 3 + ch], image[(row * shape.width + (shape.width - 1 - col)) * 3 + ch]);
        }
      }
    }
  });

  it('flips about half of the images with flip-only settings and changes nothing else', () => {
    const params = { ...NONE, horizontalFlip: true };
    const outcomes = Array.from({ length: 200 }, (_, imageIndex) => drawAffine(params, shape, createRandom(3, 'augment', 0, imageIndex)));
    const flips = outcomes.filter((draw) => draw.flip).length;
    assert.ok(flips > 70 && flips < 130, `${flips} of 200 flipped`);
    for (const draw of outcomes) assert.deepEqual(draw.matrix, [1, 0, 0, 0, 1, 0]);
  });

  it('gives identical pixels for the same (seed, view, image) and different ones for another seed, view or image', () => {
    const key = { seed: 42, view: 0, imageIndex: 5 };
    const a = augmentImage(image, shape, NOTEBOOK, key);
    assert.deepEqual(augmentImage(image, shape, NOTEBOOK, key), a);
    assert.notDeepEqual(augmentImage(image, shape, NOTEBOOK, { ...key, seed: 43 }), a);
    assert.notDeepEqual(augmentImage(image, shape, NOTEBOOK, { ...key, view: 1 }), a);
    assert.notDeepEqual(augmentImage(image, shape, NOTEBOOK, { ...key, imageIndex: 6 }), a);
    assert.notDeepEqual(a, image);
  });

  it('keeps the shape and, with nearest fill, only takes values between the input minimum and maximum', () => {
    const flat = { height: 16, width: 16, channels: 1 };
    const ramp = Uint8Array.from({ length: 256 }, (_, i) => 20 + (i % 16) * 10);
    for (let view = 0; view < 20; view++) {
      const out = augmentImage(ramp, flat, NOTEBOOK, { seed: 7, view, imageIndex: 0 });
      assert.equal(out.length, ramp.length);
      assert.ok(out.every((v) => v >= 20 && v <= 170), `view ${view} stays in the input's range`);
    }
  });

  it('turns the grid a quarter turn about its centre for a 90 degree draw (Keras: input = R(θ)·output in row, col)', () => {
    const square = { height: 3, width: 3, channels: 1 };
    const digits = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // rotation drawn = 2·u·90 − 90 degrees; pick the draw for exactly +90 by feeding u = 1.
    const draw = drawAffine({ ...NONE, rotation: 90 }, square, () => 1);
    const rotated = applyAffine(digits, square, draw, 'nearest');
    assert.deepEqual(Array.from(rotated), [7, 4, 1, 8, 5, 2, 9, 6, 3]);
  });

  it('fills uncovered points with 0 for constant fill and with the edge pixel for nearest fill', () => {
    const line = { height: 1, width: 4, channels: 1 };
    const pixels = Uint8Array.from([10, 20, 30, 40]);
    // Shift the content right by two columns: output col c reads input col c − 2.
    const shift = { matrix: [1, 0, 0, 0, 1, -2] as [number, number, number, number, number, number], flip: false };
    assert.deepEqual(Array.from(applyAffine(pixels, line, shift, 'constant')), [0, 0, 10, 20]);
    assert.deepEqual(Array.from(applyAffine(pixels, line, shift, 'nearest')), [10, 10, 10, 20]);
    assert.deepEqual(Array.from(applyAffine(pixels, line, shift, 'reflect')), [20, 10, 10, 20]);
  });
});
