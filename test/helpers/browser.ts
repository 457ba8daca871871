import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { z } from 'zod';

/**
 * Headless Chromium for tests that open the pages the CLI writes, as a person would: Debian's
 * `chromium` package (installed by .ci/run), driven by playwright-core. A machine without it
 * fails the test with how to install it: a page nobody opened is not a page that works.
 */

/** Where Chromium is: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium is not installed at ${executablePath}: the HTML report tests open the page in a real browser. Install Debian's package (\`apt-get install -y chromium\`, as .ci/run does) or set CHROMIUM_PATH`,
    );
  }
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
}

/** What a page showed after loading from disk. */
export interface OpenedPage {
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
  /** Every <img>: its alt text, whether it loaded, and its natural width. */
  images: { alt: string; complete: boolean; naturalWidth: number }[];
  /** Elements with data-metric: their attributes and shown text. */
  metrics: { step?: string; run?: string; metric: string; value: string; text: string }[];
  /** Requests the page made other than for its own file (none expected: it is self-contained). */
  requests: string[];
  /** Number of <svg> charts. */
  charts: number;
  /** Lines drawn in the charts. */
  polylines: number;
  title: string;
  bodyText: string;
}

// Runs in the page (a string: this project compiles without the DOM's types).
const READ_PAGE = `({
  images: [...document.images].map((image) => ({ alt: image.alt, complete: image.complete, naturalWidth: image.naturalWidth })),
  metrics: [...document.querySelectorAll('[data-metric]')].map((element) => ({
    step: element.dataset.step,
    run: element.dataset.run,
    metric: element.dataset.metric || '',
    value: element.dataset.value || '',
    text: ((element.querySelector('.value') || element).textContent || '').trim(),
  })),
  charts: document.querySelectorAll('svg').length,
  polylines: document.querySelectorAll('svg polyline').length,
  title: document.title,
  bodyText: document.body.innerText,
})`;

const shownSchema = z.object({
  images: z.array(z.object({ alt: z.string(), complete: z.boolean(), naturalWidth: z.number() })),
  metrics: z.array(z.object({ step: z.string().optional(), run: z.string().optional(), metric: z.string(), value: z.string(), text: z.string() })),
  charts: z.number(),
  polylines: z.number(),
  title: z.string(),
  bodyText: z.string(),
});

export async function openPage(browser: Browser, file: string): Promise<OpenedPage> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  const url = pathToFileURL(file).href;
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => {
    if (request.url() !== url && !request.url().startsWith('data:')) requests.push(request.url());
  });
  try {
    await page.goto(url, { waitUntil: 'load' });
    const shown = shownSchema.parse(await page.evaluate(READ_PAGE));
    return { errors, requests, ...shown };
  } finally {
    await page.close();
  }
}
