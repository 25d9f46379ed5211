import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { openTunnel, proxyForUrl } from '../../src/registry/proxy.js';
import { closedPort, startConnectProxy, startTestServer } from './http-fixtures.js';

describe('proxyForUrl', () => {
  const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'proxy.corp:8080' };

  test('picks HTTPS_PROXY for https and HTTP_PROXY for http, adding http:// when missing', () => {
    assert.equal(proxyForUrl('https://huggingface.co/x', env), 'http://proxy.corp:3128');
    assert.equal(proxyForUrl('http://mirror.lan/x', env), 'http://proxy.corp:8080');
    assert.equal(proxyForUrl('https://huggingface.co/x', {}), null);
    assert.equal(proxyForUrl('https://huggingface.co/x', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }), 'http://lower:1');
  });

  test('NO_PROXY: exact hosts, domain suffixes, host:port, *; loopback always direct', () => {
    const withNo = (noProxy: string) => ({ ...env, NO_PROXY: noProxy });
    assert.equal(proxyForUrl('https://huggingface.co/x', withNo('huggingface.co')), null);
    assert.equal(proxyForUrl('https://cdn.huggingface.co/x', withNo('.huggingface.co')), null);
    assert.equal(proxyForUrl('https://cdn.huggingface.co/x', withNo('huggingface.co')), null);
    assert.equal(proxyForUrl('https://cdn.huggingface.co/x', withNo('*.huggingface.co')), null);
    assert.equal(proxyForUrl('https://nothuggingface.co/x', withNo('huggingface.co')), 'http://proxy.corp:3128');
    assert.equal(proxyForUrl('https://github.com/x', withNo('huggingface.co, example.org')), 'http://proxy.corp:3128');
    assert.equal(proxyForUrl('https://github.com/x', withNo('github.com:80')), 'http://proxy.corp:3128');
    assert.equal(proxyForUrl('https://github.com/x', withNo('github.com:443')), null);
    assert.equal(proxyForUrl('https://github.com/x', withNo('*')), null);
    assert.equal(proxyForUrl('http://127.0.0.1:8080/x', env), null);
    assert.equal(proxyForUrl('http://localhost:8080/x', env), null);
    assert.equal(proxyForUrl('http://[::1]:8080/x', env), null);
  });
});

describe('openTunnel', () => {
  test('tunnels a raw HTTP exchange through CONNECT', async () => {
    const server = await startTestServer({ '/hello': (_req, res) => res.writeHead(200, { connection: 'close', 'content-length': 2 }).end('hi') });
    const proxy = await startConnectProxy();
    try {
      const port = Number(new URL(server.base).port);
      const socket = await openTunnel(proxy.url, '127.0.0.1', port);
      socket.write('GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      let text = '';
      for await (const chunk of socket) text += String(chunk);
      assert.match(text, /^HTTP\/1\.1 200[\s\S]*\r\n\r\nhi$/);
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${port}`]);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  test('reports a proxy that refuses CONNECT, and a proxy that is down', async () => {
    const refusing = createServer();
    refusing.on('connect', (_req, socket: Socket) => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'));
    await new Promise<void>((done) => refusing.listen(0, '127.0.0.1', done));
    try {
      const { port } = refusing.address() as AddressInfo;
      await assert.rejects(openTunnel(`http://user:secret@127.0.0.1:${port}`, 'example.org', 443), (e: unknown) => {
        assert.equal((e as NodeJS.ErrnoException).code, 'EPROXY');
        assert.match((e as Error).message, /refused CONNECT example\.org:443: HTTP 407/);
        return true;
      });
    } finally {
      refusing.closeAllConnections();
      await new Promise<void>((done) => refusing.close(() => done()));
    }
    await assert.rejects(openTunnel(`http://127.0.0.1:${await closedPort()}`, 'example.org', 443), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ECONNREFUSED');
  });
});
