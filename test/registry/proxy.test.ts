import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { DownloadError } from '../../src/registry/download-error.js';
import { downloadModel } from '../../src/registry/download.js';
import type { DownloadOptions } from '../../src/registry/download.js';
import { proxySettingsFromEnv } from '../../src/registry/http-get.js';
import { closedPort, fakeModelBytes, sendBytes, startConnectProxy, startTestServer, syntheticEntry, tempHome } from './http-fixtures.js';

let home = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ home, cleanup } = await tempHome()));
after(() => cleanup());
let homeCounter = 0;
const fast = (extra: DownloadOptions): DownloadOptions => ({
  home: join(home, `h${homeCounter++}`), retryDelayMs: 10, connectTimeoutMs: 2000, idleTimeoutMs: 2000, ...extra,
});

describe('proxySettingsFromEnv', () => {
  test('lowercase names win (as in curl), a missing scheme means http://, and loopback is always direct', () => {
    assert.deepEqual(proxySettingsFromEnv({ HTTPS_PROXY: 'http://upper:2', https_proxy: 'http://lower:1', HTTP_PROXY: 'proxy.corp:8080' }), {
      httpProxy: 'http://proxy.corp:8080', httpsProxy: 'http://lower:1', noProxy: 'localhost,127.0.0.1,[::1]',
    });
    assert.deepEqual(proxySettingsFromEnv({ NO_PROXY: '.corp.lan, example.org:443', HTTPS_PROXY: ' ' }), {
      httpProxy: '', httpsProxy: '', noProxy: '.corp.lan, example.org:443,localhost,127.0.0.1,[::1]',
    });
    assert.equal(proxySettingsFromEnv({ no_proxy: '*' }).noProxy, '*');
  });
});

describe('downloads through a proxy', () => {
  test('HTTP_PROXY from the environment carries a non-loopback host through a CONNECT tunnel', async () => {
    const data = fakeModelBytes(64 * 1024);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data) });
    const proxy = await startConnectProxy({ routeToLoopback: true });
    try {
      const port = new URL(server.base).port;
      const url = `http://models.example:${port}/m.onnx`; // resolved by nobody: the proxy routes it to 127.0.0.1
      const result = await downloadModel(syntheticEntry(data, [url]), fast({ env: { HTTP_PROXY: proxy.url } }));
      assert.equal(result.fromCache, false);
      assert.deepEqual(proxy.tunnels, [`models.example:${port}`]);
      assert.equal(server.requests.length, 1);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  test('a loopback mirror is reached directly even when HTTP_PROXY is set; a proxy URL without scheme works', async () => {
    const data = fakeModelBytes(4096);
    const server = await startTestServer({ '/m.onnx': (req, res) => sendBytes(req, res, data) });
    const proxy = await startConnectProxy();
    try {
      const entry = syntheticEntry(data, [server.url('/m.onnx')]);
      await downloadModel(entry, fast({ env: { HTTP_PROXY: proxy.url, http_proxy: proxy.url } }));
      assert.deepEqual(proxy.tunnels, [], 'no tunnel for 127.0.0.1');
      await downloadModel(entry, fast({ proxy: proxy.url.replace('http://', ''), env: {} }));
      assert.deepEqual(proxy.tunnels, [server.base.replace('http://', '')], 'an explicit proxy is used even for loopback');
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  test('a proxy that refuses CONNECT (407) or is down makes the URL unreachable, without leaking credentials', async () => {
    const refusing = createServer();
    refusing.on('connect', (_req, socket: Socket) => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'));
    await new Promise<void>((done) => refusing.listen(0, '127.0.0.1', done));
    const data = fakeModelBytes(16);
    const url = 'http://models.example/m.onnx';
    try {
      const { port } = refusing.address() as AddressInfo;
      await assert.rejects(downloadModel(syntheticEntry(data, [url]), fast({ proxy: `http://user:secret@127.0.0.1:${port}`, env: {} })), (e: unknown) => {
        assert.ok(e instanceof DownloadError, String(e));
        assert.deepEqual(e.failures.map((f) => f.reason), ['unreachable']);
        assert.match(e.message, /407/);
        assert.doesNotMatch(e.message, /secret/);
        return true;
      });
    } finally {
      refusing.closeAllConnections();
      await new Promise<void>((done) => refusing.close(() => done()));
    }
    const dead = `http://127.0.0.1:${await closedPort()}`;
    await assert.rejects(downloadModel(syntheticEntry(data, [url]), fast({ env: { HTTP_PROXY: dead } })), (e: unknown) => {
      assert.ok(e instanceof DownloadError, String(e));
      assert.deepEqual(e.failures.map((f) => f.reason), ['unreachable']);
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
  });
});
