import sharp from 'sharp';
import type { PreprocessParams } from '../../common/dataset-manifest.ts';

/** What import learned about a source image that changes how it is preprocessed. */
export interface SourceTraits {
  /** One channel, or all channels equal within JPEG rounding (see `checkImage`). */
  gray: boolean;
}

/**
 * Turns a source image into a training-ready PNG: resized to the spec's size, made grayscale
 * explicitly, then written with one channel, or with the gray value replicated to three identical
 * channels (sRGB) when the backbone expects RGB. PNG is lossless, so training sees exactly these
 * pixels. Alpha is dropped. One libvips pipeline, no raw round trip through JavaScript.
 *
 * For one channel, a gray source stored as RGB (most X-ray JPEGs) keeps channel 0, which equals
 * the others within rounding and skips libvips' linear-light luminance conversion (about a third
 * of the cost). For three channels that shortcut does not help: libvips replicates only from a
 * true `b-w` image, which the luminance conversion produces.
 */
export async function preprocessImage(bytes: Buffer, params: PreprocessParams, source: SourceTraits): Promise<Buffer> {
  const image = sharp(bytes, { failOn: 'truncated' })
    .removeAlpha()
    .resize(params.width, params.height, { fit: params.fit, background: '#000000' });
  const gray = params.channels === 1 && source.gray ? image.extractChannel(0) : image.grayscale();
  return gray
    .toColourspace(params.channels === 1 ? 'b-w' : 'srgb')
    .png({ compressionLevel: 1, adaptiveFiltering: false })
    .toBuffer();
}
