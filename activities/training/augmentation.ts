import { createRandom, type Random } from '../../common/prng.ts';

/**
 * Random affine augmentation of uint8 HWC images, drawn like Keras's `ImageDataGenerator`
 * (the seed notebook's): rotation, shift, shear, zoom composed into one output→input map
 * around the image centre, sampled bilinearly (Keras's default order 1), then a horizontal flip.
 * Pure TypeScript so it is the same on every engine (the wasm backend has no Transform kernel)
 * and bit-identical on every machine; ~1 ms per 224 px grayscale image.
 */
export interface AugmentationParams {
  /** Max rotation in degrees; drawn from [−rotation, rotation]. */
  rotation: number;
  /** Max horizontal shift as a fraction of the width. */
  widthShift: number;
  /** Max vertical shift as a fraction of the height. */
  heightShift: number;
  /** Max shear angle in degrees, as Keras's `shear_range`. */
  shear: number;
  /** Zoom drawn per axis from [1 − zoom, 1 + zoom]. */
  zoom: number;
  horizontalFlip: boolean;
  /** What points outside the input take: the nearest edge pixel, 0, or the mirrored image. */
  fillMode: 'nearest' | 'constant' | 'reflect';
}

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/** A 2×3 output→input map in (row, col) coordinates, plus the flip drawn with it. */
export interface AffineDraw {
  /** [a, b, c, d, e, f]: rowIn = a·row + b·col + c; colIn = d·row + e·col + f. */
  matrix: [number, number, number, number, number, number];
  flip: boolean;
}

/** True when the params can change an image (all zero/false is the identity). */
export function augments(params: AugmentationParams): boolean {
  return params.rotation > 0 || params.widthShift > 0 || params.heightShift > 0 || params.shear > 0 || params.zoom > 0 || params.horizontalFlip;
}

function uniform(random: Random, low: number, high: number): number {
  return low + (high - low) * random();
}

type Matrix3 = [number, number, number, number, number, number, number, number, number];

function multiply(p: Matrix3, q: Matrix3): Matrix3 {
  const out: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) out.push((p[r * 3] ?? 0) * (q[c] ?? 0) + (p[r * 3 + 1] ?? 0) * (q[3 + c] ?? 0) + (p[r * 3 + 2] ?? 0) * (q[6 + c] ?? 0));
  }
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0, i = 0] = out;
  return [a, b, c, d, e, f, g, h, i];
}

/**
 * Draws one transform in Keras's order (rotation, row shift, column shift, shear, zoom x, zoom y,
 * flip); a zero range draws nothing, so turning one setting off does not shift the others.
 */
export function drawAffine(params: AugmentationParams, shape: Pick<ImageShape, 'height' | 'width'>, random: Random): AffineDraw {
  const theta = params.rotation > 0 ? (uniform(random, -params.rotation, params.rotation) * Math.PI) / 180 : 0;
  const tRow = params.heightShift > 0 ? uniform(random, -params.heightShift, params.heightShift) * shape.height : 0;
  const tCol = params.widthShift > 0 ? uniform(random, -params.widthShift, params.widthShift) * shape.width : 0;
  const shear = params.shear > 0 ? (uniform(random, -params.shear, params.shear) * Math.PI) / 180 : 0;
  const zRow = params.zoom > 0 ? uniform(random, 1 - params.zoom, 1 + params.zoom) : 1;
  const zCol = params.zoom > 0 ? uniform(random, 1 - params.zoom, 1 + params.zoom) : 1;
  const flip = params.horizontalFlip && random() < 0.5;

  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  let m: Matrix3 = [cos, -sin, 0, sin, cos, 0, 0, 0, 1];
  m = multiply(m, [1, 0, tRow, 0, 1, tCol, 0, 0, 1]);
  m = multiply(m, [1, -Math.sin(shear), 0, 0, Math.cos(shear), 0, 0, 0, 1]);
  m = multiply(m, [zRow, 0, 0, 0, zCol, 0, 0, 0, 1]);
  // About the centre of the pixel grid, as Keras's transform_matrix_offset_center.
  const oRow = shape.height / 2 - 0.5;
  const oCol = shape.width / 2 - 0.5;
  m = multiply(multiply([1, 0, oRow, 0, 1, oCol, 0, 0, 1], m), [1, 0, -oRow, 0, 1, -oCol, 0, 0, 1]);
  return { matrix: [m[0], m[1], m[2], m[3], m[4], m[5]], flip };
}

/** Maps a coordinate outside [0, size − 1] back in, or returns −1 for `constant` fill. */
function inside(coordinate: number, size: number, fillMode: AugmentationParams['fillMode']): number {
  if (coordinate >= 0 && coordinate <= size - 1) return coordinate;
  if (fillMode === 'constant') return -1;
  if (fillMode === 'nearest' || size === 1) return coordinate < 0 ? 0 : size - 1;
  // reflect (scipy's 'reflect': the edge pixel is repeated, d c b a | a b c d | d c b a).
  const period = 2 * size;
  let t = (((coordinate + 0.5) % period) + period) % period;
  if (t >= size) t = period - t;
  return Math.min(Math.max(t - 0.5, 0), size - 1);
}

/** Applies one drawn transform: bilinear sampling of the input at the mapped point of each output pixel. */
export function applyAffine(image: Uint8Array, shape: ImageShape, draw: AffineDraw, fillMode: AugmentationParams['fillMode']): Uint8Array {
  const { height, width, channels } = shape;
  const [a, b, c, d, e, f] = draw.matrix;
  const out = new Uint8Array(height * width * channels);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const r = inside(a * row + b * col + c, height, fillMode);
      const q = inside(d * row + e * col + f, width, fillMode);
      const target = (row * width + (draw.flip ? width - 1 - col : col)) * channels;
      if (r < 0 || q < 0) continue;
      const r0 = Math.floor(r);
      const q0 = Math.floor(q);
      const r1 = Math.min(r0 + 1, height - 1);
      const q1 = Math.min(q0 + 1, width - 1);
      const fr = r - r0;
      const fq = q - q0;
      for (let ch = 0; ch < channels; ch++) {
        const top = (image[(r0 * width + q0) * channels + ch] ?? 0) * (1 - fq) + (image[(r0 * width + q1) * channels + ch] ?? 0) * fq;
        const bottom = (image[(r1 * width + q0) * channels + ch] ?? 0) * (1 - fq) + (image[(r1 * width + q1) * channels + ch] ?? 0) * fq;
        out[target + ch] = Math.round(top * (1 - fr) + bottom * fr);
      }
    }
  }
  return out;
}

/**
 * One augmented copy of an image, drawn from `(seed, view, imageIndex)` alone: the same image
 * gets the same copy for the same view however the split is shuffled or batched, which keeps
 * resumed runs identical. `view` is the epoch (trainable backbone) or the cached view index.
 */
export function augmentImage(image: Uint8Array, shape: ImageShape, params: AugmentationParams, key: { seed: number; view: number; imageIndex: number }): Uint8Array {
  const random = createRandom(key.seed, 'augment', key.view, key.imageIndex);
  return applyAffine(image, shape, drawAffine(params, shape, random), params.fillMode);
}
