/**
 * `finetune serve <model.onnx | run folder>`: a static page on localhost that runs an exported model in the browser with
 * onnxruntime-web (WebAssembly). Everything the page loads comes from this server: the page itself
 * (src/serve/page), onnxruntime-web's script and .wasm files (from node_modules/onnxruntime-web/dist, never a
 * CDN), the model file (and its `model.onnx.data` when it was exported with external data), and `/model-info.json` (class names, preprocessing and input, read from the model's
 * metadata here because onnxruntime-web cannot read metadata). `POST /preprocess` decodes an image with sharp as
 * `finetune predict` does, for the page's optional exact mode.
 *
 * This module only serves onnxruntime-web's files; it does not import onnxruntime.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FinetuneError } from '../errors.js';
import { readExportedModelInfo } from '../export/exported-model-format.js';
import { externalDataName } from '../export/write-exported-model.js';
import type { ExportedModelInfo } from '../export/exported-model-format.js';
import { METADATA_KEYS } from '../export/exported-model-format.js';
import { decodeToRgb } from '../image/preprocess-image.js';
import { describePreprocessSpec } from '../image/preprocess-spec.js';
import { readRun } from '../run/read-run.js';
import { RUN_FILES } from '../run/run-format.js';
import type { PreprocessSpec } from '../types.js';
import { formatBytes } from '../util/format.js';
import { createRequestGuard } from './request-guard.js';

export interface StartServerOptions {
  /** TCP port; `0` picks a free one (read it back from the returned `url`). @defaultValue `8080` */
  port?: number;
  /** Interface to listen on. Keep the loopback default unless you mean to share the page. @defaultValue `'127.0.0.1'` */
  host?: string;
  /** How many classes the page lists per image. @defaultValue `5` */
  topK?: number;
  /**
   * Host names accepted in the `Host` header besides localhost, IP addresses of this machine and `host`: exact names,
   * or `.example.com` for a domain and its subdomains. Anything else gets 403 (DNS-rebinding protection). @defaultValue `[]`
   */
  allowedHosts?: readonly string[];
  /** Largest image `POST /preprocess` accepts. @defaultValue `32_000_000` (32 MB) */
  maxUploadBytes?: number;
  /** Uploads decoded at the same time; more get 503 with `Retry-After`, so memory stays bounded. @defaultValue `2` */
  maxConcurrentUploads?: number;
}

/** What `/model-info.json` returns: everything the page needs to feed the model and label its outputs. */
export interface ServedModelInfo {
  /** File name of the model, for display. */
  readonly modelName: string;
  readonly sizeBytes: number;
  /**
   * The file beside the model that holds its weights when it was exported with external data (`--external-data`, or
   * a model over 2 GiB): its name as the model references it (`<model file>.data`), served at `/model.onnx.data`.
   * `null` when the weights are inside the model.
   */
  readonly externalData: { readonly name: string; readonly sizeBytes: number } | null;
  readonly classNames: readonly string[];
  readonly preprocess: PreprocessSpec;
  /** One line, e.g. `resize shorter side to 256, center crop 224×224, …`. */
  readonly preprocessDescription: string;
  readonly inputName: string;
  /** `uint8-image`: the page feeds RGB bytes [N, H, W, 3]; `float`: the page normalises per `preprocess`. */
  readonly inputType: 'uint8-image' | 'float';
  readonly inputShape: ReadonlyArray<number | string | null>;
  readonly outputNames: readonly string[];
  readonly topK: number;
  readonly backboneId: string | null;
}

export interface RunningServer {
  /** e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  readonly port: number;
  readonly modelInfo: ServedModelInfo;
  /** Stops accepting connections, ends open ones and resolves once the server is closed. */
  close(): Promise<void>;
}

