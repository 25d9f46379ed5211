/**
 * A read-only static file server for a folder laid out like the zoo (`validated/vision/...`), with Range
 * support, so it can act as a `--mirror`: for a LAN, an offline demo (`scripts/serve-zoo-mirror.ts`), or tests.
 * Binds to 127.0.0.1 unless told otherwise; no directory listings; never serves outside the folder: a path is
 * resolved through its symlinks (realpath) and must land on a regular file inside the folder's real path, so a
 * link to `/etc/passwd` or to a directory elsewhere is a 404, and a FIFO never blocks a request.
 */
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';

/** One request as the mirror saw it. */
export interface MirrorRequest {
  readonly method: string;
  /** URL path, decoded. */
  readonly path: string;
  /** The Range header, or null. */
  readonly range: string | null;
  readonly status: number;
}

export interface MirrorServer {
  /** Base URL ending in `/`, e.g. `http://127.0.0.1:40123/`. */
  readonly url: string;
  readonly port: number;
  /** Every request served so far, in arrival order. */
  readonly requests: MirrorRequest[];
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export interface ServeMirrorOptions {
  /** @defaultValue `0` (a free port) */
  port?: number;
  /** @defaultValue `'127.0.0.1'` */
  host?: string;
}

/** Serves `root` over HTTP: GET and HEAD, single byte ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`). */
export async function serveMirror(root: string, options: ServeMirrorOptions = {}): Promise<MirrorServer> {
  const rootInfo = await stat(resolve(root));
  if (!rootInfo.isDirectory()) throw new TypeError(`serveMirror: '${root}' is not a directory.`);
  const base = await realpath(resolve(root));
  const requests: MirrorRequest[] = [];
  const server = createServer((req, res) => {
    handle(base, req, res, requests).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => done());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    requests,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

async function handle(base: string, req: IncomingMessage, res: ServerResponse, log: MirrorRequest[]): Promise<void> {
  const range = req.headers.range ?? null;
  let path = '';
  const reply = (status: number, headers: Record<string, string | number> = {}): ServerResponse => {
    log.push({ method: req.method ?? '', path, range, status });
    res.writeHead(status, headers);
    return res;
  };
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://mirror').pathname);
  } catch {
    reply(400).end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const handle = path.includes('\0') ? null : await openInside(base, resolve(base, `.${path}`));
  if (!handle) {
    reply(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  try {
    await sendFile(handle, req, res, range, reply);
  } finally {
    await handle.close();
  }
}

/**
 * Opens `file` for reading if its real path is a regular file inside `base` (already a real path); otherwise null.
 * The file is stat'ed before it is opened (opening a FIFO would block), opened without following a link swapped in
 * meanwhile, and checked again on the open handle.
 */
async function openInside(base: string, file: string): Promise<FileHandle | null> {
  if (!file.startsWith(base + sep)) return null;
  let handle: FileHandle | undefined;
  try {
    const real = await realpath(file);
    if (!real.startsWith(base + sep) || !(await stat(real)).isFile()) return null;
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!(await handle.stat()).isFile()) throw new Error('not a regular file');
    return handle;
  } catch {
    await handle?.close();
    return null;
  }
}

async function sendFile(
  handle: FileHandle, req: IncomingMessage, res: ServerResponse, range: string | null,
  reply: (status: number, headers?: Record<string, string | number>) => ServerResponse,
): Promise<void> {
  const size = (await handle.stat()).size;
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (range !== null) {
    const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (match && (match[1] !== '' || match[2] !== '')) {
      if (match[1] === '') {
        start = Math.max(0, size - Number(match[2]));
      } else {
        start = Number(match[1]);
        if (match[2] !== '') end = Math.min(end, Number(match[2]));
      }
      if (start >= size || start > end) {
        reply(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
  }
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'content-length': end - start + 1,
    'accept-ranges': 'bytes',
  };
  if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  reply(status, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  const stream = handle.createReadStream({ start, end, autoClose: false });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
  await new Promise<void>((done) => {
    res.once('close', done);
    stream.once('error', () => done());
  });
}
