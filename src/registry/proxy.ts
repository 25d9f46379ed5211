/**
 * Proxy support without a dependency: pick the proxy for a URL from HTTPS_PROXY / HTTP_PROXY / NO_PROXY,
 * and open a TCP tunnel through it with HTTP CONNECT.
 */
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';

export type Env = Readonly<Record<string, string | undefined>>;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function readEnv(env: Env, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/**
 * The proxy URL to use for `url`, or `null` for a direct connection.
 *
 * `https:` URLs use `HTTPS_PROXY`, `http:` URLs `HTTP_PROXY` (lowercase names win, as in curl). `NO_PROXY` is a
 * comma-separated list of host names, `.domain` / `*.domain` suffixes, `host:port` pairs, or `*` for everything.
 * Loopback hosts (localhost, 127.x.x.x, ::1) always connect directly, so a local mirror works behind a proxy.
 */
export function proxyForUrl(url: string | URL, env: Env = process.env): string | null {
  const target = typeof url === 'string' ? new URL(url) : url;
  const host = target.hostname.toLowerCase();
  if (LOOPBACK_HOSTS.has(host) || host.startsWith('127.')) return null;
  const proxy = target.protocol === 'https:' ? readEnv(env, 'https_proxy') : readEnv(env, 'http_proxy');
  if (!proxy) return null;
  const noProxy = readEnv(env, 'no_proxy');
  if (noProxy && isExcluded(host, target.port || (target.protocol === 'https:' ? '443' : '80'), noProxy)) return null;
  return proxy.includes('://') ? proxy : `http://${proxy}`;
}

function isExcluded(host: string, port: string, noProxy: string): boolean {
  for (const raw of noProxy.split(/[\s,]+/)) {
    let rule = raw.trim().toLowerCase();
    if (rule === '') continue;
    if (rule === '*') return true;
    const colon = rule.lastIndexOf(':');
    if (colon > 0 && !rule.includes(']') && /^\d+$/.test(rule.slice(colon + 1))) {
      if (rule.slice(colon + 1) !== port) continue;
      rule = rule.slice(0, colon);
    }
    if (rule.startsWith('*.')) rule = rule.slice(1);
    if (rule.startsWith('.')) {
      if (host.endsWith(rule) || host === rule.slice(1)) return true;
    } else if (host === rule || host.endsWith(`.${rule}`)) {
      return true;
    }
  }
  return false;
}

export interface TunnelOptions {
  /** Fails the tunnel if the proxy has not answered CONNECT in time. @defaultValue `10000` */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Opens a raw TCP tunnel to `host:port` through the HTTP proxy at `proxyUrl` (HTTP CONNECT).
 * Credentials in the proxy URL are sent as `Proxy-Authorization: Basic`. Rejects with an Error whose
 * `code` is `EPROXY` when the proxy answers anything but 2xx, `ETIMEDOUT` on timeout.
 */
export function openTunnel(proxyUrl: string, host: string, port: number, options: TunnelOptions = {}): Promise<Socket> {
  const proxy = new URL(proxyUrl);
  if (proxy.protocol !== 'http:') {
    return Promise.reject(new TypeError(`openTunnel: only http:// proxies are supported, got "${proxy.protocol}//".`));
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.username) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  return new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: authority,
      headers,
      agent: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`proxy ${proxy.host} did not open a tunnel to ${authority} within ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, connectTimeoutMs);
    req.once('connect', (response, socket, head) => {
      clearTimeout(timer);
      const status = response.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        socket.destroy();
        reject(Object.assign(new Error(`proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${status} ${response.statusMessage ?? ''}`.trim()), { code: 'EPROXY' }));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}
