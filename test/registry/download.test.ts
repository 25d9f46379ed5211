import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChecksumMismatchError, FinetuneError } from '../../src/errors.js';
import { getModel } from '../../src/registry/catalog.js';
import { DownloadError } from '../../src/registry/download-error.js';
import { downloadModel, downloadUrls } from '../../src/registry/download.js';
import type { DownloadOptions } from '../../src/registry/download.js';
import { acquireFileLock } from '../../src/registry/file-lock.js';
import { cachedModelPath, lockPath, sidecarPath } from '../../src/registry/model-cache.js';
import type { ProgressEvent } from '../../src/types.js';
import { modelsDir } from '../../src/util/paths.js';
import {
  closedPort, fakeModelBytes, listFiles, sendBytes, startConnectProxy, startTestServer, syntheticEntry, tempHome,
} from './http-fixtures.js';

const SIZE = 256 * 1024;
/** Options every test passes: its own home, no proxy from the environment, small timeouts and delays. */
const fast = (home: string, extra: DownloadOptions = {}): DownloadOptions => ({
  home, proxy: false, env: {}, retryDelayMs: 10, connectTimeoutMs: 2000, idleTimeoutMs: 2000, ...extra,
});

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ home, cleanup } = await tempHome()));
after(() => cleanup());

/** A fresh subdirectory of the temp home per test, so tests don't share a cache. */
let homeCounter = 0;
const freshHome = (): string => join(home, `h${homeCounter++}`);

