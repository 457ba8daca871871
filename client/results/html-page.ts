import { escapeHtml } from './html-text.ts';

/**
 * The frame of the self-contained pages the CLI writes (`mlp report`, `mlp compare`): inline
 * styles, no scripts, and a Content-Security-Policy that forbids loading anything, so the file
 * views the same from disk, from a mail attachment or offline.
 */

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b; margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #d8dde3; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; word-break: break-all; }
img { max-width: 100%; height: auto; border: 1px solid #e4e7eb; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 12px 0; font-weight: 600; }
.banner.running { background: #fff4d6; border: 1px solid #e9c46a; } .banner.failed { background: #fde2e1; border: 1px solid #e07a76; }
.state-succeeded, .state-cached, .state-reused { color: #1b7f3b; } .state-failed { color: #b42318; } .state-running { color: #9a6700; }
.metrics { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.metric { border: 1px solid #d8dde3; border-radius: 6px; padding: 6px 12px; min-width: 90px; }
.metric .name { font-size: 12px; color: #5b6673; } .metric .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.markdown { border-left: 3px solid #d8dde3; padding-left: 14px; }
.missing-image { color: #5b6673; font-style: italic; }
.muted { color: #5b6673; } .differs { background: #fff4d6; }
svg text { font: 11px system-ui, sans-serif; }
`;

/** A whole HTML document; `body` must already be escaped HTML. */
export function htmlPage(title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Images only from data: URIs, styles only inline, no scripts, no requests of any kind.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** A table from escaped header cells and rows of escaped cells. */
export function htmlTable(headers: readonly string[], rows: readonly (readonly string[])[], attributes = ''): string {
  const head = `<tr>${headers.map((cell) => `<th>${cell}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((cell) => (cell.startsWith('<td') ? cell : `<td>${cell}</td>`)).join('')}</tr>`).join('\n');
  return `<table${attributes}>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}