const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));
/** Page files by URL path. */
const PAGE_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/preprocess.js': 'preprocess.js',
  '/image/resample-kernels.js': '../../image/resample-kernels.js',   // the library's resize code, imported by preprocess.js
  '/util/format-bytes.js': '../../util/format-bytes.js',   // the library's size formatter, imported by app.js
  '/style.css': 'style.css',
};
/** The onnxruntime-web files the page needs: the wasm-only ESM build, its glue module and the binary. */
const ORT_FILES = ['ort.wasm.min.mjs', 'ort.wasm.min.mjs.map', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/**
 * Everything from this origin only; 'wasm-unsafe-eval' lets onnxruntime-web compile its WebAssembly.
 * The browser itself refuses any request to another host.
 */
const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves the browser demo for an exported model (a model.onnx, or a run folder holding one) and resolves once the
 * server listens.
 * @throws FinetuneError FILE_NOT_FOUND for a missing model or a run folder without one; MODEL_INVALID when it is not an image classifier exported by
 *   finetune (head-only models take features and cannot be fed images); INVALID_OPTION when the port is taken or not allowed;
 *   RUNTIME_UNAVAILABLE when onnxruntime-web is not installed.
 */
export async function startServer(modelPath: string, options: StartServerOptions = {}): Promise<RunningServer> {
  const port = options.port ?? 8080;
  const host = options.host ?? '127.0.0.1';
  const topK = options.topK ?? 5;
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxConcurrentUploads = options.maxConcurrentUploads ?? 2;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new FinetuneError('INVALID_OPTION', `Invalid port ${JSON.stringify(port)}.`, 'Pass --port with a number from 1 to 65535, or 0 for any free port.');
  if (!Number.isInteger(topK) || topK < 1)
    throw new FinetuneError('INVALID_OPTION', `Invalid top-k ${JSON.stringify(topK)}.`, 'Pass --top-k with a whole number of at least 1.');
  if (!Number.isInteger(maxUploadBytes) || maxUploadBytes < 1)
    throw new FinetuneError('INVALID_OPTION', `Invalid upload limit ${JSON.stringify(maxUploadBytes)} bytes.`, 'Pass --max-upload-mb with a positive number.');
  if (!Number.isInteger(maxConcurrentUploads) || maxConcurrentUploads < 1)
    throw new RangeError(`startServer: 'maxConcurrentUploads' must be a positive integer, got ${maxConcurrentUploads}.`);

  const servedModel = await resolveServedModel(modelPath);
  const modelInfo = await describeModel(servedModel, topK);
  const ortDir = findOrtDist();
  const modelInfoJson = JSON.stringify(modelInfo);
  let uploadsInFlight = 0;

  let guard: ReturnType<typeof createRequestGuard>;   // needs the port: set once listening, before any request
  const server = createServer((request, response) => {
    guard ??= createRequestGuard({ boundHost: host, port: (server.address() as AddressInfo).port, allowedHosts: options.allowedHosts ?? [] });
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', `Internal error: ${(error as Error).message}`);
      else response.destroy(error as Error);
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const refusal = guard.check(method, path, request.headers);
    if (refusal !== undefined) {
      send(response, refusal.status, 'text/plain; charset=utf-8', refusal.reason, false, { Connection: 'close' });
      return;
    }
    if (method === 'POST' && path === '/preprocess') {
      if (uploadsInFlight >= maxConcurrentUploads) {
        send(response, 503, 'text/plain; charset=utf-8', `Busy: ${maxConcurrentUploads} images are being decoded; try again.`, false,
          { 'Retry-After': '1', Connection: 'close' });
        return;
      }
      uploadsInFlight++;
      try {
        await preprocessUpload(request, response, modelInfo.preprocess, maxUploadBytes);
      } finally {
        uploadsInFlight--;
      }
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD (POST for /preprocess)');
      send(response, 405, 'text/plain; charset=utf-8', 'Method not allowed');
      return;
    }
    const pageFile = PAGE_FILES[path];
    if (pageFile !== undefined) {
      const body = await readFile(join(PAGE_DIR, pageFile));
      send(response, 200, contentType(pageFile), body, request.method === 'HEAD', { 'Content-Security-Policy': PAGE_CSP });
      return;
    }
    if (path === '/model-info.json') {
      send(response, 200, CONTENT_TYPES['.json']!, modelInfoJson, request.method === 'HEAD');
      return;
    }
    if (path === '/model.onnx') {
      await sendFile(request, response, servedModel, CONTENT_TYPES['.onnx']!);
      return;
    }
    if (path === '/model.onnx.data' && modelInfo.externalData !== null) {
      await sendFile(request, response, join(dirname(servedModel), modelInfo.externalData.name), 'application/octet-stream');
      return;
    }
    if (path.startsWith('/ort/')) {
      const name = path.slice('/ort/'.length);
      if ((ORT_FILES as readonly string[]).includes(name)) {
        await sendFile(request, response, join(ortDir, name), contentType(name), 'public, max-age=3600');
        return;
      }
    }
    send(response, 404, 'text/plain; charset=utf-8', `Not found: ${path}`, request.method === 'HEAD');
  }

  await listen(server, port, host);
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}/`,
    port: address.port,
    modelInfo,
    close: () => new Promise<void>((resolvePromise, reject) => {
      server.close((error) => (error ? reject(error) : resolvePromise()));
      server.closeAllConnections();
    }),
  };
}

/** Largest image the page may post to `/preprocess` unless `maxUploadBytes` says otherwise. */
const DEFAULT_MAX_UPLOAD_BYTES = 32_000_000;

/**
 * `POST /preprocess` (body: the image file): decodes, resizes and crops it with sharp exactly as `finetune predict`
 * does, and answers with the cropSize × cropSize × 3 RGB bytes. The page's "exact" mode uses it so that resized
 * images give the CLI's numbers; the model still runs in the browser.
 */
async function preprocessUpload(request: IncomingMessage, response: ServerResponse, spec: PreprocessSpec,
  maxUploadBytes: number): Promise<void> {
  const tooLarge = () => send(response, 413, 'text/plain; charset=utf-8',
    `The image is larger than ${formatBytes(maxUploadBytes)}; finetune serve --max-upload-mb raises the limit.`, false, { Connection: 'close' });
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxUploadBytes) {   // refuse before reading a byte
    tooLarge();
    return;
  }
  // With a Content-Length (what browsers send), the bytes go straight into one buffer of that size: no chunk list,
  // no concatenated copy. Without one (chunked), the chunks are gathered and joined once.
  const body = Number.isInteger(declared) && declared >= 0 ? Buffer.allocUnsafe(declared) : undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const bytes = chunk as Buffer;
    if (size + bytes.length > (body?.length ?? maxUploadBytes)) {
      tooLarge();
      request.destroy();
      return;
    }
    if (body !== undefined) bytes.copy(body, size); else chunks.push(bytes);
    size += bytes.length;
  }
  const image = body !== undefined ? body.subarray(0, size) : Buffer.concat(chunks, size);
  let rgb: Awaited<ReturnType<typeof decodeToRgb>>;
  try {
    rgb = await decodeToRgb(image, spec, { sourceName: 'the uploaded image' });
  } catch (error) {
    send(response, 422, 'text/plain; charset=utf-8', error instanceof Error ? error.message : String(error));
    return;
  }
  send(response, 200, 'application/octet-stream', rgb.data, false, {
    'X-Source-Size': `${rgb.sourceWidth}x${rgb.sourceHeight}`,
    'X-Crop-Size': String(rgb.width),
  });
}

/** Reads the model's metadata into the page's {@link ServedModelInfo}. */
/** `path` itself, or for a run folder its model.onnx, found through the run layer's reader. */
async function resolveServedModel(path: string): Promise<string> {
  if (!(await stat(path).then((info) => info.isDirectory(), () => false))) return path;
  const run = await readRun(path);
  if (run.files.model === undefined) {
    throw new FinetuneError('FILE_NOT_FOUND', `Run folder "${path}" has no ${RUN_FILES.model}.`,
      'Serve a run of the one-shot command (`finetune train` writes only head.onnx), or pass a model.onnx.');
  }
  return run.files.model;
}

export async function describeModel(modelPath: string, topK = 5): Promise<ServedModelInfo> {
  let sizeBytes: number;
  try {
    const info = await stat(modelPath);
    if (info.isDirectory())
      throw new FinetuneError('FILE_NOT_FOUND', `"${modelPath}" is a folder, not a model.`, 'Pass model.onnx inside the run folder.');
    sizeBytes = info.size;
  } catch (error) {
    if (error instanceof FinetuneError) throw error;
    throw new FinetuneError('FILE_NOT_FOUND', `Model file "${modelPath}" does not exist.`,
      'Pass the model.onnx written by `finetune` (it is in the run folder).', { cause: error });
  }
  const info: ExportedModelInfo = await readExportedModelInfo(modelPath);
  // Our export writes external data to `<model file>.data` beside it, and removes that file when it writes the weights
  // inline again: so the file's presence says the model needs it.
  const dataName = externalDataName(modelPath);
  const dataInfo = await stat(join(dirname(modelPath), dataName)).catch(() => undefined);
  if (info.inputType === 'features' || info.preprocess === null) {
    throw new FinetuneError('MODEL_INVALID', `Model "${modelPath}" takes feature vectors ("${info.inputName}"), not images.`,
      'Serve model.onnx (backbone + head) rather than head.onnx.');
  }
  return {
    modelName: basename(modelPath),
    sizeBytes,
    externalData: dataInfo?.isFile() ? { name: dataName, sizeBytes: dataInfo.size } : null,
    classNames: info.classNames,
    preprocess: info.preprocess,
    preprocessDescription: describePreprocessSpec(info.preprocess),
    inputName: info.inputName,
    inputType: info.inputType,
    inputShape: info.inputShape,
    outputNames: info.outputNames,
    topK,
    backboneId: info.metadata[METADATA_KEYS.backboneId] ?? null,
  };
}

/** node_modules/onnxruntime-web/dist, found through the package's exported .wasm file. */
function findOrtDist(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  } catch (cause) {
    throw new FinetuneError('RUNTIME_UNAVAILABLE', 'onnxruntime-web is not installed, so the page has no runtime to serve.',
      'Run `npm install` in the finetune folder (onnxruntime-web is a dependency).', { cause });
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') {
        reject(new FinetuneError('INVALID_OPTION', `Port ${port} on ${host} is already in use.`,
          'Stop the other server or pass --port with another number (0 picks a free one).', { cause: error }));
      } else if (error.code === 'EACCES') {
        reject(new FinetuneError('INVALID_OPTION', `Not allowed to listen on port ${port} of ${host}.`,
          'Ports below 1024 need privileges; pass --port 8080 or another number above 1023.', { cause: error }));
      } else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
        reject(new FinetuneError('INVALID_OPTION', `Cannot listen on host "${host}": it is not an address of this machine.`,
          'Leave --host at its default 127.0.0.1.', { cause: error }));
      } else {
        reject(error);
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolvePromise();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function contentType(name: string): string {
  const dot = name.lastIndexOf('.');
  return CONTENT_TYPES[dot === -1 ? '' : name.slice(dot)] ?? 'application/octet-stream';
}

function send(response: ServerResponse, status: number, type: string, body: string | Uint8Array, headOnly = false,
  headers: Readonly<Record<string, string>> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  response.writeHead(status, {
    'Content-Type': type,
    'Content-Length': bytes.byteLength,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  response.end(headOnly ? undefined : bytes);
}

async function sendFile(request: IncomingMessage, response: ServerResponse, path: string, type: string,
  cacheControl = 'no-store'): Promise<void> {
  const info = await stat(path);
  response.writeHead(200, {
    'Content-Type': type,
    'Content-Length': info.size,
    'Cache-Control': cacheControl,
    'X-Content-Type-Options': 'nosniff',
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  await new Promise<void>((resolvePromise, reject) => {
    const stream = createReadStream(path);
    stream.on('error', reject);
    response.on('close', () => { stream.destroy(); resolvePromise(); });
    stream.pipe(response);
  });
}
