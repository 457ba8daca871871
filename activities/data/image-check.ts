import sharp from 'sharp';

/** Formats accepted as dataset images; anything else sharp can read (SVG, PDF…) is not a photo. */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff']);

export type ImageCheck =
  | { ok: true; format: string; width: number; height: number }
  | { ok: false; reason: string };

/**
 * Proves an image decodes completely. Metadata alone reads only the header, so a truncated JPEG
 * would pass; decoding to a tiny thumbnail reads every byte while JPEG shrink-on-load keeps it
 * cheap (about 2 ms at 224 px, 9 ms at 2,900 px here).
 */
export async function checkImage(bytes: Buffer): Promise<ImageCheck> {
  try {
    const image = sharp(bytes, { failOn: 'truncated' });
    const meta = await image.metadata();
    if (meta.format === undefined || !IMAGE_FORMATS.has(meta.format)) {
      return { ok: false, reason: `unsupported image format ${meta.format ?? 'unknown'}` };
    }
    if (!meta.width || !meta.height) return { ok: false, reason: 'image has no size' };
    await image.resize(16, 16, { fit: 'fill' }).raw().toBuffer();
    return { ok: true, format: meta.format, width: meta.width, height: meta.height };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes('unsupported image format')) return { ok: false, reason: 'not an image' };
    // libvips sometimes loses its error text when several decodes fail at once.
    return { ok: false, reason: `cannot decode: ${message === 'Unknown error' ? 'corrupt or truncated image data' : message}` };
  }
}

export function contentTypeOf(format: string): string {
  return format === 'jpeg' ? 'image/jpeg' : `image/${format}`;
}
