/** A scriptable HTTP server on 127.0.0.1 for downloader tests (drops, stalls, wrong bytes), and synthetic entries. */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ZooEntry } from '../../src/registry/catalog.js';
import { sha256 } from '../../src/util/hash.js';

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
}

export interface TestServer {
  readonly base: string;
  readonly requests: LoggedRequest[];
  url(path: string): string;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

/** Starts a server on 127.0.0.1; `handlers[path](req, res, attempt)` answers, where attempt counts requests to that path from 1. */
export async function startTestServer(handlers: Record<string, Handler>): Promise<TestServer> {
  const requests: LoggedRequest[] = [];
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ method: req.method ?? '', path, range: req.headers.range ?? null });
    const attempt = (counts.get(path) ?? 0) + 1;
    counts.set(path, attempt);
    const handler = handlers[path];
    if (!handler) res.writeHead(404).end('not found');
    else handler(req, res, attempt);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    requests,
    url: (path) => `${base}${path}`,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

export interface SendOptions {
  /** Destroy the connection after this many body bytes. */
  cutAfter?: number;
  /** Stop sending (but keep the connection open) at this byte of the file, whatever the requested range. */
  stallAfter?: number;
  /** Send in chunks of this size with `delayMs` between them. */
  chunkSize?: number;
  delayMs?: number;
}

/** Serves `data` honouring a `Range: bytes=a-` header, with optional faults. */
export function sendBytes(req: IncomingMessage, res: ServerResponse, data: Uint8Array, options: SendOptions = {}): void {
  let start = 0;
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (match) {
    start = Number(match[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
  } else {
    res.writeHead(200, { 'content-length': data.length, 'content-type': 'application/octet-stream' });
  }
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength).subarray(start);
  const stallAt = options.stallAfter === undefined ? Infinity : Math.max(0, options.stallAfter - start);
  const limit = Math.min(body.length, options.cutAfter ?? Infinity, stallAt);
  const chunkSize = options.chunkSize ?? limit;
  let offset = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (offset >= limit) {
      if (options.cutAfter !== undefined && limit < body.length) {
        setTimeout(() => res.socket?.destroy(), 20); // let the bytes leave, then drop the connection
      } else if (options.stallAfter === undefined || limit >= body.length) {
        res.end();
      } // stall: say nothing more, keep the socket open
      return;
    }
    const end = Math.min(limit, offset + Math.max(1, chunkSize));
    const chunk = body.subarray(offset, end);
    offset = end;
    res.write(chunk, () => {
      if (options.delayMs) setTimeout(next, options.delayMs);
      else next();
    });
  };
  next();
}

/**
 * A minimal HTTP CONNECT proxy on 127.0.0.1 that logs each tunnel target. With `routeToLoopback`, every tunnel
 * goes to 127.0.0.1 on the requested port whatever host was asked for, so tests can use made-up host names
 * (`models.example`) without any DNS lookup or traffic leaving the machine.
 */
export async function startConnectProxy(
  options: { routeToLoopback?: boolean } = {},
): Promise<{ url: string; tunnels: string[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    sockets.add(client);
    const [host = '', port = '0'] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), options.routeToLoopback ? '127.0.0.1' : host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: () => new Promise<void>((done) => {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

/** A 127.0.0.1 port with nothing listening (connections are refused). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Random bytes standing in for a model file. */
export const fakeModelBytes = (sizeBytes: number): Uint8Array => new Uint8Array(randomBytes(sizeBytes));

/** A valid catalog entry for `data`, served from `urls` (cache path `test/<name>.onnx`). */
export function syntheticEntry(data: Uint8Array, urls: readonly string[], name = 'model'): ZooEntry {
  return {
    id: `test-${name}`,
    aliases: [],
    name: `Test ${name}`,
    family: 'test',
    description: 'Synthetic bytes for downloader tests.',
    path: `test/${name}.onnx`,
    urls: [...urls],
    sha256: sha256(data),
    sizeBytes: data.length,
    opset: 13,
    license: 'Apache-2.0',
    quantized: false,
    input: { name: 'input', dims: ['N', 3, 8, 8], layout: 'NCHW' },
    output: { name: 'output', dims: ['N', 10] },
    fixedBatch: false,
    batchNote: 'test',
    preprocess: {
      resizeMode: 'shorter-side', resizeSize: 8, resizeFilter: 'pil-bilinear', cropSize: 8, scale: 1 / 255,
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
    },
    feature: { tensor: 'features', dims: ['N', 16], dtype: 'float32', pooling: 'none', embeddingDim: 16, source: 'notes' },
  };
}

/** A fresh temp directory to use as finetune home; never ~/.cache. */
export async function tempHome(): Promise<{ home: string; cleanup(): Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), 'finetune-registry-'));
  return { home, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** Every file under `dir`, relative, sorted ([] when dir is missing). */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
  } catch {
    return [];
  }
}
