import sharp from 'sharp';

/** Formats accepted as dataset images; anything else sharp can read (SVG, PDF…) is not a photo. */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff']);

export type ImageCheck =
  | { ok: true; format: string; width: number; height: number; channels: number; gray: boolean }
  | { ok: false; reason: string };

/** Images up to this side are decoded whole; larger ones at 1/8 scale (JPEG shrink-on-load). */
const FULL_DECODE_MAX_SIDE = 1024;

/**
 * Channels of a gray image stored as RGB differ by JPEG rounding only; beyond this they are
 * treated as colour.
 */
export const GRAY_TOLERANCE = 2;

/**
 * Proves an image decodes completely and tells whether it is gray. Metadata alone reads only the
 * header, so a truncated JPEG would pass; decoding reads every byte (large images at 1/8 scale,
 * which still reads every byte but is cheaper). Gray = one channel, or all channels within
 * {@link GRAY_TOLERANCE}: preprocessing then takes a channel instead of a costly colour conversion.
 */
export async function checkImage(bytes: Buffer): Promise<ImageCheck> {
  try {
    const sniffed = sniffFormat(bytes);
    if (sniffed !== undefined && bytes.length <= SINGLE_PASS_MAX_BYTES) {
      // Small files (every 224-px X-ray): one decode gives size and channels; skipping the
      // separate metadata call saves about a fifth of the check's cost.
      const { data, info } = await sharp(bytes, { failOn: 'truncated' }).removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      return { ok: true, format: sniffed, width: info.width, height: info.height, channels: info.channels, gray: isGray(data, info.channels) };
    }
    const image = sharp(bytes, { failOn: 'truncated' });
    const meta = await image.metadata();
    if (meta.format === undefined || !IMAGE_FORMATS.has(meta.format)) {
      return { ok: false, reason: `unsupported image format ${meta.format ?? 'unknown'}` };
    }
    if (!meta.width || !meta.height) return { ok: false, reason: 'image has no size' };
    const decoder =
      Math.max(meta.width, meta.height) <= FULL_DECODE_MAX_SIDE
        ? image
        : image.resize({ width: Math.max(1, Math.floor(meta.width / 8)), kernel: 'nearest' });
    const { data, info } = await decoder.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { ok: true, format: meta.format, width: meta.width, height: meta.height, channels: info.channels, gray: isGray(data, info.channels) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes('unsupported image format')) return { ok: false, reason: 'not an image' };
    // libvips sometimes loses its error text when several decodes fail at once.
    return { ok: false, reason: `cannot decode: ${message === 'Unknown error' ? 'corrupt or truncated image data' : message}` };
  }
}

/** Files up to this size are decoded in one pass without a metadata call first. */
const SINGLE_PASS_MAX_BYTES = 256 * 1024;

/** Format from the first bytes; `undefined` sends the file down the metadata path. */
function sniffFormat(bytes: Buffer): string | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  return undefined;
}

/** Hot loop (150 k samples per 224-px image): plain indexing, no helpers. */
function isGray(data: Uint8Array, channels: number): boolean {
  if (channels === 1) return true;
  const tolerance = GRAY_TOLERANCE;
  for (let i = 0; i + channels <= data.length; i += channels) {
    const first = data[i] as number;
    for (let c = 1; c < channels; c++) {
      const diff = (data[i + c] as number) - first;
      if (diff > tolerance || diff < -tolerance) return false;
    }
  }
  return true;
}

export function contentTypeOf(format: string): string {
  return format === 'jpeg' ? 'image/jpeg' : `image/${format}`;
}
