import sharp, { type Metadata } from 'sharp';

/** Formats accepted as dataset images; anything else sharp can read (SVG, PDF…) is not a photo. */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff']);

export type ImageCheck = { ok: true; format: string; width: number; height: number; channels: number } | { ok: false; reason: string };

/**
 * Proves an image is whole and readable without decoding its pixels: libvips reads the header
 * (format, size, channels, every JPEG table up to the first scan), and the file must end as its
 * format requires, which is what a cut download or a half-copied file lacks (JPEG: an EOI marker
 * after the last scan; PNG: an IEND chunk after the last IDAT; WebP: a RIFF size that fits).
 *
 * A full decode here would prove a little more (corrupt entropy-coded data in the middle of a
 * scan) at about six times the cost, and `subset` decodes every image it draws anyway: an image
 * that still fails there stops the subset with an error naming its path.
 */
export async function checkImage(bytes: Buffer): Promise<ImageCheck> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'truncated' }).metadata();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes('unsupported image format')) return { ok: false, reason: 'not an image' };
    // libvips sometimes loses its error text when several decodes fail at once.
    return { ok: false, reason: `cannot decode: ${message === 'Unknown error' ? 'corrupt or truncated image data' : message}` };
  }
  if (meta.format === undefined || !IMAGE_FORMATS.has(meta.format)) return { ok: false, reason: `unsupported image format ${meta.format ?? 'unknown'}` };
  if (!meta.width || !meta.height) return { ok: false, reason: 'image has no size' };
  const truncated = missingEnd(bytes, meta.format);
  if (truncated !== undefined) return { ok: false, reason: `cannot decode: truncated image data (${truncated})` };
  return { ok: true, format: meta.format, width: meta.width, height: meta.height, channels: meta.channels ?? 3 };
}

const JPEG_EOI = Buffer.from([0xff, 0xd9]);
const JPEG_SOS = Buffer.from([0xff, 0xda]);

/** Why the file does not end as its format requires, or `undefined` when it does. */
function missingEnd(bytes: Buffer, format: string): string | undefined {
  switch (format) {
    case 'jpeg':
      // Entropy-coded data stuffs every 0xFF with 0x00, so FF D9 / FF DA there are real markers.
      return bytes.lastIndexOf(JPEG_EOI) > bytes.lastIndexOf(JPEG_SOS) ? undefined : 'no end-of-image marker after the last scan';
    case 'png':
      return bytes.lastIndexOf('IEND', undefined, 'latin1') > bytes.lastIndexOf('IDAT', undefined, 'latin1') ? undefined : 'no IEND chunk after the image data';
    case 'webp':
      return bytes.length >= 12 && bytes.readUInt32LE(4) + 8 <= bytes.length ? undefined : 'shorter than its RIFF header says';
    default:
      return undefined;
  }
}

export function contentTypeOf(format: string): string {
  return format === 'jpeg' ? 'image/jpeg' : `image/${format}`;
}