describe('downloadModel', () => {
  test('pulls, verifies, writes the sidecar, reports progress, and then serves from the cache', async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data, { chunkSize: 16 * 1024 }) });
    try {
      const h = freshHome();
      const entry = syntheticEntry(data, [server.url('/m.onnx')]);
      const events: ProgressEvent[] = [];
      const result = await downloadModel(entry, fast(h, { onProgress: (e) => events.push(e) }));
      assert.equal(result.fromCache, false);
      assert.equal(result.url, server.url('/m.onnx'));
      assert.equal(result.sha256, entry.sha256);
      assert.equal(result.path, join(modelsDir(h), 'test', 'model.onnx'));
      assert.deepEqual(new Uint8Array(await readFile(result.path)), data);
      assert.match(await readFile(sidecarPath(result.path), 'utf8'), new RegExp(`^${entry.sha256}  model.onnx\\n$`));
      const statuses = events.filter((e) => e.stage === 'download').map((e) => e.status);
      assert.equal(statuses[0], 'start');
      assert.equal(statuses.at(-1), 'done');
      const last = events.at(-1)!;
      assert.ok(last.stage === 'download' && last.loadedBytes === SIZE && last.totalBytes === SIZE);
      assert.deepEqual(await listFiles(modelsDir(h)), ['test/model.onnx', 'test/model.onnx.sha256']);

      const again = await downloadModel(entry, fast(h));
      assert.equal(again.fromCache, true);
      assert.equal(again.path, result.path);
      assert.equal(server.requests.length, 1, 'the cached file is reused without any request');
    } finally {
      await server.close();
    }
  });

  test('a connection cut half-way resumes with a Range request', async () => {
    const data = fakeModelBytes(SIZE);
    const half = SIZE / 2;
    const server = await startTestServer({
      '/m.onnx': (req, res, attempt) => sendBytes(req, res, data, attempt === 1 ? { cutAfter: half } : {}),
    });
    try {
      const h = freshHome();
      const events: ProgressEvent[] = [];
      const result = await downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(h, { onProgress: (e) => events.push(e) }));
      assert.deepEqual(new Uint8Array(await readFile(result.path)), data);
      assert.equal(server.requests.length, 2);
      assert.equal(server.requests[0]!.range, null);
      const range = /^bytes=(\d+)-$/.exec(server.requests[1]!.range ?? '');
      assert.ok(range, `second request should carry a Range header, got ${server.requests[1]!.range}`);
      const resumedAt = Number(range[1]);
      assert.ok(resumedAt > 0 && resumedAt <= half, `resumed at ${resumedAt}, expected (0, ${half}]`);
      const retry = events.find((e) => e.stage === 'download' && e.status === 'retry');
      assert.ok(retry?.stage === 'download' && retry.message?.includes(`resuming at byte ${resumedAt}`), JSON.stringify(retry));
    } finally {
      await server.close();
    }
  });

  test('wrong bytes: a checksum error naming the URL, and nothing left in the cache', async () => {
    const data = fakeModelBytes(SIZE);
    const wrong = fakeModelBytes(SIZE);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, wrong) });
    try {
      const h = freshHome();
      const url = server.url('/m.onnx');
      const error = await downloadModel(syntheticEntry(data, [url]), fast(h)).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof ChecksumMismatchError, String(error));
      assert.equal(error.code, 'CHECKSUM_MISMATCH');
      assert.equal(error.url, url);
      assert.ok(error.message.includes(url) && error.message.includes(error.actual), error.message);
      assert.notEqual(error.actual, error.expected);
      assert.deepEqual(await listFiles(modelsDir(h)), [], 'no model, sidecar, temp or lock file may remain');
    } finally {
      await server.close();
    }
  });

  test('a Content-Length that differs from the catalog size fails before the body is read', async () => {
    const data = fakeModelBytes(SIZE);
    const pointer = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n');
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, pointer) });
    try {
      const h = freshHome();
      await assert.rejects(downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(h)), (e: unknown) => {
        assert.ok(e instanceof DownloadError);
        assert.equal(e.code, 'CHECKSUM_MISMATCH');
        assert.equal(e.failures[0]?.reason, 'size');
        assert.match(e.message, new RegExp(`serves ${pointer.length} bytes`));
        return true;
      });
      assert.deepEqual(await listFiles(modelsDir(h)), []);
    } finally {
      await server.close();
    }
  });

  test('a 404 on the primary URL falls back to the secondary', async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({
      '/primary/m.onnx': (_req, res) => res.writeHead(404).end('gone'),
      '/secondary/m.onnx': (req, res) => sendBytes(req, res, data),
    });
    try {
      const h = freshHome();
      const entry = syntheticEntry(data, [server.url('/primary/m.onnx'), server.url('/secondary/m.onnx')]);
      const result = await downloadModel(entry, fast(h));
      assert.equal(result.url, server.url('/secondary/m.onnx'));
      assert.deepEqual(server.requests.map((r) => r.path), ['/primary/m.onnx', '/secondary/m.onnx'], '404 is not retried');
      assert.deepEqual(new Uint8Array(await readFile(result.path)), data);
    } finally {
      await server.close();
    }
  });

  test('HTTP 503 is retried with backoff, and redirects are followed', async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({
      '/m.onnx': (_req, res) => res.writeHead(302, { location: '/cdn/m.onnx' }).end(),
      '/cdn/m.onnx': (req, res, attempt) => (attempt === 1 ? res.writeHead(503).end() : sendBytes(req, res, data)),
    });
    try {
      const events: ProgressEvent[] = [];
      const result = await downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(freshHome(), { onProgress: (e) => events.push(e) }));
      assert.equal(result.fromCache, false);
      assert.deepEqual(server.requests.map((r) => r.path), ['/m.onnx', '/cdn/m.onnx', '/m.onnx', '/cdn/m.onnx']);
      assert.ok(events.some((e) => e.stage === 'download' && e.status === 'retry' && e.message?.includes('HTTP 503')));
    } finally {
      await server.close();
    }
  });

  test('a server that stalls mid-body gives DOWNLOAD_TIMEOUT, not a hang', { timeout: 15_000 }, async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({
      '/m.onnx': (req, res) => sendBytes(req, res, data, { stallAfter: 1000 }),
      '/silent.onnx': () => undefined, // accepts, never answers
    });
    try {
      const h = freshHome();
      const options = fast(h, { idleTimeoutMs: 200, retries: 1 });
      await assert.rejects(downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), options), (e: unknown) => {
        assert.ok(e instanceof DownloadError, String(e));
        assert.equal(e.code, 'DOWNLOAD_TIMEOUT');
        assert.match(e.message, /no data from 127\.0\.0\.1:\d+ for 200 ms/);
        return true;
      });
      // the retry resumed after the 1000 bytes that did arrive
      assert.deepEqual(server.requests.map((r) => r.range), [null, 'bytes=1000-']);
      await assert.rejects(downloadModel(syntheticEntry(data, [server.url('/silent.onnx')], 'silent'), options),
        (e: unknown) => e instanceof FinetuneError && e.code === 'DOWNLOAD_TIMEOUT');
      assert.deepEqual(await listFiles(modelsDir(h)), []);
    } finally {
      await server.close();
    }
  });

  test('a server trickling below the minimum speed fails with DOWNLOAD_TIMEOUT naming the limit, not after hours', { timeout: 15_000 }, async () => {
    const data = fakeModelBytes(16 * 1024);
    // 100 bytes every 20 ms ≈ 5 kB/s: bytes keep coming, so the idle timeout never fires (issue 14, defect 9)
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data, { chunkSize: 100, delayMs: 20 }) });
    try {
      const h = freshHome();
      const events: ProgressEvent[] = [];
      const options = fast(h, { minSpeedBytesPerSec: 50_000, speedWindowMs: 300, retries: 1, onProgress: (e) => events.push(e) });
      const started = Date.now();
      await assert.rejects(downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), options), (e: unknown) => {
        assert.ok(e instanceof DownloadError, String(e));
        assert.equal(e.code, 'DOWNLOAD_TIMEOUT');
        assert.deepEqual(e.failures.map((f) => f.reason), ['slow']);
        assert.match(e.message, /kB\/s over the last 0\.\d s, below the minimum of 50 kB\/s \(minSpeedBytesPerSec\)/);
        assert.match(e.hint ?? '', /--min-download-speed <bytes\/s> \(or FINETUNE_MIN_DOWNLOAD_SPEED; 0 turns the check off\)/);
        return true;
      });
      assert.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`);
      // a slow attempt is retried from where it stopped, and counts as a failure although bytes arrived
      assert.equal(server.requests.length, 2);
      assert.match(server.requests[1]!.range ?? '', /^bytes=[1-9]\d*-$/);
      assert.ok(events.some((e) => e.stage === 'download' && e.status === 'retry' && e.message?.includes('below the minimum')));
      assert.deepEqual(await listFiles(modelsDir(h)), []);

      const unlimited = await downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(freshHome(), { env: { FINETUNE_MIN_DOWNLOAD_SPEED: '0' }, speedWindowMs: 300 }));
      assert.equal(unlimited.fromCache, false, 'FINETUNE_MIN_DOWNLOAD_SPEED=0 turns the check off');
      await assert.rejects(downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(freshHome(), { env: { FINETUNE_MIN_DOWNLOAD_SPEED: 'fast' } })),
        (e: unknown) => e instanceof FinetuneError && e.code === 'INVALID_OPTION' && /FINETUNE_MIN_DOWNLOAD_SPEED="fast"/.test(e.message));
    } finally {
      await server.close();
    }
  });

  test('two concurrent pulls of one model: both succeed, the body is served once', async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data, { chunkSize: 32 * 1024, delayMs: 20 }) });
    try {
      const h = freshHome();
      const entry = syntheticEntry(data, [server.url('/m.onnx')]);
      const waits: string[] = [];
      const onProgress = (e: ProgressEvent): void => {
        if (e.stage === 'info') waits.push(e.message);
      };
      const [a, b] = await Promise.all([downloadModel(entry, fast(h, { onProgress })), downloadModel(entry, fast(h, { onProgress }))]);
      assert.equal(a.path, b.path);
      assert.equal(server.requests.length, 1, 'one GET for two pulls');
      assert.deepEqual([a.fromCache, b.fromCache].sort(), [false, true]);
      assert.equal(waits.length, 1);
      assert.match(waits[0]!, new RegExp(`Waiting for process ${process.pid} .* test-model`));
      assert.deepEqual(new Uint8Array(await readFile(a.path)), data);
    } finally {
      await server.close();
    }
  });

  test('another process waits on the lock, then uses the file the holder verified', { timeout: 30_000 }, async () => {
    const data = fakeModelBytes(4096);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data) });
    try {
      const h = freshHome();
      const entry = syntheticEntry(data, [server.url('/m.onnx')]);
      const path = cachedModelPath(entry, h);
      await mkdir(dirname(path), { recursive: true });
      const lock = await acquireFileLock(lockPath(path));
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'pull-child.ts'), JSON.stringify({ entry, home: h })], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((done) => child.on('close', done));
      await new Promise<void>((done, fail) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('WAITING')) done();
        });
        child.on('close', () => fail(new Error(`child exited before waiting: ${stdout} ${stderr}`)));
      });
      // We hold the lock: put the verified file in place as a downloader would, then release.
      await writeFile(sidecarPath(path), `${entry.sha256}  model.onnx\n`);
      await writeFile(path, data);
      await lock.release();
      assert.equal(await exited, 0, stderr);
      const result = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7)) as { fromCache: boolean; path: string };
      assert.equal(result.fromCache, true);
      assert.equal(result.path, path);
      assert.equal(server.requests.length, 0, 'the waiting process downloaded nothing');
    } finally {
      await server.close();
    }
  });

  test('a lock left by a dead process is taken over', async () => {
    const data = fakeModelBytes(4096);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data) });
    try {
      const h = freshHome();
      const entry = syntheticEntry(data, [server.url('/m.onnx')]);
      const path = cachedModelPath(entry, h);
      await mkdir(dirname(path), { recursive: true });
      const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
      const { hostname } = await import('node:os');
      await writeFile(lockPath(path), JSON.stringify({ pid: deadPid, hostname: hostname(), createdAt: new Date().toISOString() }));
      const result = await downloadModel(entry, fast(h));
      assert.equal(result.fromCache, false);
      assert.deepEqual(await listFiles(dirname(path)), ['model.onnx', 'model.onnx.sha256']);
    } finally {
      await server.close();
    }
  });

  test('a cached file without sidecar is hashed once; a corrupt one is replaced', async () => {
    const data = fakeModelBytes(4096);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data) });
    try {
      const h = freshHome();
      const entry = syntheticEntry(data, [server.url('/m.onnx')]);
      const path = cachedModelPath(entry, h);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, data);
      const first = await downloadModel(entry, fast(h));
      assert.equal(first.fromCache, true);
      assert.match(await readFile(sidecarPath(path), 'utf8'), new RegExp(entry.sha256));
      assert.equal(server.requests.length, 0);

      await writeFile(path, fakeModelBytes(4096)); // same size, other bytes; the sidecar still claims the right sha
      const trusted = await downloadModel(entry, fast(h));
      assert.equal(trusted.fromCache, true, 'with a matching sidecar the file is not re-hashed by default');
      const rehashed = await downloadModel(entry, fast(h, { rehash: true }));
      assert.equal(rehashed.fromCache, false, 'rehash finds the corruption and downloads again');
      assert.deepEqual(new Uint8Array(await readFile(path)), data);
      assert.equal(server.requests.length, 1);

      await truncate(path, 100);
      const resized = await downloadModel(entry, fast(h));
      assert.equal(resized.fromCache, false, 'a file of the wrong size is replaced');
      assert.equal((await stat(path)).size, 4096);
    } finally {
      await server.close();
    }
  });

  test('a mirror replaces the hosts, from the option or FINETUNE_ZOO_MIRROR', async () => {
    const data = fakeModelBytes(4096);
    const server = await startTestServer({ '/zoo/test/model.onnx': (req, res) => sendBytes(req, res, data) });
    try {
      const dead = `http://127.0.0.1:${await closedPort()}/m.onnx`;
      const entry = syntheticEntry(data, [dead]);
      const viaOption = await downloadModel(entry, fast(freshHome(), { mirror: `${server.base}/zoo/` }));
      assert.equal(viaOption.url, `${server.base}/zoo/test/model.onnx`);
      const viaEnv = await downloadModel(entry, fast(freshHome(), { env: { FINETUNE_ZOO_MIRROR: `${server.base}/zoo` } }));
      assert.equal(viaEnv.url, `${server.base}/zoo/test/model.onnx`);
      assert.deepEqual(downloadUrls(entry, ''), [dead], 'an empty mirror means the catalog URLs');
      await assert.rejects(downloadModel(entry, fast(freshHome(), { mirror: 'ftp://example/' })),
        (e: unknown) => e instanceof FinetuneError && e.code === 'INVALID_OPTION');
    } finally {
      await server.close();
    }
  });

  test('an abort signal stops a running download and leaves nothing behind', { timeout: 10_000 }, async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data, { chunkSize: 8 * 1024, delayMs: 50 }) });
    try {
      const h = freshHome();
      const controller = new AbortController();
      const onProgress = (e: ProgressEvent): void => {
        if (e.stage === 'download' && e.status === 'progress' && e.loadedBytes > 0) controller.abort();
      };
      await assert.rejects(downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(h, { signal: controller.signal, onProgress })),
        (e: unknown) => (e as Error).name === 'AbortError');
      assert.deepEqual(await listFiles(modelsDir(h)), []);
    } finally {
      await server.close();
    }
  });

  test('goes through an HTTP CONNECT proxy', async () => {
    const data = fakeModelBytes(SIZE);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data) });
    const proxy = await startConnectProxy();
    try {
      const result = await downloadModel(syntheticEntry(data, [server.url('/m.onnx')]), fast(freshHome(), { proxy: proxy.url }));
      assert.equal(result.fromCache, false);
      assert.deepEqual(proxy.tunnels, [server.base.replace('http://', '')]);
      assert.equal(server.requests.length, 1);
    } finally {
      await proxy.close();
      await server.close();
    }
  });
});

