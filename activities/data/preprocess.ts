import sharp from 'sharp';
import type { PreprocessParams } from '../../common/dataset-manifest.ts';
import { encodeNpyUint8 } from './npy.ts';

/**
 * Turns a source image into a training-ready array: resized to the spec's size, converted to
 * grayscale explicitly (libvips' luminance; a gray X-ray stored as RGB comes out as its own gray
 * values), and stored as one channel in a uint8 `.npy` of shape (height, width). One channel is
 * all a grayscale image holds: readers replicate it to the three identical channels an RGB
 * backbone takes (`channels: 3`), so the stored object is a third of the size and needs no PNG
 * encoder here nor a decoder in training. Alpha is dropped. One libvips pipeline, then a header.
 */
export async function preprocessImage(bytes: Buffer, params: PreprocessParams): Promise<Buffer> {
  const { data, info } = await sharp(bytes, { failOn: 'truncated' })
    .removeAlpha()
    .resize(params.width, params.height, { fit: params.fit, background: '#000000' })
    .grayscale()
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 || info.width !== params.width || info.height !== params.height) {
    throw new Error(`preprocessing produced ${info.width}x${info.height}x${info.channels}, expected ${params.width}x${params.height}x1`);
  }
  return encodeNpyUint8(data, [info.height, info.width]);
}
