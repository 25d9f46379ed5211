import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRequestGuard, hostnameOf, isLoopbackHostname } from '../../src/serve/request-guard.js';

describe('hostnameOf', () => {
  it('strips the port, brackets and a trailing dot, and lowercases', () => {
    assert.equal(hostnameOf('127.0.0.1:8080'), '127.0.0.1');
    assert.equal(hostnameOf('[::1]:8080'), '::1');
    assert.equal(hostnameOf('[::1]'), '::1');
    assert.equal(hostnameOf('LocalHost.:80'), 'localhost');
    assert.equal(hostnameOf('my-box.lan'), 'my-box.lan');
  });
  it('rejects what is not host[:port]', () => {
    for (const bad of ['', 'a b', 'user@evil.example', 'evil.example/x', 'evil.example:80:80', '[zz]:1']) {
      assert.equal(hostnameOf(bad), undefined, bad);
    }
  });
});

describe('isLoopbackHostname', () => {
  it('knows loopback names and addresses', () => {
    for (const name of ['localhost', 'app.localhost', '127.0.0.1', '127.1.2.3', '::1']) assert.ok(isLoopbackHostname(name), name);
    for (const name of ['evil.example', 'localhost.evil.example', '10.0.0.1', '128.0.0.1', '::2', '0.0.0.0']) {
      assert.ok(!isLoopbackHostname(name), name);
    }
  });
});

describe('createRequestGuard', () => {
  const loopback = createRequestGuard({ boundHost: '127.0.0.1', port: 8080 });
  const get = (headers: Record<string, string>) => loopback.check('GET', '/model.onnx', headers);

  it('serves requests addressed to loopback names, and refuses any other Host (DNS rebinding) with 403', () => {
    for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080', 'LOCALHOST']) assert.equal(get({ host }), undefined, host);
    for (const host of ['evil.example', 'evil.example:8080', '10.0.0.5:8080', '']) {
      const refusal = get({ host });
      assert.equal(refusal?.status, 403, host);
      assert.match(refusal?.reason ?? '', /--allowed-host/);
    }
    assert.equal(loopback.check('GET', '/', {})?.status, 403, 'no Host header');
  });

  it('accepts the bound host, any IP when listening on all interfaces, and --allowed-host names', () => {
    const named = createRequestGuard({ boundHost: 'my-box.lan', port: 80, allowedHosts: ['demo.example', '.corp.example'] });
    for (const host of ['my-box.lan', 'demo.example', 'corp.example', 'a.b.corp.example:80']) {
      assert.equal(named.check('GET', '/', { host }), undefined, host);
    }
    for (const host of ['other.example', 'xcorp.example', '10.0.0.5']) assert.equal(named.check('GET', '/', { host })?.status, 403, host);
    const everywhere = createRequestGuard({ boundHost: '0.0.0.0', port: 8080 });
    assert.equal(everywhere.check('GET', '/', { host: '192.168.1.20:8080' }), undefined);
    assert.equal(everywhere.check('GET', '/', { host: '[fe80::1]:8080' }), undefined);
    assert.equal(everywhere.check('GET', '/', { host: 'rebind.evil.example:8080' })?.status, 403);
  });

  it('refuses requests from another origin, and cross-site loads without one except navigations', () => {
    const host = '127.0.0.1:8080';
    for (const origin of ['http://127.0.0.1:8080', 'http://localhost:8080']) assert.equal(get({ host, origin }), undefined, origin);
    for (const origin of ['https://evil.example', 'http://evil.example:8080', 'http://127.0.0.1:3000', 'null', 'https://127.0.0.1:8080']) {
      assert.equal(get({ host, origin })?.status, 403, origin);
    }
    assert.equal(get({ host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' })?.status, 403);
    assert.equal(get({ host, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' })?.status, 403);
    assert.equal(get({ host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }), undefined);
    assert.equal(get({ host, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }), undefined);
  });

  it('takes POST /preprocess only as a non-simple request (octet-stream or image/*)', () => {
    const post = (type?: string) => loopback.check('POST', '/preprocess',
      { host: 'localhost:8080', origin: 'http://localhost:8080', ...(type === undefined ? {} : { 'content-type': type }) });
    for (const type of ['application/octet-stream', 'image/png', 'Image/JPEG; x=1']) assert.equal(post(type), undefined, type);
    for (const type of [undefined, 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      assert.equal(post(type)?.status, 415, String(type));
    }
  });
});