describe('offline and unreachable hosts', () => {
  test('offline: true with nothing cached fails with OFFLINE and both ways out', async () => {
    const h = freshHome();
    await assert.rejects(downloadModel('vgg16', { home: h, offline: true, env: {} }), (e: unknown) => {
      assert.ok(e instanceof FinetuneError);
      assert.equal(e.code, 'OFFLINE');
      assert.match(e.message, /"vgg16-7" is not in the cache/);
      assert.match(e.hint ?? '', /--mirror/);
      assert.match(e.hint ?? '', /--backbone \.\/file\.onnx/);
      return true;
    });
    assert.deepEqual(await listFiles(modelsDir(h)), []);
  });

  test('no reachable host: DOWNLOAD_FAILED naming each URL, a mirror and --backbone', { timeout: 10_000 }, async () => {
    const urls = [`http://127.0.0.1:${await closedPort()}/a.onnx`, `http://127.0.0.1:${await closedPort()}/b.onnx`];
    const h = freshHome();
    await assert.rejects(downloadModel(syntheticEntry(fakeModelBytes(16), urls), fast(h)), (e: unknown) => {
      assert.ok(e instanceof DownloadError, String(e));
      assert.equal(e.code, 'DOWNLOAD_FAILED');
      assert.match(e.message, /no host was reachable/);
      for (const url of urls) assert.ok(e.message.includes(url), e.message);
      assert.deepEqual(e.failures.map((f) => f.reason), ['unreachable', 'unreachable']);
      assert.match(e.hint ?? '', /--mirror <url> \(or set FINETUNE_ZOO_MIRROR\)/);
      assert.match(e.hint ?? '', /--backbone \.\/file\.onnx/);
      return true;
    });
    assert.deepEqual(await listFiles(modelsDir(h)), []);
  });

  test('the real vgg16 entry with no network (a dead proxy) fails within seconds naming its URLs', { timeout: 15_000 }, async () => {
    const proxy = `http://127.0.0.1:${await closedPort()}`;
    const entry = getModel('vgg16');
    await assert.rejects(downloadModel('vgg16', { home: freshHome(), proxy, env: {} }), (e: unknown) => {
      assert.ok(e instanceof DownloadError, String(e));
      assert.equal(e.code, 'DOWNLOAD_FAILED');
      assert.ok(e.message.includes(entry.urls[0]!) && e.message.includes(entry.urls[1]!), e.message);
      assert.match(e.hint ?? '', /offline/);
      return true;
    });
  });
});
