import { posix } from 'node:path';
import { Marked, type Tokens } from 'marked';
import { dataUri, escapeHtml, imageMediaType, isSafeLink } from './html-text.ts';

/**
 * A step's report.md as HTML inside `mlp report`, rendered by `marked` with everything that could
 * run or reach out taken away: raw HTML in the markdown shows as text, links go only to the web,
 * and images are the report's own plots inlined as data: URIs (an image it does not have shows
 * as its alt text). Report text comes from steps, including a user's own code: never trusted.
 */

export interface RenderedMarkdown {
  html: string;
  /** Object keys of the images the markdown showed. */
  shownImages: string[];
}

/**
 * `markdown` written at `documentKey`; `images` holds the bytes of objects by key, which image
 * paths relative to the document resolve to.
 */
export function renderMarkdown(markdown: string, documentKey: string, images: ReadonlyMap<string, Uint8Array>): RenderedMarkdown {
  const shownImages: string[] = [];
  const folder = posix.dirname(documentKey);
  const marked = new Marked({
    gfm: true,
    async: false,
    renderer: {
      html({ text }: Tokens.HTML | Tokens.Tag): string {
        return escapeHtml(text);
      },
      link({ href, title, tokens }: Tokens.Link): string {
        const text = this.parser.parseInline(tokens);
        if (!isSafeLink(href)) return text;
        return `<a href="${escapeHtml(href)}"${title ? ` title="${escapeHtml(title)}"` : ''} rel="noreferrer">${text}</a>`;
      },
      image({ href, text }: Tokens.Image): string {
        const key = /^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('/') ? undefined : posix.normalize(posix.join(folder, href));
        const bytes = key === undefined ? undefined : images.get(key);
        const mediaType = key === undefined ? undefined : imageMediaType(key);
        if (key === undefined || bytes === undefined || mediaType === undefined) return `<span class="missing-image">[${escapeHtml(text)}]</span>`;
        shownImages.push(key);
        return `<img src="${dataUri(mediaType, bytes)}" alt="${escapeHtml(text)}">`;
      },
    },
  });
  const html = marked.parse(markdown, { async: false });
  return { html, shownImages };
}
