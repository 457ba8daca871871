/**
 * Throughput of the training augmentation (the notebook's settings) on 224 px images, one
 * thread: prints JSON. Run: npx tsx bench/augmentation.ts
 */
import { augmentImage, type AugmentationParams } from '../activities/training/augmentation.ts';

const NOTEBOOK: AugmentationParams = { rotation: 40, widthShift: 0.2, heightShift: 0.2, shear: 0.2, zoom: 0.2, horizontalFlip: true, fillMode: 'nearest' };
const SIZE = 224;
const IMAGES = 300;

function measure(channels: number): { channels: number; msPerImage: number; imagesPerSecond: number } {
  const shape = { height: SIZE, width: SIZE, channels };
  const image = Uint8Array.from({ length: SIZE * SIZE * channels }, (_, i) => i % 251);
  for (let i = 0; i < 20; i++) augmentImage(image, shape, NOTEBOOK, { seed: 1, view: 0, imageIndex: i });
  const started = performance.now();
  for (let i = 0; i < IMAGES; i++) augmentImage(image, shape, NOTEBOOK, { seed: 1, view: 1, imageIndex: i });
  const ms = (performance.now() - started) / IMAGES;
  return { channels, msPerImage: Number(ms.toFixed(3)), imagesPerSecond: Math.round(1000 / ms) };
}

console.log(JSON.stringify({ bench: 'augmentation', size: SIZE, images: IMAGES, results: [measure(1), measure(3)] }));
