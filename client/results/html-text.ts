/**
 * Escaping for the HTML the CLI writes (`mlp report`, `mlp compare`): every string that comes
 * from a run (step ids, outputs, errors, params, report text) goes through it, so a value such
 * as `<script>` shows as text and never runs.
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or attribute value → HTML-safe text. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char);
}

/** A `data:` URI of bytes, for images inlined in a self-contained page. */
export function dataUri(mediaType: string, bytes: Uint8Array): string {
  return `data:${mediaType};base64,${Buffer.from(bytes).toString('base64')}`;
}

/** The media type of a raster image by its key's extension; undefined for anything else (SVG from a step is not inlined). */
export function imageMediaType(key: string): string | undefined {
  const types: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };
  return types[key.toLowerCase().split('.').at(-1) ?? ''];
}

/** Links a page may follow: the web and in-page anchors (no `javascript:`, `data:` or `file:`). */
export function isSafeLink(href: string): boolean {
  return /^(https?:\/\/|#|mailto:)/i.test(href.trim());
}
