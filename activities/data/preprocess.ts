import sharp from 'sharp';
import type { PreprocessParams } from '../../common/dataset-manifest.ts';

/**
 * Turns a source image into a training-ready PNG: resized to the spec's size, converted to
 * grayscale explicitly (X-rays come as 1- or 3-channel JPEGs; the label must not depend on
 * which), then written with one channel, or with the gray value replicated to three identical
 * channels (sRGB) when the backbone expects RGB. PNG is lossless, so training sees exactly these
 * pixels. One libvips pipeline: no raw round trip through JavaScript.
 */
export async function preprocessImage(bytes: Buffer, params: PreprocessParams): Promise<Buffer> {
  return sharp(bytes, { failOn: 'truncated' })
    .flatten({ background: '#000000' })
    .resize(params.width, params.height, { fit: params.fit, background: '#000000' })
    .grayscale()
    .toColourspace(params.channels === 1 ? 'b-w' : 'srgb')
    .png({ compressionLevel: 1, adaptiveFiltering: false })
    .toBuffer();
}
