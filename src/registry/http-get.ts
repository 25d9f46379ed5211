/**
 * One HTTP(S) GET for large downloads, on undici: connect / headers / body timeouts, proxies from
 * HTTP(S)_PROXY / NO_PROXY (http, https and socks5 proxies, CONNECT tunnels), and failures sorted into kinds
 * (unreachable / timeout / dropped / http) so the caller can choose between retrying and the next URL.
 * Redirects are followed here rather than by undici, so that credentials never leave the origin they were
 * meant for and the caller sees every hop's headers (the Hugging Face Hub puts the commit on the first one).
 */
import type { Readable } from 'node:stream';
import { Agent, EnvHttpProxyAgent, ProxyAgent, request } from 'undici';
import type { Dispatcher } from 'undici';

/** Environment variables as read by the downloader (proxy, mirror and token variables). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * `unreachable`: no connection (DNS, refused, connect timeout, proxy, TLS) — try the next URL.
 * `timeout`: connected, then no bytes for `idleTimeoutMs` — retry. `dropped`: connection lost mid-way — retry.
 * `slow`: bytes kept coming, but below the minimum speed — retry, counted even though bytes arrived.
 * `http`: an unexpected status — retry on 5xx/408/429, next URL otherwise.
 */
export type RequestFailureKind = 'unreachable' | 'timeout' | 'dropped' | 'slow' | 'http';

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

export interface HttpClientOptions {
  /** Proxy URL for every request, `false` for none, or `undefined` to read HTTPS_PROXY / HTTP_PROXY / NO_PROXY from `env`. */
  proxy: string | false | undefined;
  /** Where proxy variables are read when `proxy` is undefined. */
  env: Env;
  /** Time allowed for TCP connect and TLS handshake, to the server or to the proxy. */
  connectTimeoutMs: number;
  /** Longest silence allowed once connected, while waiting for headers and while reading the body. */
  idleTimeoutMs: number;
}

/** A connection pool (undici dispatcher) with our timeouts and proxy choice; close it when done. */
export interface HttpClient {
  readonly dispatcher: Dispatcher;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  close(): Promise<void>;
}

export interface HttpGetOptions {
  /** @defaultValue `'GET'` */
  method?: 'GET' | 'HEAD';
  /** Extra request headers (e.g. `range`, `authorization`); `authorization` is dropped on a redirect to another origin. */
  headers?: Readonly<Record<string, string>>;
  /** Redirects followed; with `0` a redirect is returned as the response. @defaultValue `10` */
  maxRedirects?: number;
  signal?: AbortSignal;
}

