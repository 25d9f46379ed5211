/**
 * One HTTP(S) GET with what a large download needs and `fetch` in Node 20 lacks: a connect timeout, an idle
 * timeout that also covers the body, proxies through CONNECT tunnels, and failures sorted into kinds
 * (unreachable / timeout / dropped / http) so the caller can choose between retrying and the next URL.
 */
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { openTunnel } from './proxy.js';

/**
 * `unreachable`: no connection (DNS, refused, connect timeout, proxy, TLS) — try the next URL.
 * `timeout`: connected, then no bytes for `idleTimeoutMs` — retry. `dropped`: connection lost mid-way — retry.
 * `http`: an unexpected status — retry on 5xx/408/429, next URL otherwise.
 */
export type RequestFailureKind = 'unreachable' | 'timeout' | 'dropped' | 'http';

export class RequestFailure extends Error {
  constructor(
    message: string,
    readonly kind: RequestFailureKind,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RequestFailure';
  }
}

export interface HttpGetOptions {
  /** Extra request headers (e.g. `range`). */
  headers?: Readonly<Record<string, string>>;
  /** Proxy URL for each hop (redirects may change host), or `null` for direct. */
  proxyFor: (url: URL) => string | null;
  /** Time allowed for TCP connect, proxy CONNECT and TLS handshake. */
  connectTimeoutMs: number;
  /** Longest silence allowed once connected, while waiting for headers and while reading the body. */
  idleTimeoutMs: number;
  /** @defaultValue `10` */
  maxRedirects?: number;
  signal?: AbortSignal;
}

export interface HttpGetResult {
  /** The response, body unread; the idle timeout stays armed while it is read. */
  readonly response: IncomingMessage;
  /** The URL that answered, after redirects. */
  readonly url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const UNREACHABLE_CODES = new Set([
  'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ETIMEDOUT',
  'EPROXY', 'EADDRNOTAVAIL',
]);

/** GETs `url`, following redirects. Resolves with any final (non-redirect) status; rejects with RequestFailure. */
export async function httpGet(url: string, options: HttpGetOptions): Promise<HttpGetResult> {
  const maxRedirects = options.maxRedirects ?? 10;
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const response = await requestOnce(current, options);
    const location = response.headers.location;
    if (!REDIRECTS.has(response.statusCode ?? 0) || !location) return { response, url: current.href };
    response.resume();
    response.destroy();
    if (hop >= maxRedirects) {
      throw new RequestFailure(`more than ${maxRedirects} redirects, last to "${location}"`, 'http', response.statusCode);
    }
    current = new URL(location, current);
  }
}

async function requestOnce(target: URL, options: HttpGetOptions): Promise<IncomingMessage> {
  const isHttps = target.protocol === 'https:';
  if (!isHttps && target.protocol !== 'http:') {
    throw new RequestFailure(`unsupported protocol "${target.protocol}" (only http and https)`, 'unreachable');
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || (isHttps ? 443 : 80));
  const proxy = options.proxyFor(target);
  let tunnel: Socket | undefined;
  if (proxy) {
    try {
      tunnel = await openTunnel(proxy, host, port, {
        connectTimeoutMs: options.connectTimeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new RequestFailure(`via proxy ${redactProxy(proxy)}: ${(error as Error).message}`, 'unreachable', undefined, { cause: error });
    }
  }
  const requestOptions: RequestOptions = {
    method: 'GET',
    host,
    port,
    path: `${target.pathname}${target.search}`,
    headers: { 'user-agent': 'finetune (model zoo downloader)', accept: '*/*', ...options.headers },
    agent: false,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  if (tunnel) {
    const socket = tunnel;
    requestOptions.createConnection = () => (isHttps ? tlsConnect({ socket, ...(isIP(host) ? {} : { servername: host }) }) : socket);
  }
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = (isHttps ? httpsRequest : httpRequest)(requestOptions);
    let connected = false;
    let response: IncomingMessage | undefined;
    const connectTimer = setTimeout(() => {
      req.destroy(new RequestFailure(`no connection to ${target.host} within ${options.connectTimeoutMs} ms`, 'unreachable'));
    }, options.connectTimeoutMs);
    const markConnected = (): void => {
      connected = true;
      clearTimeout(connectTimer);
    };
    req.once('socket', (socket: Socket) => {
      if (socket instanceof TLSSocket) socket.once('secureConnect', markConnected);
      else if (socket.connecting) socket.once('connect', markConnected);
      else markConnected();
    });
    req.setTimeout(options.idleTimeoutMs, () => {
      const error = connected
        ? new RequestFailure(`no data from ${target.host} for ${options.idleTimeoutMs} ms`, 'timeout')
        : new RequestFailure(`no connection to ${target.host} within ${options.idleTimeoutMs} ms`, 'unreachable');
      if (response) response.destroy(error);
      else req.destroy(error);
    });
    req.once('response', (res) => {
      markConnected();
      response = res;
      resolve(res);
    });
    req.on('error', (error) => {
      clearTimeout(connectTimer);
      if (response) return; // reported through the response stream
      reject(classify(error, connected));
    });
    req.end();
  });
}

function classify(error: unknown, connected: boolean): unknown {
  if (error instanceof RequestFailure || isAbort(error)) return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const message = (error as Error).message;
  if (!connected || UNREACHABLE_CODES.has(code)) return new RequestFailure(message, 'unreachable', undefined, { cause: error });
  return new RequestFailure(message, 'dropped', undefined, { cause: error });
}

export function isAbort(error: unknown): boolean {
  return (error as Error | undefined)?.name === 'AbortError';
}

/** The proxy URL without credentials, for messages. */
export function redactProxy(proxy: string): string {
  try {
    const url = new URL(proxy);
    url.username = '';
    url.password = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return '(invalid proxy URL)';
  }
}
