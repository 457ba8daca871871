import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the test server treats one path. */
export interface ServedFile {
  body: Buffer;
  /** Destroy the socket after this many body bytes, on the first request only. */
  dropAfter?: number;
  /** Answer every request with the whole file (200), as servers without range support do. */
  ignoreRange?: boolean;
  /**
   * Send this many body bytes on the first request, then nothing more while the socket stays
   * open: a download that is certainly in progress when a fault test kills its worker.
   */
  stallAfter?: number;
}

export interface RequestRecord {
  path: string;
  range: string | undefined;
  status: number;
}

export interface FileServer {
  baseUrl: string;
  files: Map<string, ServedFile>;
  requests: RequestRecord[];
  close(): Promise<void>;
}

/**
 * A real local HTTP server for download tests: serves buffers, honours `Range: bytes=N-` with
 * 206 + Content-Range and an ETag, and can drop the connection halfway (a real socket reset,
 * not a mock). Unknown paths get 404.
 */
export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, ServedFile>();
  const requests: RequestRecord[] = [];
  const served = new Set<string>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = files.get(path);
    const range = req.headers.range;
    const record = (status: number) => requests.push({ path, range, status });
    if (!file) {
      record(404);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const etag = `"${file.body.length}-${file.body.subarray(0, 16).toString('hex')}"`;
    const match = /^bytes=(\d+)-$/.exec(range ?? '');
    let start = 0;
    if (match && !file.ignoreRange && (req.headers['if-range'] === undefined || req.headers['if-range'] === etag)) {
      start = Number(match[1]);
      if (start >= file.body.length) {
        record(416);
        res.writeHead(416, { 'content-range': `bytes */${file.body.length}` }).end();
        return;
      }
      record(206);
      res.writeHead(206, {
        'content-length': file.body.length - start,
        'content-range': `bytes ${start}-${file.body.length - 1}/${file.body.length}`,
        'accept-ranges': 'bytes',
        etag,
      });
    } else {
      record(200);
      res.writeHead(200, { 'content-length': file.body.length, 'accept-ranges': file.ignoreRange ? 'none' : 'bytes', etag });
    }
    const body = file.body.subarray(start);
    if (file.stallAfter !== undefined && !served.has(path)) {
      served.add(path);
      res.write(body.subarray(0, file.stallAfter));
      return;
    }
    if (file.dropAfter !== undefined && !served.has(path)) {
      served.add(path);
      res.write(body.subarray(0, file.dropAfter), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    served.add(path);
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    files,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