export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface HttpGetResult {
  readonly statusCode: number;
  readonly headers: ResponseHeaders;
  /** The body, unread; the idle timeout stays armed while it is read. Pass it to discardBody if unused. */
  readonly body: Readable;
  /** The URL that answered, after redirects. */
  readonly url: string;
  /** Headers of each redirect answered before the final response, in order. */
  readonly redirects: ReadonlyArray<{ readonly url: string; readonly statusCode: number; readonly headers: ResponseHeaders }>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const UNREACHABLE_CODES = new Set([
  'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ETIMEDOUT',
  'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_PRX_TLS', 'UND_ERR_SOCKS5',
]);
/** Hosts that always connect directly, so a local mirror works behind a corporate proxy. */
const LOOPBACK_NO_PROXY = ['localhost', '127.0.0.1', '[::1]'];
const USER_AGENT = 'finetune (model downloader)';

function readEnv(env: Env, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** `proxy.corp:3128` → `http://proxy.corp:3128`; URLs with a scheme are kept. */
function withScheme(proxy: string): string {
  return proxy.includes('://') ? proxy : `http://${proxy}`;
}

/**
 * The proxy settings undici's EnvHttpProxyAgent gets from `env` (lowercase names win, as in curl), with loopback
 * hosts appended to NO_PROXY. An empty string means "no proxy" (undici would otherwise read process.env).
 */
export function proxySettingsFromEnv(env: Env): { httpProxy: string; httpsProxy: string; noProxy: string } {
  const httpProxy = readEnv(env, 'http_proxy');
  const httpsProxy = readEnv(env, 'https_proxy');
  const noProxy = readEnv(env, 'no_proxy');
  return {
    httpProxy: httpProxy ? withScheme(httpProxy) : '',
    httpsProxy: httpsProxy ? withScheme(httpsProxy) : '',
    noProxy: noProxy === '*' ? '*' : [...(noProxy ? [noProxy] : []), ...LOOPBACK_NO_PROXY].join(','),
  };
}

/** A client for one download: direct, through `proxy`, or through the proxies `env` names. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const { connectTimeoutMs, idleTimeoutMs } = options;
  // `proxyTls`/`requestTls` carry the connect timeout to the proxy connection and the tunnelled TLS handshake.
  const agentOptions = {
    connect: { timeout: connectTimeoutMs },
    headersTimeout: idleTimeoutMs,
    bodyTimeout: idleTimeoutMs,
    proxyTls: { timeout: connectTimeoutMs },
    requestTls: { timeout: connectTimeoutMs },
  };
  let dispatcher: Dispatcher;
  if (options.proxy === false) {
    dispatcher = new Agent(agentOptions);
  } else if (options.proxy !== undefined) {
    dispatcher = new ProxyAgent({ ...agentOptions, uri: withScheme(options.proxy) });
  } else {
    const settings = proxySettingsFromEnv(options.env);
    dispatcher = settings.httpProxy || settings.httpsProxy
      ? new EnvHttpProxyAgent({ ...agentOptions, ...settings })
      : new Agent(agentOptions);
  }
  return {
    dispatcher,
    connectTimeoutMs,
    idleTimeoutMs,
    close: () => dispatcher.destroy(),
  };
}

/**
 * GETs (or HEADs) `url`, following redirects. Resolves with any final (non-redirect) status, or with the redirect
 * itself once `maxRedirects` is 0; rejects with RequestFailure.
 */
export async function httpGet(client: HttpClient, url: string, options: HttpGetOptions = {}): Promise<HttpGetResult> {
  const maxRedirects = options.maxRedirects ?? 10;
  const redirects: Array<HttpGetResult['redirects'][number]> = [];
  const firstOrigin = new URL(url).origin;
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: '*/*', ...options.headers };
    if (current.origin !== firstOrigin) delete headers['authorization'];
    const response = await requestOnce(client, current, options.method ?? 'GET', headers, options.signal);
    const location = headerValue(response.headers, 'location');
    if (!REDIRECTS.has(response.statusCode) || !location || maxRedirects === 0) {
      return { statusCode: response.statusCode, headers: response.headers, body: response.body, url: current.href, redirects };
    }
    redirects.push({ url: current.href, statusCode: response.statusCode, headers: response.headers });
    discardBody(response.body);
    if (hop >= maxRedirects) {
      throw new RequestFailure(`more than ${maxRedirects} redirects, last to "${location}"`, 'http', response.statusCode);
    }
    current = new URL(location, current);
  }
}

/** Closes a body that will not be read (undici reports an unread, destroyed body as an error: that one is expected). */
export function discardBody(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** The first value of a response header (undici gives repeated headers as arrays). */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

async function requestOnce(
  client: HttpClient, target: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, signal: AbortSignal | undefined,
): Promise<Dispatcher.ResponseData> {
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new RequestFailure(`unsupported protocol "${target.protocol}" (only http and https)`, 'unreachable');
  }
  try {
    return await request(target, {
      method,
      headers,
      dispatcher: client.dispatcher,
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw classify(error, target, client);
  }
}

/** Sorts an undici or socket error into a RequestFailure (a user abort is passed through unchanged). */
export function classify(error: unknown, target: URL, client: Pick<HttpClient, 'connectTimeoutMs' | 'idleTimeoutMs'>): unknown {
  if (error instanceof RequestFailure) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = (error as Error | undefined)?.message ?? String(error);
  const options = { cause: error };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new RequestFailure(`no connection to ${target.host} within ${client.connectTimeoutMs} ms`, 'unreachable', undefined, options);
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new RequestFailure(`no data from ${target.host} for ${client.idleTimeoutMs} ms`, 'timeout', undefined, options);
  }
  if (UNREACHABLE_CODES.has(code)) return new RequestFailure(message, 'unreachable', undefined, options);
  // undici reports a proxy that refuses CONNECT (or wants credentials) as an aborted request or an invalid argument.
  if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_INVALID_ARG') {
    return new RequestFailure(`via proxy: ${message}`, 'unreachable', undefined, options);
  }
  return new RequestFailure(message, 'dropped', undefined, options);
}

export function isAbort(error: unknown): boolean {
  return (error as Error | undefined)?.name === 'AbortError';
}
