import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { ClientRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFinetuneError } from '../../src/errors.js';
import { exportHead } from '../../src/export/export-classifier.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { writeRun } from '../../src/run/write-run.js';
import { startServer } from '../../src/serve/start-server.js';
import type { RunningServer } from '../../src/serve/start-server.js';
import type { PreprocessSpec } from '../../src/types.js';
import { decodeToRgb } from '../../src/image/preprocess-image.js';
import { formatBytes } from '../../src/util/format.js';
import { makeRunRecord } from '../report/run-fixture.js';
import { writeTestImage, writeTinyClassifier } from './tiny-classifier.js';

const SPEC: PreprocessSpec = {
  resizeMode: 'shorter-side', resizeSize: 36, resizeFilter: 'pil-bilinear', cropSize: 32, scale: 1 / 255,
  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
};

describe('startServer', () => {
  let root: string;
  let modelPath: string;
  let modelBytes: Uint8Array;
  let server: RunningServer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune-serve-'));
    modelPath = join(root, 'model.onnx');
    modelBytes = await writeTinyClassifier(modelPath, { classNames: ['<b>cat</b>', 'dog'], preprocess: SPEC });
    server = await startServer(modelPath, { port: 0, topK: 3 });
  });
  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  const get = (path: string, init?: RequestInit) => fetch(new URL(path, server.url), init);

  it('listens on 127.0.0.1 at the port it picked', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.ok(server.port > 0);
  });

  it('serves the page with a CSP that allows only its own origin', async () => {
    const response = await get('/');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    const html = await response.text();
    assert.match(html, /<script type="module" src="\/app.js">/);
    assert.ok(!/https?:\/\//.test(html), 'the page references an absolute URL');
    const app = await (await get('/app.js')).text();
    assert.match(app, /from '\/ort\/ort\.wasm\.min\.mjs'/);
    assert.ok(!/https?:\/\//.test(app), 'app.js references an absolute URL');
  });

  it('serves every module the page imports, following their relative imports from /app.js', async () => {
    const served: string[] = [];
    const pending = ['/app.js'];
    while (pending.length > 0) {
      const path = pending.pop()!;
      const response = await get(path);
      assert.equal(response.status, 200, `${path} (imported by the page) is not served`);
      served.push(path);
      for (const [, specifier] of (await response.text()).matchAll(/^import [^'"]*'(\.{1,2}\/[^']+)'/gm)) {
        const target = new URL(specifier!, new URL(path, server.url)).pathname;
        if (!served.includes(target) && !pending.includes(target)) pending.push(target);
      }
    }
    assert.deepEqual(served.sort(), ['/app.js', '/image/resample-kernels.js', '/preprocess.js', '/util/format-bytes.js']);
  });

  it("the page formats sizes with the CLI's formatBytes (SI units): /util/format-bytes.js is the library's module", async () => {
    const source = await (await get('/util/format-bytes.js')).text();
    const page = await import(`data:text/javascript,${encodeURIComponent(source)}`) as { formatBytes: (bytes: number) => string };
    for (const bytes of [0, 999.4, 1234, 9950, 999_500, 553_436_134, Number.NaN]) assert.equal(page.formatBytes(bytes), formatBytes(bytes));
    assert.equal(page.formatBytes(553_436_134), '553 MB');
    const app = await (await get('/app.js')).text();
    assert.doesNotMatch(app, /function formatBytes/, 'app.js has a formatter of its own');
  });

  it('describes the model from its metadata in /model-info.json', async () => {
    const info = await (await get('/model-info.json')).json() as Record<string, unknown>;
    assert.deepEqual(info.classNames, ['<b>cat</b>', 'dog']);
    assert.deepEqual(info.preprocess, SPEC);
    assert.equal(info.inputName, 'image');
    assert.equal(info.inputType, 'uint8-image');
    assert.deepEqual(info.inputShape, ['N', 32, 32, 3]);
    assert.deepEqual(info.outputNames, ['probabilities', 'label', 'labels']);
    assert.equal(info.topK, 3);
    assert.equal(info.backboneId, 'test-vgg');
    assert.match(String(info.preprocessDescription), /resize shorter side to 36 \(pil-bilinear\), center crop 32×32/);
  });

  it('serves a model exported with external data together with its model.onnx.data (named in /model-info.json)', async () => {
    const dir = join(root, 'external');
    const external = join(dir, 'model.onnx');
    await writeTinyClassifier(external, { classNames: ['cat', 'dog'], preprocess: SPEC, externalData: true });
    const data = await readFile(join(dir, 'model.onnx.data'));
    const withData = await startServer(external, { port: 0 });
    try {
      const info = await (await fetch(new URL('/model-info.json', withData.url))).json() as { externalData: unknown };
      assert.deepEqual(info.externalData, { name: 'model.onnx.data', sizeBytes: data.length });
      const response = await fetch(new URL('/model.onnx.data', withData.url));
      assert.equal(response.status, 200);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(data), 'model.onnx.data served unchanged');
    } finally {
      await withData.close();
    }
    // The model with its weights inline names no data file, and there is none to fetch.
    assert.equal(server.modelInfo.externalData, null);
    assert.equal((await get('/model.onnx.data')).status, 404);
  });

  it('serves the model bytes unchanged, and onnxruntime-web files from node_modules', async () => {
    const model = new Uint8Array(await (await get('/model.onnx')).arrayBuffer());
    assert.ok(Buffer.from(model).equals(Buffer.from(modelBytes)), `served ${model.length} bytes, file has ${modelBytes.length}`);
    const wasm = await get('/ort/ort-wasm-simd-threaded.wasm');
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    const bytes = new Uint8Array(await wasm.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], 'a WebAssembly module');
    const ort = await get('/ort/ort.wasm.min.mjs');
    assert.match(ort.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await ort.text(), /InferenceSession/);
  });

  it('answers 404 for anything else, including paths that try to leave the served folders', async () => {
    for (const path of ['/nope', '/ort/package.json', '/ort/../package.json', '/ort/%2e%2e/package.json', '/page/app.js',
      '/../src/serve/start-server.ts', '/ort/ort.webgpu.min.mjs']) {
      const response = await get(path);
      assert.equal(response.status, 404, path);
      await response.arrayBuffer();
    }
    const post = await get('/model.onnx', { method: 'POST' });
    assert.equal(post.status, 405);
    const head = await get('/model.onnx', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), modelBytes.length);
  });

  it('POST /preprocess decodes, resizes and crops with sharp exactly like decodeToRgb', async () => {
    const imagePath = join(root, 'photo.png');
    await writeTestImage(imagePath, 50, 41, 3);
    const bytes = await readFile(imagePath);
    const response = await get('/preprocess', { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-crop-size'), '32');
    assert.equal(response.headers.get('x-source-size'), '50x41');
    const served = Buffer.from(await response.arrayBuffer());
    const expected = await decodeToRgb(imagePath, SPEC);
    assert.equal(served.length, 32 * 32 * 3);
    assert.ok(served.equals(Buffer.from(expected.data)), 'the served crop differs from decodeToRgb');
    const broken = await get('/preprocess', { method: 'POST', body: new Uint8Array([1, 2, 3]), headers: { 'content-type': 'image/png' } });
    assert.equal(broken.status, 422);
    assert.match(await broken.text(), /uploaded image/);
  });

  it('reports a taken port as INVALID_OPTION with a hint', async () => {
    await assert.rejects(startServer(modelPath, { port: server.port }), (error) =>
      isFinetuneError(error) && error.code === 'INVALID_OPTION' && error.message.includes(String(server.port)) &&
      /--port/.test(error.hint ?? ''));
  });

  it('refuses missing files, head-only models, models not exported by finetune and bad options', async () => {
    await assert.rejects(startServer(join(root, 'missing.onnx'), { port: 0 }),
      (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND');
    const headPath = join(root, 'head.onnx');
    const kernel = new Float32Array(4 * 2), bias = new Float32Array(2);
    await writeFile(headPath, encodeModel(exportHead({ embeddingDim: 4, numClasses: 2, standardization: null,
      layers: [{ inputDim: 4, outputDim: 2, kernel, bias, activation: 'linear' }] }, { classNames: ['a', 'b'], preprocess: SPEC })));
    await assert.rejects(startServer(headPath, { port: 0 }),
      (error) => isFinetuneError(error) && error.code === 'MODEL_INVALID' && /head\.onnx/.test(error.hint ?? ''));
    const notAModel = join(root, 'text.onnx');
    await writeFile(notAModel, await readFile(new URL(import.meta.url)));
    await assert.rejects(startServer(notAModel, { port: 0 }), (error) => isFinetuneError(error) && error.code === 'MODEL_INVALID');
    await assert.rejects(startServer(modelPath, { port: 70000 }), (error) => isFinetuneError(error) && error.code === 'INVALID_OPTION');
    await assert.rejects(startServer(modelPath, { port: 0, topK: 0 }), (error) => isFinetuneError(error) && error.code === 'INVALID_OPTION');
  });

  it('serves the model.onnx of a run folder (found through readRun), and names model.onnx when a run has none', async () => {
    const runDir = join(root, 'run');
    await writeRun(runDir, { ...makeRunRecord(), model: modelBytes });
    const fromRun = await startServer(runDir, { port: 0 });
    try {
      assert.deepEqual(fromRun.modelInfo.classNames, ['<b>cat</b>', 'dog']);
      assert.deepEqual(new Uint8Array(await (await fetch(new URL('/model.onnx', fromRun.url))).arrayBuffer()), new Uint8Array(modelBytes));
    } finally {
      await fromRun.close();
    }
    const headOnly = join(root, 'head-only-run');
    await writeRun(headOnly, makeRunRecord());
    await assert.rejects(startServer(headOnly, { port: 0 }), (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND' &&
      error.message.includes('model.onnx') && /finetune train/.test(error.hint ?? ''));
  });

  it('closes: the port is free again afterwards', async () => {
    const other = await startServer(modelPath, { port: 0 });
    const port = other.port;
    await other.close();
    await new Promise<void>((resolvePromise, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolvePromise()));
    });
  });
});

/** One HTTP request with exactly these headers (fetch cannot set Host); `hold` leaves the body unfinished. */
function rawRequest(port: number, init: { method?: string; path?: string; headers?: Record<string, string | number>; body?: Uint8Array; hold?: boolean }):
  { request: ClientRequest; response: Promise<{ status: number; text: string }> } {
  const request = httpRequest({ host: '127.0.0.1', port, method: init.method ?? 'GET', path: init.path ?? '/', headers: init.headers ?? {} });
  const response = new Promise<{ status: number; text: string }>((resolveResponse, reject) => {
    request.on('response', (incoming) => {
      let text = '';
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => { text += chunk; });
      incoming.on('end', () => resolveResponse({ status: incoming.statusCode ?? 0, text }));
    });
    request.on('error', reject);
  });
  if (init.body !== undefined) request.write(init.body);
  if (init.hold) request.flushHeaders(); else request.end();
  return { request, response };
}

describe('startServer refuses cross-site and rebinding requests, and bounds uploads (issue 14, defect 7)', () => {
  let root: string;
  let modelPath: string;
  let server: RunningServer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune-serve-guard-'));
    modelPath = join(root, 'model.onnx');
    await writeTinyClassifier(modelPath, { classNames: ['cat', 'dog'], preprocess: SPEC });
    server = await startServer(modelPath, { port: 0, maxUploadBytes: 65_536, maxConcurrentUploads: 2 });
  });
  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  const status = async (init: Parameters<typeof rawRequest>[1]) => (await rawRequest(server.port, init).response).status;

  it('answers 403 to a Host that is not this machine (DNS rebinding), 200 to loopback names', async () => {
    assert.equal(await status({ path: '/model.onnx', headers: { host: 'evil.example' } }), 403);
    assert.equal(await status({ path: '/model.onnx', headers: { host: `evil.example:${server.port}` } }), 403);
    const refused = await rawRequest(server.port, { path: '/model-info.json', headers: { host: 'rebind.evil.example' } }).response;
    assert.equal(refused.status, 403);
    assert.match(refused.text, /--allowed-host/);
    assert.doesNotMatch(refused.text, /cat/, 'the refusal leaks nothing of the model');
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`]) {
      assert.equal(await status({ path: '/model.onnx', headers: { host } }), 200, host);
    }
  });

  it('serves an --allowed-host name', async () => {
    const named = await startServer(modelPath, { port: 0, allowedHosts: ['demo.lan'] });
    try {
      assert.equal(await status({ path: '/', headers: { host: 'demo.lan' } }).catch(() => 0), 403, 'the other server does not know the name');
      assert.equal((await rawRequest(named.port, { path: '/', headers: { host: `demo.lan:${named.port}` } }).response).status, 200);
    } finally {
      await named.close();
    }
  });

  it('answers 403 to requests from another origin, and to cross-site subresource loads', async () => {
    const host = `127.0.0.1:${server.port}`;
    assert.equal(await status({ path: '/model.onnx', headers: { host, origin: 'https://evil.example' } }), 403);
    assert.equal(await status({ path: '/model.onnx', headers: { host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' } }), 403);
    assert.equal(await status({ path: '/model.onnx', headers: { host, origin: `http://127.0.0.1:${server.port}` } }), 200);
    assert.equal(await status({ path: '/', headers: { host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } }), 200);
  });

  it('POST /preprocess refuses simple (text/plain, form, untyped) and foreign posts', async () => {
    const image = await readFile(await writeTestImageFile(root));
    const host = `127.0.0.1:${server.port}`;
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      assert.equal(await status({ method: 'POST', path: '/preprocess', headers: { host, 'content-type': type }, body: image }), 415, type);
    }
    assert.equal(await status({ method: 'POST', path: '/preprocess', headers: { host }, body: image }), 415, 'no Content-Type');
    assert.equal(await status({ method: 'POST', path: '/preprocess',
      headers: { host, 'content-type': 'application/octet-stream', origin: 'https://evil.example' }, body: image }), 403);
    assert.equal(await status({ method: 'POST', path: '/preprocess',
      headers: { host, 'content-type': 'application/octet-stream', origin: `http://localhost:${server.port}` }, body: image }), 200);
    assert.equal(await status({ method: 'OPTIONS', path: '/preprocess',
      headers: { host, origin: 'https://evil.example', 'access-control-request-method': 'POST' } }), 403);
  });

  it('refuses an upload over the size limit from its Content-Length, before reading it', async () => {
    const host = `127.0.0.1:${server.port}`;
    const { request, response } = rawRequest(server.port, { method: 'POST', path: '/preprocess', hold: true,
      headers: { host, 'content-type': 'application/octet-stream', 'content-length': 10_000_000 } });
    const answer = await response;   // answered although not one byte of the body was sent
    request.destroy();
    assert.equal(answer.status, 413);
    assert.match(answer.text, /--max-upload-mb/);
  });

  it('decodes at most maxConcurrentUploads images at once; the others get 503 until a slot frees', async () => {
    const host = `127.0.0.1:${server.port}`;
    const image = await readFile(await writeTestImageFile(root));
    const headers = { host, 'content-type': 'application/octet-stream', 'content-length': image.length };
    // Two uploads that send their headers and half the body, then wait.
    const slow = [0, 1].map(() => rawRequest(server.port, { method: 'POST', path: '/preprocess', headers, body: image.subarray(0, 10), hold: true }));
    const deadline = Date.now() + 20_000;
    let busy: { status: number; text: string } | undefined;
    while (Date.now() < deadline) {   // once both slow uploads are in flight, a third is turned away
      const probe = await rawRequest(server.port, { method: 'POST', path: '/preprocess', headers, body: image }).response;
      if (probe.status === 503) { busy = probe; break; }
      assert.equal(probe.status, 200, probe.text);
      await new Promise((resolveWait) => setTimeout(resolveWait, 20));
    }
    assert.equal(busy?.status, 503, 'no upload was turned away while two were in flight');
    assert.match(busy?.text ?? '', /Busy/);
    for (const { request } of slow) request.end(image.subarray(10));
    for (const { response } of slow) assert.equal((await response).status, 200);
    assert.equal(await status({ method: 'POST', path: '/preprocess', headers, body: image }), 200, 'the slots are free again');
  });
});

async function writeTestImageFile(dir: string): Promise<string> {
  const path = join(dir, 'upload.png');
  await writeTestImage(path, 40, 36, 5);
  return path;
}

